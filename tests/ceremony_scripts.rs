//! The shipped ceremony scripts as people read them (`ceremony print`),
//! and the strict reading every script gets: a bad script is refused
//! before anything happens, naming the file, the line and the key.

use std::path::PathBuf;

use crate::common::{seedvault, text, TestVault};

fn shipped() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_script_prints_as_a_paper_table_with_blank_initials_and_time() {
    let names: Vec<String> = shipped()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "audit.toml",
            "backup.toml",
            "card-check.toml",
            "export.toml",
            "ingest.toml",
            "key-ceremony.toml"
        ]
    );
    for p in shipped() {
        let out = seedvault()
            .args(["ceremony", "print"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", p.display(), text(&out));
        let t = String::from_utf8(out.stdout).unwrap();
        assert!(t.contains("Step | Activity"), "{t}");
        // Step 1's row: number, activity, and nothing in Initials and Time.
        let row = t.lines().find(|l| l.starts_with("   1 | ")).unwrap();
        assert!(row.ends_with("|          |"), "{row:?}");
        assert!(
            t.contains("Ceremony administrator") && t.contains("Internal witness"),
            "{t}"
        );
        assert!(!t.contains('{'), "every variable is bound: {t}");
    }
    // Variables bound with --set appear in the printed activity.
    let out = seedvault()
        .args(["ceremony", "print"])
        .arg(
            shipped()
                .iter()
                .find(|p| p.ends_with("key-ceremony.toml"))
                .unwrap(),
        )
        .args(["--set", "custodian1=dora"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("dora checks their card"));
}

const GOOD: &str = r#"title = "Audit"
administrator = "CA"
witness = "IW"

[[role]]
id = "CA"
title = "Ceremony administrator"

[[role]]
id = "IW"
title = "Internal witness"

[[step]]
kind = "tool"
action = "audit-verify"
activity = "verify"
"#;

#[test]
fn a_bad_script_is_refused_naming_file_line_and_key_and_nothing_is_logged() {
    let v = TestVault::new(2, &["alice", "bob"]);
    let before = v.audit_len();
    let cases = [
        (
            GOOD.replace(
                "activity = \"verify\"",
                "activity = \"verify\"\ncolour = \"red\"",
            ),
            "bad.toml:",
            "colour",
        ),
        (
            GOOD.replace("audit-verify", "launch-rockets"),
            "bad.toml:15:",
            "launch-rockets",
        ),
        (
            GOOD.replace(
                "activity = \"verify\"",
                "activity = \"verify\"\nparams = { out = \"x\" }",
            ),
            "bad.toml:13:",
            "params.out",
        ),
        (
            GOOD.replace("witness = \"IW\"", "witness = \"XX\""),
            "bad.toml",
            "witness",
        ),
        (
            GOOD.replace("activity = \"verify\"", "activity = \"verify {media}\""),
            "bad.toml:13:",
            "{media}",
        ),
    ];
    for (script, place, key) in cases {
        let f = v.tmp.path().join("bad.toml");
        std::fs::write(&f, script).unwrap();
        for cmd in ["print", "run"] {
            let out = v
                .cmd()
                .args(["ceremony", cmd])
                .arg(&f)
                .write_stdin("")
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(place) && err.contains(key),
                "{place} {key}: {err}"
            );
        }
    }
    assert_eq!(v.audit_len(), before, "nothing was logged");
}

#[test]
fn answers_files_are_strict_and_a_key_ceremony_never_overwrites_a_vault() {
    let v = TestVault::new(2, &["alice", "bob"]);
    let script = v.tmp.path().join("audit.toml");
    std::fs::write(&script, GOOD).unwrap();
    let answers = v.tmp.path().join("answers.toml");
    std::fs::write(
        &answers,
        "lines = []\npassphrases = { alice = \"secret\" }\n",
    )
    .unwrap();
    let out = v
        .cmd()
        .args(["ceremony", "run"])
        .arg(&script)
        .arg("--answers")
        .arg(&answers)
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("answers.toml:2:") && text(&out).contains("passphrases"),
        "{}",
        text(&out)
    );
    assert!(
        !text(&out).contains("secret"),
        "the refused field is not echoed"
    );

    let key = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ceremony-scripts/key-ceremony.toml");
    let before = v.audit_len();
    let out = v
        .cmd()
        .args(["ceremony", "run"])
        .arg(&key)
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("one exists already"), "{}", text(&out));
    assert_eq!(v.audit_len(), before);

    // A record medium that is not there: refused before anything is asked.
    let out = v
        .cmd()
        .args(["ceremony", "run"])
        .arg(&script)
        .arg("--record")
        .arg(v.tmp.path().join("no-such-medium"))
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is it mounted?"), "{}", text(&out));
    assert_eq!(v.audit_len(), before);

    // Input that ends before the participants are named: nothing logged.
    let out = v
        .cmd()
        .args(["ceremony", "run"])
        .arg(&script)
        .write_stdin("Ann Admin, AA\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("did not start"), "{}", text(&out));
    assert_eq!(v.audit_len(), before);
}

#[test]
fn a_step_that_finds_tampering_is_an_exception_and_the_ceremony_exits_3() {
    let v = TestVault::new(2, &["alice", "bob"]);
    // An edit to an entry's body: the chain no longer verifies.
    v.sqlite("UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), '\"threshold\":2', '\"threshold\":1') AS BLOB) WHERE seq = 1");
    let script = v.tmp.path().join("verify.toml");
    std::fs::write(&script, GOOD).unwrap();
    let out = v
        .cmd()
        .args(["ceremony", "run"])
        .arg(&script)
        .write_stdin(
            "Ann Admin, AA\nWill Witness, WW\nWW\nthe chain does not verify; auditors called\nWW\n",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("the log is broken"), "{}", text(&out));
    assert_eq!(v.events("ceremony.exception"), 1);
    assert_eq!(v.events("ceremony.finished"), 1);
}
