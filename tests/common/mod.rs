//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod batch;

use std::path::PathBuf;
use std::process::Command;

/// The Python interpreter of the test venv (with shamir-mnemonic and
/// python-pskc). `scripts/test` creates it and sets SEEDVAULT_TEST_PYTHON;
/// a missing interpreter fails the test, it never skips it.
pub fn python() -> PathBuf {
    let p = std::env::var_os("SEEDVAULT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python")
        });
    assert!(
        p.exists(),
        "the interop tests need the Python venv at {}: run ./scripts/test, which creates it",
        p.display()
    );
    p
}

/// Fails the test with advice when an external tool is missing.
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "the interop tests need `{name}`: run ./scripts/test, which installs it"
    );
}

/// The `seedvault` binary under test, with a clean environment.
pub fn seedvault() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("seedvault").expect("binary builds");
    c.env_remove("SEEDVAULT_DIR");
    c
}

/// A 2-of-3 (or other) test vault made with the fast KDF in a temp dir.
pub struct TestVault {
    pub tmp: tempfile::TempDir,
    pub vault: PathBuf,
    pub cards: PathBuf,
    pub names: Vec<String>,
    pub vault_id: String,
}

impl TestVault {
    pub fn new(threshold: u8, names: &[&str]) -> TestVault {
        Self::with_init_args(threshold, names, &[])
    }

    /// Like [`TestVault::new`], with extra `init` arguments.
    pub fn with_init_args(threshold: u8, names: &[&str], extra: &[&str]) -> TestVault {
        let tmp = tempfile::tempdir().unwrap();
        let vault = tmp.path().join("vault");
        let cards = tmp.path().join("cards");
        let mut cmd = seedvault();
        cmd.arg("--vault")
            .arg(&vault)
            .args(["init", "--threshold", &threshold.to_string()]);
        for n in names {
            cmd.args(["--custodian", n]);
        }
        cmd.arg("--cards-out")
            .arg(&cards)
            .arg("--insecure-fast-kdf")
            .args(extra);
        for n in names {
            let f = tmp.path().join(format!("{n}.pass"));
            std::fs::write(&f, format!("{n}-passphrase-123\n")).unwrap();
            cmd.arg("--passphrase-file").arg(f);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let vault_id = stdout.lines().last().unwrap().trim().to_owned();
        TestVault {
            tmp,
            vault,
            cards,
            names: names.iter().map(|s| s.to_string()).collect(),
            vault_id,
        }
    }

    pub fn card(&self, name: &str) -> PathBuf {
        self.cards.join(format!("{name}.card"))
    }

    pub fn pass(&self, name: &str) -> PathBuf {
        self.tmp.path().join(format!("{name}.pass"))
    }

    /// `--card X --passphrase-file Y` for each name.
    pub fn quorum(&self, names: &[&str]) -> Vec<std::ffi::OsString> {
        let mut v = Vec::new();
        for n in names {
            v.push("--card".into());
            v.push(self.card(n).into_os_string());
            v.push("--passphrase-file".into());
            v.push(self.pass(n).into_os_string());
        }
        v
    }

    /// `seedvault --vault <this vault> ...`
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = seedvault();
        c.arg("--vault").arg(&self.vault);
        c
    }

    pub fn db(&self) -> PathBuf {
        self.vault.join("vault.db")
    }

    /// Runs SQL on the vault database with the real `sqlite3` CLI.
    pub fn sqlite(&self, sql: &str) -> String {
        require_tool("sqlite3");
        let out = Command::new("sqlite3")
            .arg(self.db())
            .arg(sql)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sqlite3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// How many entries the audit log holds.
    pub fn audit_len(&self) -> u64 {
        self.sqlite("SELECT count(*) FROM audit")
            .trim()
            .parse()
            .unwrap()
    }

    /// How many audit entries are of `event`.
    pub fn events(&self, event: &str) -> usize {
        self.sqlite(&format!(
            "SELECT count(*) FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = '{event}'"
        ))
        .trim()
        .parse()
        .unwrap()
    }
}

/// The names of the files in `dir`, sorted.
pub fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// stdout and stderr of a finished command, for messages in assertions.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes a synthetic batch (see `batch.rs`) of `count` tokens from serial
/// `first` into `dir`; returns (batch file, truth file).
pub fn make_batch(
    dir: &std::path::Path,
    format: &str,
    count: u32,
    first: u64,
    seed: u32,
) -> (PathBuf, PathBuf) {
    let out = dir.join(format!("batch-{first}.{format}"));
    let truth = dir.join(format!("truth-{first}.jsonl"));
    let spec = batch::BatchSpec::new(u64::from(count), first, u64::from(seed));
    batch::write_files(format, &spec, &out, Some(&truth))
        .unwrap_or_else(|e| panic!("writing the {format} batch into {}: {e}", dir.display()));
    (out, truth)
}

/// A truth file of `make_batch`: (serial, secret hex, period).
pub fn read_truth(path: &std::path::Path) -> Vec<(String, String, u64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["serial"].as_str().unwrap().to_owned(),
                v["secret_hex"].as_str().unwrap().to_owned(),
                v["period"].as_u64().unwrap(),
            )
        })
        .collect()
}

