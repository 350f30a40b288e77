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

/// The ingest leaves repeats to the database's key and, when it finds one
/// (or any other problem), reads the file again for the report: a repeat
/// in the same insert as its first, one after a refused line, and one of
/// a serial another batch holds are each named with both lines, as the
/// check names them; a batch only of serials the vault holds is refused
/// as before.
#[test]
fn repeats_next_to_each_other_after_a_bad_line_and_of_a_held_serial_name_both_lines() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let (first, _) = make_batch(v.tmp.path(), "azure-csv", 10, 82_000_000, 3);
    v.ingest_file(&first);
    let held = std::fs::read_to_string(&first).unwrap();
    let held_line = held.lines().nth(1).unwrap().to_owned();
    let held_serial = held_line.split(',').nth(1).unwrap().to_owned();

    let (batch, _) = make_batch(v.tmp.path(), "azure-csv", 300, 83_000_000, 4);
    let body = std::fs::read_to_string(&batch).unwrap();
    let lines: Vec<String> = body.lines().map(str::to_owned).collect();
    let serial_of = |l: &str| l.split(',').nth(1).unwrap().to_owned();
    // Line 2 again at once (line 3), a bad secret for line 10's serial on
    // line 5, and the held serial twice at the end.
    let mut out: Vec<String> = vec![lines[0].clone(), lines[1].clone(), lines[1].clone()];
    let mut bad: Vec<String> = lines[9].split(',').map(str::to_owned).collect();
    bad[2] = "not*base32".into();
    out.push(lines[2].clone());
    out.push(bad.join(","));
    out.extend(lines[3..].iter().cloned());
    out.push(held_line.clone());
    out.push(held_line);
    let n = out.len();
    let file = v.tmp.path().join("repeats-2.csv");
    std::fs::write(&file, out.join("\n") + "\n").unwrap();

    let run = v.ingest_output(&file, &["alice", "bob"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let err = text(&run);
    let want = [
        format!(
            "line 3 (serial {}): duplicate serial: it first appears on line 2",
            serial_of(&lines[1])
        ),
        // Line 10's serial (now on line 12) first appeared on the bad line 5.
        format!(
            "line 12 (serial {}): duplicate serial: it first appears on line 5",
            serial_of(&lines[9])
        ),
        format!(
            "line {n} (serial {held_serial}): duplicate serial: it first appears on line {}",
            n - 1
        ),
    ];
    for w in &want {
        assert!(err.contains(w.as_str()), "want {w:?} in:\n{err}");
    }
    assert!(
        err.contains("line 5"),
        "the bad secret is named too:\n{err}"
    );
    assert_eq!(
        v.sqlite("SELECT count(*) FROM seeds").trim(),
        "10",
        "nothing more stored"
    );

    // Only serials the vault holds, none repeated: refused as held.
    let again = v.ingest_output(&first, &["alice", "bob"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        text(&again).contains("10 serial(s) are already in the vault"),
        "{}",
        text(&again)
    );
    let verify = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
}
