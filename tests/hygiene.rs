//! Secret hygiene that a user or auditor can observe: the bounds of the
//! TUI's idle timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod common;

use common::{text, TestVault};

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
        let out = common::seedvault()
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
