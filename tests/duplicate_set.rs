//! The batch reader's duplicate set (issue 17, part 2: serials packed in
//! one arena behind a table of indices) across many rehashes: a serial
//! repeated after 20,000 others is refused at the line of its repeat and
//! named with the line where it first appears, and a clean batch of the
//! same size goes in whole.

use crate::common::{make_batch, text, TestVault};

const COUNT: u32 = 20_000;

#[test]
fn a_serial_repeated_after_twenty_thousand_others_names_its_first_line() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let (batch, _) = make_batch(v.tmp.path(), "azure-csv", COUNT, 81_000_000, 7);
    let body = std::fs::read_to_string(&batch).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines.len(),
        1 + COUNT as usize,
        "header and one line per token"
    );
    // Line 2 is the first token, line 12,001 one in the middle.
    let serial_on = |line: usize| lines[line - 1].split(',').nth(1).unwrap().to_owned();
    let mut dup = body.clone();
    if !dup.ends_with('\n') {
        dup.push('\n');
    }
    for line in [2, 12_001] {
        dup.push_str(lines[line - 1]);
        dup.push('\n');
    }
    let dup_file = v.tmp.path().join("repeats.csv");
    std::fs::write(&dup_file, dup).unwrap();

    let out = v.ingest_output(&dup_file, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = text(&out);
    let end = COUNT as usize + 1;
    for (at, first) in [(end + 1, 2), (end + 2, 12_001)] {
        let want = format!(
            "line {at} (serial {}): duplicate serial: it first appears on line {first}",
            serial_on(first)
        );
        assert!(err.contains(&want), "want {want:?} in:\n{err}");
    }
    assert_eq!(
        v.sqlite("SELECT count(*) FROM seeds").trim(),
        "0",
        "nothing stored"
    );

    // The same tokens without the repeats: every one goes in.
    v.ingest_file(&batch);
    assert_eq!(
        v.sqlite("SELECT count(*) FROM seeds").trim(),
        COUNT.to_string()
    );
    let verify = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
}
