//! A full disk under the vault directory itself (SPEC §7: a full disk
//! leaves the vault as before the command or as after it). The vault is
//! moved onto a small tmpfs, a filler file takes all but a little of its
//! room, and ingest, order assign, export and the checkpoint (signed at
//! the end of every quorum command, and `audit checkpoint --out` into the
//! vault directory) run out of space part-way. Each must be refused with
//! exit 1 and a message naming "disk full under" the vault directory; the
//! seeds, orders and requests must be as before, the log must verify and
//! replay, and with the filler gone the same command must then succeed.
//!
//! Mounting a tmpfs needs root (CI runs as root). Without it these tests
//! fail, loudly, rather than skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{make_batch, text, TestVault};

/// A tmpfs mounted on a directory, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "the full-disk tests mount a small tmpfs under the vault and need root \
             (CI runs as root; run `sudo -E cargo test --test tests full_disk::`): \
             mount -t tmpfs on {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            dir: dir.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// The test vault moved onto a tmpfs of `size`.
fn onto_tmpfs(v: &TestVault, size: &str) -> Tmpfs {
    let seed = v.tmp.path().join("vault.before-tmpfs");
    std::fs::rename(&v.vault, &seed).unwrap();
    std::fs::create_dir(&v.vault).unwrap();
    let fs = Tmpfs::mount(&v.vault, size);
    for e in std::fs::read_dir(&seed).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), v.vault.join(e.file_name())).unwrap();
    }
    fs
}

const FILLER: &str = "filler";

/// Fills the vault's file system to the last byte, then gives back
/// `leave` bytes (rounded down to the page by the file system).
fn fill(v: &TestVault, leave: u64) {
    use std::io::Write;
    let path = v.vault.join(FILLER);
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written: u64 = 0;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    f.set_len(written.saturating_sub(leave)).unwrap();
    f.sync_all().unwrap();
}

fn unfill(v: &TestVault) {
    std::fs::remove_file(v.vault.join(FILLER)).unwrap();
}

/// What must not change when a command is refused for a full disk.
#[derive(Debug, PartialEq)]
struct State {
    /// `status --json` without the log's head and checkpoint, and without
    /// the exports that never completed (an export refused after its
    /// `export.started` entry is one, as after a kill; see the export test).
    status: serde_json::Value,
    /// The files of the vault directory (but the filler).
    files: Vec<String>,
}

fn state(v: &TestVault) -> State {
    let out = v.cmd().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "status: {}", text(&out));
    let mut status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let obj = status.as_object_mut().unwrap();
    obj.remove("audit");
    obj.remove("last_checkpoint");
    obj.remove("unfinished_exports");
    let files = crate::common::file_names(&v.vault)
        .into_iter()
        .filter(|f| f != FILLER)
        .collect();
    State { status, files }
}

fn sha256(path: &Path) -> Vec<u8> {
    seedvault::crypto::sha256(&std::fs::read(path).unwrap()).to_vec()
}

/// The events of the log after entry `from`.
fn events_after(v: &TestVault, from: u64) -> Vec<String> {
    v.sqlite(&format!(
        "SELECT json_extract(CAST(body AS TEXT), '$.event') FROM audit WHERE seq > {from} ORDER BY seq"
    ))
    .lines()
    .map(str::to_owned)
    .collect()
}

fn assert_log_intact(v: &TestVault) {
    for what in ["verify", "replay"] {
        let out = v.cmd().args(["audit", what]).output().unwrap();
        assert!(
            out.status.success(),
            "audit {what} after a full disk: {}",
            text(&out)
        );
    }
}

/// Runs `op` on a vault whose disk has `leave` bytes free, for each of
/// `leaves`, and checks the refusal; then with room, checks it succeeds.
/// `allowed` are the events a refused quorum command may leave in the log
/// (its unseal and its own refusal, as any refusal does).
fn refused_then_done(
    v: &TestVault,
    leaves: &[u64],
    allowed: &[&str],
    op: &dyn Fn() -> std::process::Output,
    after_refusal: &dyn Fn(),
) {
    for &leave in leaves {
        let before = state(v);
        let len = v.audit_len();
        let db = sha256(&v.db());
        fill(v, leave);
        let out = op();
        let t = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "with {leave} bytes free: exit 1 expected: {t}"
        );
        assert!(
            t.contains(&format!("disk full under {}", v.vault.display())),
            "with {leave} bytes free, the message names the full disk and the vault: {t}"
        );
        assert!(!t.contains("panicked"), "{t}");
        unfill(v);
        after_refusal();
        if leave == 0 {
            assert_eq!(v.audit_len(), len, "no room at all, yet the log grew");
        }
        if v.audit_len() == len {
            assert_eq!(
                sha256(&v.db()),
                db,
                "with {leave} bytes free: no entry, but the database changed"
            );
        } else {
            for e in events_after(v, len) {
                assert!(
                    allowed.contains(&e.as_str()),
                    "with {leave} bytes free: the log gained {e}"
                );
            }
        }
        assert_eq!(
            state(v),
            before,
            "with {leave} bytes free: the vault changed"
        );
        assert_log_intact(v);
    }
    let out = op();
    assert!(out.status.success(), "with room again: {}", text(&out));
    assert_log_intact(v);
}