// ---- h10: one officer's card arguments and a failure's error/hint lines ----

impl TestVault {
    /// `--card` and `--passphrase-file` of officer `name` (commands that
    /// take one officer, such as `serial void`).
    pub fn officer(&self, name: &str) -> Vec<std::ffi::OsString> {
        self.quorum(&[name])
    }
}

/// The `error:` line(s) and the `hint:` line of a failed command's stderr
/// (the hint is empty when there is none).
pub fn error_and_hint(out: &std::process::Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match stderr.split_once("\nhint: ") {
        Some((error, hint)) => (error.to_owned(), hint.trim().to_owned()),
        None => (stderr, String::new()),
    }
}
// ---- end h10 ----

// ---- h11: the setup the request and export tests share ----

/// The last line of a successful command's stdout (the id `request create`
/// prints); fails the test with the output when the command failed.
pub fn request_id(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

impl TestVault {
    /// `ingest <batch>` with the cards of `cards`, for a test that checks
    /// the outcome itself.
    pub fn ingest_output(&self, batch: &std::path::Path, cards: &[&str]) -> std::process::Output {
        self.cmd()
            .arg("ingest")
            .arg(batch)
            .args(self.quorum(cards))
            .output()
            .unwrap()
    }

    /// Ingests the batch file `batch` with alice's and bob's cards and
    /// asserts that it succeeded.
    pub fn ingest_file(&self, batch: &std::path::Path) {
        let out = self.ingest_output(batch, &["alice", "bob"]);
        assert!(
            out.status.success(),
            "ingest {}: {}",
            batch.display(),
            text(&out)
        );
    }

    /// Writes a `make_batch` batch of `count` tokens from serial `first` and
    /// ingests it (see [`TestVault::ingest_file`]); returns its truth file.
    pub fn ingest(&self, format: &str, count: u32, first: u64, seed: u32) -> PathBuf {
        let (batch, truth) = make_batch(self.tmp.path(), format, count, first, seed);
        self.ingest_file(&batch);
        truth
    }

    /// `order add --id <id> --customer <customer> --email ...` by officer
    /// `by`, asserted to succeed.
    pub fn add_order(&self, id: &str, customer: &str, emails: &[&str], by: &str) {
        let mut cmd = self.cmd();
        cmd.args(["order", "add", "--id", id, "--customer", customer]);
        for e in emails {
            cmd.args(["--email", e]);
        }
        cmd.args(self.quorum(&[by])).assert().success();
    }

    /// `order assign` by officer `by` of the serials `serials` (written one
    /// per line to `order.txt`), asserted to succeed.
    pub fn assign<S: ToString>(&self, id: &str, serials: impl IntoIterator<Item = S>, by: &str) {
        let file = self.tmp.path().join("order.txt");
        let list: Vec<String> = serials.into_iter().map(|s| s.to_string()).collect();
        std::fs::write(&file, list.join("\n")).unwrap();
        self.cmd()
            .args(["order", "assign", "--id", id, "--serials-file"])
            .arg(&file)
            .args(self.quorum(&[by]))
            .assert()
            .success();
    }

    /// Writes a fresh customer certificate for `uid` (made by the vault's
    /// own key code) into `file` in the temp dir; returns (path, fingerprint).
    pub fn customer_key(&self, uid: &str, file: &str) -> (PathBuf, String) {
        let key = seedvault::pgp::keys::generate_customer_key(uid).unwrap();
        let path = self.tmp.path().join(file);
        std::fs::write(&path, key.public_armored().unwrap()).unwrap();
        (path, key.fingerprint())
    }

    /// An empty `media` directory in the temp dir (the removable medium).
    pub fn media(&self) -> PathBuf {
        let media = self.tmp.path().join("media");
        std::fs::create_dir(&media).unwrap();
        media
    }

    /// `request create --order <order> --requester <requester> --format
    /// <format> --recipient-key <key> <extra...>` by officer `by`.
    pub fn create_request(
        &self,
        order: &str,
        requester: &str,
        format: &str,
        key: &std::path::Path,
        by: &str,
        extra: &[&str],
    ) -> std::process::Output {
        self.cmd()
            .args(["request", "create", "--order", order])
            .args(["--requester", requester, "--format", format])
            .arg("--recipient-key")
            .arg(key)
            .args(extra)
            .args(self.quorum(&[by]))
            .output()
            .unwrap()
    }

    /// `request approve <id>` by officer `by`.
    pub fn approve(&self, id: &str, by: &str) -> std::process::Output {
        self.cmd()
            .args(["request", "approve", id])
            .args(self.quorum(&[by]))
            .output()
            .unwrap()
    }

    /// [`TestVault::approve`], asserted to succeed.
    pub fn approve_ok(&self, id: &str, by: &str) {
        let out = self.approve(id, by);
        assert!(out.status.success(), "approve {id} by {by}: {}", text(&out));
    }

    /// `export <id> --media <media>` with the cards of `quorum`.
    pub fn export(
        &self,
        id: &str,
        media: &std::path::Path,
        quorum: &[&str],
    ) -> std::process::Output {
        self.cmd()
            .args(["export", id, "--media"])
            .arg(media)
            .args(self.quorum(quorum))
            .output()
            .unwrap()
    }

    /// [`TestVault::export`], asserted to succeed.
    pub fn export_ok(&self, id: &str, media: &std::path::Path, quorum: &[&str]) {
        let out = self.export(id, media, quorum);
        assert!(out.status.success(), "export {id}: {}", text(&out));
    }
}

impl TestVault {
    /// Unseals the vault in-process (the library, not the binary) with the
    /// cards and test passphrases of `names`; `reason` is the session's.
    pub fn unseal(&self, names: &[&str], reason: &str) -> seedvault::vault::UnsealedVault {
        let cards = names
            .iter()
            .map(|n| {
                (
                    seedvault::cards::SealedCard::read(&self.card(n)).unwrap(),
                    secrecy::SecretString::from(format!("{n}-passphrase-123")),
                )
            })
            .collect();
        seedvault::vault::Vault::open(&self.vault)
            .unwrap()
            .unseal(cards, reason)
            .unwrap()
    }
}

/// A GnuPG home of its own (mode 0700, in a temp dir), as a customer or a
/// factory has one; `gpg` must be installed.
pub struct Gpg {
    pub home: tempfile::TempDir,
    flags: Vec<String>,
}

impl Gpg {
    /// A fresh home; every call runs `gpg --homedir <home> --batch --yes`.
    pub fn new() -> Gpg {
        Self::with_flags(&[])
    }

    /// A fresh home whose calls also pass `flags` (e.g. `--quiet`).
    pub fn with_flags(flags: &[&str]) -> Gpg {
        require_tool("gpg");
        let home = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Gpg {
            home,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// Runs gpg with `args` and asserts that it succeeded.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--yes"])
            .args(&self.flags)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", text(&out));
        out
    }

    /// The fingerprint of the (first) key matching `uid`.
    pub fn fpr(&self, uid: &str) -> String {
        let out = self.run(&["--with-colons", "--list-keys", uid]);
        let s = String::from_utf8(out.stdout).unwrap();
        s.lines()
            .find(|l| l.starts_with("fpr:"))
            .unwrap()
            .split(':')
            .nth(9)
            .unwrap()
            .to_owned()
    }

    /// Makes a key without passphrase: a signing primary of algorithm
    /// `primary` and, if given, an encryption subkey; `faked` is a
    /// `--faked-system-time`. Returns the fingerprint.
    pub fn make(
        &self,
        uid: &str,
        primary: &str,
        subkey: Option<&str>,
        expire: &str,
        faked: Option<&str>,
    ) -> String {
        let mut base = vec!["--passphrase", ""];
        if let Some(t) = faked {
            base.extend(["--faked-system-time", t]);
        }
        let mut a = base.clone();
        a.extend(["--quick-gen-key", uid, primary, "sign", expire]);
        self.run(&a);
        let fpr = self.fpr(uid);
        if let Some(sub) = subkey {
            let mut a = base.clone();
            a.extend(["--quick-add-key", &fpr, sub, "encr", expire]);
            self.run(&a);
        }
        fpr
    }

    /// Writes the armored certificate of `uid` to `to`; returns `to`.
    pub fn export(&self, uid: &str, to: &std::path::Path) -> PathBuf {
        let out = self.run(&["--armor", "--export", uid]);
        std::fs::write(to, out.stdout).unwrap();
        to.to_owned()
    }
}
// ---- end h11 ----
