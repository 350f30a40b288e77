//! A lookup table beside the log, so a browser can filter a million
//! entries without parsing each one: for every entry, its event type, its
//! actors, and the order, request and serial ids its data names.
//!
//! The table is filled by [`super::append`] in the transaction of the
//! entry itself, and backfilled by the migration that created it. It is
//! not part of the chain and proves nothing: someone who edits the
//! database can add, change or delete rows. A browser therefore reads the
//! entries the index points to and keeps only those whose body says what
//! the filter asks (`vault::audit_browse`): a forged row over-selects and is
//! dropped, a deleted row hides an entry from a filtered view (never from
//! the unfiltered log), and `audit verify` remains the truth about the log.

use rusqlite::{params, Connection};

/// The keys an entry is indexed under.
pub const KEYS: [&str; 5] = ["event", "officer", "order", "request", "serial"];

/// The `(key, value)` pairs of one entry: what a filter can match.
pub fn terms(
    event: &str,
    actors: &[String],
    data: &serde_json::Value,
) -> Vec<(&'static str, String)> {
    let mut out = vec![("event", event.to_owned())];
    out.extend(actors.iter().map(|a| ("officer", a.clone())));
    let text = |k: &str| data.get(k).and_then(serde_json::Value::as_str);
    if let Some(o) = text("order_id") {
        out.push(("order", o.to_owned()));
    }
    if let Some(r) = text("request_id") {
        out.push(("request", r.to_owned()));
    }
    if let Some(s) = text("serial") {
        out.push(("serial", s.to_owned()));
    }
    // A batch's serial lists (`batch.serials`, 10,000 serials a part) are
    // not indexed serial by serial: that would double the rows an ingest
    // writes. The browser finds them through the serial's batch instead
    // (`vault::audit_browse`).
    // A batch's serial lists and an export's are not indexed serial by
    // serial (a row each for a million-seed batch or a 100,000-seed
    // export was most of the time it took): the browser finds them
    // through the batch or the request that holds the serial.
    let listed = if event == crate::audit::events::BATCH_SERIALS
        || event == crate::audit::events::EXPORT_COMPLETED
    {
        None
    } else {
        data.get("serials").and_then(serde_json::Value::as_array)
    };
    if let Some(list) = listed {
        out.extend(
            list.iter()
                .filter_map(serde_json::Value::as_str)
                .map(|s| ("serial", s.to_owned())),
        );
    }
    out
}

/// Indexes entry `seq`. Call in the entry's transaction.
pub fn add(
    conn: &Connection,
    seq: u64,
    event: &str,
    actors: &[String],
    data: &serde_json::Value,
) -> rusqlite::Result<()> {
    // An export's entry names every serial it shipped (100,000 of them):
    // rows go in by the hundred, one statement each, rather than one by one.
    let terms = terms(event, actors, data);
    let mut groups = terms.chunks_exact(ROWS_PER_INSERT);
    if groups.len() > 0 {
        let mut stmt = conn.prepare_cached(&insert_sql(ROWS_PER_INSERT))?;
        for group in groups.by_ref() {
            let values: Vec<&dyn rusqlite::ToSql> = group
                .iter()
                .flat_map(|(k, v)| [k as &dyn rusqlite::ToSql, v, &seq])
                .collect();
            stmt.execute(values.as_slice())?;
        }
    }
    let mut stmt = conn.prepare_cached(&insert_sql(1))?;
    for (k, v) in groups.remainder() {
        stmt.execute(params![k, v, seq])?;
    }
    Ok(())
}

/// Rows per multi-row insert (3 parameters each, far below SQLite's limit).
const ROWS_PER_INSERT: usize = 100;

/// `INSERT OR IGNORE` of `rows` index rows.
fn insert_sql(rows: usize) -> String {
    let mut sql =
        String::from("INSERT OR IGNORE INTO audit_index (key, value, seq) VALUES (?,?,?)");
    for _ in 1..rows {
        sql.push_str(",(?,?,?)");
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_event_actors_ids_and_serial_lists() {
        let t = terms(
            "order.assigned",
            &["alice".into()],
            &serde_json::json!({"order_id": "1234", "serials": ["A-1", "B-2", 7]}),
        );
        assert_eq!(
            t,
            vec![
                ("event", "order.assigned".into()),
                ("officer", "alice".into()),
                ("order", "1234".into()),
                ("serial", "A-1".into()),
                ("serial", "B-2".into()),
            ]
        );
    }

    #[test]
    fn batch_and_export_serial_lists_are_not_indexed_serial_by_serial() {
        let data =
            serde_json::json!({ "request_id": "r1", "batch_id": 3, "serials": ["A-1", "B-2"] });
        for event in ["export.completed", "batch.serials"] {
            let t = terms(event, &["alice".into()], &data);
            assert!(t.iter().all(|(k, _)| *k != "serial"), "{event}: {t:?}");
        }
        let t = terms("export.completed", &["alice".into()], &data);
        assert!(t.contains(&("request", "r1".into())), "{t:?}");
    }

    #[test]
    fn add_indexes_every_term_of_a_long_serial_list_once() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE audit_index (key TEXT, value TEXT, seq INTEGER, PRIMARY KEY (key, value, seq));",
        )
        .unwrap();
        // 3 + 250 terms: two full groups and a remainder; one serial twice.
        let mut serials: Vec<String> = (0..249).map(|i| format!("S-{i}")).collect();
        serials.push("S-7".into());
        let data = serde_json::json!({ "request_id": "r1", "serials": serials });
        add(&conn, 9, "request.created", &["alice".into()], &data).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT count(*) FROM audit_index WHERE key = 'serial'"),
            249
        );
        assert_eq!(count("SELECT count(*) FROM audit_index"), 252);
        assert_eq!(count("SELECT count(*) FROM audit_index WHERE seq = 9"), 252);
        assert_eq!(
            count("SELECT count(*) FROM audit_index WHERE key = 'serial' AND value = 'S-248'"),
            1
        );
    }
}
