//! The fast paths of issue 17 keep every check: replay's skim of entries
//! it does not interpret still names an unreadable one, verify's two-stage
//! walk still names every altered entry, and an export's many index rows
//! all land.

use crate::common::{text, TestVault};

/// The `seq` of the first entry of `event`.
fn first_seq(v: &TestVault, event: &str) -> u64 {
    v.sqlite(&format!(
        "SELECT min(seq) FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = '{event}'"
    ))
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn replay_names_an_unreadable_entry_of_a_kind_it_does_not_interpret() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 5, 700_000, 3);
    v.cmd().args(["audit", "replay"]).assert().success();
    let seq = first_seq(&v, "vault.unsealed");
    // The entry's data made invalid JSON (replay reads the log, not the hashes).
    v.sqlite(&format!(
        "UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), '\"data\":{{', '\"data\":{{{{') AS BLOB) WHERE seq = {seq}"
    ));
    let out = v.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("entry {seq} cannot be read")),
        "{}",
        text(&out)
    );
    // verify names it too, as altered.
    let out = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("entry {seq}: contents do not match")),
        "{}",
        text(&out)
    );
}

#[test]
fn replay_still_interprets_an_entry_whose_kind_was_renamed_to_a_skimmed_one() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 5, 710_000, 4);
    let seq = first_seq(&v, "batch.ingested");
    // A batch's closing entry disguised as a token check: replay must not
    // find the batch in the log any more.
    v.sqlite(&format!(
        "UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), '\"event\":\"batch.ingested\"', '\"event\":\"token.verified\"') AS BLOB) WHERE seq = {seq}"
    ));
    let out = v.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("batch 1 is in the table but not in the log"),
        "{}",
        text(&out)
    );
}
