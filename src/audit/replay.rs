//! Replay: what the log alone says the vault holds, compared with what its
//! tables hold.
//!
//! The chain proves the log was not altered; replay proves the tables
//! were not altered behind the log's back. It rebuilds, from the entries
//! only, every batch and its serials with their token parameters, voids, orders and their serials,
//! seed requests with their creator and approver (each signature checked
//! against the officer certificates enrolled in the genesis entry, each
//! entry checked against the statement it carries, the approver different
//! from the creator, the approval unexpired when the export completed) and
//! exports with their recipient, format and serials; then it compares with
//! the tables (request rows field by field, their certificates, statements,
//! signatures and serials) and names every difference.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::walk::Chunk;
use super::{events, AuditError};
use crate::vault::RequestStateKind as Stage;

/// What replay found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplayReport {
    /// Entries read.
    pub entries: u64,
    /// Batches rebuilt.
    pub batches: u64,
    /// Serials rebuilt.
    pub serials: u64,
    /// Voided serials.
    pub voided: u64,
    /// Orders.
    pub orders: u64,
    /// Requests.
    pub requests: u64,
    /// Completed exports.
    pub exports: u64,
    /// Serials whose seeds were destroyed (d1).
    pub destroyed: u64,
    /// Officer signatures checked.
    pub signatures_checked: u64,
    /// Every inconsistency, each naming what differs.
    pub differences: Vec<String>,
    /// Exports that started and never completed or failed: the process
    /// died in between (a crash, not a difference: the tables and the log
    /// agree). `status` lists them too; the next export of the request
    /// closes them.
    pub unfinished: Vec<String>,
    /// The binaries that unsealed the vault, in order of first use.
    pub binaries: Vec<super::binaries::BinarySeen>,
    /// The unseals by another binary than the unseal before.
    pub binary_changes: Vec<super::binaries::BinaryChange>,
}

#[derive(Deserialize)]
struct Entry {
    seq: u64,
    #[serde(default)]
    vault: String,
    time: String,
    event: String,
    actors: Vec<String>,
    data: Value,
}

/// Kinds of entry whose data replay does not interpret: no arm of its
/// `match` reads them. An arm added for one of these kinds must take it
/// out of this list.
const NOT_INTERPRETED: [&str; 2] = [events::TOKEN_VERIFIED, events::UNSEAL_FAILED];

/// An entry's fields as borrowed text, its data only checked to be JSON.
#[derive(Deserialize)]
#[allow(dead_code)] // Read to check their types, as `Entry` reads them.
struct Skimmed<'a> {
    seq: u64,
    #[serde(default, borrow)]
    vault: &'a str,
    #[serde(borrow)]
    time: &'a str,
    #[serde(borrow)]
    event: &'a str,
    #[serde(borrow)]
    actors: Vec<&'a str>,
    data: serde::de::IgnoredAny,
}

/// Whether `body` is a well-formed entry of a kind in [`NOT_INTERPRETED`],
/// found without building its data: the full read of [`Entry`] costs most
/// of a replay and such entries are most of a log (token checks). Only a
/// body without escapes qualifies (every string then is its bytes, valid
/// UTF-8 as checked here); any other is read in full, as before.
fn skims(body: &[u8]) -> bool {
    // The form `append` writes, read by bytes (see `walk::envelope`).
    if let Some(e) = super::walk::envelope(body) {
        return NOT_INTERPRETED.iter().any(|k| k.as_bytes() == e.event);
    }
    if body.contains(&b'\\') || std::str::from_utf8(body).is_err() {
        return false;
    }
    serde_json::from_slice::<Skimmed<'_>>(body).is_ok_and(|e| NOT_INTERPRETED.contains(&e.event))
}

#[derive(Default)]
struct SerialState {
    batch: i64,
    /// Index of its parameter set in [`ParamSets`], or [`NO_SET`].
    params: u32,
    voided: bool,
    order: Option<String>,
    exported: i64,
    /// Its seed was destroyed (`seeds.destroyed`, d1).
    destroyed: bool,
}

/// Every serial the log names, with what the log says of it. Hashed with
/// foldhash, randomly seeded per map (SipHash was a tenth of a replay);
/// the serials come from the log, and without the seed no one can aim
/// them at collisions, which would cost time, never a wrong answer.
type SerialMap = HashMap<String, SerialState, foldhash::fast::RandomState>;

/// A serial whose batch entry gave it no readable parameter set.
const NO_SET: u32 = u32::MAX;

/// Every token parameter set the log names, once, in canonical form
/// (`TokenParams::canonical_json`): serials refer to them by index.
#[derive(Default)]
struct ParamSets {
    canonical: Vec<String>,
    index: HashMap<String, u32>,
}

