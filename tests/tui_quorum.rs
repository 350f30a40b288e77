//! The console's quorum acts: the ingest wizard and the export dialog,
//! driven with scripted keys on ratatui's `TestBackend` against a real
//! (fast-KDF) test vault, checked afterwards through the library, the
//! binary (`audit verify`, `audit replay`) and gpg. Every frame drawn is
//! kept and scanned for the batch's seeds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use seedvault::media::Medium;
use seedvault::tui::app::Session;
use seedvault::tui::worker::{Sources, AUDIT_WINDOW};
use seedvault::tui::{export, ingest, App, Options};
use seedvault::vault::{BatchPreview, ExportPlan, ExportStep, RequestState, Vault};

use crate::common::{make_batch, read_truth, request_id, text, Gpg, TestVault};

const WAIT: Duration = Duration::from_secs(120);

fn no_media() -> Vec<Medium> {
    Vec::new()
}

struct H {
    tv: TestVault,
    app: App,
    term: Terminal<TestBackend>,
    now: Instant,
    /// Every frame drawn, unmasked.
    frames: Vec<String>,
}

impl H {
    /// The console on `tv`, with `media` as its one `--media` directory.
    fn new(tv: TestVault, media: PathBuf, width: u16, height: u16) -> H {
        let now = Instant::now();
        let opts = Options {
            idle_timeout: Duration::from_secs(3600),
            sources: Sources {
                media: no_media,
                card_dirs: vec![tv.cards.clone()],
                audit_window: AUDIT_WINDOW,
                media_dirs: vec![media.clone()],
            },
        };
        let mut app = App::new(Vault::open(&tv.vault).unwrap(), opts, now);
        assert!(app.settle(WAIT));
        H {
            tv,
            app,
            term: Terminal::new(TestBackend::new(width, height)).unwrap(),
            now,
            frames: Vec::new(),
        }
    }

    fn key(&mut self, code: KeyCode) -> &mut Self {
        self.app
            .key(KeyEvent::new(code, KeyModifiers::NONE), self.now);
        self.app.pump();
        self.raw();
        self
    }

    fn keys_n(&mut self, code: KeyCode, n: usize) -> &mut Self {
        for _ in 0..n {
            self.key(code);
        }
        self
    }

    fn chars(&mut self, s: &str) -> &mut Self {
        for c in s.chars() {
            self.key(KeyCode::Char(c));
        }
        self
    }

    fn settle(&mut self) -> &mut Self {
        assert!(self.app.settle(WAIT), "the vault thread did not answer");
        self.raw();
        self
    }

    /// Draws and returns the screen as text (kept for the secret scan).
    fn raw(&mut self) -> String {
        self.app.draw(&mut self.term).unwrap();
        let buf = self.term.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            let mut line = String::new();
            for x in 0..buf.area.width {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        self.frames.push(out.clone());
        out
    }

    /// The screen with volatile values masked, for snapshots.
    fn screen(&mut self) -> String {
        let tmp = self.tv.tmp.path().to_string_lossy().into_owned();
        let raw: Vec<String> = self
            .raw()
            .lines()
            .map(|l| replace_keep_width(l, &tmp, "<TMP>"))
            .collect();
        mask(&(raw.join("\n") + "\n"))
    }

    /// Unseals with alice's and bob's cards (the first two listed).
    fn unseal(&mut self) -> &mut Self {
        self.key(KeyCode::Char('u')).settle();
        self.key(KeyCode::Char(' '))
            .key(KeyCode::Down)
            .key(KeyCode::Char(' '));
        self.key(KeyCode::Enter).settle();
        for n in ["alice", "bob"] {
            self.chars(&format!("{n}-passphrase-123"))
                .key(KeyCode::Enter);
        }
        self.settle();
        assert!(
            matches!(self.app.state.session, Session::Unsealed { .. }),
            "{}",
            self.raw()
        );
        self
    }

    /// Fails if any frame drawn holds one of the seeds of `truth`, in hex
    /// (either case) or Base32: any 16 characters of one (its start), on
    /// a line or across lines and borders.
    fn assert_no_seed_drawn(&self, truth: &Path) {
        const W: usize = 16;
        let mut forms = std::collections::HashSet::new();
        for (_, hex, _) in read_truth(truth) {
            let bytes = data_encoding::HEXLOWER_PERMISSIVE
                .decode(hex.as_bytes())
                .unwrap();
            let b32 = data_encoding::BASE32_NOPAD.encode(&bytes);
            for s in [hex.to_lowercase(), hex.to_uppercase(), b32] {
                forms.insert(s[..W].to_owned());
            }
        }
        assert!(!self.frames.is_empty());
        for frame in &self.frames {
            // As drawn, and with whitespace and box borders taken out (a
            // seed wrapped over two lines).
            let flat: String = frame
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '│')
                .collect();
            for text in [frame.as_str(), flat.as_str()] {
                let chars: Vec<char> = text.chars().collect();
                for w in chars.windows(W) {
                    let s: String = w.iter().collect();
                    assert!(!forms.contains(&s), "a seed was drawn:\n{frame}");
                }
            }
        }
    }
}

