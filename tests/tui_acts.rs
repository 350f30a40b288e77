//! The officers' acts in the terminal UI (issue 11, part 3): the Batches,
//! Orders and Requests screens, their forms and dry runs, the officer card
//! dialog and card check, on ratatui's `TestBackend` at 80x24 with a real
//! fast-KDF vault. Each act is scripted key by key and checked through the
//! library afterwards; each has a refusal compared word for word with the
//! CLI's for the same input; every frame drawn is searched for the typed
//! passphrases and the seeds.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use seedvault::media::Medium;
use seedvault::tui::acts::Modal;
use seedvault::tui::worker::{Sources, AUDIT_WINDOW};
use seedvault::tui::{App, Options};
use seedvault::vault::{RequestStateKind, Vault};

use crate::common::{error_and_hint, read_truth, request_id, text, TestVault};

const WAIT: Duration = Duration::from_secs(60);
const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// Media directories of the tests in this process (the app's media
/// source is a plain `fn`, so the tests register theirs here).
static MEDIA: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn test_media() -> Vec<Medium> {
    MEDIA
        .lock()
        .map(|m| {
            m.iter()
                .map(|p| Medium {
                    mount_point: p.clone(),
                    device: "test".into(),
                    fs_type: "vfat".into(),
                    free_bytes: 0,
                    total_bytes: 0,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pass(name: &str) -> String {
    format!("{name}-passphrase-123")
}

struct Harness {
    tv: TestVault,
    media: PathBuf,
    app: App,
    term: Terminal<TestBackend>,
    now: Instant,
    /// Every frame drawn, for the no-secret check.
    seen: String,
    /// Texts to mask in snapshots (fingerprints as grouped on screen).
    masks: Vec<String>,
}

impl Harness {
    fn new(tv: TestVault) -> Harness {
        let media = tv.tmp.path().join("medium");
        std::fs::create_dir_all(&media).unwrap();
        MEDIA.lock().unwrap().push(media.clone());
        let now = Instant::now();
        let opts = Options {
            idle_timeout: Duration::from_secs(300),
            sources: Sources {
                media: test_media,
                card_dirs: vec![tv.cards.clone()],
                audit_window: AUDIT_WINDOW,
                media_dirs: Vec::new(),
            },
        };
        let mut app = App::new(Vault::open(&tv.vault).unwrap(), opts, now);
        assert!(app.settle(WAIT));
        Harness {
            tv,
            media,
            app,
            term: Terminal::new(TestBackend::new(80, 24)).unwrap(),
            now,
            seen: String::new(),
            masks: Vec::new(),
        }
    }

    fn key(&mut self, code: KeyCode) -> &mut Self {
        self.app
            .key(KeyEvent::new(code, KeyModifiers::NONE), self.now);
        let frame = self.raw();
        self.seen.push_str(&frame);
        self
    }

    fn ctrl(&mut self, c: char) -> &mut Self {
        self.app.key(
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            self.now,
        );
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
        let frame = self.raw();
        self.seen.push_str(&frame);
        self
    }

    fn raw(&mut self) -> String {
        self.app.draw(&mut self.term).unwrap();
        buffer_text(self.term.backend().buffer())
    }

    /// The screen at 200x50, where no message wraps (for comparing a
    /// message line with the CLI's).
    fn wide(&mut self) -> String {
        let mut t = Terminal::new(TestBackend::new(200, 50)).unwrap();
        self.app.draw(&mut t).unwrap();
        let s = buffer_text(t.backend().buffer());
        self.seen.push_str(&s);
        s
    }

    fn screen(&mut self) -> String {
        let tmp = self.tv.tmp.path().to_string_lossy().into_owned();
        let mut s: Vec<String> = self
            .raw()
            .lines()
            .map(|l| replace_keep_width(l, &tmp, "<TMP>"))
            .collect();
        for m in &self.masks {
            let x: String = m
                .chars()
                .map(|c| if c == ' ' { ' ' } else { 'x' })
                .collect();
            s = s.iter().map(|l| l.replace(m.as_str(), &x)).collect();
        }
        mask_hex(&mask_grouped(&mask_dates(&(s.join("\n") + "\n"))))
    }

    /// From a confirmation: Enter opens the officer dialog; choose `name`'s
    /// card, type `passphrase`, Enter; wait for the act.
    /// Keeps only this test's medium in the file list (other tests of the
    /// same process register theirs too), so snapshots are stable.
    fn own_files(&mut self) -> &mut Self {
        let media = self.media.clone();
        self.app.state.acts.files.retain(|p| p.starts_with(&media));
        self
    }

    fn sign(&mut self, name: &str, passphrase: &str) -> &mut Self {
        self.key(KeyCode::Enter).settle();
        self.pick_card(name);
        self.chars(passphrase).key(KeyCode::Enter).settle()
    }

    /// In the officer dialog's card list: move to `name`'s card, Enter.
    fn pick_card(&mut self, name: &str) -> &mut Self {
        let i = NAMES.iter().position(|n| *n == name).unwrap();
        for _ in 0..i {
            self.key(KeyCode::Down);
        }
        self.key(KeyCode::Enter)
    }

    /// The text of the result panel; fails when none is open.
    fn result(&self) -> (String, bool) {
        match &self.app.state.acts.modal {
            Some(Modal::Result { text, error, .. }) => (text.clone(), *error),
            other => panic!("no result panel: {other:?}"),
        }
    }

    /// The refusal shown in a confirmation (a dry run's).
    fn refusal(&self) -> Option<String> {
        match &self.app.state.acts.modal {
            Some(Modal::Confirm(c)) => c.refusal.clone(),
            other => panic!("no confirmation: {other:?}"),
        }
    }

    fn vault(&self) -> Vault {
        Vault::open(&self.tv.vault).unwrap()
    }

    /// Asserts that no frame drawn so far showed a passphrase or a seed.
    fn assert_no_secret(&self, truth: Option<&Path>) {
        for n in NAMES {
            assert!(!self.seen.contains(&pass(n)), "{n}'s passphrase was drawn");
        }
        assert!(
            !self.seen.contains("wrong-passphrase"),
            "a typed passphrase was drawn"
        );
        if let Some(t) = truth {
            for (serial, hex, _) in read_truth(t) {
                let bytes = data_encoding::HEXLOWER_PERMISSIVE
                    .decode(hex.as_bytes())
                    .unwrap();
                let b32 = data_encoding::BASE32_NOPAD.encode(&bytes);
                for secret in [hex.to_lowercase(), hex.to_uppercase(), b32] {
                    assert!(
                        !self.seen.contains(&secret[..16]),
                        "the seed of {serial} was drawn"
                    );
                }
            }
        }
    }
}

fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Replaces `from` with `to` and pads before the next border `│`.
fn replace_keep_width(line: &str, from: &str, to: &str) -> String {
    let pad = from.chars().count().saturating_sub(to.chars().count());
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(from) {
        out.push_str(&rest[..i]);
        out.push_str(to);
        rest = &rest[i + from.len()..];
        match rest.find('│') {
            Some(j) => {
                out.push_str(&rest[..j]);
                out.push_str(&" ".repeat(pad));
                rest = &rest[j..];
            }
            None => {
                out.push_str(rest);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Dates and times (`2026-11-29`, `14:33:08`) -> digits masked as `9`.
fn mask_dates(s: &str) -> String {
    let shapes: [&[u8]; 2] = [b"dddd-dd-dd", b"dd:dd:dd"];
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'outer: while i < b.len() {
        for shape in shapes {
            let fits = i + shape.len() <= b.len()
                && shape.iter().zip(&b[i..]).all(|(p, c)| {
                    if *p == b'd' {
                        c.is_ascii_digit()
                    } else {
                        p == c
                    }
                });
            if fits {
                for p in shape {
                    out.push(if *p == b'd' { '9' } else { char::from(*p) });
                }
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

/// Fingerprints grouped in fours (`ABCD 1234 ...  ...`) -> `x`s.
fn mask_grouped(s: &str) -> String {
    const SHAPE: &[u8] = b"hhhh hhhh hhhh hhhh hhhh  hhhh hhhh hhhh hhhh hhhh";
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let fits = i + SHAPE.len() <= b.len()
            && SHAPE.iter().zip(&b[i..]).all(|(p, c)| {
                if *p == b'h' {
                    c.is_ascii_hexdigit()
                } else {
                    p == c
                }
            });
        if fits {
            for p in SHAPE {
                out.push(if *p == b'h' { 'x' } else { ' ' });
            }
            i += SHAPE.len();
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Runs of 16 or more hex digits (ids, hashes, fingerprints) -> `x`s.
fn mask_hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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

/// A fingerprint as the screens group it.
fn grouped(fpr: &str) -> String {
    let chars: Vec<char> = fpr.chars().collect();
    let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    format!("{}  {}", groups[..5].join(" "), groups[5..].join(" "))
}

/// The message of a failed CLI command (its `error:` lines, without the
/// prefix and the hint).
fn cli_refusal(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "the CLI accepted it: {}", text(out));
    let (error, _) = error_and_hint(out);
    error
        .trim_end()
        .strip_prefix("error: ")
        .unwrap_or_else(|| panic!("no error line: {error}"))
        .to_owned()
}

/// Asserts that the TUI's refusal is the CLI's, word for word, and that
/// its first line is drawn.
fn same_words(h: &mut Harness, tui: &str, cli: &str) {
    assert_eq!(tui, cli, "the TUI's refusal differs from the CLI's");
    let first = cli.lines().next().unwrap();
    let wide = h.wide();
    assert!(wide.contains(first), "not drawn: {first}\n{wide}");
}

fn vault() -> TestVault {
    TestVault::new(2, &NAMES)
}

fn write_serials(dir: &Path, name: &str, serials: &[&str]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serials.join("\n") + "\n").unwrap();
    p
}

#[test]
fn batches_serial_lookup_and_void() {
    let tv = vault();
    let truth = tv.ingest("azure-csv", 4, 80_000_000, 3);
    let mut h = Harness::new(tv);
    h.key(KeyCode::Char('2')).settle();
    insta::assert_snapshot!("batches", h.screen());
    h.key(KeyCode::Char('/')).chars("80000001");
    insta::assert_snapshot!("find_serial", h.screen());
    h.key(KeyCode::Enter).settle();
    let s = h.screen();
    assert!(s.contains("State    active"), "{s}");
    insta::assert_snapshot!("serial_record", s);

    h.key(KeyCode::Char('x')).chars("reprogrammed by customer");
    insta::assert_snapshot!("void_form", h.screen());
    h.key(KeyCode::Enter);
    let s = h.screen();
    assert!(
        s.contains("Void serial 80000001: it can never be exported."),
        "{s}"
    );
    insta::assert_snapshot!("void_confirm", s);
    h.key(KeyCode::Enter).settle();
    insta::assert_snapshot!("officer_cards", h.screen());
    h.pick_card("carol").chars(&pass("carol"));
    let s = h.screen();
    assert!(s.contains("Acting: carol"), "{s}");
    assert!(s.contains(&"•".repeat(pass("carol").len())), "{s}");
    insta::assert_snapshot!("officer_passphrase", s);
    h.key(KeyCode::Enter).settle();
    let (text, error) = h.result();
    assert!(!error, "{text}");
    assert_eq!(
        text,
        "serial 80000001 voided by carol: it can never be exported"
    );
    insta::assert_snapshot!("void_done", h.screen());
    let rec = h
        .vault()
        .serial_record(&seedvault::token::Serial::parse("80000001").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(rec.state, "voided");
    assert_eq!(rec.voided_by.as_deref(), Some("carol"));
    assert_eq!(h.tv.events("serial.voided"), 1);
    h.key(KeyCode::Enter);
    h.assert_no_secret(Some(&truth));
}

#[test]
fn void_refusal_and_wrong_passphrase_read_as_the_cli() {
    let tv = vault();
    let truth = tv.ingest("azure-csv", 2, 81_000_000, 4);
    let mut h = Harness::new(tv);
    // A wrong passphrase: the CLI's words, and the same log entry.
    let wrong = h.tv.tmp.path().join("wrong.pass");
    std::fs::write(&wrong, "wrong-passphrase\n").unwrap();
    let cli =
        h.tv.cmd()
            .args(["serial", "void", "81000000", "--reason", "test", "--card"])
            .arg(h.tv.card("alice"))
            .arg("--passphrase-file")
            .arg(&wrong)
            .output()
            .unwrap();
    let cli = cli_refusal(&cli);
    let failed = h.tv.events("vault.unseal_failed");
    h.key(KeyCode::Char('2')).settle();
    h.key(KeyCode::Char('/'))
        .chars("81000000")
        .key(KeyCode::Enter)
        .settle();
    h.key(KeyCode::Char('x')).chars("test").key(KeyCode::Enter);
    h.sign("alice", "wrong-passphrase");
    let (tui, error) = h.result();
    assert!(error);
    same_words(&mut h, &tui, &cli);
    assert_eq!(h.tv.events("vault.unseal_failed"), failed + 1);
    insta::assert_snapshot!("void_refused", h.screen());
    // Nothing changed.
    assert_eq!(h.tv.events("serial.voided"), 0);

    // A voided serial: the CLI's refusal, shown before any card.
    h.key(KeyCode::Enter);
    h.tv.cmd()
        .args(["serial", "void", "81000001", "--reason", "gone"])
        .args(h.tv.officer("bob"))
        .assert()
        .success();
    let again =
        h.tv.cmd()
            .args(["serial", "void", "81000001", "--reason", "gone"])
            .args(h.tv.officer("bob"))
            .output()
            .unwrap();
    let cli = cli_refusal(&again);
    h.key(KeyCode::Char('/'))
        .key(KeyCode::Backspace)
        .chars("1")
        .key(KeyCode::Enter)
        .settle();
    h.key(KeyCode::Char('x'));
    let tui = h.app.state.notice.clone().unwrap();
    assert!(tui.error);
    same_words(&mut h, &tui.text, &cli);
    h.assert_no_secret(Some(&truth));
}

#[test]
fn order_add_and_assign_with_their_refusals() {
    let tv = vault();
    let truth = tv.ingest("azure-csv", 5, 82_000_000, 5);
    let mut h = Harness::new(tv);
    h.key(KeyCode::Char('3')).settle();
    insta::assert_snapshot!("orders_empty", h.screen());
    h.key(KeyCode::Char('n'))
        .chars("4711")
        .key(KeyCode::Tab)
        .chars("ACME Corp")
        .key(KeyCode::Tab)
        .chars("buyer@example.com, it@example.com");
    insta::assert_snapshot!("order_form", h.screen());
    h.key(KeyCode::Enter);
    insta::assert_snapshot!("order_confirm", h.screen());
    h.sign("alice", &pass("alice"));
    let (text, error) = h.result();
    assert!(!error, "{text}");
    assert_eq!(
        text,
        "order 4711 recorded for ACME Corp (2 authorized address(es))"
    );
    let o = h.vault().order("4711").unwrap().unwrap();
    assert_eq!(o.emails, ["buyer@example.com", "it@example.com"]);
    assert_eq!(o.created_by, "alice");
    // The log entry is the CLI's: same event, actor and payload.
    h.tv.add_order(
        "4712",
        "ACME Corp",
        &["buyer@example.com", "it@example.com"],
        "alice",
    );
    let logged = h.tv.sqlite(
        "SELECT json_extract(CAST(body AS TEXT), '$.actors'), json_extract(CAST(body AS TEXT), '$.data') \
         FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = 'order.added' ORDER BY seq",
    );
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), 2, "{logged}");
    assert_eq!(lines[0].replace("4711", "4712"), lines[1], "{logged}");
    h.key(KeyCode::Enter).key(KeyCode::Char('r')).settle();
    insta::assert_snapshot!("orders_list", h.screen());

    // The same order again: the CLI's refusal.
    let cli =
        h.tv.cmd()
            .args(["order", "add", "--id", "4711", "--customer", "X"])
            .args(["--email", "x@example.com"])
            .args(h.tv.officer("bob"))
            .output()
            .unwrap();
    let cli = cli_refusal(&cli);
    h.key(KeyCode::Char('n'))
        .chars("4711")
        .key(KeyCode::Tab)
        .chars("X")
        .key(KeyCode::Tab)
        .chars("x@example.com")
        .key(KeyCode::Enter);
    h.sign("bob", &pass("bob"));
    let (tui, error) = h.result();
    assert!(error);
    same_words(&mut h, &tui, &cli);
    h.key(KeyCode::Enter);

    // Assign: a file with a serial the vault does not hold is refused by
    // the dry run, before any card, in the CLI's words.
    let bad = write_serials(&h.media, "bad.txt", &["82000000", "99999999"]);
    let cli =
        h.tv.cmd()
            .args(["order", "assign", "--id", "4711", "--serials-file"])
            .arg(&bad)
            .args(h.tv.officer("alice"))
            .output()
            .unwrap();
    let cli = cli_refusal(&cli);
    h.key(KeyCode::Char('l')).key(KeyCode::Tab);
    h.chars(&bad.display().to_string())
        .key(KeyCode::Enter)
        .settle();
    let tui = h.refusal().expect("the dry run refuses");
    same_words(&mut h, &tui, &cli);
    insta::assert_snapshot!("assign_refused", h.screen());

    // Esc back to the form; pick the good file from the media list.
    write_serials(
        &h.media,
        "shipped.txt",
        &["82000000", "82000001", "82000002"],
    );
    h.key(KeyCode::Esc);
    assert!(matches!(h.app.state.acts.modal, Some(Modal::Form(_))));
    h.key(KeyCode::Esc);
    // The filter: `/` and text narrow the list; Esc clears it.
    h.key(KeyCode::Char('/')).chars("4712");
    let s = h.screen();
    assert!(s.contains("Orders · 1 of 2"), "{s}");
    insta::assert_snapshot!("orders_filter", s);
    h.key(KeyCode::Esc);
    assert!(h.screen().contains("Orders · 2 of 2"));
    h.key(KeyCode::Char('l')).settle();
    h.own_files();
    insta::assert_snapshot!("assign_form", h.screen());
    h.key(KeyCode::Tab).key(KeyCode::Tab);
    let s = h.screen();
    assert!(s.contains("shipped.txt"), "the media file list: {s}");
    insta::assert_snapshot!("assign_file_list", s);
    let at = h
        .app
        .state
        .acts
        .files
        .iter()
        .position(|p| p.ends_with("shipped.txt"))
        .unwrap();
    for _ in 0..at {
        h.key(KeyCode::Down);
    }
    h.key(KeyCode::Enter).key(KeyCode::Enter).settle();
    let s = h.screen();
    assert!(
        s.contains("3 serial(s) will be assigned to order 4711 (0 already were)."),
        "{s}"
    );
    insta::assert_snapshot!("assign_confirm", s);
    h.sign("bob", &pass("bob"));
    let (text, error) = h.result();
    assert!(!error, "{text}");
    assert_eq!(text, "3 serial(s) assigned to order 4711 (0 already were)");
    let o = h.vault().order("4711").unwrap().unwrap();
    assert_eq!(o.serials, ["82000000", "82000001", "82000002"]);
    h.assert_no_secret(Some(&truth));
}

/// A vault with order 4711 holding six serials and the customer's key on
/// the medium.
fn with_order() -> (Harness, PathBuf, String, PathBuf) {
    let tv = vault();
    let truth = tv.ingest("azure-csv", 6, 83_000_000, 6);
    tv.add_order("4711", "ACME Corp", &["buyer@example.com"], "alice");
    tv.assign("4711", 83_000_000..83_000_006, "alice");
    let (key, fpr) = tv.customer_key("Buyer <buyer@example.com>", "customer.asc");
    let h = Harness::new(tv);
    let on_medium = h.media.join("customer.asc");
    std::fs::copy(&key, &on_medium).unwrap();
    (h, on_medium, fpr, truth)
}

#[test]
fn request_create_shows_fingerprints_and_every_refusal() {
    let (mut h, key, fpr, truth) = with_order();
    h.masks.push(grouped(&fpr));
    h.key(KeyCode::Char('4')).settle();
    insta::assert_snapshot!("requests_empty", h.screen());

    // Every refusal at once: an address not on the order and a serial
    // outside it, in the CLI's words.
    let serials = write_serials(&h.media, "ask.txt", &["83000000", "99999999"]);
    let cli = h.tv.create_request(
        "4711",
        "stranger@example.com",
        "azure-csv",
        &key,
        "alice",
        &["--serials-file", &serials.display().to_string()],
    );
    let cli = cli_refusal(&cli);
    assert!(cli.contains("2 problem(s)"), "{cli}");
    // Fields: order (pre-filled), requester, key file, format, serials
    // file; Tab from a file field goes through the media file list.
    h.key(KeyCode::Char('n')).settle();
    h.own_files();
    h.key(KeyCode::Tab)
        .chars("stranger@example.com")
        .key(KeyCode::Tab)
        .chars(&key.display().to_string())
        .key(KeyCode::Tab);
    assert!(
        matches!(&h.app.state.acts.modal, Some(Modal::Form(f)) if f.list.is_some()),
        "Tab from the key file field opens the media file list"
    );
    h.key(KeyCode::Tab)
        .key(KeyCode::Tab)
        .chars(&serials.display().to_string());
    insta::assert_snapshot!("request_form", h.screen());
    h.key(KeyCode::Enter).settle();
    let tui = h.refusal().expect("refused");
    same_words(&mut h, &tui, &cli);
    let s = h.screen();
    assert!(s.contains("Recipient key (primary):"), "{s}");
    insta::assert_snapshot!("request_refused", s);
    assert_eq!(
        h.tv.events("request.refused"),
        1,
        "only the CLI's attempt is logged"
    );

    // Esc back, fix the requester, drop the serials file: the preview
    // shows the fingerprints, then alice signs.
    h.key(KeyCode::Esc);
    h.ctrl('u');
    for _ in 0..3 {
        h.key(KeyCode::BackTab);
    }
    h.ctrl('u').chars("buyer@example.com");
    h.key(KeyCode::Enter).settle();
    assert_eq!(h.refusal(), None);
    let s = h.raw();
    assert!(s.contains(&grouped(&fpr)), "{s}");
    assert!(s.contains("User ID: Buyer <buyer@example.com>"), "{s}");
    insta::assert_snapshot!("request_preview", h.screen());
    h.sign("alice", &pass("alice"));
    let (text, error) = h.result();
    assert!(!error, "{text}");
    assert!(
        text.starts_with(
            "request R0001 for order 4711: 6 serial(s) as azure-csv, created by alice"
        ),
        "{text}"
    );
    let r = h.vault().request("R0001").unwrap().unwrap();
    assert_eq!(r.state.kind(), RequestStateKind::Pending);
    assert_eq!(r.created_by, "alice");
    assert_eq!(r.recipient_fingerprint, fpr);
    h.assert_no_secret(Some(&truth));
}

#[test]
fn approve_by_a_second_officer_and_reject() {
    let (mut h, key, fpr, truth) = with_order();
    h.masks.push(grouped(&fpr));
    let id = request_id(&h.tv.create_request(
        "4711",
        "buyer@example.com",
        "azure-csv",
        &key,
        "alice",
        &[],
    ));
    h.key(KeyCode::Char('4')).key(KeyCode::Char('r')).settle();
    let s = h.raw();
    assert!(
        s.contains(&grouped(&fpr)),
        "the approver sees the fingerprint: {s}"
    );
    insta::assert_snapshot!("requests_pending", h.screen());

    // The creator may not approve: the CLI's words.
    let cli = cli_refusal(&h.tv.approve(&id, "alice"));
    h.key(KeyCode::Char('a')).settle();
    insta::assert_snapshot!("approve_confirm", h.screen());
    h.sign("alice", &pass("alice"));
    let (tui, error) = h.result();
    assert!(error);
    same_words(&mut h, &tui, &cli);
    let s = h.wide();
    assert!(
        s.contains("hint: a different officer decides it: choose their card"),
        "{s}"
    );
    assert_eq!(h.tv.events("request.decision_refused"), 2);
    h.key(KeyCode::Enter);

    // Bob approves.
    h.key(KeyCode::Char('a')).settle();
    h.sign("bob", &pass("bob"));
    let (text, error) = h.result();
    assert!(!error, "{text}");
    assert!(
        text.starts_with(&format!("request {id} approved by bob (created by alice)")),
        "{text}"
    );
    let r = h.vault().request(&id).unwrap().unwrap();
    assert_eq!(r.state.kind(), RequestStateKind::Approved);
    assert_eq!(r.decided_by.as_deref(), Some("bob"));
    h.key(KeyCode::Enter);
    let s = h.raw();
    assert!(
        s.contains("expires in 23 h 59 min") || s.contains("expires in 24 h 0 min"),
        "{s}"
    );

    // A second request; its creator may not reject it either (CLI words),
    // then carol rejects it with a reason.
    let id2 =
        request_id(
            &h.tv
                .create_request("4711", "buyer@example.com", "hex", &key, "bob", &[]),
        );
    h.key(KeyCode::Char('r')).settle();
    h.key(KeyCode::Home);
    let cli =
        h.tv.cmd()
            .args(["request", "reject", &id2, "--reason", "not ours"])
            .args(h.tv.officer("bob"))
            .output()
            .unwrap();
    let cli = cli_refusal(&cli);
    h.key(KeyCode::Char('x'))
        .chars("not ours")
        .key(KeyCode::Enter);
    insta::assert_snapshot!("reject_confirm", h.screen());
    h.sign("bob", &pass("bob"));
    let (tui, error) = h.result();
    assert!(error);
    same_words(&mut h, &tui, &cli);
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('x'))
        .chars("not ours")
        .key(KeyCode::Enter);
    h.sign("carol", &pass("carol"));
    let (text, error) = h.result();
    assert!(!error, "{text}");
    assert_eq!(text, format!("request {id2} rejected by carol"));
    let r = h.vault().request(&id2).unwrap().unwrap();
    assert_eq!(r.state.kind(), RequestStateKind::Rejected);
    assert_eq!(r.state.reject_reason(), Some("not ours"));
    h.key(KeyCode::Enter);

    // Approving a decided request: the library's words, before any card.
    h.key(KeyCode::Char('a'));
    let n = h.app.state.notice.clone().unwrap();
    assert!(n.error);
    assert_eq!(
        n.text,
        seedvault::vault::VaultError::RequestNotPending {
            id: id2.clone(),
            state: RequestStateKind::Rejected
        }
        .to_string()
    );
    h.assert_no_secret(Some(&truth));
}

#[test]
fn card_check_from_the_console() {
    let tv = vault();
    let mut h = Harness::new(tv);
    let cli =
        h.tv.cmd()
            .args(["card", "check"])
            .arg(h.tv.card("bob"))
            .arg("--passphrase-file")
            .arg(h.tv.pass("bob"))
            .output()
            .unwrap();
    assert!(cli.status.success(), "{}", text(&cli));
    let first = String::from_utf8_lossy(&cli.stdout)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    // `c` works on every main screen (on the Overview too, see below);
    // the snapshot is taken over the Orders tab, which lists no media.
    h.key(KeyCode::Char('3')).settle();
    h.key(KeyCode::Char('c')).settle();
    insta::assert_snapshot!("card_check_cards", h.screen());
    h.pick_card("bob")
        .chars(&pass("bob"))
        .key(KeyCode::Enter)
        .settle();
    let (text, error) = h.result();
    assert!(!error, "{text}");
    assert!(text.starts_with(&first), "{text} vs {first}");

    // A wrong passphrase: the CLI's words, logged the same way.
    let wrong = h.tv.tmp.path().join("wrong.pass");
    std::fs::write(&wrong, "wrong-passphrase\n").unwrap();
    let out =
        h.tv.cmd()
            .args(["card", "check"])
            .arg(h.tv.card("bob"))
            .arg("--passphrase-file")
            .arg(&wrong)
            .output()
            .unwrap();
    let cli = cli_refusal(&out);
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('c')).settle();
    h.pick_card("bob")
        .chars("wrong-passphrase")
        .key(KeyCode::Enter)
        .settle();
    let (tui, error) = h.result();
    assert!(error);
    same_words(&mut h, &tui, &cli);
    assert_eq!(h.tv.events("vault.unseal_failed"), 2);
    h.key(KeyCode::Enter);

    // A card in a directory typed in the dialog (Tab, the path, Enter).
    let other = h.tv.tmp.path().join("carols-medium");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(h.tv.card("carol"), other.join("carol.card")).unwrap();
    h.key(KeyCode::Char('c')).settle();
    h.key(KeyCode::Tab)
        .chars(&other.display().to_string())
        .key(KeyCode::Enter)
        .settle();
    let cards = &h.app.state.acts.officer.as_ref().unwrap().cards;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].path, other.join("carol.card"));
    h.key(KeyCode::Enter)
        .chars(&pass("carol"))
        .key(KeyCode::Enter)
        .settle();
    let (text, error) = h.result();
    assert!(!error, "{text}");
    assert!(
        text.starts_with("card OK: custodian carol, share 3"),
        "{text}"
    );
    h.assert_no_secret(None);
}

#[test]
fn officer_dialog_wipes_on_esc_and_idle() {
    let tv = vault();
    let mut h = Harness::new(tv);
    h.key(KeyCode::Char('c')).settle();
    h.pick_card("alice").chars("half-typed");
    assert_eq!(h.app.state.acts.officer.as_ref().unwrap().masked_len(), 10);
    assert!(!format!("{:?}", h.app.state).contains("half-typed"));
    // Esc goes back one step (the field is dropped), Esc again closes.
    h.key(KeyCode::Esc);
    assert_eq!(h.app.state.acts.officer.as_ref().unwrap().masked_len(), 0);
    assert!(!h.app.state.quit);
    h.key(KeyCode::Esc);
    assert!(h.app.state.acts.officer.is_none());
    assert!(!h.app.state.quit, "Esc never quits");
    // The idle timeout closes a half-typed passphrase.
    h.key(KeyCode::Char('c')).settle();
    h.pick_card("alice").chars("half-typed");
    h.now += Duration::from_secs(301);
    h.app.tick(h.now);
    assert!(h.app.state.acts.officer.is_none());
    assert!(!h.seen.contains("half-typed"));
}

#[test]
fn an_unsealed_session_still_asks_the_acting_officers_card() {
    let tv = vault();
    let truth = tv.ingest("azure-csv", 2, 85_000_000, 9);
    let mut h = Harness::new(tv);
    // Unseal with alice and bob (Space selects, Enter goes on, one
    // passphrase per card).
    h.key(KeyCode::Char('u')).settle();
    h.key(KeyCode::Char(' '))
        .key(KeyCode::Down)
        .key(KeyCode::Char(' '))
        .key(KeyCode::Enter)
        .settle();
    h.chars(&pass("alice")).key(KeyCode::Enter);
    h.chars(&pass("bob")).key(KeyCode::Enter).settle();
    assert!(
        matches!(
            h.app.state.session,
            seedvault::tui::app::Session::Unsealed { .. }
        ),
        "{:?}",
        h.app.state.session
    );
    // Carol voids a serial: her card is asked for, and the log names her.
    h.key(KeyCode::Char('2')).settle();
    h.key(KeyCode::Char('/'))
        .chars("85000000")
        .key(KeyCode::Enter)
        .settle();
    h.key(KeyCode::Char('x'))
        .chars("reprogrammed")
        .key(KeyCode::Enter);
    h.key(KeyCode::Enter).settle();
    assert!(h.raw().contains("Whose card?"));
    h.pick_card("carol").chars(&pass("carol"));
    assert!(h.raw().contains("Acting: carol"));
    h.key(KeyCode::Enter).settle();
    let (text, error) = h.result();
    assert!(!error, "{text}");
    let actors = h.tv.sqlite(
        "SELECT json_extract(CAST(body AS TEXT), '$.actors') FROM audit \
         WHERE json_extract(CAST(body AS TEXT), '$.event') = 'serial.voided'",
    );
    assert_eq!(actors.trim(), r#"["carol"]"#);
    assert!(matches!(
        h.app.state.session,
        seedvault::tui::app::Session::Unsealed { .. }
    ));
    h.assert_no_secret(Some(&truth));
}

#[test]
fn the_approver_sees_a_key_that_does_not_name_the_requester() {
    let (mut h, _, _, _) = with_order();
    let (other, fpr) =
        h.tv.customer_key("Someone Else <else@example.org>", "else.asc");
    h.masks.push(grouped(&fpr));
    let id = request_id(&h.tv.create_request(
        "4711",
        "buyer@example.com",
        "azure-csv",
        &other,
        "alice",
        &[],
    ));
    h.key(KeyCode::Char('4')).key(KeyCode::Char('r')).settle();
    h.key(KeyCode::Char('a')).settle();
    let warning = &h.vault().request_warnings(&id)[0];
    assert!(
        warning.contains("does not name the requester's e-mail"),
        "{warning}"
    );
    match &h.app.state.acts.modal {
        Some(Modal::Confirm(c)) => assert!(c.lines.contains(&format!("WARNING: {warning}"))),
        other => panic!("no confirmation: {other:?}"),
    }
    let s = h.wide();
    assert!(
        s.contains(&format!("WARNING: the recipient key {fpr} does not name")),
        "{s}"
    );
    insta::assert_snapshot!("approve_warning", h.screen());
    // Esc cancels: nothing was signed.
    h.key(KeyCode::Esc);
    assert!(h.app.state.acts.modal.is_none());
    assert_eq!(
        h.vault().request(&id).unwrap().unwrap().state.kind(),
        RequestStateKind::Pending
    );
}

#[test]
fn a_upn_file_for_another_format_is_refused_as_the_cli_refuses_it() {
    let (mut h, key, _, _) = with_order();
    let upn = h.media.join("upns.csv");
    std::fs::write(&upn, "83000000,alice@contoso.com\n").unwrap();
    let cli = h.tv.create_request(
        "4711",
        "buyer@example.com",
        "hex",
        &key,
        "alice",
        &["--upn-file", &upn.display().to_string()],
    );
    let cli = cli_refusal(&cli);
    h.key(KeyCode::Char('4')).settle();
    h.key(KeyCode::Char('n')).settle();
    // Requester, key file (Tab passes the media list), format, serials
    // file (left empty; Tab passes the list), UPN file.
    h.key(KeyCode::Tab)
        .chars("buyer@example.com")
        .key(KeyCode::Tab)
        .chars(&key.display().to_string())
        .key(KeyCode::Tab)
        .key(KeyCode::Tab);
    h.ctrl('u').chars("hex");
    h.key(KeyCode::Tab)
        .key(KeyCode::Tab)
        .key(KeyCode::Tab)
        .chars(&upn.display().to_string())
        .key(KeyCode::Enter)
        .settle();
    let tui = h.refusal().expect("refused");
    same_words(&mut h, &tui, &cli);
}