const REFUSAL_TRACE: &[&str] = &["vault.unsealed", "batch.refused"];

#[test]
fn ingest_on_a_full_disk_is_refused_and_changes_nothing() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let (batch, _) = make_batch(v.tmp.path(), "hex", 20_000, 30_000_000, 7);
    let _fs = onto_tmpfs(&v, "6m");
    refused_then_done(
        &v,
        &[0, 16 * 1024, 256 * 1024, 1024 * 1024],
        REFUSAL_TRACE,
        &|| v.ingest_output(&batch, &["alice", "bob"]),
        &|| {},
    );
    let out = v.cmd().args(["status", "--json"]).output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["seeds"], 20_000);
}

#[test]
fn order_assign_on_a_full_disk_is_refused_and_changes_nothing() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 20_000, 30_000_000, 7);
    v.add_order("O1", "Acme", &["it@acme.example"], "alice");
    let file = v.tmp.path().join("order.txt");
    let serials: Vec<String> = (30_000_000..30_020_000).map(|s| s.to_string()).collect();
    std::fs::write(&file, serials.join("\n")).unwrap();
    let _fs = onto_tmpfs(&v, "12m");
    refused_then_done(
        &v,
        &[0, 16 * 1024, 256 * 1024],
        &["vault.unsealed"],
        &|| {
            v.cmd()
                .args(["order", "assign", "--id", "O1", "--serials-file"])
                .arg(&file)
                .args(v.quorum(&["alice"]))
                .output()
                .unwrap()
        },
        &|| {},
    );
    assert_eq!(
        v.sqlite("SELECT count(*) FROM seeds WHERE order_id = 'O1'")
            .trim(),
        "20000"
    );
}

#[test]
fn export_on_a_full_disk_is_refused_and_changes_nothing() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 5_000, 30_000_000, 7);
    v.add_order("O1", "Acme", &["it@acme.example"], "alice");
    v.assign("O1", 30_000_000..30_005_000, "alice");
    let (key, _) = v.customer_key("Acme IT <it@acme.example>", "acme.asc");
    let out = v.create_request("O1", "it@acme.example", "pskc", &key, "alice", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let id = crate::common::request_id(&out);
    v.approve_ok(&id, "bob");
    let media = v.media();
    let _fs = onto_tmpfs(&v, "8m");
    // An export refused after its `export.started` entry is recorded as one
    // that never completed (`status` lists it), exactly as after a kill.
    refused_then_done(
        &v,
        &[0, 16 * 1024, 64 * 1024],
        &["vault.unsealed", "export.started", "export.failed"],
        &|| v.export(&id, &media, &["alice", "bob"]),
        // It removes what it wrote, whenever the disk filled.
        &|| {
            let left = crate::common::file_names(&media);
            assert!(
                left.is_empty(),
                "a refused export left {left:?} on the medium"
            );
        },
    );
    let files = crate::common::file_names(&media);
    assert_eq!(files.len(), 2, "bundle and manifest: {files:?}");
}

#[test]
fn the_closing_checkpoint_on_a_full_disk_is_refused_and_changes_nothing() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 200, 30_000_000, 7);
    let _fs = onto_tmpfs(&v, "2m");
    // `unseal` writes one entry and signs a checkpoint: the disk fills at
    // the entry (nothing free) or at the checkpoint (a page free).
    refused_then_done(
        &v,
        &[0, 4096],
        &["vault.unsealed"],
        &|| {
            v.cmd()
                .arg("unseal")
                .args(v.quorum(&["alice", "bob"]))
                .output()
                .unwrap()
        },
        &|| {},
    );
}

#[test]
fn a_checkpoint_file_written_into_the_full_vault_directory_is_refused() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 10, 30_000_000, 7);
    let _fs = onto_tmpfs(&v, "1m");
    let out_file = v.vault.join("checkpoint.asc");
    for what in ["checkpoint", "export"] {
        let before = state(&v);
        let db = sha256(&v.db());
        fill(&v, 0);
        let out = v
            .cmd()
            .args(["audit", what, "--out"])
            .arg(&out_file)
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "audit {what}: {t}");
        assert!(
            t.contains(&format!("disk full under {}", v.vault.display())),
            "audit {what}: {t}"
        );
        assert!(!out_file.exists(), "audit {what} left a partial file");
        unfill(&v);
        assert_eq!(sha256(&v.db()), db);
        assert_eq!(state(&v), before);
        assert_log_intact(&v);
    }
}
