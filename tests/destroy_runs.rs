//! `seeds destroy` deleting by runs of adjacent rows (branch x1, issue 14's
//! benchmark): a sparse selection, whose gaps make the scan seek again,
//! destroys exactly the serials listed and leaves no piece of their
//! ciphertexts in the file; a seed row deleted behind the log is named and
//! nothing is destroyed.

use crate::common::{request_id, text, TestVault};

const ORDER: &str = "88";
const FIRST: u64 = 40_000_000;
const COUNT: u64 = 400;

/// A 2-of-3 vault with COUNT seeds, all in order 88, exported.
fn exported() -> TestVault {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("base32", 400, FIRST, 11);
    v.add_order(ORDER, "Acme", &["it@acme.example"], "alice");
    v.assign(ORDER, FIRST..FIRST + COUNT, "alice");
    let (key, _) = v.customer_key("IT <it@acme.example>", "customer.asc");
    let req = request_id(&v.create_request(ORDER, "it@acme.example", "hex", &key, "alice", &[]));
    v.approve_ok(&req, "bob");
    let m = v.tmp.path().join("export-media");
    std::fs::create_dir(&m).unwrap();
    v.export_ok(&req, &m, &["alice", "bob"]);
    v
}

fn destroy(v: &TestVault, which: &[&str], media: &std::path::Path) -> std::process::Output {
    v.cmd()
        .args(["seeds", "destroy"])
        .args(which)
        .args(["--reason", "retention ended", "--media"])
        .arg(media)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap()
}

fn sealed_of(v: &TestVault, serial: u64) -> Vec<u8> {
    let h = v.sqlite(&format!(
        "SELECT hex(sealed) FROM seeds WHERE serial = '{serial}'"
    ));
    let h = h.trim();
    assert!(!h.is_empty(), "no seed row for {serial}");
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

fn holds_piece(hay: &[u8], sealed: &[u8]) -> bool {
    // The last 12 bytes: ciphertext and tag, never a shared prefix.
    let piece = &sealed[sealed.len() - 12..];
    hay.windows(piece.len()).any(|w| w == piece)
}

fn count(v: &TestVault, sql: &str) -> u64 {
    v.sqlite(sql).trim().parse().unwrap()
}

#[test]
fn a_sparse_serial_list_destroys_exactly_those_rows_and_their_ciphertexts() {
    let v = exported();
    // Gaps of 99 and 148 rows make the scan seek again; 100 and 101 are one run.
    let picked = [
        FIRST,
        FIRST + 100,
        FIRST + 101,
        FIRST + 250,
        FIRST + COUNT - 1,
    ];
    let sealed: Vec<Vec<u8>> = picked.iter().map(|s| sealed_of(&v, *s)).collect();
    let kept = [FIRST + 1, FIRST + 99, FIRST + 102, FIRST + 249, FIRST + 251];
    let kept_sealed: Vec<Vec<u8>> = kept.iter().map(|s| sealed_of(&v, *s)).collect();
    let list = v.tmp.path().join("sparse.txt");
    let lines: Vec<String> = picked.iter().map(u64::to_string).collect();
    std::fs::write(&list, lines.join("\n") + "\n").unwrap();
    let out = destroy(&v, &["--serials-file", list.to_str().unwrap()], &v.media());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(count(&v, "SELECT count(*) FROM seeds"), COUNT - 5);
    assert_eq!(count(&v, "SELECT count(*) FROM destroyed_serials"), 5);
    for s in picked {
        assert_eq!(
            count(
                &v,
                &format!("SELECT count(*) FROM seeds WHERE serial = '{s}'")
            ),
            0,
            "{s} still has a seed row"
        );
    }
    let db = std::fs::read(v.db()).unwrap();
    for (s, c) in picked.iter().zip(&sealed) {
        assert!(
            !holds_piece(&db, c),
            "a piece of {s}'s ciphertext is in vault.db"
        );
    }
    for (s, c) in kept.iter().zip(&kept_sealed) {
        assert!(holds_piece(&db, c), "the search misses {s}, which is kept");
    }
    assert!(!v.vault.join("vault.db-journal").exists());
    for what in ["verify", "replay"] {
        let out = v.cmd().args(["audit", what]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "audit {what}: {}", text(&out));
    }
}

#[test]
fn a_seed_row_deleted_behind_the_log_is_named_and_nothing_is_destroyed() {
    let v = exported();
    let gone = FIRST + 123;
    v.sqlite(&format!("DELETE FROM seeds WHERE serial = '{gone}'"));
    let media = v.media();
    let out = destroy(&v, &["--order", ORDER], &media);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains(&gone.to_string()) && msg.contains("deleted behind the log"),
        "{msg}"
    );
    assert_eq!(v.events("seeds.destroyed"), 0);
    assert_eq!(count(&v, "SELECT count(*) FROM seeds"), COUNT - 1);
    assert_eq!(count(&v, "SELECT count(*) FROM destroyed_serials"), 0);
    assert!(std::fs::read_dir(&media).unwrap().next().is_none());
}