impl ParamSets {
    fn intern(&mut self, p: &crate::token::TokenParams) -> u32 {
        let c = p.canonical_json();
        if let Some(&i) = self.index.get(&c) {
            return i;
        }
        // A batch has at most as many sets as tokens, far below u32::MAX.
        let i = u32::try_from(self.canonical.len()).unwrap_or(u32::MAX);
        self.canonical.push(c.clone());
        self.index.insert(c, i);
        i
    }

    fn name(&self, i: u32) -> &str {
        self.canonical
            .get(i as usize)
            .map(String::as_str)
            .unwrap_or("(none)")
    }
}

/// A batch's serial list as its parts give it: serials in file order and
/// runs of `(parameter set index, count)`; `None` once a part gave no
/// readable runs.
type BatchList = (Vec<String>, Option<Vec<(usize, u64)>>);

/// The parameter set of each serial of `list`, as batch indices expanded
/// from `runs`, or why that cannot be done.
fn expand_runs(
    list_len: usize,
    runs: Option<&[(usize, u64)]>,
    sets: usize,
) -> Result<Vec<usize>, String> {
    let runs = runs.ok_or("a serial part gives no parameter set per serial")?;
    let mut out = Vec::with_capacity(list_len);
    for &(set, n) in runs {
        if set >= sets {
            return Err(format!(
                "a serial part names parameter set {set}, which is not listed"
            ));
        }
        if out.len() as u64 + n > list_len as u64 {
            return Err("its parts give more parameter sets than serials".into());
        }
        // n is bounded by list_len (checked just above), so it fits.
        out.extend(std::iter::repeat_n(set, usize::try_from(n).unwrap_or(0)));
    }
    if out.len() != list_len {
        return Err("its parts give fewer parameter sets than serials".into());
    }
    Ok(out)
}

