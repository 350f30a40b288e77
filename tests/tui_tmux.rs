//! The real `seedvault tui` binary inside `tmux` at 80x24: keys go in with
//! `send-keys`, the screen comes back with `capture-pane`, and every step
//! waits (polling, with a timeout) for the text the officer would read.
//! The bundle that comes out is decrypted with `gpg` in the customer's
//! own home and must hold exactly the requested serials.
//!
//! `officers_order_request_approve_in_tmux` runs the officers' part in the
//! console (order, assign, request, approval by a second officer) with
//! ingest and export on the command line. `whole_day_in_tmux` is the whole
//! flow in the console (unseal, ingest, ..., export); it needs the ingest
//! wizard, the export dialog and `tui --media` of part 2 of issue 11.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{read_truth, require_tool, text, Gpg, TestVault};

/// How long a step may take (Argon2id is the test vault's fast one).
const STEP: Duration = Duration::from_secs(30);

/// A tmux server of its own (`-L`), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `args` (the seedvault binary's) in a detached 80x24 session
    /// with `cwd` as working directory.
    fn start(args: &[&str], cwd: &Path) -> Tmux {
        require_tool("tmux");
        let socket = format!(
            "seedvault-test-{}-{}",
            std::process::id(),
            cwd.file_name().unwrap().to_string_lossy()
        );
        let bin = assert_cmd::cargo::cargo_bin("seedvault");
        let mut cmd = vec![bin.display().to_string()];
        cmd.extend(args.iter().map(|a| a.to_string()));
        let shell = cmd
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let t = Tmux { socket };
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            "sv",
            "-c",
            &cwd.display().to_string(),
            &format!("env -u SEEDVAULT_DIR TERM=xterm-256color {shell}"),
        ]);
        assert!(out.status.success(), "tmux: {}", text(&out));
        // tmux holds an Escape for 500 ms to see whether a key follows (an
        // Alt-key); the console reads a bare Esc at once, as a terminal
        // sends it.
        let out = t.tmux(&["set-option", "-s", "escape-time", "0"]);
        assert!(out.status.success(), "tmux: {}", text(&out));
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    }

    /// Presses keys by their tmux names (`Enter`, `Tab`, `BTab`, `Down`, `q`).
    fn keys(&self, keys: &[&str]) -> &Self {
        for k in keys {
            let out = self.tmux(&["send-keys", "-t", "sv", k]);
            assert!(out.status.success(), "send-keys {k}: {}", text(&out));
        }
        self
    }

    /// Types `s` literally.
    fn type_text(&self, s: &str) -> &Self {
        let out = self.tmux(&["send-keys", "-t", "sv", "-l", s]);
        assert!(out.status.success(), "send-keys -l: {}", text(&out));
        self
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "sv"]).stdout).into_owned()
    }

    /// Waits until the screen shows `want`; fails with the screen.
    fn wait_for(&self, want: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let s = self.screen();
            if s.contains(want) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {STEP:?} for {want:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the program has exited (the session is gone).
    fn wait_exit(&self) {
        let deadline = Instant::now() + STEP;
        while self.tmux(&["has-session", "-t", "sv"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "the TUI did not quit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// In the officer dialog: waits for the card list, moves to card
    /// number `index` (alice 0, bob 1, carol 2), types the passphrase.
    fn sign(&self, index: usize, name: &str) -> &Self {
        self.wait_for("Whose card?");
        self.wait_for(&format!("{name}.card"));
        for _ in 0..index {
            self.keys(&["Down"]);
        }
        self.keys(&["Enter"]);
        self.wait_for(&format!("Acting: {name}"));
        self.type_text(&format!("{name}-passphrase-123"))
            .keys(&["Enter"]);
        self
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The vault, the customer's gpg home, the medium with the factory file,
/// the customer's key and the serials file of the request.
struct Day {
    tv: TestVault,
    gpg: Gpg,
    media: PathBuf,
    batch: PathBuf,
    truth: PathBuf,
    key: PathBuf,
    shipped: PathBuf,
    asked: PathBuf,
    /// The serials asked for.
    want: Vec<String>,
}

fn day() -> Day {
    require_tool("gpg");
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    let media = tv.media();
    let (batch, truth) = crate::common::make_batch(&media, "azure-csv", 6, 84_000_000, 8);
    let gpg = Gpg::new();
    gpg.make(
        "Buyer <buyer@example.com>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let key = gpg.export("buyer@example.com", &media.join("buyer.asc"));
    let all: Vec<String> = (84_000_000..84_000_006).map(|s| s.to_string()).collect();
    let shipped = media.join("shipped.txt");
    std::fs::write(&shipped, all.join("\n") + "\n").unwrap();
    let want: Vec<String> = all[1..4].to_vec();
    let asked = media.join("asked.txt");
    std::fs::write(&asked, want.join("\n") + "\n").unwrap();
    Day {
        tv,
        gpg,
        media,
        batch,
        truth,
        key,
        shipped,
        asked,
        want,
    }
}

/// Order (`3`, `n`), assign (`l`), request (`4`, `n`) by alice, approve
/// (`a`) by bob: the officers' part of the day, in the console.
fn officers_part(t: &Tmux, d: &Day) {
    t.wait_for("1 Overview");
    // Order 4711.
    t.keys(&["3"]).wait_for("No orders yet");
    t.keys(&["n"]).wait_for("Add an order");
    t.type_text("4711")
        .keys(&["Tab"])
        .type_text("ACME Corp")
        .keys(&["Tab"])
        .type_text("buyer@example.com")
        .keys(&["Enter"]);
    t.wait_for("Record order 4711 for customer ACME Corp.");
    t.keys(&["Enter"]).sign(0, "alice");
    t.wait_for("order 4711 recorded for ACME Corp");
    t.keys(&["Enter"]);
    // The shipped serials: the dry run's count, then alice signs.
    t.keys(&["l"]).wait_for("Assign shipped serials");
    t.keys(&["Tab"])
        .type_text(&d.shipped.display().to_string())
        .keys(&["Enter"]);
    t.wait_for("6 serial(s) will be assigned to order 4711");
    t.keys(&["Enter"]).sign(0, "alice");
    t.wait_for("6 serial(s) assigned to order 4711");
    t.keys(&["Enter"]);
    // The request: Shift-Tab walks the fields backwards from the order
    // (pre-filled): UPN file, serials file, format, key file, requester.
    t.keys(&["4", "n"]).wait_for("Create a seed request");
    t.keys(&["BTab", "BTab"])
        .type_text(&d.asked.display().to_string())
        .keys(&["BTab", "BTab"])
        .type_text(&d.key.display().to_string())
        .keys(&["BTab"])
        .type_text("buyer@example.com")
        .keys(&["Enter"]);
    let s = t.wait_for("Recipient key (primary):");
    let fpr = d.gpg.fpr("buyer@example.com");
    let grouped: Vec<String> = fpr
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert!(
        s.contains(&grouped[..5].join(" ")),
        "the fingerprint to read out: {s}"
    );
    t.wait_for("3 serial(s) as azure-csv");
    t.keys(&["Enter"]).sign(0, "alice");
    t.wait_for("request R0001 for order 4711");
    t.keys(&["Enter"]);
    // Bob approves.
    t.keys(&["a"]).wait_for("Approve request R0001");
    t.keys(&["Enter"]).sign(1, "bob");
    t.wait_for("approved by bob");
    t.keys(&["Enter"]);
    t.wait_for("expires in");
}

/// Decrypts the bundle of `req` in the customer's home and checks that it
/// holds exactly the requested serials with their factory seeds.
fn check_bundle(d: &Day, req: &str) {
    let bundle = d.media.join(format!("4711-{req}.azure-csv.asc"));
    assert!(bundle.is_file(), "no bundle at {}", bundle.display());
    d.gpg.run(&[
        "--import",
        d.tv.cards.join("vault-cert.asc").to_str().unwrap(),
    ]);
    let dec = d
        .gpg
        .run(&["--status-fd", "2", "--decrypt", bundle.to_str().unwrap()]);
    let status = String::from_utf8_lossy(&dec.stderr);
    assert!(status.contains("GOODSIG"), "signed by the vault: {status}");
    let csv = String::from_utf8(dec.stdout).unwrap();
    let mut got: Vec<(String, String)> = csv
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_owned(), f[2].to_owned())
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = read_truth(&d.truth)
        .into_iter()
        .filter(|(s, _, _)| d.want.contains(s))
        .map(|(s, h, _)| {
            (
                s,
                data_encoding::BASE32_NOPAD
                    .encode(&data_encoding::HEXLOWER.decode(h.as_bytes()).unwrap()),
            )
        })
        .collect();
    want.sort();
    assert_eq!(want.len(), 3);
    assert_eq!(got, want, "the bundle holds exactly the requested serials");
}

#[test]
fn officers_order_request_approve_in_tmux() {
    let d = day();
    d.tv.ingest_file(&d.batch);
    let vault = d.tv.vault.display().to_string();
    // From the medium's directory, so the only cards are the ones beside
    // the vault (as `seedvault demo` lays them out).
    let t = Tmux::start(&["--vault", &vault, "tui"], &d.media);
    officers_part(&t, &d);
    t.keys(&["q"]);
    t.wait_exit();
    // The vault as the library reads it, then the export on the CLI.
    let v = seedvault::vault::Vault::open(&d.tv.vault).unwrap();
    let r = v.request("R0001").unwrap().unwrap();
    assert_eq!(r.created_by, "alice");
    assert_eq!(r.decided_by.as_deref(), Some("bob"));
    assert_eq!(r.serials, 3);
    d.tv.export_ok("R0001", &d.media, &["alice", "carol"]);
    check_bundle(&d, "R0001");
}

#[test]
fn whole_day_in_tmux() {
    let d = day();
    let vault = d.tv.vault.display().to_string();
    let media = d.media.display().to_string();
    let t = Tmux::start(&["--vault", &vault, "tui", "--media", &media], &d.media);
    t.wait_for("1 Overview");
    // Unseal with alice and bob: Space selects a card, Enter goes on, one
    // passphrase per selected card in order.
    t.keys(&["u"]).wait_for("alice.card");
    t.keys(&["Space", "Down", "Space", "Enter"]);
    t.wait_for("alice: type your passphrase");
    t.type_text("alice-passphrase-123").keys(&["Enter"]);
    t.wait_for("bob: type your passphrase");
    t.type_text("bob-passphrase-123").keys(&["Enter"]);
    t.wait_for("UNSEALED");
    // Ingest: i, the path, Enter (report), Enter (confirm) -> result.
    t.keys(&["i"]);
    t.type_text(&d.batch.display().to_string()).keys(&["Enter"]);
    t.wait_for("Seal 6 tokens");
    t.keys(&["Enter"]);
    t.wait_for("batch 1");
    t.keys(&["Escape"]);
    officers_part(&t, &d);
    // Export: e on the approved request; the medium is pre-filled with
    // the first --media directory: Enter (summary), Enter (confirm).
    t.keys(&["e"]).wait_for(&media);
    t.keys(&["Enter"]);
    t.wait_for("3 serial");
    t.keys(&["Enter"]);
    // The bundle's name is on the summary already: wait for the result
    // (an Escape while the export is writing is refused: it cannot be
    // interrupted), and `q` is a main-screen key, not the dialog's.
    t.wait_for("written, read back and verified");
    t.wait_for("4711-R0001.azure-csv.asc");
    // Escape and the next key sent together read as Alt-key: apart.
    t.keys(&["Escape"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    t.keys(&["q"]);
    // While unsealed, q asks first (naming whose key is wiped); y seals and quits.
    t.wait_for("and quit?");
    t.keys(&["y"]);
    t.wait_exit();
    check_bundle(&d, "R0001");
}
