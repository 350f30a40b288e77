//! Secret hygiene that a user or auditor can observe: what an unsealed
//! session keeps in memory once the unseal is done, that a session ending
//! with only that still signs a checkpoint `audit verify` accepts, and the
//! bounds of the TUI's idle timeout.

use crate::common::{make_batch, read_truth, text, TestVault};
use seedvault::token::Serial;
use seedvault::vault::HeldSecrets;

#[test]
fn a_session_keeps_the_kek_and_wipes_officer_keys_and_data_keys() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let (batch, truth) = make_batch(v.tmp.path(), "hex", 3, 7000, 5);
    let out = v.ingest_output(&batch, &["alice", "bob"]);
    assert!(out.status.success(), "{}", text(&out));

    // An unsealed vault as a command uses it: both officers' signing keys,
    // and the data key of the batch once a seed has been opened.
    let u = v.unseal(&["bob", "carol"], "hygiene test");
    let serial = Serial::parse(&read_truth(&truth)[0].0).unwrap();
    u.open_token(&serial).unwrap();
    assert_eq!(
        u.held_secrets(),
        HeldSecrets {
            kek_version: 1,
            officer_keys: 2,
            data_keys: 1
        }
    );

    // As a session keeps it: the KEK only.
    let session = u.into_session();
    assert_eq!(
        session.held_secrets(),
        HeldSecrets {
            kek_version: 1,
            officer_keys: 0,
            data_keys: 0
        }
    );
    assert_eq!(session.officer_names(), ["bob", "carol"]);
    assert!(!format!("{session:?}").contains("SecretCert"));

    // Ending the session still signs a checkpoint with the vault key opened
    // from the KEK, and an auditor's `audit verify` accepts it.
    let (vault, cp) = session.finish();
    let cp = cp
        .unwrap()
        .expect("an unsealed session over an intact log signs a checkpoint");
    // It covers the whole log, the session's own unseal included.
    assert_eq!(cp.entries, vault.status().unwrap().audit.entries);
    drop(vault);
    let saved = v.tmp.path().join("session.checkpoint");
    let out = v
        .cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&saved)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = v
        .cmd()
        .args(["audit", "verify", "--checkpoint"])
        .arg(&saved)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn idle_timeout_is_bounded_to_one_second_through_eight_hours() {
    let v = TestVault::new(2, &["alice", "bob"]);
    for bad in ["0", "28801", "86400", "18446744073709551615"] {
        let out = v
            .cmd()
            .args(["tui", "--idle-timeout", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--idle-timeout") && err.contains("1..=28800"),
            "{bad}: {err}"
        );
    }
    // The bounds themselves pass the parser; without a vault the command is
    // then refused for that reason (exit 1), before touching the terminal.
    for good in ["1", "28800"] {
        let out = crate::common::seedvault()
            .arg("--vault")
            .arg(v.tmp.path().join("no-vault-here"))
            .args(["tui", "--idle-timeout", good])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{good}: {}", text(&out));
        assert!(text(&out).contains("no vault at"), "{good}: {}", text(&out));
    }
    let help = v.cmd().args(["tui", "--help"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("at most 8 hours"),
        "{}",
        text(&help)
    );
}
