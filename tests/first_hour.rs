//! A new user's first hour: the demo run twice, the help they read, and
//! the messages they meet first, each asserted as the user sees it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{make_batch, read_truth, text, TestVault};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Help text with clap's line wrapping undone.
fn unwrapped(out: &std::process::Output) -> String {
    stdout(out).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn audit_entries(vault: &Path) -> u64 {
    let out = crate::common::seedvault()
        .arg("--vault")
        .arg(vault)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    s["audit"]["entries"].as_u64().unwrap()
}

fn vault_id(vault: &Path) -> String {
    let out = crate::common::seedvault()
        .arg("--vault")
        .arg(vault)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    s["vault_id"].as_str().unwrap().to_owned()
}

#[test]
fn demo_runs_again_on_its_own_directory_and_fresh_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let vault = dir.join("vault");

    let first = crate::common::seedvault()
        .args(["demo", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", text(&first));
    assert!(stdout(&first).contains("tui"), "{}", text(&first));
    let id = vault_id(&vault);
    let entries = audit_entries(&vault);

    // The README's main command, a second time: demo succeeds (so the TUI
    // opens after it) and leaves the earlier demo as it was.
    let again = crate::common::seedvault()
        .args(["demo", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let said = stdout(&again);
    assert!(said.contains("reusing it"), "{said}");
    assert!(said.contains(&id), "{said}");
    assert!(said.contains("--fresh"), "{said}");
    assert!(said.contains("tui"), "{said}");
    assert_eq!(vault_id(&vault), id);
    assert_eq!(audit_entries(&vault), entries);

    // --fresh builds a new demo and keeps what demo did not make.
    std::fs::write(dir.join("my-notes.txt"), "keep me\n").unwrap();
    let fresh = crate::common::seedvault()
        .args(["demo", "--fresh", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(fresh.status.success(), "{}", text(&fresh));
    assert_ne!(vault_id(&vault), id, "--fresh made a new vault");
    assert_eq!(
        std::fs::read_to_string(dir.join("my-notes.txt")).unwrap(),
        "keep me\n"
    );
    crate::common::seedvault()
        .arg("--vault")
        .arg(&vault)
        .args(["audit", "verify"])
        .assert()
        .success();
}

#[test]
fn demo_never_touches_a_directory_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    std::fs::create_dir(dir.join("vault")).unwrap();
    std::fs::write(dir.join("vault/holiday.jpg"), "not a demo").unwrap();
    for extra in [&[][..], &["--fresh"][..]] {
        let out = crate::common::seedvault()
            .arg("demo")
            .args(extra)
            .arg("--dir")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{} exists", dir.display())) && err.contains("not made by"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("vault/holiday.jpg")).unwrap(),
            "not a demo"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing added");
    }
}

#[test]
fn help_shows_what_a_new_user_needs() {
    let out = crate::common::seedvault()
        .args(["demo", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = stdout(&out);
    assert!(!help.contains("--vault"), "demo ignores --vault: {help}");
    assert!(help.contains("--dir") && help.contains("--fresh"), "{help}");

    let out = crate::common::seedvault()
        .args(["init", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = unwrapped(&out);
    assert!(help.contains("at least 12 characters"), "{help}");
    assert!(help.contains("1 to 64"), "{help}");
    assert!(help.contains("letters, digits, '.', '_' or '-'"), "{help}");
}

#[test]
fn the_vault_is_private_to_its_owner() {
    let v = TestVault::new(2, &["alice", "bob"]);
    assert_eq!(mode(&v.vault), 0o700, "vault directory");
    assert_eq!(mode(&v.db()), 0o600, "vault.db");
    assert_eq!(mode(&v.card("alice")), 0o600, "card");
    // After a write, nothing in the vault directory is readable by others.
    v.ingest("hex", 3, 5_000_000, 3);
    for f in std::fs::read_dir(&v.vault).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f) & 0o077, 0, "{} is {:o}", f.display(), mode(&f));
    }
}

#[test]
fn audit_out_into_a_missing_directory_names_it_and_the_fix() {
    let v = TestVault::new(2, &["alice", "bob"]);
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .success();
    let missing = v.tmp.path().join("media/audit");
    for cmd in ["checkpoint", "export"] {
        let file = missing.join("out.asc");
        let out = v
            .cmd()
            .args(["audit", cmd, "--out"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "the directory {} does not exist",
                missing.display()
            )),
            "{cmd}: {err}"
        );
        assert!(
            err.contains(&format!("mkdir -p {}", missing.display())),
            "{cmd}: {err}"
        );
        assert!(!missing.exists(), "{cmd} created the directory");
    }
}

#[test]
fn verify_does_not_say_the_log_extends_a_checkpoint_when_the_chain_is_broken() {
    let v = TestVault::new(2, &["alice", "bob"]);
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .success();
    let cp = v.tmp.path().join("cp.asc");
    v.cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&cp)
        .assert()
        .success();
    let ok = v
        .cmd()
        .args(["audit", "verify", "--checkpoint"])
        .arg(&cp)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(stdout(&ok).contains("the log extends it"), "{}", text(&ok));

    // Edit the first entry's body behind the vault's back (its stored hash stays).
    v.sqlite("UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), '\"seq\":1', '\"seq\": 1') AS BLOB) WHERE seq = 1");
    for json in [false, true] {
        let mut c = v.cmd();
        c.args(["audit", "verify", "--checkpoint"]).arg(&cp);
        if json {
            c.arg("--json");
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let said = stdout(&out);
        if json {
            let r: serde_json::Value = serde_json::from_str(&said).unwrap();
            assert_eq!(r["ok"], false);
            assert_eq!(r["checkpoints"][0]["ok"], false, "{r}");
        } else {
            assert!(said.contains("TAMPERED entry 1"), "{said}");
            assert!(!said.contains("extends it"), "{said}");
            assert!(said.contains("cannot be said to extend"), "{said}");
        }
    }
}

#[test]
fn a_wrong_code_is_reported_once_on_stderr() {
    let v = TestVault::new(2, &["alice", "bob"]);
    let truth = v.ingest("hex", 2, 7_000_000, 9);
    let (serial, hex, _) = read_truth(&truth).remove(0);
    let seed = seedvault::token::Seed::new(data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap())
        .unwrap();
    let params = seedvault::token::TokenParams::default();
    let at = 1_800_000_000u64;
    // A code that matches no step of the ±10 window.
    let window: Vec<String> = (0..=20)
        .map(|i| seedvault::otp::totp(&seed, &params, at - 300 + 30 * i))
        .collect();
    let wrong = (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .unwrap();
    let out = v
        .cmd()
        .args(["verify-token", &serial, "--code", &wrong, "--at"])
        .arg(at.to_string())
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(stdout(&out), "", "nothing on stdout");
    let err = stderr(&out);
    assert_eq!(err.matches("no match").count(), 1, "{err}");
    assert!(err.contains(&format!("serial {serial}")), "{err}");

    let right = seedvault::otp::totp(&seed, &params, at);
    let out = v
        .cmd()
        .args(["verify-token", &serial, "--code", &right, "--at"])
        .arg(at.to_string())
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("match: serial"), "{}", text(&out));
}

#[test]
fn counts_of_one_are_singular() {
    let v = TestVault::new(2, &["alice", "bob"]);
    let out = v.cmd().arg("status").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let status = stdout(&out);
    assert!(status.contains("Audit log    1 entry, head"), "{status}");
    assert!(status.contains("in 0 batches"), "{status}");

    let (batch, _) = make_batch(v.tmp.path(), "hex", 4, 8_000_000, 4);
    v.ingest_file(&batch);
    v.cmd()
        .args(["order", "add", "--id", "4711", "--customer", "Example Ltd"])
        .args(["--email", "it@example.com"])
        .args(v.quorum(&["alice"]))
        .assert()
        .success();
    let status = stdout(&v.cmd().arg("status").output().unwrap());
    assert!(status.contains("exported) in 1 batch\n"), "{status}");
    assert!(
        status.contains("Orders       1 (0 requests pending"),
        "{status}"
    );

    let out = v.cmd().args(["audit", "replay"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let replay = stdout(&out);
    assert!(
        replay.contains(": 1 batch, 4 serials (0 voided), 1 order, 0 requests, 0 exports;"),
        "{replay}"
    );
    assert!(!replay.contains("1 batches") && !replay.contains("1 orders"));

    let file = v.tmp.path().join("log.jsonl");
    let out = v
        .cmd()
        .args(["audit", "export", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("audit entries exported"),
        "{}",
        text(&out)
    );
}
