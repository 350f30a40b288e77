//! The export's "exported meanwhile" check, asked once per range scan of
//! the seeds over that span of serials (docs/decisions/2026-11-30-export-speed.md):
//! a serial another request exported that lies inside the span but is not
//! this request's is no concern, one that is this request's is named, and
//! the problems come in serial order whichever scan found them.

use std::path::{Path, PathBuf};

use crate::common::{file_names, request_id, text, TestVault};

/// Creates a request of order 1234 for exactly `serials`, approved by bob.
fn approved(v: &TestVault, key: &Path, name: &str, serials: &[u64]) -> String {
    let file = v.tmp.path().join(format!("{name}.txt"));
    let list: Vec<String> = serials.iter().map(u64::to_string).collect();
    std::fs::write(&file, list.join("\n")).unwrap();
    let out = v.create_request(
        "1234",
        "it@acme.example",
        "hex",
        key,
        "alice",
        &["--serials-file", file.to_str().unwrap()],
    );
    let id = request_id(&out);
    v.approve_ok(&id, "bob");
    id
}

fn medium(v: &TestVault, name: &str) -> PathBuf {
    let m = v.tmp.path().join(name);
    std::fs::create_dir(&m).unwrap();
    m
}

#[test]
fn exported_meanwhile_is_judged_by_the_requests_own_serials_in_every_span() {
    let v = TestVault::new(2, &["alice", "bob"]);
    v.ingest("hex", 40, 60_000_000, 5);
    v.add_order("1234", "Acme", &["it@acme.example"], "alice");
    v.assign("1234", 60_000_000..60_000_040, "alice");
    let (key, _) = v.customer_key("Acme IT <it@acme.example>", "acme.asc");
    // One scan: 60000010 lies inside this span but is not asked for.
    let around: Vec<u64> = (60_000_000..60_000_020)
        .filter(|s| *s != 60_000_010)
        .collect();
    let a = approved(&v, &key, "a", &[60_000_010]);
    let around = approved(&v, &key, "around", &around);
    // Two scans: 60000022..60000034 (13 rows) is a jump to a fresh one.
    let jumps = approved(
        &v,
        &key,
        "jumps",
        &[60_000_020, 60_000_021, 60_000_035, 60_000_036],
    );
    let c = approved(&v, &key, "c", &[60_000_036]);
    for id in [&a, &c] {
        v.export_ok(id, &medium(&v, id), &["alice", "bob"]);
    }

    let m = medium(&v, "around");
    let out = v.export(&around, &m, &["alice", "bob"]);
    assert!(
        out.status.success(),
        "a serial exported by another request inside the span is not this one's: {}",
        text(&out)
    );
    assert_eq!(file_names(&m).len(), 2);

    v.cmd()
        .args(["serial", "void", "60000021", "--reason", "reprogrammed"])
        .args(v.officer("bob"))
        .assert()
        .success();
    let m = medium(&v, "jumps");
    let out = v.export(&jumps, &m, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    let voided = said.find("serial 60000021 was voided");
    let exported = said.find("serial 60000036 was exported meanwhile");
    assert!(
        matches!((voided, exported), (Some(v), Some(e)) if v < e),
        "both problems, in serial order: {said}"
    );
    for not in ["60000020", "60000035", "60000010"] {
        assert!(!said.contains(&format!("serial {not}")), "{said}");
    }
    assert!(file_names(&m).is_empty(), "{:?}", file_names(&m));
}
