//! Replay's last step: the state rebuilt from the log against the
//! tables, each difference named. Every seed (its batch, state, order,
//! exports and token parameters), batches, orders with their addresses,
//! requests field by field (certificate, statement, signatures, serials,
//! UPNs), exports and destroyed serials.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{ParamSets, ReplayReport, RequestState, SerialMap, Stage, NO_SET};
use crate::audit::AuditError;

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
pub(super) fn compare(
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