struct RequestState {
    order: String,
    creator: String,
    decider: Option<String>,
    state: Stage,
    serials: BTreeSet<String>,
    /// The UPN mapping the creation entry holds (checked against the
    /// signed hash), serial to UPN.
    upns: BTreeMap<String, String>,
    expires_at: Option<i64>,
    /// What the creation entry and its signed statement name.
    requester: String,
    format: String,
    recipient: String,
    reexport: Option<String>,
    statement: String,
    create_sig: String,
    decision_sig: Option<String>,
}

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
fn creation_vs_statement(seq: u64, vault: &str, creator: &str, d: &Value) -> Vec<String> {
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
fn logged_upns(d: &Value) -> BTreeMap<String, String> {
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
fn decision_vs_statement(
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

/// The reasons a `vault.sealed` entry may give.
const SEAL_REASONS: [&str; 5] = ["s", "idle", "quit", "panic", "closed"];

/// The officer certificates a genesis or rekey entry's `custodians`
/// list, by name; `unreadable` hears the name of each that does not parse.
fn custodian_certs(
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

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks one `ceremony.*` entry against the ceremony it belongs to
/// (branch c1): started once, steps in order, nothing after its end, and
/// the end's counts equal to what was logged. `Some(problem)` if not.
fn ceremony_entry(
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

fn unix(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Replays the log of `conn` and compares it with the tables.
pub fn replay(conn: &rusqlite::Connection) -> Result<ReplayReport, AuditError> {
    replay_progress(conn, &mut |_, _| {})
}

/// [`replay`], reporting `(entries read, entries in the log)` to
/// `progress` every [`super::verify::PROGRESS_EVERY`] entries.
pub fn replay_progress(
    conn: &rusqlite::Connection,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ReplayReport, AuditError> {
    let total = super::head(conn)?.count;
    let mut r = ReplayReport::default();
    let mut diff = |m: String| r.differences.push(m);
    let mut officers: HashMap<String, sequoia_openpgp::Cert> = HashMap::new();
    let mut vault_cert: Option<sequoia_openpgp::Cert> = None;
    let mut serials = SerialMap::default();
    let mut batch_parts: HashMap<i64, BatchList> = HashMap::new();
    let mut param_sets = ParamSets::default();
    let mut batches: BTreeMap<i64, (i64, String)> = BTreeMap::new();
    let mut orders: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut requests: BTreeMap<String, RequestState> = BTreeMap::new();
    let mut exports: BTreeMap<i64, (String, &'static str)> = BTreeMap::new();
    let mut signatures = 0u64;
    let mut entries = 0u64;
    // c1: ceremony id -> (last step, steps, exceptions, finished).
    let mut ceremonies: HashMap<String, (u64, u64, u64, bool)> = HashMap::new();
    let mut binaries = super::binaries::BinaryTracker::default();
    let mut destroyed_parts: HashMap<i64, Vec<String>> = HashMap::new();

    // The reader reads, workers parse (most entries are of kinds replay
    // does not interpret: skimmed without building their data, see
    // `skims`), and the entries come back here in log order.
    let mut stmt = conn.prepare("SELECT seq, body, NULL FROM audit ORDER BY seq")?;
    let work = |chunk: &Chunk| -> Vec<(usize, Option<Entry>)> {
        chunk
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let body = chunk.blob(row);
                (!skims(body)).then(|| (i, serde_json::from_slice::<Entry>(body).ok()))
            })
            .collect()
    };
    let consume = |chunk: &Chunk, parsed: Vec<(usize, Option<Entry>)>| {
        let mut parsed = parsed.into_iter().peekable();
        for i in 0..chunk.rows.len() {
            entries += 1;
            let Some((_, e)) = parsed.next_if(|(at, _)| *at == i) else {
                continue;
            };
            let Some(e) = e else {
                diff(format!("entry {entries} cannot be read"));
                continue;
            };
            let d = &e.data;
            let mut check_sig = |who: &str, what: &str| -> bool {
                let Some(cert) = officers.get(who) else {
                    diff(format!(
                        "entry {}: {what} by {who:?}, who is not an enrolled officer",
                        e.seq
                    ));
                    return false;
                };
                let (st, sig) = (s(d, "statement"), s(d, "signature"));
                signatures += 1;
                if crate::pgp::verify_detached(cert, st.as_bytes(), sig.as_bytes()).is_err() {
                    diff(format!(
                        "entry {}: the signature of {who} on {what} does not verify",
                        e.seq
                    ));
                    return false;
                }
                true
            };
            match e.event.as_str() {
                events::VAULT_INIT => {
                    vault_cert = data_encoding::BASE64
                        .decode(s(d, "vault_cert").as_bytes())
                        .ok()
                        .and_then(|b| crate::pgp::keys::parse_public_cert(&b).ok());
                    officers.extend(custodian_certs(d, |name| {
                        diff(format!(
                            "genesis: the certificate of custodian {name} is unreadable"
                        ))
                    }));
                }
                // A rekey's officers replace the previous epoch's: a statement
                // logged after it verifies against the new certificates only,
                // one logged before it was checked against the old ones.
                events::VAULT_REKEYED => {
                    officers = custodian_certs(d, |name| {
                        diff(format!(
                            "entry {}: the certificate of new custodian {name} is unreadable",
                            e.seq
                        ))
                    });
                }
                events::CARD_REISSUED => {
                    // A new officer key, enrolled by the vault key's signature
                    // (branch k2): statements after this entry verify against it.
                    let (name, fpr) = (s(d, "custodian"), s(d, "officer_fingerprint"));
                    let cert = data_encoding::BASE64
                        .decode(s(d, "officer_cert").as_bytes())
                        .ok()
                        .and_then(|b| crate::pgp::keys::parse_public_cert(&b).ok());
                    let st = s(d, "statement");
                    let signed = vault_cert.as_ref().is_some_and(|v| {
                        crate::pgp::verify_detached(v, st.as_bytes(), s(d, "signature").as_bytes())
                            .is_ok()
                    }) && st.contains(&format!("\ncustodian: {name}\n"))
                        && st.contains(&format!("\nofficer-fingerprint: {fpr}\n"));
                    match cert {
                    Some(c) if signed && c.fingerprint().to_hex() == fpr => {
                        officers.insert(name, c);
                    }
                    _ => diff(format!(
                        "entry {}: the re-issue of {name}'s card is not signed by the vault key or names another certificate",
                        e.seq
                    )),
                }
                }
                events::BATCH_SERIALS => {
                    let id = d["batch_id"].as_i64().unwrap_or(-1);
                    let (list, runs) = batch_parts
                        .entry(id)
                        .or_insert_with(|| (Vec::new(), Some(Vec::new())));
                    list.extend(strings(d, "serials"));
                    let part_runs = Vec::<(usize, u64)>::deserialize(&d["params"]).ok();
                    match (runs.as_mut(), part_runs) {
                        (Some(all), Some(more)) => all.extend(more),
                        _ => *runs = None,
                    }
                }
                events::BATCH_INGESTED | events::BATCH_GENERATED => {
                    let id = d["batch_id"].as_i64().unwrap_or(-1);
                    let (list, runs) = batch_parts.remove(&id).unwrap_or_default();
                    let count = d["count"].as_i64().unwrap_or(-1);
                    if i64::try_from(list.len()).ok() != Some(count) {
                        diff(format!(
                            "entry {}: batch {id} lists {} serials but says {count}",
                            e.seq,
                            list.len()
                        ));
                    }
                    let sha =
                        crate::crypto::hex(&crate::crypto::sha256(list.join("\n").as_bytes()));
                    if sha != s(d, "serials_sha256") {
                        diff(format!(
                            "entry {}: batch {id}'s serial list does not match its serials_sha256",
                            e.seq
                        ));
                    }
                    // The batch's parameter sets, then which one each serial has.
                    let sets: Vec<u32> =
                        match Vec::<crate::token::TokenParams>::deserialize(&d["params"]) {
                            Ok(sets) => sets.iter().map(|p| param_sets.intern(p)).collect(),
                            Err(_) => {
                                diff(format!(
                                    "entry {}: batch {id} lists no readable token parameter sets",
                                    e.seq
                                ));
                                Vec::new()
                            }
                        };
                    let of_serial = if sets.is_empty() {
                        Vec::new()
                    } else {
                        expand_runs(list.len(), runs.as_deref(), sets.len()).unwrap_or_else(|why| {
                        diff(format!(
                            "entry {}: batch {id}'s token parameters per serial do not add up: {why}",
                            e.seq
                        ));
                        Vec::new()
                    })
                    };
                    for (i, serial) in list.into_iter().enumerate() {
                        let params = of_serial.get(i).map_or(NO_SET, |&set| sets[set]);
                        if serials
                            .insert(
                                serial.clone(),
                                SerialState {
                                    batch: id,
                                    params,
                                    ..Default::default()
                                },
                            )
                            .is_some()
                        {
                            diff(format!("entry {}: serial {serial} ingested twice", e.seq));
                        }
                    }
                    batches.insert(id, (count, s(d, "format")));
                }
                events::SERIAL_VOIDED => match serials.get_mut(&s(d, "serial")) {
                    Some(st) => st.voided = true,
                    None => diff(format!(
                        "entry {}: void of serial {} that was never ingested",
                        e.seq,
                        s(d, "serial")
                    )),
                },
                events::ORDER_ADDED => {
                    let emails: BTreeSet<String> = strings(d, "emails").into_iter().collect();
                    orders.insert(s(d, "order_id"), (s(d, "customer"), emails));
                }
                events::ORDER_ASSIGNED => {
                    let order = s(d, "order_id");
                    for serial in strings(d, "serials") {
                        match serials.get_mut(&serial) {
                            Some(st) => st.order = Some(order.clone()),
                            None => diff(format!(
                                "entry {}: order {order} assigned unknown serial {serial}",
                                e.seq
                            )),
                        }
                    }
                }
                events::REQUEST_CREATED => {
                    let creator = e.actors.first().cloned().unwrap_or_default();
                    check_sig(&creator, &format!("request {}", s(d, "request_id")));
                    for m in creation_vs_statement(e.seq, &e.vault, &creator, d) {
                        diff(m);
                    }
                    requests.insert(
                        s(d, "request_id"),
                        RequestState {
                            order: s(d, "order_id"),
                            creator,
                            decider: None,
                            state: Stage::Pending,
                            serials: strings(d, "serials").into_iter().collect(),
                            upns: logged_upns(d),
                            expires_at: None,
                            requester: s(d, "requester"),
                            format: s(d, "format"),
                            recipient: s(d, "recipient_fingerprint"),
                            reexport: d
                                .get("reexport_reason")
                                .and_then(Value::as_str)
                                .map(str::to_owned),
                            statement: s(d, "statement"),
                            create_sig: s(d, "signature"),
                            decision_sig: None,
                        },
                    );
                }
                kind @ (events::REQUEST_APPROVED | events::REQUEST_REJECTED) => {
                    let id = s(d, "request_id");
                    let who = e.actors.first().cloned().unwrap_or_default();
                    check_sig(&who, &format!("the decision on request {id}"));
                    let approved = kind == events::REQUEST_APPROVED;
                    let creation = requests.get(&id).map(|q| q.statement.as_str());
                    for m in decision_vs_statement(e.seq, approved, &who, d, creation) {
                        diff(m);
                    }
                    match requests.get_mut(&id) {
                        None => diff(format!("entry {}: decision on unknown request {id}", e.seq)),
                        Some(req) => {
                            if req.creator == who {
                                diff(format!("entry {}: request {id} was decided by its own creator {who} (two-person rule)", e.seq));
                            }
                            if req.state != Stage::Pending {
                                diff(format!(
                                    "entry {}: request {id} was decided again while {}",
                                    e.seq, req.state
                                ));
                            }
                            req.decider = Some(who);
                            req.decision_sig = Some(s(d, "signature"));
                            if approved {
                                req.state = Stage::Approved;
                                req.expires_at = d["expires_at"].as_i64();
                            } else {
                                req.state = Stage::Rejected;
                            }
                        }
                    }
                }
                events::EXPORT_STARTED => {
                    let id = s(d, "request_id");
                    match requests.get(&id) {
                        None => diff(format!("entry {}: export of unknown request {id}", e.seq)),
                        Some(req) => {
                            if req.state != Stage::Approved {
                                diff(format!(
                                    "entry {}: an export of request {id} started while it was {}",
                                    e.seq, req.state
                                ));
                            }
                            for (field, started, signed) in [
                                ("recipient", s(d, "recipient_fingerprint"), &req.recipient),
                                ("format", s(d, "format"), &req.format),
                                ("order", s(d, "order_id"), &req.order),
                            ] {
                                if &started != signed {
                                    diff(format!(
                                    "entry {}: the export of request {id} went out with {field} {started}, the signed request names {signed}",
                                    e.seq
                                ));
                                }
                            }
                        }
                    }
                    exports.insert(d["export_id"].as_i64().unwrap_or(-1), (id, "started"));
                }
                events::EXPORT_FAILED => {
                    exports.insert(
                        d["export_id"].as_i64().unwrap_or(-1),
                        (s(d, "request_id"), "failed"),
                    );
                }
                events::EXPORT_COMPLETED => {
                    let id = s(d, "request_id");
                    let at = unix(&e.time);
                    match requests.get_mut(&id) {
                        None => diff(format!("entry {}: export of unknown request {id}", e.seq)),
                        Some(req) => {
                            if req.state != Stage::Approved {
                                diff(format!(
                                    "entry {}: request {id} was exported while {}",
                                    e.seq, req.state
                                ));
                            }
                            if let (Some(exp), Some(at)) = (req.expires_at, at) {
                                if at > exp {
                                    diff(format!("entry {}: request {id} was exported after its approval expired", e.seq));
                                }
                            }
                            let listed: BTreeSet<String> =
                                strings(d, "serials").into_iter().collect();
                            if listed != req.serials {
                                diff(format!("entry {}: export of request {id} lists other serials than the request", e.seq));
                            }
                            req.state = Stage::Exported;
                        }
                    }
                    for serial in strings(d, "serials") {
                        match serials.get_mut(&serial) {
                            Some(st) if st.voided => diff(format!(
                                "entry {}: voided serial {serial} was exported",
                                e.seq
                            )),
                            Some(st) if st.destroyed => diff(format!(
                            "entry {}: serial {serial} was exported after its seed was destroyed",
                            e.seq
                        )),
                            Some(st) => st.exported += 1,
                            None => diff(format!(
                                "entry {}: export of unknown serial {serial}",
                                e.seq
                            )),
                        }
                    }
                    exports.insert(d["export_id"].as_i64().unwrap_or(-1), (id, "completed"));
                }
                kind @ (events::CEREMONY_STARTED
                | events::CEREMONY_STEP
                | events::CEREMONY_EXCEPTION
                | events::CEREMONY_FINISHED) => {
                    if let Some(m) = ceremony_entry(&mut ceremonies, kind, d) {
                        diff(format!("entry {}: {m}", e.seq));
                    }
                }
                events::UNSEAL => binaries.unsealed(e.seq, &e.time, d),
                events::SEEDS_DESTROYED_SERIALS => {
                    let id = d["destruction_id"].as_i64().unwrap_or(-1);
                    destroyed_parts
                        .entry(id)
                        .or_default()
                        .extend(strings(d, "destroyed"));
                }
                events::SEEDS_DESTROYED => {
                    let id = d["destruction_id"].as_i64().unwrap_or(-1);
                    let list = destroyed_parts.remove(&id).unwrap_or_default();
                    for m in destruction_checks(e.seq, id, d, &e.actors, &list, &officers) {
                        diff(m);
                    }
                    signatures += d["signatures"].as_object().map_or(0, |m| m.len() as u64);
                    for serial in list {
                        match serials.get_mut(&serial) {
                            Some(st) if st.destroyed => {
                                diff(format!("entry {}: serial {serial} destroyed twice", e.seq))
                            }
                            Some(st) if st.exported == 0 && !st.voided => diff(format!(
                            "entry {}: serial {serial} was destroyed but never exported nor voided",
                            e.seq
                        )),
                            Some(st) => st.destroyed = true,
                            None => diff(format!(
                                "entry {}: destruction of unknown serial {serial}",
                                e.seq
                            )),
                        }
                    }
                }
                events::SEALED if !SEAL_REASONS.contains(&s(d, "reason").as_str()) => {
                    diff(format!("entry {}: a seal with an unknown reason", e.seq));
                }
                _ => {}
            }
        }
    };
    super::walk::walk(&mut stmt, [], true, total, progress, work, consume)?;
    drop(stmt);
    r.entries = entries;
    r.signatures_checked = signatures;
    (r.binaries, r.binary_changes) = binaries.finish();
    r.batches = batches.len() as u64;
    r.serials = serials.len() as u64;
    r.voided = serials.values().filter(|x| x.voided).count() as u64;
    r.orders = orders.len() as u64;
    r.requests = requests.len() as u64;
    r.exports = exports.values().filter(|x| x.1 == "completed").count() as u64;
    r.destroyed = serials.values().filter(|x| x.destroyed).count() as u64;
    compare(
        conn,
        &mut r,
        &serials,
        &param_sets,
        &batches,
        &orders,
        &requests,
        &exports,
    )?;
    Ok(r)
}

/// A `requests` row as replay compares it.
struct RequestRow {
    order: String,
    /// `None`: the table's text names no stage.
    state: Option<Stage>,
    creator: String,
    decider: Option<String>,
    requester: String,
    format: String,
    recipient: String,
    recipient_cert: Vec<u8>,
    reexport: Option<String>,
    statement: String,
    create_sig: String,
    decision_sig: Option<String>,
    expires_at: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
fn compare(
    conn: &rusqlite::Connection,
    r: &mut ReplayReport,
    serials: &SerialMap,
    param_sets: &ParamSets,
    batches: &BTreeMap<i64, (i64, String)>,
    orders: &BTreeMap<String, (String, BTreeSet<String>)>,
    requests: &BTreeMap<String, RequestState>,
    exports: &BTreeMap<i64, (String, &'static str)>,
) -> Result<(), AuditError> {
    const MAX: usize = 200;
    let mut unfinished = Vec::new();
    let mut d = |m: String| {
        if r.differences.len() < MAX {
            r.differences.push(m);
        }
    };
    // Seeds: every row against the log, then every logged serial against the rows.
    let mut seen = 0u64;
    // A row's parameter set, by id, as an index into `param_sets` or why
    // it is none of them: looked up once per set, not per serial.
    let mut set_of: HashMap<i64, Result<u32, String>> = HashMap::new();
    let mut set_st = conn.prepare("SELECT json FROM token_params WHERE id = ?1")?;
    let mut st = conn.prepare(
        "SELECT s.serial, s.batch_id, s.state, s.order_id, coalesce(x.exports, 0), s.params_id
         FROM seeds s LEFT JOIN seed_exports x ON x.serial = s.serial",
    )?;
    let mut rows = st.query([])?;
    while let Some(row) = rows.next()? {
        let serial: String = row.get(0)?;
        let (batch, state, order, exported): (i64, String, Option<String>, i64) =
            (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
        let pid: i64 = row.get(5)?;
        let Some(l) = serials.get(&serial) else {
            d(format!(
                "seed row {serial} is not in the log (added behind the log)"
            ));
            continue;
        };
        if l.destroyed {
            d(format!(
                "seed row {serial} is present, but the log says its seed was destroyed"
            ));
            continue;
        }
        seen += 1;
        if l.batch != batch {
            d(format!(
                "seed row {serial}: batch {batch}, the log says {}",
                l.batch
            ));
        }
        if (state == "voided") != l.voided {
            d(format!(
                "seed row {serial}: state {state}, the log says {}",
                if l.voided { "voided" } else { "active" }
            ));
        }
        if order != l.order {
            d(format!(
                "seed row {serial}: order {order:?}, the log says {:?}",
                l.order
            ));
        }
        if exported != l.exported {
            d(format!(
                "seed row {serial}: exported {exported} time(s), the log says {}",
                l.exported
            ));
        }
        if l.params != NO_SET {
            if let std::collections::hash_map::Entry::Vacant(slot) = set_of.entry(pid) {
                let json: Option<String> =
                    rusqlite::OptionalExtension::optional(set_st.query_row([pid], |r| r.get(0)))?;
                let found = match json {
                    None => Err(format!("token parameter set {pid} is missing")),
                    Some(j) => match serde_json::from_str::<crate::token::TokenParams>(&j) {
                        Err(_) => Err(format!("token parameter set {pid} is unreadable")),
                        Ok(p) => param_sets
                            .index
                            .get(&p.canonical_json())
                            .copied()
                            .ok_or_else(|| format!("token parameters {}", p.canonical_json())),
                    },
                };
                slot.insert(found);
            }
            match set_of.get(&pid) {
                Some(Ok(got)) if *got == l.params => {}
                Some(Ok(got)) => d(format!(
                    "seed row {serial}: token parameters {}, the log says {}",
                    param_sets.name(*got),
                    param_sets.name(l.params)
                )),
                Some(Err(why)) => d(format!(
                    "seed row {serial}: {why}, the log says {}",
                    param_sets.name(l.params)
                )),
                None => {}
            }
        }
    }
    drop(rows);
    drop(st);
    let live = serials.values().filter(|x| !x.destroyed).count() as u64;
    if seen < live {
        let present: BTreeSet<String> = {
            let mut st = conn.prepare("SELECT serial FROM seeds")?;
            let v = st
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            v
        };
        let mut missing: Vec<&String> = serials
            .iter()
            .filter(|(k, v)| !v.destroyed && !present.contains(*k))
            .map(|(k, _)| k)
            .collect();
        missing.sort();
        for m in missing {
            d(format!("seed row {m} is missing (deleted behind the log)"));
        }
    }
    destroyed_vs_table(conn, serials, &mut d)?;
    let mut st = conn.prepare("SELECT id, count, format FROM batches")?;
    let db: BTreeMap<i64, (i64, String)> = st
        .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))?
        .collect::<Result<_, _>>()?;
    for (id, v) in batches {
        match db.get(id) {
            None => d(format!("batch {id} is missing from the batches table")),
            Some(x) if x != v => d(format!(
                "batch {id}: table says {} tokens as {}, the log {} as {}",
                x.0, x.1, v.0, v.1
            )),
            _ => {}
        }
    }
    for id in db.keys().filter(|k| !batches.contains_key(*k)) {
        d(format!("batch {id} is in the table but not in the log"));
    }
    let mut st = conn.prepare("SELECT o.id, o.customer, e.email FROM orders o LEFT JOIN order_emails e ON e.order_id = o.id")?;
    let mut db: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for row in st.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })? {
        let (id, cust, email) = row?;
        let e = db.entry(id).or_insert((cust, BTreeSet::new()));
        if let Some(m) = email {
            e.1.insert(m);
        }
    }
    for (id, v) in orders {
        match db.get(id) {
            None => d(format!("order {id} is missing from the orders table")),
            Some(x) if x != v => d(format!(
                "order {id}: customer or authorized e-mails differ from the log"
            )),
            _ => {}
        }
    }
    for id in db.keys().filter(|k| !orders.contains_key(*k)) {
        d(format!("order {id} is in the table but not in the log"));
    }
    let mut st = conn.prepare(
        "SELECT id, order_id, state, created_by, decided_by, requester, format, recipient_fpr,
                recipient_cert, reexport_reason, statement, create_sig, decision_sig, expires_at
         FROM requests",
    )?;
    let db: BTreeMap<String, RequestRow> = st
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                RequestRow {
                    order: row.get(1)?,
                    state: Stage::parse(&row.get::<_, String>(2)?),
                    creator: row.get(3)?,
                    decider: row.get(4)?,
                    requester: row.get(5)?,
                    format: row.get(6)?,
                    recipient: row.get(7)?,
                    recipient_cert: row.get(8)?,
                    reexport: row.get(9)?,
                    statement: row.get(10)?,
                    create_sig: row.get(11)?,
                    decision_sig: row.get(12)?,
                    expires_at: row.get(13)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    for (id, q) in requests {
        let Some(t) = db.get(id) else {
            d(format!("request {id} is missing from the requests table"));
            continue;
        };
        let (o, state, by, dec) = (&t.order, t.state, &t.creator, &t.decider);
        if o != &q.order || state != Some(q.state) || by != &q.creator || dec != &q.decider {
            let shown = state.map_or_else(|| "an unknown state".to_owned(), |k| k.to_string());
            d(format!(
                "request {id}: table says {shown}, created by {by}, decided by {dec:?}; the log says {}, created by {}, decided by {:?}",
                q.state, q.creator, q.decider
            ));
        }
        if state == Some(Stage::Approved) && q.state != Stage::Approved {
            d(format!(
                "request {id}: marked approved in the table, but the log holds no signed approval of it (the log says {})",
                q.state
            ));
        }
        if state == Some(Stage::Exported) && q.state != Stage::Exported {
            d(format!(
                "request {id}: marked exported in the table, but the log holds no completed export of it (the log says {})",
                q.state
            ));
        }
        let cert_fpr = crate::pgp::keys::parse_public_cert(&t.recipient_cert)
            .map(|c| c.fingerprint().to_hex())
            .unwrap_or_else(|_| "an unreadable certificate".into());
        let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        for (field, table, log) in [
            ("order", t.order.clone(), q.order.clone()),
            ("requester", t.requester.clone(), q.requester.clone()),
            ("format", t.format.clone(), q.format.clone()),
            (
                "recipient fingerprint",
                t.recipient.clone(),
                q.recipient.clone(),
            ),
            ("recipient certificate", cert_fpr, q.recipient.clone()),
            ("re-export reason", none(&t.reexport), none(&q.reexport)),
        ] {
            if table != log {
                d(format!(
                    "request {id}: the table's {field} is {table}, the signed request's {log}"
                ));
            }
        }
        if t.statement != q.statement || t.create_sig != q.create_sig {
            d(format!(
                "request {id}: the creation statement or signature in the table is not the logged one"
            ));
        }
        if t.decision_sig != q.decision_sig || t.expires_at != q.expires_at {
            d(format!(
                "request {id}: the decision signature or expiry in the table ({:?}) is not the logged one ({:?})",
                t.expires_at, q.expires_at
            ));
        }
        let mut st =
            conn.prepare_cached("SELECT serial FROM request_serials WHERE request_id = ?1")?;
        let got: BTreeSet<String> = st
            .query_map([id], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if got != q.serials {
            let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
                let v: Vec<&str> = a.difference(b).take(5).map(String::as_str).collect();
                if v.is_empty() {
                    "none".to_owned()
                } else {
                    v.join(" ")
                }
            };
            d(format!(
                "request {id}: its serials differ from the log (in the table only: {}; signed only: {})",
                only(&got, &q.serials),
                only(&q.serials, &got)
            ));
        }
    }
    for (id, q) in requests {
        let mut st =
            conn.prepare_cached("SELECT serial, upn FROM request_upns WHERE request_id = ?1")?;
        let got: BTreeMap<String, String> = st
            .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if got != q.upns {
            let differ: BTreeSet<&str> = got
                .keys()
                .chain(q.upns.keys())
                .filter(|k| got.get(*k) != q.upns.get(*k))
                .map(String::as_str)
                .collect();
            let differ: Vec<&str> = differ.into_iter().take(5).collect();
            d(format!(
                "request {id}: its UPN mapping in the table differs from the signed one (serials {})",
                differ.join(" ")
            ));
        }
    }
    let mut st = conn.prepare("SELECT DISTINCT request_id FROM request_upns")?;
    let upn_requests: Vec<String> = st
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for id in upn_requests.iter().filter(|k| !requests.contains_key(*k)) {
        d(format!(
            "request {id} has UPN rows in the table but is not in the log"
        ));
    }
    for id in db.keys().filter(|k| !requests.contains_key(*k)) {
        d(format!("request {id} is in the table but not in the log"));
    }
    let mut st = conn.prepare("SELECT id, request_id, state FROM exports")?;
    let db: BTreeMap<i64, (String, String)> = st
        .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))?
        .collect::<Result<_, _>>()?;
    for (id, (req, state)) in exports {
        match db.get(id) {
            None => d(format!(
                "export {id} of request {req} is missing from the exports table"
            )),
            Some((r2, s2)) if r2 != req || s2 != state => d(format!(
                "export {id}: table says {s2} for {r2}, the log {state} for {req}"
            )),
            _ => {}
        }
        if *state == "started" {
            unfinished.push(format!(
                "export {id} of request {req} started and never completed (see status)"
            ));
        }
    }
    for id in db.keys().filter(|k| !exports.contains_key(*k)) {
        d(format!("export {id} is in the table but not in the log"));
    }
    r.unfinished = unfinished;
    Ok(())
}

/// A `seeds.destroyed` entry against its parts and its signed statement:
/// the count and SHA-256 of the listed serials, the statement naming them,
/// and a signature by each of at least two enrolled officers (d1).
fn destruction_checks(
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

/// The `destroyed_serials` table against the log (d1).
fn destroyed_vs_table(
    conn: &rusqlite::Connection,
    serials: &SerialMap,
    d: &mut dyn FnMut(String),
) -> Result<(), AuditError> {
    let mut st = conn.prepare("SELECT serial FROM destroyed_serials")?;
    let mut rows = st.query([])?;
    let mut in_table = 0u64;
    while let Some(row) = rows.next()? {
        let serial: String = row.get(0)?;
        in_table += 1;
        if !serials.get(&serial).is_some_and(|x| x.destroyed) {
            d(format!(
                "serial {serial} is recorded as destroyed, but the log holds no destruction of it"
            ));
        }
    }
    let logged = serials.values().filter(|x| x.destroyed).count() as u64;
    if in_table < logged {
        d(format!(
            "the log destroyed {logged} serials, the destroyed_serials table records {in_table}"
        ));
    }
    Ok(())
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
