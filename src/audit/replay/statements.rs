//! Replay's checks of single entries against what they carry: a
//! request's creation and decision against their signed statements, a
//! destruction against its statement and signatures, a ceremony's entries
//! against the ceremony they belong to, and the officer certificates a
//! genesis or rekey entry enrols.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{s, strings};
use crate::audit::events;

/// Compares a field of a `request.created` entry with its signed statement.
fn signed_field(
    out: &mut Vec<String>,
    seq: u64,
    id: &str,
    field: &str,
    logged: &str,
    signed: &str,
) {
    if logged != signed {
        out.push(format!(
            "entry {seq}: request {id}: the entry's {field} {logged:?} is not the signed {signed:?}"
        ));
    }
}

/// The differences between a `request.created` entry and the statement it
/// carries (which `check_sig` verified), or why the statement is unreadable.
pub(super) fn creation_vs_statement(
    seq: u64,
    vault: &str,
    creator: &str,
    d: &Value,
) -> Vec<String> {
    use crate::vault::statement::RequestStatement;
    let id = s(d, "request_id");
    let mut out = Vec::new();
    let st = match RequestStatement::parse(&s(d, "statement")) {
        Ok(st) => st,
        Err(why) => {
            out.push(format!(
                "entry {seq}: the statement of request {id} is not a well-formed statement: {why}"
            ));
            return out;
        }
    };
    let list = strings(d, "serials");
    let sha = if st.version >= 2 {
        crate::vault::statement::serials_sha256_v2(&list)
    } else {
        crate::crypto::hex(&crate::crypto::sha256(list.join("\n").as_bytes()))
    };
    let reexport = d
        .get("reexport_reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    signed_field(&mut out, seq, &id, "vault", vault, &st.vault);
    signed_field(&mut out, seq, &id, "request id", &id, &st.request);
    signed_field(&mut out, seq, &id, "order", &s(d, "order_id"), &st.order);
    signed_field(
        &mut out,
        seq,
        &id,
        "requester",
        &s(d, "requester"),
        &st.requester,
    );
    signed_field(&mut out, seq, &id, "format", &s(d, "format"), &st.format);
    signed_field(
        &mut out,
        seq,
        &id,
        "recipient",
        &s(d, "recipient_fingerprint"),
        &st.recipient,
    );
    signed_field(&mut out, seq, &id, "creator", creator, &st.created_by);
    signed_field(
        &mut out,
        seq,
        &id,
        "re-export reason",
        reexport.as_deref().unwrap_or("(none)"),
        st.reexport.as_deref().unwrap_or("(none)"),
    );
    if list.len() as u64 != st.serials || sha != st.serials_sha256 {
        out.push(format!(
            "entry {seq}: request {id}: the entry's {} serials are not the {} serials signed (serials-sha256)",
            list.len(),
            st.serials
        ));
    }
    let upns = logged_upns(d);
    match (&st.upns_sha256, upns.is_empty()) {
        (None, true) => {}
        (None, false) => out.push(format!(
            "entry {seq}: request {id}: the entry holds a UPN mapping its signed statement does not name"
        )),
        (Some(h), _) if crate::vault::upn::UpnMap::from_pairs(upns).sha256() != *h => {
            out.push(format!(
                "entry {seq}: request {id}: the entry's UPN mapping is not the one signed (upns-sha256)"
            ))
        }
        (Some(_), _) => {}
    }
    out
}

/// The UPN mapping of a `request.created` entry (empty when it has none).
pub(super) fn logged_upns(d: &Value) -> BTreeMap<String, String> {
    d.get("upns")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The differences between a decision entry and the decision statement it
/// carries: the statement must extend the request's creation statement and
/// name the same decision, officer, expiry or reason as the entry.
pub(super) fn decision_vs_statement(
    seq: u64,
    approved: bool,
    who: &str,
    d: &Value,
    creation: Option<&str>,
) -> Vec<String> {
    use crate::vault::statement::{parse_decision, Decision};
    let id = s(d, "request_id");
    let text = s(d, "statement");
    let mut out = Vec::new();
    let (_, prefix, decision) = match parse_decision(&text) {
        Ok(x) => x,
        Err(why) => {
            out.push(format!(
                "entry {seq}: the decision statement on request {id} is not well-formed: {why}"
            ));
            return out;
        }
    };
    if creation.is_some_and(|c| c != prefix) {
        out.push(format!(
            "entry {seq}: the decision on request {id} does not sign the request's creation statement"
        ));
    }
    match (approved, decision) {
        (true, Decision::Approve { by, expires }) => {
            if by != who {
                out.push(format!("entry {seq}: request {id}: approved by {who} in the entry, by {by} in the signed statement"));
            }
            if d["expires_at"].as_i64() != Some(expires) {
                out.push(format!(
                    "entry {seq}: request {id}: the entry's expiry {} is not the signed {expires}",
                    d["expires_at"]
                ));
            }
        }
        (false, Decision::Reject { by, reason }) => {
            if by != who {
                out.push(format!("entry {seq}: request {id}: rejected by {who} in the entry, by {by} in the signed statement"));
            }
            if s(d, "reason") != reason {
                out.push(format!(
                    "entry {seq}: request {id}: the entry's reason is not the signed reason"
                ));
            }
        }
        _ => out.push(format!(
            "entry {seq}: request {id}: the entry and its signed statement name different decisions"
        )),
    }
    out
}

/// The officer certificates a genesis or rekey entry's `custodians`
/// list, by name; `unreadable` hears the name of each that does not parse.
pub(super) fn custodian_certs(
    d: &Value,
    mut unreadable: impl FnMut(String),
) -> HashMap<String, sequoia_openpgp::Cert> {
    let mut certs = HashMap::new();
    for c in d
        .get("custodians")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let bytes = data_encoding::BASE64
            .decode(s(c, "officer_cert").as_bytes())
            .unwrap_or_default();
        match crate::pgp::keys::parse_public_cert(&bytes) {
            Ok(cert) => {
                certs.insert(s(c, "name"), cert);
            }
            Err(_) => unreadable(s(c, "name")),
        }
    }
    certs
}

/// Checks one `ceremony.*` entry against the ceremony it belongs to
/// (branch c1): started once, steps in order, nothing after its end, and
/// the end's counts equal to what was logged. `Some(problem)` if not.
pub(super) fn ceremony_entry(
    all: &mut HashMap<String, (u64, u64, u64, bool)>,
    kind: &str,
    d: &Value,
) -> Option<String> {
    let id = s(d, "ceremony_id");
    if kind == events::CEREMONY_STARTED {
        if all.insert(id.clone(), (0, 0, 0, false)).is_some() {
            return Some(format!("ceremony {id} is started twice"));
        }
        return None;
    }
    let Some(c) = all.get_mut(&id) else {
        return Some(format!("{kind} of ceremony {id}, which was never started"));
    };
    if c.3 {
        return Some(format!("{kind} of ceremony {id} after it finished"));
    }
    let step = d["step"].as_u64().unwrap_or(0);
    match kind {
        events::CEREMONY_STEP if step <= c.0 => Some(format!(
            "ceremony {id}: step {step} logged after step {}",
            c.0
        )),
        events::CEREMONY_STEP => {
            c.0 = step;
            c.1 += 1;
            None
        }
        events::CEREMONY_EXCEPTION if step != c.0 => Some(format!(
            "ceremony {id}: exception for step {step}, but the last step logged is {}",
            c.0
        )),
        events::CEREMONY_EXCEPTION => {
            c.2 += 1;
            None
        }
        _ => {
            c.3 = true;
            let (steps, exceptions) = (d["steps"].as_u64(), d["exceptions"].as_u64());
            (steps != Some(c.1) || exceptions != Some(c.2)).then(|| {
                format!(
                    "ceremony {id} finished with {steps:?} steps and {exceptions:?} exceptions, but {} and {} were logged",
                    c.1, c.2
                )
            })
        }
    }
}

/// A `seeds.destroyed` entry against its parts and its signed statement:
/// the count and SHA-256 of the listed serials, the statement naming them,
/// and a signature by each of at least two enrolled officers (d1).
pub(super) fn destruction_checks(
    seq: u64,
    id: i64,
    d: &Value,
    actors: &[String],
    list: &[String],
    officers: &HashMap<String, sequoia_openpgp::Cert>,
) -> Vec<String> {
    let mut out = Vec::new();
    let count = d["count"].as_u64().unwrap_or(u64::MAX);
    if list.len() as u64 != count {
        out.push(format!(
            "entry {seq}: destruction {id} lists {} serials but says {count}",
            list.len()
        ));
    }
    let sha = crate::vault::statement::serials_sha256_v2(list);
    if sha != s(d, "serials_sha256") {
        out.push(format!(
            "entry {seq}: destruction {id}'s serial list does not match its serials_sha256"
        ));
    }
    let st = s(d, "statement");
    let says = |line: String| st.lines().any(|l| l == line);
    if !st.starts_with("seedvault seed destruction v1\n")
        || !says(format!("destruction: {id}"))
        || !says(format!("serials: {}", list.len()))
        || !says(format!("serials-sha256: \"{sha}\""))
    {
        out.push(format!(
            "entry {seq}: destruction {id}'s signed statement does not name its serials"
        ));
    }
    let sigs = d["signatures"].as_object();
    let signers: BTreeSet<&str> = sigs
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    let named: BTreeSet<&str> = actors.iter().map(String::as_str).collect();
    if signers.len() < 2 || signers != named {
        out.push(format!(
            "entry {seq}: destruction {id} is not signed by each of its officers (at least two)"
        ));
    }
    for (name, sig) in sigs.into_iter().flatten() {
        let ok = officers.get(name).is_some_and(|cert| {
            crate::pgp::verify_detached(cert, st.as_bytes(), sig.as_str().unwrap_or("").as_bytes())
                .is_ok()
        });
        if !ok {
            out.push(format!(
                "entry {seq}: the signature of {name} on destruction {id} does not verify"
            ));
        }
    }
    out
}

// ---- c1: ceremony entries ----
#[cfg(test)]
mod c1_ceremony_tests {
    use super::*;

    #[test]
    fn ceremony_entries_must_follow_their_ceremony() {
        let mut all = HashMap::new();
        let e = |kind: &str, d: Value, all: &mut HashMap<_, _>| ceremony_entry(all, kind, &d);
        let id = serde_json::json!({"ceremony_id": "c1"});
        assert_eq!(e(events::CEREMONY_STARTED, id.clone(), &mut all), None);
        assert!(e(events::CEREMONY_STARTED, id, &mut all)
            .unwrap()
            .contains("started twice"));
        let step = |n: u64| serde_json::json!({"ceremony_id": "c1", "step": n});
        assert_eq!(e(events::CEREMONY_STEP, step(1), &mut all), None);
        assert_eq!(e(events::CEREMONY_STEP, step(2), &mut all), None);
        assert!(e(events::CEREMONY_STEP, step(2), &mut all)
            .unwrap()
            .contains("after step 2"));
        assert!(e(events::CEREMONY_EXCEPTION, step(1), &mut all)
            .unwrap()
            .contains("last step"));
        assert_eq!(e(events::CEREMONY_EXCEPTION, step(2), &mut all), None);
        let fin =
            |s: u64, x: u64| serde_json::json!({"ceremony_id": "c1", "steps": s, "exceptions": x});
        assert!(e(events::CEREMONY_FINISHED, fin(3, 1), &mut all)
            .unwrap()
            .contains("but 2 and 1"));
        assert!(e(events::CEREMONY_STEP, step(3), &mut all)
            .unwrap()
            .contains("after it finished"));
        let other = serde_json::json!({"ceremony_id": "zz", "step": 1});
        assert!(e(events::CEREMONY_STEP, other, &mut all)
            .unwrap()
            .contains("never started"));
        let mut ok = HashMap::new();
        let started = serde_json::json!({"ceremony_id": "c2"});
        assert_eq!(e(events::CEREMONY_STARTED, started, &mut ok), None);
        let s1 = serde_json::json!({"ceremony_id": "c2", "step": 1});
        assert_eq!(e(events::CEREMONY_STEP, s1, &mut ok), None);
        let f = serde_json::json!({"ceremony_id": "c2", "steps": 1, "exceptions": 0});
        assert_eq!(e(events::CEREMONY_FINISHED, f, &mut ok), None);
    }
}
