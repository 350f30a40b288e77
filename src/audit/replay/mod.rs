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
use compare::compare;
use statements::{
    ceremony_entry, creation_vs_statement, custodian_certs, decision_vs_statement,
    destruction_checks, logged_upns,
};

mod compare;
mod statements;

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

/// The reasons a `vault.sealed` entry may give.
const SEAL_REASONS: [&str; 5] = ["s", "idle", "quit", "panic", "closed"];

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
