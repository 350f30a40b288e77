//! Issue 15, item 5: the binary that held the key is named in the log.
//!
//! Every `vault.unsealed` entry carries `binary_sha256`, which must equal
//! what `sha256sum` prints for the executable that ran (the CLI binary, or
//! the process that called the library, as the console does);
//! `seedvault version --json` prints the same; `audit replay` names each
//! binary and the entries where the binary changed; entries written before
//! the fields existed stay valid.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{require_tool, text, TestVault};

const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// What `sha256sum` prints for `path`.
fn sha256sum(path: &Path) -> String {
    require_tool("sha256sum");
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum: {}", text(&out));
    let line = String::from_utf8(out.stdout).unwrap();
    let sum = line.split_whitespace().next().unwrap().to_owned();
    assert_eq!(sum.len(), 64, "{line}");
    sum
}

fn seedvault_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seedvault"))
}

/// `bin --vault <v> ARGS...`, retried while the kernel says the file is
/// busy (a copy just written can still be open in a child another test
/// thread forked).
fn run_bin(bin: &Path, v: &TestVault, args: &[std::ffi::OsString]) -> std::process::Output {
    for _ in 0..100 {
        match Command::new(bin)
            .env_remove("SEEDVAULT_DIR")
            .arg("--vault")
            .arg(&v.vault)
            .args(args)
            .output()
        {
            Ok(out) => return out,
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("cannot run {}: {e}", bin.display()),
        }
    }
    panic!("{} stayed busy", bin.display())
}

fn unseal_with(bin: &Path, v: &TestVault, names: &[&str]) {
    let mut args: Vec<std::ffi::OsString> = vec!["unseal".into()];
    args.extend(v.quorum(names));
    let out = run_bin(bin, v, &args);
    assert!(out.status.success(), "unseal: {}", text(&out));
}

/// The entries of `audit export` (what an auditor takes away).
fn exported(v: &TestVault) -> Vec<Value> {
    let file = v.tmp.path().join(format!(
        "export-{}.jsonl",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    v.cmd()
        .args(["audit", "export", "--out"])
        .arg(&file)
        .assert()
        .success();
    // A header line, then one record per entry holding the stored body.
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let rec: Value = serde_json::from_str(l).unwrap();
            let body = data_encoding::BASE64
                .decode(rec["body_b64"].as_str().unwrap().as_bytes())
                .unwrap();
            serde_json::from_slice(&body).unwrap()
        })
        .collect()
}

fn unseal_entries(v: &TestVault) -> Vec<Value> {
    exported(v)
        .into_iter()
        .filter(|e| e["event"] == "vault.unsealed")
        .collect()
}