/// Replaces `from` with `to` and pads before the next border `│`, so
/// boxes line up whatever the length of the temporary directory's path.
fn replace_keep_width(line: &str, from: &str, to: &str) -> String {
    let pad = from.chars().count().saturating_sub(to.chars().count());
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(from) {
        out.push_str(&rest[..i]);
        out.push_str(to);
        rest = &rest[i + from.len()..];
        if let Some(j) = rest.find('│') {
            out.push_str(&rest[..j]);
            out.push_str(&" ".repeat(pad));
            rest = &rest[j..];
        }
    }
    out.push_str(rest);
    out
}

/// Masks what changes from run to run: hex runs of 16 or more, grouped
/// fingerprints, times, free space.
fn mask(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let line = mask_groups(line);
        let line = mask_hex(&line);
        let line = mask_times(&line);
        out.push_str(&mask_free(&line));
        out.push('\n');
    }
    out
}

/// `ABCD 1234 ...` (five or more groups of four hex digits) -> `XXXX XXXX ...`.
fn mask_groups(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let is_group = |w: &str| w.len() == 4 && w.chars().all(|c| c.is_ascii_hexdigit());
    let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let mut i = 0;
    while i < words.len() {
        let mut j = i;
        while j < words.len() && is_group(words[j]) {
            j += 1;
        }
        if j - i >= 5 {
            for w in &mut out[i..j] {
                *w = "XXXX".into();
            }
        }
        i = j.max(i + 1);
    }
    out.join(" ")
}