fn replay_json(v: &TestVault) -> Value {
    let out = v
        .cmd()
        .args(["audit", "replay", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "replay: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_log_holds(v: &TestVault) {
    v.cmd().args(["audit", "verify"]).assert().code(0);
    v.cmd().args(["audit", "replay"]).assert().code(0);
}

#[test]
fn an_unseal_logs_the_sha256sum_of_the_binary_that_ran() {
    let v = TestVault::new(2, &NAMES);
    let bin = seedvault_bin();
    let sum = sha256sum(&bin);
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .success();
    let entries = unseal_entries(&v);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let d = &entries[0]["data"];
    assert_eq!(d["binary_sha256"], json!(sum), "{d}");
    let version = d["binary_version"].as_str().unwrap();
    assert!(
        version == env!("CARGO_PKG_VERSION")
            || version.starts_with(concat!(env!("CARGO_PKG_VERSION"), "+")),
        "{version}"
    );

    // `version --json` and `version` print the same hash and version.
    let out = crate::common::seedvault()
        .args(["version", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["sha256"], json!(sum));
    assert_eq!(j["version"], json!(version));
    assert_eq!(j["package_version"], json!(env!("CARGO_PKG_VERSION")));
    let out = crate::common::seedvault().arg("version").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.contains(&format!("sha256 {sum}")), "{t}");
    assert!(t.contains(&format!("seedvault {version}")), "{t}");
    assert_log_holds(&v);
}

#[test]
fn a_library_unseal_logs_the_executable_of_its_process() {
    // The console (and a ceremony) unseal through the library in their own
    // process: the hash is of that process's executable, here the tests'.
    let v = TestVault::new(2, &NAMES);
    let me = std::env::current_exe().unwrap();
    drop(v.unseal(&["bob", "carol"], "console"));
    let entries = unseal_entries(&v);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["data"]["purpose"], "console");
    assert_eq!(entries[0]["data"]["binary_sha256"], json!(sha256sum(&me)));
    assert_log_holds(&v);
}

#[test]
fn a_session_with_another_binary_shows_as_a_change_in_audit_replay() {
    let v = TestVault::new(2, &NAMES);
    let bin = seedvault_bin();
    // Another binary: a copy with one byte appended (Linux runs it: the
    // loader reads the ELF headers, not the end of the file).
    let other = v.tmp.path().join("seedvault-other");
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes.push(0);
    std::fs::write(&other, &bytes).unwrap();
    drop(bytes);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (sum, other_sum) = (sha256sum(&bin), sha256sum(&other));
    assert_ne!(sum, other_sum);
    let out = run_bin(&other, &v, &["version".into(), "--json".into()]);
    assert!(out.status.success(), "{}", text(&out));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["sha256"], json!(other_sum), "the copy reports itself");

    unseal_with(&bin, &v, &["alice", "bob"]);
    unseal_with(&other, &v, &["bob", "carol"]);
    unseal_with(&bin, &v, &["carol", "alice"]);
    let entries = unseal_entries(&v);
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let logged: Vec<&str> = entries
        .iter()
        .map(|e| e["data"]["binary_sha256"].as_str().unwrap())
        .collect();
    assert_eq!(logged, [sum.as_str(), other_sum.as_str(), sum.as_str()]);

    let r = replay_json(&v);
    let binaries = r["binaries"].as_array().unwrap();
    assert_eq!(binaries.len(), 2, "{r}");
    assert_eq!(binaries[0]["sha256"], json!(sum));
    assert_eq!(binaries[0]["unseals"], 2);
    assert_eq!(binaries[0]["first_entry"], seqs[0]);
    assert_eq!(binaries[0]["last_entry"], seqs[2]);
    assert_eq!(binaries[1]["sha256"], json!(other_sum));
    assert_eq!(binaries[1]["unseals"], 1);
    assert_eq!(binaries[1]["first_entry"], seqs[1]);
    assert_eq!(
        r["binary_changes"],
        json!([
            { "entry": seqs[1], "time": entries[1]["time"], "from": sum, "to": other_sum },
            { "entry": seqs[2], "time": entries[2]["time"], "from": other_sum, "to": sum },
        ])
    );

    let out = v.cmd().args(["audit", "replay"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(
        t.contains(&format!("binary changed at entry {}", seqs[1]))
            && t.contains(&format!("{sum} -> {other_sum}")),
        "{t}"
    );
    assert!(
        t.contains(&format!("binary changed at entry {}", seqs[2])),
        "{t}"
    );
    assert!(t.contains(&format!("  {other_sum}  ")), "{t}");
    v.cmd().args(["audit", "verify"]).assert().code(0);
}

#[test]
fn unseal_entries_from_before_the_binary_fields_stay_valid() {
    let v = TestVault::new(2, &NAMES);
    // An unseal as an older seedvault logged it: no binary fields.
    let conn = rusqlite::Connection::open(v.db()).unwrap();
    let old = seedvault::audit::Event {
        kind: seedvault::audit::events::UNSEAL,
        actors: vec!["alice".into(), "bob".into()],
        data: json!({ "purpose": "unseal", "cards": ["alice", "bob"], "checkpoint": null }),
    };
    let head = seedvault::audit::append(&conn, &v.vault_id, &old).unwrap();
    drop(conn);
    unseal_with(&seedvault_bin(), &v, &["bob", "carol"]);
    assert_log_holds(&v);

    let sum = sha256sum(&seedvault_bin());
    let r = replay_json(&v);
    assert_eq!(r["binaries"][0]["sha256"], Value::Null, "{r}");
    assert_eq!(r["binaries"][0]["first_entry"], head.count);
    assert_eq!(r["binaries"][1]["sha256"], json!(sum));
    let changes = r["binary_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{r}");
    assert_eq!(changes[0]["from"], Value::Null);
    assert_eq!(changes[0]["to"], json!(sum));
    let out = v.cmd().args(["audit", "replay"]).output().unwrap();
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.contains(&format!("(not recorded) -> {sum}")), "{t}");
}

#[test]
fn the_release_scripts_parse_and_refuse_another_toolchain() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for s in ["scripts/release", "scripts/check-reproducible"] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(root.join(s))
            .output()
            .unwrap();
        assert!(out.status.success(), "{s}: {}", text(&out));
    }
    // A rustc other than the pinned one is refused before anything is
    // built (a stand-in `rustc` first on PATH reports another release).
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("rustc");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf 'rustc 1.94.1\\nbinary: rustc\\ncommit-hash: 0000000000000000000000000000000000000000\\nhost: x86_64-unknown-linux-gnu\\nrelease: 1.94.1\\n'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        tmp.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(root.join("scripts/release"))
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("rustc is 1.94.1") && err.contains("needs exactly 1.95.0"),
        "{err}"
    );
}