fn mask_hex(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 16 {
            out.push_str(&"x".repeat(run.len()));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// `2026-11-29 21:05Z` and `2026-11-29T21:05:00Z` -> masks of the same width.
fn mask_times(s: &str) -> String {
    let shapes: [(&[u8], &str); 2] = [
        (b"dddd-dd-ddTdd:dd:ddZ", "YYYY-MM-DDTHH:MM:SSZ"),
        (b"dddd-dd-dd dd:ddZ", "YYYY-MM-DD HH:MMZ"),
    ];
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < b.len() {
        for (shape, m) in shapes {
            let fits = i + shape.len() <= b.len()
                && shape.iter().zip(&b[i..]).all(|(p, c)| {
                    if *p == b'd' {
                        c.is_ascii_digit()
                    } else {
                        p == c
                    }
                });
            if fits {
                out.push_str(m);
                i += shape.len();
                continue 'outer;
            }
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// `12 GB free` -> `<N> free`, padded to the same width.
fn mask_free(line: &str) -> String {
    let Some(at) = line.find(" free") else {
        return line.to_owned();
    };
    let before = &line[..at];
    let words: Vec<&str> = before.rsplitn(3, ' ').collect();
    if words.len() < 3 || words[1].parse::<f64>().is_err() {
        return line.to_owned();
    }
    let start = before.len() - words[0].len() - words[1].len() - 1;
    let width = at - start;
    format!("{}{:<width$}{}", &line[..start], "<N>", &line[at..])
}

/// A vault and a medium holding a 40-token hex batch (not yet ingested).
/// Returns the harness at 80x24, the batch on the medium, its truth file.
fn with_batch_on_medium() -> (H, PathBuf, PathBuf) {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    let media = tv.media();
    let (batch, truth) = make_batch(tv.tmp.path(), "hex", 40, 5000, 3);
    let on_medium = media.join("batch-5000.hex");
    std::fs::copy(&batch, &on_medium).unwrap();
    (H::new(tv, media, 80, 24), on_medium, truth)
}

fn seeds_in(tv: &TestVault) -> String {
    tv.sqlite("SELECT count(*) FROM seeds").trim().to_owned()
}

/// `$.data.<field>` of the one audit entry of `event`.
fn logged(tv: &TestVault, event: &str, field: &str) -> String {
    tv.sqlite(&format!(
        "SELECT json_extract(CAST(body AS TEXT), '$.data.{field}') FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = '{event}'"
    ))
    .trim()
    .to_owned()
}

fn audit_ok(tv: &TestVault) {
    for cmd in ["verify", "replay"] {
        let out = tv.cmd().args(["audit", cmd]).output().unwrap();
        assert!(out.status.success(), "audit {cmd}: {}", text(&out));
    }
}

#[test]
fn ingest_wizard_seals_a_typed_path_and_shows_the_batch() {
    let (mut h, batch, truth) = with_batch_on_medium();
    h.unseal();
    h.key(KeyCode::Char('i')).settle();
    insta::assert_snapshot!("ingest_choose", h.screen());
    h.chars(batch.to_str().unwrap());
    insta::assert_snapshot!("ingest_path_typed", h.screen());
    h.key(KeyCode::Enter).settle();
    let s = h.screen();
    assert!(s.contains("Tokens    40"), "{s}");
    assert!(s.contains("no problem found"), "{s}");
    insta::assert_snapshot!("ingest_report", s);
    // Nothing is stored before the confirmation.
    assert_eq!(seeds_in(&h.tv), "0");
    assert_eq!(h.tv.events("batch.ingested"), 0);
    h.key(KeyCode::Enter).settle();
    let sha = seedvault::crypto::hex(&seedvault::crypto::sha256(&std::fs::read(&batch).unwrap()));
    let raw = h.raw();
    assert!(
        raw.contains(&sha),
        "the result names the file's SHA-256:\n{raw}"
    );
    assert!(raw.contains("Batch 1 is in the vault."), "{raw}");
    insta::assert_snapshot!("ingest_done", h.screen());
    h.key(KeyCode::Esc);
    assert!(h.app.state.ingest.is_none());
    // The vault, through the library and the binary.
    let status = Vault::open(&h.tv.vault).unwrap().status().unwrap();
    assert_eq!(status.counts.active, 40, "{:?}", status.counts);
    assert_eq!(seeds_in(&h.tv), "40");
    assert_eq!(h.tv.events("batch.ingested"), 1);
    assert_eq!(h.tv.events("batch.refused"), 0);
    assert_eq!(logged(&h.tv, "batch.ingested", "source_sha256"), sha);
    audit_ok(&h.tv);
    h.assert_no_seed_drawn(&truth);
}

#[test]
fn ingest_wizard_picks_a_file_from_the_media_list() {
    let (mut h, batch, truth) = with_batch_on_medium();
    h.unseal();
    h.key(KeyCode::Char('i')).settle();
    h.key(KeyCode::Tab);
    insta::assert_snapshot!("ingest_file_list", h.screen());
    h.key(KeyCode::Enter).settle();
    assert_eq!(
        h.app.state.ingest.as_ref().unwrap().choice.path,
        batch.display().to_string()
    );
    h.key(KeyCode::Char('y')).settle();
    assert!(h.raw().contains("Batch 1 is in the vault."));
    assert_eq!(seeds_in(&h.tv), "40");
    h.assert_no_seed_drawn(&truth);
}

#[test]
fn cancelling_the_ingest_before_confirming_leaves_nothing() {
    let (mut h, batch, truth) = with_batch_on_medium();
    h.unseal();
    let log_before = h.tv.audit_len();
    h.key(KeyCode::Char('i')).settle();
    h.chars(batch.to_str().unwrap())
        .key(KeyCode::Enter)
        .settle();
    assert!(h.raw().contains("no problem found"));
    // Esc: back to the file; Esc again: closed.
    h.key(KeyCode::Esc).settle();
    assert!(matches!(
        h.app.state.ingest.as_ref().unwrap().step,
        ingest::Step::Choose { .. }
    ));
    h.key(KeyCode::Esc);
    assert!(h.app.state.ingest.is_none());
    assert!(!h.app.state.quit, "Esc never quits");
    assert_eq!(h.tv.audit_len(), log_before, "no log entry");
    assert_eq!(seeds_in(&h.tv), "0");
    assert_eq!(h.tv.sqlite("SELECT count(*) FROM batches").trim(), "0");
    assert_eq!(h.tv.sqlite("SELECT count(*) FROM data_keys").trim(), "0");
    h.assert_no_seed_drawn(&truth);
}

#[test]
fn a_duplicate_batch_is_refused_in_the_wizard_with_the_cli_words() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    let media = tv.media();
    let (made, truth) = make_batch(tv.tmp.path(), "hex", 30, 7000, 5);
    let batch = media.join("batch-7000.hex");
    std::fs::copy(made, &batch).unwrap();
    tv.ingest_file(&batch);
    let cli = tv.ingest_output(&batch, &["alice", "bob"]);
    assert_eq!(cli.status.code(), Some(1));
    let cli_err = String::from_utf8_lossy(&cli.stderr).into_owned();
    let first = cli_err
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("error: ");
    assert!(first.contains("already in the vault"), "{cli_err}");
    let refused_before = tv.events("batch.refused");
    // Wide, so the message is on one line as the CLI prints it.
    let mut h = H::new(tv, media, 240, 40);
    h.unseal();
    h.key(KeyCode::Char('i')).settle();
    h.chars(batch.to_str().unwrap())
        .key(KeyCode::Enter)
        .settle();
    // The library's message, the CLI's words, whole in the wizard and on screen.
    let ingest::Step::Report {
        outcome: Err(r), ..
    } = &h.app.state.ingest.as_ref().unwrap().step
    else {
        panic!("no refusal: {}", h.raw())
    };
    assert_eq!(r.message.lines().next().unwrap(), first);
    let raw = h.raw();
    let head = &first[..first.find("vault:").unwrap() + "vault:".len()];
    assert!(raw.contains(head), "{head:?} in:\n{raw}");
    assert!(raw.contains("nothing was ingested"), "{raw}");
    assert!(raw.contains("REFUSED"), "{raw}");
    // Enter does not go on from a refusal.
    h.key(KeyCode::Enter).settle();
    assert!(h.raw().contains("REFUSED"));
    // Logged as the CLI logs a refused batch, once; nothing stored.
    assert_eq!(h.tv.events("batch.refused"), refused_before + 1);
    assert_eq!(h.tv.events("batch.ingested"), 1);
    assert_eq!(seeds_in(&h.tv), "30");
    h.assert_no_seed_drawn(&truth);
    // The same refusal at 80x24.
    let (w, hgt) = (80, 24);
    h.term = Terminal::new(TestBackend::new(w, hgt)).unwrap();
    insta::assert_snapshot!("ingest_refused_duplicate", h.screen());
}

#[test]
fn a_file_changed_after_the_check_is_refused_and_nothing_stored() {
    let (mut h, batch, _truth) = with_batch_on_medium();
    h.unseal();
    h.key(KeyCode::Char('i')).settle();
    h.chars(batch.to_str().unwrap())
        .key(KeyCode::Enter)
        .settle();
    // Someone swaps the file between the check and the confirmation.
    let (other, _) = make_batch(h.tv.tmp.path(), "hex", 41, 9000, 9);
    std::fs::copy(other, &batch).unwrap();
    h.key(KeyCode::Enter).settle();
    let raw = h.raw();
    assert!(
        raw.contains("the file changed after it was checked"),
        "{raw}"
    );
    assert_eq!(seeds_in(&h.tv), "0");
    assert_eq!(h.tv.events("batch.ingested"), 0);
    assert_eq!(h.tv.events("batch.refused"), 1);
    insta::assert_snapshot!("ingest_failed_changed", h.screen());
    // Esc: back to the file, still typed; Enter checks what it holds now.
    h.key(KeyCode::Esc).settle().key(KeyCode::Enter).settle();
    assert!(h.raw().contains("Tokens    41"), "{}", h.raw());
    h.key(KeyCode::Enter).settle();
    assert!(h.raw().contains("Batch 1 is in the vault."), "{}", h.raw());
    assert_eq!(seeds_in(&h.tv), "41");
    audit_ok(&h.tv);
}

#[test]
fn ingest_while_sealed_says_to_unseal_first() {
    let (mut h, _batch, _truth) = with_batch_on_medium();
    h.key(KeyCode::Char('i'));
    let s = h.screen();
    assert!(s.contains("the vault must be unsealed first"), "{s}");
    insta::assert_snapshot!("ingest_sealed", s);
    // Esc closes it; e says the same for an export.
    h.key(KeyCode::Esc);
    assert!(h.app.state.ingest.is_none());
    h.key(KeyCode::Char('e'));
    let s = h.screen();
    assert!(s.contains("Export needs the quorum"), "{s}");
    insta::assert_snapshot!("export_sealed", s);
    // u goes to the unseal dialog; unsealed, i opens the wizard itself.
    h.key(KeyCode::Char('u')).settle();
    assert!(h.app.state.export.is_none());
    assert!(h.app.state.dialog.is_some());
    h.key(KeyCode::Esc);
    h.unseal();
    h.key(KeyCode::Char('i')).settle();
    assert!(matches!(
        h.app.state.ingest.as_ref().unwrap().step,
        ingest::Step::Choose { .. }
    ));
}

#[test]
fn ingest_progress_steps_render() {
    let (mut h, batch, _truth) = with_batch_on_medium();
    h.unseal();
    h.key(KeyCode::Char('i')).settle();
    let now = h.now;
    let w = h.app.state.ingest.as_mut().unwrap();
    w.choice.path = batch.display().to_string();
    w.choice.label = "factory run 7".into();
    w.step = ingest::Step::Checking {
        since: now,
        read: 51_200,
    };
    insta::assert_snapshot!("ingest_checking", h.screen());
    let w = h.app.state.ingest.as_mut().unwrap();
    w.step = ingest::Step::Sealing {
        total: 1_000_000,
        done: 250_880,
        elapsed: Duration::from_secs(2),
        since: now,
    };
    let s = h.screen();
    assert!(s.contains("250880 of 1000000 · 125440 tokens/s"), "{s}");
    insta::assert_snapshot!("ingest_sealing", s);
    // The confirmation names the label.
    let w = h.app.state.ingest.as_mut().unwrap();
    w.step = ingest::Step::Report {
        outcome: Ok(BatchPreview {
            format: "pskc".into(),
            openpgp: true,
            factory_signer: Some("0123456789ABCDEF0123456789ABCDEF01234567".into()),
            size: 123_456,
            count: 1000,
            source_sha256: "ab".repeat(32),
        }),
        scroll: 0,
    };
    let s = h.screen();
    assert!(s.contains("as batch \"factory run 7\""), "{s}");
    insta::assert_snapshot!("ingest_report_openpgp_labelled", s);
}

/// A vault with 12 tokens ingested, order 1234 holding them, and request
/// R0001 (hex) to a gpg-made customer key, created by alice and approved
/// by bob. `extra` goes to `init`.
fn approved_request(extra: &[&str]) -> (TestVault, Gpg, PathBuf, String) {
    let tv = TestVault::with_init_args(2, &["alice", "bob", "carol"], extra);
    let truth = tv.ingest("hex", 12, 8000, 11);
    let serials: Vec<String> = read_truth(&truth).into_iter().map(|t| t.0).collect();
    tv.add_order("1234", "Big Customer", &["it@big.example"], "alice");
    tv.assign("1234", &serials, "alice");
    let gpg = Gpg::new();
    gpg.make(
        "Big IT <it@big.example>",
        "ed25519",
        Some("cv25519"),
        "1y",
        None,
    );
    let key = gpg.export("it@big.example", &tv.tmp.path().join("big.asc"));
    let req = request_id(&tv.create_request("1234", "it@big.example", "hex", &key, "alice", &[]));
    tv.approve_ok(&req, "bob");
    (tv, gpg, truth, req)
}

#[test]
fn export_dialog_writes_the_bundle_and_gpg_reads_the_requested_serials() {
    let (tv, gpg, truth, req) = approved_request(&[]);
    assert_eq!(req, "R0001");
    let media = tv.media();
    let mut h = H::new(tv, media.clone(), 80, 24);
    h.unseal();
    h.key(KeyCode::Char('e')).settle();
    insta::assert_snapshot!("export_pick", h.screen());
    h.key(KeyCode::Enter);
    let s = h.screen();
    assert!(
        s.contains("Medium <TMP>/media_"),
        "pre-filled with the medium:\n{s}"
    );
    insta::assert_snapshot!("export_medium", s);
    h.key(KeyCode::Enter).settle();
    let fpr = gpg.fpr("it@big.example");
    let raw = h.raw();
    assert!(
        raw.contains(&export::grouped(&fpr)),
        "the recipient's fingerprint in groups of four:\n{raw}"
    );
    assert!(raw.contains("1234-R0001.hex.asc"), "{raw}");
    assert!(raw.contains("1234-R0001.manifest.asc"), "{raw}");
    assert!(raw.contains("12 · format hex"), "{raw}");
    insta::assert_snapshot!("export_summary", h.screen());
    // Nothing written before the confirmation.
    assert!(crate::common::file_names(&media).is_empty());
    assert_eq!(h.tv.events("export.started"), 0);
    h.key(KeyCode::Enter).settle();
    let raw = h.raw();
    assert!(raw.contains("Request R0001 exported"), "{raw}");
    insta::assert_snapshot!("export_done", h.screen());
    let bundle = media.join("1234-R0001.hex.asc");
    let sha = seedvault::crypto::hex(&seedvault::crypto::sha256(&std::fs::read(&bundle).unwrap()));
    assert!(raw.contains(&sha), "the result names the bundle's SHA-256");
    h.key(KeyCode::Esc);
    assert!(h.app.state.export.is_none());
    assert_eq!(
        crate::common::file_names(&media),
        vec!["1234-R0001.hex.asc", "1234-R0001.manifest.asc"]
    );
    assert_eq!(h.tv.events("export.completed"), 1);
    assert_eq!(logged(&h.tv, "export.completed", "bundle_sha256"), sha);
    let state = Vault::open(&h.tv.vault)
        .unwrap()
        .request("R0001")
        .unwrap()
        .unwrap();
    assert!(
        matches!(state.state, RequestState::Exported { .. }),
        "{state:?}"
    );
    audit_ok(&h.tv);
    // The customer decrypts exactly the requested serials with their seeds.
    gpg.run(&[
        "--import",
        h.tv.cards.join("vault-cert.asc").to_str().unwrap(),
    ]);
    let dec = gpg.run(&["--status-fd", "2", "--decrypt", bundle.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&dec.stderr).contains("GOODSIG"));
    let mut got: Vec<(String, String)> = String::from_utf8(dec.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (s, x) = l.split_once(',').unwrap();
            (s.to_owned(), x.to_lowercase())
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = read_truth(&truth)
        .into_iter()
        .map(|(s, x, _)| (s, x.to_lowercase()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    h.assert_no_seed_drawn(&truth);
}

#[test]
fn an_export_that_would_overwrite_is_refused_with_the_cli_words() {
    let (tv, _gpg, truth, req) = approved_request(&[]);
    let media = tv.media();
    std::fs::write(media.join("1234-R0001.hex.asc"), "someone else's file").unwrap();
    let cli = tv.export(&req, &media, &["alice", "bob"]);
    assert_eq!(cli.status.code(), Some(1));
    let cli_err = String::from_utf8_lossy(&cli.stderr).into_owned();
    let first = cli_err
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("error: ");
    let mut h = H::new(tv, media.clone(), 240, 40);
    h.unseal();
    h.key(KeyCode::Char('e')).settle();
    h.key(KeyCode::Enter).key(KeyCode::Enter).settle();
    let raw = h.raw();
    assert!(raw.contains(first), "the CLI's words {first:?} in:\n{raw}");
    assert!(raw.contains("seedvault never overwrites a file"), "{raw}");
    assert!(matches!(
        &h.app.state.export.as_ref().unwrap().step,
        export::Step::Refused { refusal, .. } if refusal.message == first
    ));
    assert_eq!(
        std::fs::read_to_string(media.join("1234-R0001.hex.asc")).unwrap(),
        "someone else's file"
    );
    assert_eq!(h.tv.events("export.started"), 0);
    // Esc goes back to the medium step, another Esc closes.
    h.key(KeyCode::Esc);
    assert!(matches!(
        h.app.state.export.as_ref().unwrap().step,
        export::Step::Medium { .. }
    ));
    h.term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    h.key(KeyCode::Enter).settle();
    insta::assert_snapshot!("export_refused_overwrite", h.screen());
    h.key(KeyCode::Esc).key(KeyCode::Esc);
    assert!(h.app.state.export.is_none());
    assert!(!h.app.state.quit);
    h.assert_no_seed_drawn(&truth);
}

#[test]
fn an_expired_approval_is_refused_with_the_cli_words() {
    let (tv, _gpg, _truth, req) = approved_request(&["--approval-ttl-seconds", "1"]);
    std::thread::sleep(Duration::from_millis(2100));
    let media = tv.media();
    let cli = tv.export(&req, &media, &["alice", "bob"]);
    assert_eq!(cli.status.code(), Some(1));
    let cli_err = String::from_utf8_lossy(&cli.stderr).into_owned();
    let first = cli_err
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("error: ");
    assert_eq!(first, "the approval of request R0001 expired");
    let mut h = H::new(tv, media.clone(), 80, 24);
    h.unseal();
    // From anywhere: the expired request is not offered.
    h.key(KeyCode::Char('e')).settle();
    assert!(h
        .raw()
        .contains("none: a request must be created and approved"));
    h.key(KeyCode::Esc);
    // From the Requests screen, on the request itself.
    seedvault::tui::quorum::open_export(&mut h.app.state, Some(req.clone()));
    h.key(KeyCode::Enter).settle();
    let s = h.screen();
    assert!(s.contains(first), "{s}");
    insta::assert_snapshot!("export_refused_expired", s);
    assert!(crate::common::file_names(&media).is_empty());
}

#[test]
fn export_progress_steps_render() {
    let (tv, _gpg, _truth, _req) = approved_request(&[]);
    let media = tv.media();
    let mut h = H::new(tv, media.clone(), 80, 24);
    h.unseal();
    seedvault::tui::quorum::open_export(&mut h.app.state, Some("R0001".into()));
    let now = h.now;
    let plan = ExportPlan {
        request_id: "R0001".into(),
        order_id: "1234".into(),
        requester: "it@big.example".into(),
        format: "hex".into(),
        serials: 12,
        recipient_fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567".into(),
        encryption_subkeys: vec!["89ABCDEF0123456789ABCDEF0123456789ABCDEF".into()],
        user_ids: vec!["Big IT <it@big.example>".into()],
        created_by: "alice".into(),
        approved_by: "bob".into(),
        expires_at: 0,
        bundle: media.join("1234-R0001.hex.asc"),
        manifest: media.join("1234-R0001.manifest.asc"),
        bundle_bytes: 2000,
        need_bytes: 2000 + 65536,
        free_bytes: 0,
    };
    let d = h.app.state.export.as_mut().unwrap();
    d.step = export::Step::Planning { since: now };
    insta::assert_snapshot!("export_planning", h.screen());
    let d = h.app.state.export.as_mut().unwrap();
    d.step = export::Step::Writing {
        since: now,
        step: Some(ExportStep::ReadingBack(media.join("1234-R0001.hex.asc"))),
        plan: Box::new(plan),
    };
    let s = h.screen();
    assert!(
        s.contains("reading 1234-R0001.hex.asc back from the medium"),
        "{s}"
    );
    insta::assert_snapshot!("export_writing", s);
}

#[test]
fn the_demo_leaves_a_batch_an_approved_and_a_pending_request_for_the_console() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let out = crate::common::seedvault()
        .args(["demo", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    let media = demo.join("media");
    assert!(
        said.contains(&format!("tui --media {}", media.display())),
        "{said}"
    );
    for key in ["   u  unseal", "   i  ingest", "   e  export"] {
        assert!(said.contains(key), "{key:?} in the try-this:\n{said}");
    }
    // The wizard's file list finds the waiting batch on the medium.
    // (The export's bundle and manifest on the same medium are not offered.)
    let files = ingest::list_files(std::slice::from_ref(&media));
    let paths: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    assert_eq!(paths, [media.join("factory-batch-0002.csv")], "{files:?}");
    // One request waits for export, one for a second officer.
    let vault = Vault::open(&demo.join("vault")).unwrap();
    let requests = vault.requests().unwrap();
    let now = seedvault::vault::clock::unix_now();
    let ready = export::candidates(&requests, now);
    assert_eq!(
        ready.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["R0002"]
    );
    let pending: Vec<&str> = requests
        .iter()
        .filter(|r| matches!(r.state, RequestState::Pending))
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(pending, ["R0003"]);
    // The waiting batch is not in the vault yet.
    assert_eq!(vault.status().unwrap().counts.seeds, 20);
}

#[test]
fn an_openpgp_batch_with_a_required_factory_signature_works_as_in_the_cli() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    let media = tv.media();
    let gpg = Gpg::with_flags(&["--quiet"]);
    gpg.run(&[
        "--import",
        tv.cards.join("vault-cert.asc").to_str().unwrap(),
    ]);
    let factory_fpr = gpg.make(
        "Factory <factory@example.com>",
        "ed25519",
        None,
        "never",
        None,
    );
    let factory_cert = gpg.export("factory@example.com", &tv.tmp.path().join("factory.asc"));
    let vault_uid = format!("vault-{}@seedvault.invalid", tv.vault_id);
    let (plain, truth) = make_batch(tv.tmp.path(), "hex", 10, 880000, 5);
    let signed = media.join("signed.gpg");
    gpg.run(&[
        "--trust-model",
        "always",
        "-u",
        "factory@example.com",
        "-r",
        &vault_uid,
        "--sign",
        "--encrypt",
        "-o",
        signed.to_str().unwrap(),
        plain.to_str().unwrap(),
    ]);
    let (plain2, _) = make_batch(tv.tmp.path(), "hex", 10, 990000, 6);
    let unsigned = media.join("unsigned.gpg");
    gpg.run(&[
        "--trust-model",
        "always",
        "-r",
        &vault_uid,
        "--encrypt",
        "-o",
        unsigned.to_str().unwrap(),
        plain2.to_str().unwrap(),
    ]);
    let cli = tv
        .cmd()
        .arg("ingest")
        .arg(&unsigned)
        .arg("--factory-cert")
        .arg(&factory_cert)
        .args(tv.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(1), "{}", text(&cli));
    let cli_err = String::from_utf8_lossy(&cli.stderr).into_owned();
    let first = cli_err
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("error: ")
        .to_owned();

    let mut h = H::new(tv, media, 80, 24);
    h.unseal();
    let wizard = |h: &mut H, file: &Path| {
        h.key(KeyCode::Char('i')).settle();
        h.chars(file.to_str().unwrap());
        // Tab: files, label, format, factory certificate.
        h.keys_n(KeyCode::Tab, 4);
        h.chars(factory_cert.to_str().unwrap());
        h.key(KeyCode::Enter).settle();
    };
    // Unsigned, a signature required: refused with the CLI's words.
    wizard(&mut h, &unsigned);
    let ingest::Step::Report {
        outcome: Err(r), ..
    } = &h.app.state.ingest.as_ref().unwrap().step
    else {
        panic!("no refusal: {}", h.raw())
    };
    assert_eq!(r.message.lines().next().unwrap(), first);
    h.key(KeyCode::Esc).settle().key(KeyCode::Esc);
    assert!(h.app.state.ingest.is_none());
    // Signed by the factory: the report says so; in.
    wizard(&mut h, &signed);
    let raw = h.raw();
    assert!(
        raw.contains("OpenPGP message, decrypted with the vault key"),
        "{raw}"
    );
    assert!(
        raw.contains(&format!("factory certificate {factory_fpr}")),
        "{raw}"
    );
    h.key(KeyCode::Enter).settle();
    assert!(h.raw().contains("Batch 1 is in the vault."), "{}", h.raw());
    assert_eq!(seeds_in(&h.tv), "10");
    assert_eq!(
        logged(&h.tv, "batch.ingested", "factory_signer"),
        factory_fpr
    );
    audit_ok(&h.tv);
    h.assert_no_seed_drawn(&truth);
}

#[test]
fn an_encrypted_pskc_batch_takes_its_password_file_or_key_file_in_the_wizard() {
    use secrecy::{SecretBox, SecretString};
    use seedvault::formats::{self, Format, PskcKey, WriteOptions};
    use seedvault::token::{Seed, Serial, Token, TokenParams};
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    let media = tv.media();
    let tokens: Vec<Token> = (0..5u8)
        .map(|i| Token {
            serial: Serial::parse(&format!("PSKC{i}")).unwrap(),
            seed: Seed::new((0..20).map(|b| b ^ i.wrapping_mul(37)).collect()).unwrap(),
            params: TokenParams::default(),
        })
        .collect();
    let write = |key: PskcKey, name: &str| {
        let mut out = Vec::new();
        let opts = WriteOptions {
            pskc_key: Some(key),
            ..Default::default()
        };
        formats::write(Format::Pskc, &mut tokens[..].iter(), &mut out, &opts).unwrap();
        let p = media.join(name);
        std::fs::write(&p, out).unwrap();
        p
    };
    let by_password = write(
        PskcKey::Password(SecretString::from("factory-transport-pw".to_owned())),
        "pw.pskc",
    );
    let key_hex = "000102030405060708090a0b0c0d0e0f";
    let by_key = write(
        PskcKey::PreShared(SecretBox::new(Box::new(
            data_encoding::HEXLOWER.decode(key_hex.as_bytes()).unwrap(),
        ))),
        "psk.pskc",
    );
    let pw_file = tv.tmp.path().join("pskc.pw");
    std::fs::write(&pw_file, "factory-transport-pw\n").unwrap();
    let key_file = tv.tmp.path().join("pskc.key");
    std::fs::write(&key_file, key_hex).unwrap();

    let mut h = H::new(tv, media, 80, 24);
    h.unseal();
    // The password file (sixth field), then the key file (fifth field).
    h.key(KeyCode::Char('i')).settle();
    h.chars(by_password.to_str().unwrap());
    h.keys_n(KeyCode::Tab, 6);
    h.chars(pw_file.to_str().unwrap());
    h.key(KeyCode::Enter).settle();
    let s = h.screen();
    assert!(s.contains("Tokens    5"), "{s}");
    assert!(!s.contains("factory-transport-pw"), "{s}");
    h.key(KeyCode::Enter).settle();
    assert_eq!(seeds_in(&h.tv), "5");
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('i')).settle();
    h.chars(by_key.to_str().unwrap());
    h.keys_n(KeyCode::Tab, 5);
    h.chars(key_file.to_str().unwrap());
    h.key(KeyCode::Enter).settle();
    // Decrypted (so its serials are found already in the vault).
    let raw = h.raw();
    assert!(
        raw.contains("5 serial(s) are already in the vault"),
        "{raw}"
    );
    for frame in &h.frames {
        assert!(!frame.contains("factory-transport-pw") && !frame.contains(key_hex));
    }
}

#[test]
fn cancelling_the_export_at_the_summary_writes_and_logs_nothing() {
    let (tv, _gpg, truth, _req) = approved_request(&[]);
    let media = tv.media();
    let mut h = H::new(tv, media.clone(), 80, 24);
    h.unseal();
    let log_before = h.tv.audit_len();
    h.key(KeyCode::Char('e')).settle();
    h.key(KeyCode::Enter);
    // Tab: the list of media, as mounted or --media.
    h.key(KeyCode::Tab);
    insta::assert_snapshot!("export_medium_list", h.screen());
    h.key(KeyCode::Enter).settle();
    assert!(h.raw().contains("Write 12 serials"), "{}", h.raw());
    h.key(KeyCode::Esc);
    assert!(matches!(
        h.app.state.export.as_ref().unwrap().step,
        export::Step::Medium { .. }
    ));
    h.key(KeyCode::Esc);
    assert!(h.app.state.export.is_none());
    assert!(!h.app.state.quit, "Esc never quits");
    assert!(crate::common::file_names(&media).is_empty());
    assert_eq!(h.tv.audit_len(), log_before, "no log entry");
    let r = Vault::open(&h.tv.vault)
        .unwrap()
        .request("R0001")
        .unwrap()
        .unwrap();
    assert!(matches!(r.state, RequestState::Approved { .. }), "{r:?}");
    h.assert_no_seed_drawn(&truth);
}

#[test]
fn a_batch_larger_than_a_progress_step_ends_in_the_result() {
    // 3,000 tokens: the check and the ingest each send progress replies
    // (every 1,024 tokens) before their answer; the wizard must wait for
    // the answer, not take a progress reply for it.
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    let media = tv.media();
    let (made, truth) = make_batch(tv.tmp.path(), "base32", 3000, 100_000, 8);
    let batch = media.join("big.b32");
    std::fs::copy(made, &batch).unwrap();
    let mut h = H::new(tv, media, 80, 24);
    h.unseal();
    h.key(KeyCode::Char('i')).settle();
    h.chars(batch.to_str().unwrap())
        .key(KeyCode::Enter)
        .settle();
    assert!(h.raw().contains("Tokens    3000"), "{}", h.raw());
    h.key(KeyCode::Enter).settle();
    assert!(h.raw().contains("Batch 1 is in the vault."), "{}", h.raw());
    assert_eq!(h.app.state.pending, 0);
    assert_eq!(seeds_in(&h.tv), "3000");
    h.assert_no_seed_drawn(&truth);
}

#[test]
#[should_panic(expected = "a seed was drawn")]
fn the_seed_scan_catches_a_seed_wrapped_over_two_lines() {
    let (mut h, _batch, truth) = with_batch_on_medium();
    let (_, hex, _) = read_truth(&truth).remove(3);
    h.frames
        .push(format!("│ seed {}│\n│{} │\n", &hex[..10], &hex[10..]));
    h.assert_no_seed_drawn(&truth);
}
