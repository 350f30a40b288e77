//! The console's frame on ratatui's `TestBackend` at 80x24: the keys
//! contract (Esc never quits, q asks while unsealed, paging), the Overview
//! and Audit screens, the unseal dialog's steps, and what the log records
//! when a session ends. A real fast-KDF vault in a temporary directory;
//! volatile values are masked before snapshotting.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;
use seedvault::audit::{self, events, Event};
use seedvault::media::Medium;
use seedvault::tui::app::Session;
use seedvault::tui::worker::{Sources, AUDIT_WINDOW};
use seedvault::tui::{App, Options};
use seedvault::vault::Vault;

use crate::common::TestVault;

const WAIT: Duration = Duration::from_secs(60);

fn pass(name: &str) -> String {
    format!("{name}-passphrase-123")
}

fn no_media() -> Vec<Medium> {
    Vec::new()
}

struct Shell {
    tv: TestVault,
    app: App,
    term: Terminal<TestBackend>,
    t0: Instant,
    now: Instant,
}

impl Shell {
    fn new() -> Shell {
        Shell::on(TestVault::new(2, &["alice", "bob", "carol"]))
    }

    fn on(tv: TestVault) -> Shell {
        let dirs = vec![tv.cards.clone()];
        Shell::with_dirs(tv, dirs)
    }

    fn with_dirs(tv: TestVault, card_dirs: Vec<PathBuf>) -> Shell {
        let t0 = Instant::now();
        let opts = Options {
            idle_timeout: Duration::from_secs(300),
            sources: Sources {
                media: no_media,
                card_dirs,
                audit_window: AUDIT_WINDOW,
                media_dirs: Vec::new(),
            },
        };
        let mut app = App::new(Vault::open(&tv.vault).unwrap(), opts, t0);
        app.resize(80, 24);
        assert!(app.settle(WAIT));
        Shell {
            tv,
            app,
            term: Terminal::new(TestBackend::new(80, 24)).unwrap(),
            t0,
            now: t0,
        }
    }

    fn key(&mut self, code: KeyCode) -> &mut Self {
        self.app
            .key(KeyEvent::new(code, KeyModifiers::NONE), self.now);
        self
    }

    fn ctrl(&mut self, c: char) -> &mut Self {
        self.app.key(
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            self.now,
        );
        self
    }

    fn keys(&mut self, codes: &[KeyCode]) -> &mut Self {
        for c in codes {
            self.key(*c);
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
        self
    }

    fn at(&mut self, secs: u64) -> &mut Self {
        self.now = self.t0 + Duration::from_secs(secs);
        self.app.tick(self.now);
        self
    }

    fn raw(&mut self) -> String {
        self.app.draw(&mut self.term).unwrap();
        let buf = self.term.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn screen(&mut self) -> String {
        let tmp = self.tv.tmp.path().to_string_lossy().into_owned();
        let raw = self.raw().replace(&tmp, "<TMP>");
        mask(&raw)
    }

    /// Opens the dialog, selects the cards of `who` (list positions),
    /// types each passphrase and waits for the verdicts.
    fn unseal(&mut self, who: &[usize], passes: &[&str]) -> &mut Self {
        self.key(KeyCode::Char('u')).settle();
        let mut at = 0;
        for &i in who {
            while at < i {
                self.key(KeyCode::Down);
                at += 1;
            }
            self.key(KeyCode::Char(' '));
        }
        self.key(KeyCode::Enter).settle();
        for p in passes {
            self.chars(p).key(KeyCode::Enter).settle();
        }
        self
    }

    fn session(&self) -> &Session {
        &self.app.state.session
    }

    /// The bodies of the entries of `event`, as JSON.
    fn entries(&self, event: &str) -> Vec<serde_json::Value> {
        let db = rusqlite::Connection::open(self.tv.db()).unwrap();
        let mut stmt = db.prepare("SELECT body FROM audit ORDER BY seq").unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|b| serde_json::from_slice::<serde_json::Value>(&b.unwrap()).unwrap())
            .filter(|v| v["event"] == event)
            .collect();
        rows
    }
}

/// Masks what changes from run to run: times, runs of 16+ hex digits,
/// the temporary directory's name.
fn mask(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let mut l = String::new();
        let mut run = String::new();
        for c in line.chars().chain(std::iter::once('\n')) {
            if c.is_ascii_hexdigit() {
                run.push(c);
                continue;
            }
            if run.len() >= 16 {
                l.push_str(&"x".repeat(run.len()));
            } else {
                l.push_str(&run);
            }
            run.clear();
            l.push(c);
        }
        out.push_str(&mask_times(&l));
    }
    out
}

fn mask_times(l: &str) -> String {
    let chars: Vec<char> = l.chars().collect();
    let shape: Vec<char> = "dddd-dd-ddTdd:dd:ddZ".chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let fits = i + shape.len() <= chars.len()
            && shape.iter().zip(&chars[i..]).all(|(p, c)| {
                if *p == 'd' {
                    c.is_ascii_digit()
                } else {
                    p == c
                }
            });
        if fits {
            out.push_str("YYYY-MM-DDTHH:MM:SSZ");
            i += shape.len();
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Appends `n` token-check entries to the log (as a long-lived vault has).
fn grow_log(tv: &TestVault, n: u64) {
    let mut db = rusqlite::Connection::open(tv.db()).unwrap();
    let tx = db.transaction().unwrap();
    for i in 0..n {
        let serial = format!("T{}", i % 7);
        audit::append(
            &tx,
            &tv.vault_id,
            &Event {
                kind: events::TOKEN_VERIFIED,
                actors: vec![["alice", "bob"][(i % 2) as usize].into()],
                data: serde_json::json!({"serial": serial, "at": 1_800_000_000u64 + i, "matched": true, "drift": 0}),
            },
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn selected_seq(sh: &Shell) -> u64 {
    match &sh.app.state.audit.page {
        Some(Ok(p)) => p.entries[sh.app.state.audit.selected].seq,
        _ => panic!("no page"),
    }
}

// ---- frame and keys -------------------------------------------------------

#[test]
fn esc_never_quits_on_any_screen_nor_after_help() {
    let mut sh = Shell::new();
    sh.unseal(&[0, 1], &[&pass("alice"), &pass("bob")]);
    assert!(matches!(sh.session(), Session::Unsealed { .. }));
    for tab in ['1', '2', '3', '4', '5'] {
        sh.key(KeyCode::Char(tab));
        sh.keys(&[
            KeyCode::Esc,
            KeyCode::Esc,
            KeyCode::Char('?'),
            KeyCode::Esc,
            KeyCode::Esc,
        ]);
        sh.keys(&[KeyCode::Enter, KeyCode::Esc, KeyCode::Esc])
            .settle();
        assert!(!sh.app.state.quit, "Esc quit on tab {tab}");
    }
    assert!(matches!(sh.session(), Session::Unsealed { .. }));
}

#[test]
fn q_asks_while_unsealed_naming_whose_key_is_wiped() {
    let mut sh = Shell::new();
    sh.unseal(&[0, 1], &[&pass("alice"), &pass("bob")]);
    sh.key(KeyCode::Char('q'));
    let s = sh.screen();
    assert!(
        s.contains("seal the vault (key of alice, bob wiped) and quit?"),
        "{s}"
    );
    insta::assert_snapshot!("quit_confirm", s);
    // Esc and n are "no".
    sh.key(KeyCode::Esc);
    assert!(!sh.app.state.quit);
    sh.key(KeyCode::Char('q')).key(KeyCode::Char('n'));
    assert!(!sh.app.state.quit);
    assert!(matches!(sh.session(), Session::Unsealed { .. }));
    // Enter is "yes": sealed, logged, quit.
    sh.key(KeyCode::Char('q')).key(KeyCode::Enter).settle();
    assert!(sh.app.state.quit);
    assert_eq!(sh.session(), &Session::Sealed);
    let sealed = sh.entries("vault.sealed");
    assert_eq!(sealed.len(), 1);
    assert_eq!(sealed[0]["data"]["reason"], "quit");
    assert_eq!(sealed[0]["actors"], serde_json::json!(["alice", "bob"]));
}

#[test]
fn q_quits_at_once_while_sealed() {
    let mut sh = Shell::new();
    sh.key(KeyCode::Char('q'));
    assert!(sh.app.state.quit);
    assert!(sh.app.state.confirm.is_none());
}

#[test]
fn tabs_are_reachable_by_the_digits_shown_and_tab_cycles() {
    let mut sh = Shell::new();
    let s = sh.screen();
    assert!(
        s.contains("1 Overview  |  2 Batches  |  3 Orders  |  4 Requests  |  5 Audit log"),
        "{s}"
    );
    let titles = [
        "Overview",
        "Batches ·",
        "Orders",
        "Seed requests",
        "Audit log",
    ];
    for (i, t) in titles.iter().enumerate() {
        sh.key(KeyCode::Char(char::from(b'1' + i as u8))).settle();
        assert!(sh.screen().contains(t), "{t}");
    }
    sh.key(KeyCode::Tab);
    assert!(sh.screen().contains("┌ Overview"));
    sh.key(KeyCode::BackTab);
    assert!(sh.screen().contains("┌ Audit log"));
}

#[test]
fn help_is_for_the_current_screen_fits_80x24_and_scrolls() {
    let mut sh = Shell::new();
    sh.key(KeyCode::Char('5')).key(KeyCode::Char('?'));
    let s = sh.screen();
    assert!(s.contains("Audit log"), "{s}");
    assert!(
        s.contains("filter: event, serial, order, request, officer"),
        "{s}"
    );
    assert!(
        !s.contains("Unseal: card list"),
        "other screens' keys:\n{s}"
    );
    insta::assert_snapshot!("help_audit", s);
    // Aligned: every key's text starts in the same column.
    let col: Vec<usize> = ["previous entry", "a page down", "verify the hash chain"]
        .iter()
        .map(|t| s.lines().find_map(|l| l.find(t)).unwrap())
        .collect();
    assert!(col.iter().all(|c| *c == col[0]), "{col:?}\n{s}");
    // It does not fit 24 lines: End scrolls to its last line.
    sh.key(KeyCode::End);
    let end = sh.screen();
    assert!(end.contains("seals itself after 5:00"), "{end}");
    assert!(!end.contains("previous entry"), "{end}");
    sh.key(KeyCode::Home);
    assert!(sh.screen().contains("seal and quit at once"));
    sh.key(KeyCode::Esc);
    assert!(sh.app.state.help.is_none());
    assert!(!sh.app.state.quit);
}

#[test]
fn no_color_draws_without_colour_and_keeps_every_word() {
    let mut sh = Shell::new();
    sh.app.state.no_color = true;
    let s = sh.screen();
    assert!(s.contains("TEST VAULT") && s.contains("SEALED"), "{s}");
    let buf = sh.term.backend().buffer();
    assert!(buf
        .content
        .iter()
        .all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
}

#[test]
fn the_profiles_keep_panic_unwind_so_a_panic_wipes_the_session() {
    let toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    assert!(
        !toml.replace(' ', "").contains("panic=\"abort\""),
        "panic = \"abort\" would skip the worker's wipe on a panic"
    );
}

// ---- sealing is logged ------------------------------------------------------

#[test]
fn sealing_is_logged_with_its_reason_and_the_log_still_verifies_and_replays() {
    let mut sh = Shell::new();
    sh.unseal(&[0, 1], &[&pass("alice"), &pass("bob")]);
    sh.key(KeyCode::Char('s')).settle();
    assert_eq!(sh.session(), &Session::Sealed);
    sh.unseal(&[1, 2], &[&pass("bob"), &pass("carol")]);
    sh.at(301).settle();
    assert_eq!(sh.session(), &Session::Sealed);
    let sealed = sh.entries("vault.sealed");
    let reasons: Vec<&str> = sealed
        .iter()
        .map(|e| e["data"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["s", "idle"]);
    assert!(sealed.iter().all(|e| e["data"]["open_s"].is_u64()));
    assert_eq!(sealed[1]["actors"], serde_json::json!(["bob", "carol"]));
    sh.tv.cmd().args(["audit", "verify"]).assert().code(0);
    sh.tv.cmd().args(["audit", "replay"]).assert().code(0);
}

#[test]
fn a_panic_on_the_ui_thread_ends_the_session_logged_as_panic() {
    let sh = {
        let mut sh = Shell::new();
        sh.unseal(&[0, 2], &[&pass("alice"), &pass("carol")]);
        assert!(matches!(sh.session(), Session::Unsealed { .. }));
        sh
    };
    let Shell { tv, app, .. } = sh;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _alive = app;
        panic!("a bug in the console");
    }));
    assert!(r.is_err());
    let db = rusqlite::Connection::open(tv.db()).unwrap();
    let last: Vec<u8> = db
        .query_row(
            "SELECT body FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = 'vault.sealed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&last).unwrap();
    assert_eq!(v["data"]["reason"], "panic");
    tv.cmd().args(["audit", "replay"]).assert().code(0);
}

#[test]
fn replay_reports_a_seal_entry_with_an_unknown_reason() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    {
        let db = rusqlite::Connection::open(tv.db()).unwrap();
        audit::append(
            &db,
            &tv.vault_id,
            &Event {
                kind: events::SEALED,
                actors: vec!["alice".into()],
                data: serde_json::json!({"purpose": "tui session", "reason": "bored", "open_s": 3}),
            },
        )
        .unwrap();
    }
    let out = tv.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("a seal with an unknown reason")
            || String::from_utf8_lossy(&out.stderr).contains("a seal with an unknown reason")
    );
}

// ---- unseal dialog ------------------------------------------------------------

#[test]
fn enter_with_no_card_selected_says_so_and_logs_nothing() {
    let mut sh = Shell::new();
    let before = sh.tv.audit_len();
    sh.key(KeyCode::Char('u')).settle();
    sh.keys(&[KeyCode::Enter, KeyCode::Enter, KeyCode::Enter])
        .settle();
    let s = sh.screen();
    assert!(s.contains("select a card with Space"), "{s}");
    assert_eq!(sh.tv.audit_len(), before);
    insta::assert_snapshot!("unseal_no_card", s);
}

#[test]
fn cards_are_numbered_from_1_as_card_check_does() {
    let mut sh = Shell::new();
    sh.key(KeyCode::Char('u')).settle();
    let s = sh.screen();
    assert!(s.contains("alice        share 1"), "{s}");
    assert!(s.contains("carol        share 3"), "{s}");
    assert!(!s.contains("share 0"), "{s}");
    insta::assert_snapshot!("unseal_cards", s);
}

#[test]
fn keys_typed_right_after_u_are_not_dropped() {
    let mut sh = Shell::new();
    // No settle between u and the keys: the scan is still running.
    sh.keys(&[
        KeyCode::Char('u'),
        KeyCode::Char(' '),
        KeyCode::Down,
        KeyCode::Char(' '),
        KeyCode::Enter,
    ])
    .settle();
    let s = sh.screen();
    assert!(s.contains("▶ now      alice"), "{s}");
    assert!(s.contains("waiting  bob"), "{s}");
}

#[test]
fn a_wrong_passphrase_is_asked_again_for_that_card_only() {
    let mut sh = Shell::new();
    let before = sh.entries("vault.unseal_failed").len();
    sh.unseal(&[0, 1], &[&pass("alice")]);
    let s = sh.screen();
    assert!(s.contains("✓ verified alice"), "{s}");
    insta::assert_snapshot!("unseal_first_verified", s);
    sh.chars("bob-wrong-words").key(KeyCode::Enter).settle();
    let s = sh.screen();
    assert!(s.contains("wrong passphrase"), "{s}");
    assert!(s.contains("(custodian bob)"), "{s}");
    assert!(
        s.contains("✓ verified alice"),
        "alice keeps her verdict:\n{s}"
    );
    assert!(s.contains("▶ now      bob"), "{s}");
    assert!(!s.contains("bob-wrong-words"), "{s}");
    insta::assert_snapshot!("unseal_wrong_reasked", s);
    assert_eq!(sh.entries("vault.unseal_failed").len(), before + 1);
    // Only bob retypes.
    sh.chars(&pass("bob")).key(KeyCode::Enter).settle();
    assert!(matches!(sh.session(), Session::Unsealed { .. }));
}

#[test]
fn cards_from_two_directories_combine_and_a_new_directory_keeps_the_selection() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    let a = tv.tmp.path().join("usb-a");
    let b = tv.tmp.path().join("usb-b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(tv.card("alice"), a.join("alice.card")).unwrap();
    std::fs::copy(tv.card("carol"), b.join("carol.card")).unwrap();
    let mut sh = Shell::with_dirs(tv, vec![a]);
    sh.key(KeyCode::Char('u')).settle().key(KeyCode::Char(' '));
    sh.key(KeyCode::Tab)
        .chars(&b.to_string_lossy())
        .key(KeyCode::Enter)
        .settle();
    let s = sh.screen();
    assert!(s.contains("[x] alice"), "{s}");
    assert!(s.contains("[ ] carol"), "{s}");
    sh.keys(&[KeyCode::Down, KeyCode::Char(' '), KeyCode::Enter])
        .settle();
    sh.chars(&pass("alice")).key(KeyCode::Enter).settle();
    sh.chars(&pass("carol")).key(KeyCode::Enter).settle();
    assert!(
        matches!(sh.session(), Session::Unsealed { officers, .. } if officers == &["alice", "carol"]),
        "{:?}",
        sh.session()
    );
}

// ---- overview ---------------------------------------------------------------------

#[test]
fn overview_at_80x24() {
    let mut sh = Shell::new();
    let s = sh.screen();
    assert!(s.contains("TEST VAULT"), "{s}");
    assert!(s.contains("2 of 3; custodians alice, bob, carol"), "{s}");
    assert!(
        s.contains("0; requests: 0 pending, 0 approved, 0 rejected, 0 exported"),
        "{s}"
    );
    assert!(s.contains("none yet"), "{s}");
    // The head is cut to the line, never wrapped under the labels.
    let head = s.lines().find(|l| l.contains("Audit log    ")).unwrap();
    assert!(head.ends_with("…│"), "{s}");
    insta::assert_snapshot!("overview", s);
}

#[test]
fn overview_shows_the_session_countdown_and_the_last_checkpoint() {
    let mut sh = Shell::new();
    sh.unseal(&[0, 1], &[&pass("alice"), &pass("bob")]);
    sh.key(KeyCode::Char('s')).settle();
    sh.unseal(&[0, 1], &[&pass("alice"), &pass("bob")]);
    sh.at(60);
    let s = sh.screen();
    assert!(
        s.contains("UNSEALED  by alice, bob · seals in 4:00 idle"),
        "{s}"
    );
    assert!(s.contains("Checkpoint   at entry"), "{s}");
    insta::assert_snapshot!("overview_unsealed", s);
}

#[test]
fn a_broken_chain_found_by_verify_is_loud_on_the_overview() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    grow_log(&tv, 3);
    tv.sqlite("UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), '\"drift\":0', '\"drift\":9') AS BLOB) WHERE seq = 3");
    let mut sh = Shell::on(tv);
    sh.keys(&[KeyCode::Char('5'), KeyCode::Char('v')]).settle();
    sh.key(KeyCode::Char('1'));
    let s = sh.screen();
    assert!(s.contains("Chain         BROKEN "), "{s}");
    assert!(s.contains("entry 3"), "{s}");
    insta::assert_snapshot!("overview_broken_chain", s);
}

#[test]
fn the_screens_refresh_by_themselves_and_the_status_line_settles() {
    let mut sh = Shell::new();
    assert!(sh.screen().contains("1 entries"));
    grow_log(&sh.tv, 2);
    sh.at(6).settle();
    assert!(sh.screen().contains("3 entries"), "{}", sh.screen());
    sh.key(KeyCode::Char('r'));
    assert!(sh.screen().contains("re-reading the vault"));
    sh.settle();
    let s = sh.screen();
    assert!(!s.contains("re-reading"), "{s}");
}

// ---- audit screen -----------------------------------------------------------------

#[test]
fn the_whole_log_is_reachable_and_paging_moves_by_a_visible_page() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    grow_log(&tv, 20_000);
    let mut sh = Shell::on(tv);
    sh.key(KeyCode::Char('5')).settle();
    assert_eq!(selected_seq(&sh), 20_001, "opens on the newest entry");
    let rows = sh.app.state.audit_rows() as u64;
    assert_eq!(rows, 18, "80x24 shows 18 entries");
    sh.key(KeyCode::Char('g')).settle();
    assert_eq!(selected_seq(&sh), 1);
    assert!(sh.screen().contains("vault.init"));
    sh.key(KeyCode::PageDown).settle();
    assert_eq!(selected_seq(&sh), 1 + rows);
    sh.key(KeyCode::PageDown).settle();
    assert_eq!(selected_seq(&sh), 1 + 2 * rows);
    sh.key(KeyCode::PageUp).settle();
    assert_eq!(selected_seq(&sh), 1 + rows);
    sh.keys(&[KeyCode::Down; 30]).settle();
    assert_eq!(selected_seq(&sh), 31 + rows);
    sh.keys(&[KeyCode::Up; 40]).settle();
    assert_eq!(selected_seq(&sh), rows - 9);
    sh.key(KeyCode::End).settle();
    assert_eq!(selected_seq(&sh), 20_001);
    // Never past the end.
    sh.keys(&[KeyCode::PageDown, KeyCode::Down, KeyCode::Char('G')])
        .settle();
    assert_eq!(selected_seq(&sh), 20_001);
    let s = sh.screen();
    assert!(s.contains("19984–20001 of 20001"), "{s}");
    sh.key(KeyCode::Home).settle().key(KeyCode::PageUp).settle();
    assert_eq!(selected_seq(&sh), 1);
    insta::assert_snapshot!("audit_list", sh.screen());
}

#[test]
fn the_entry_view_scrolls_by_page_and_stops_at_its_end() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    grow_log(&tv, 1);
    let mut sh = Shell::on(tv);
    sh.keys(&[KeyCode::Char('5'), KeyCode::End]).settle();
    sh.key(KeyCode::Enter);
    let s = sh.screen();
    assert!(s.contains("Entry 2 · token.verified"), "{s}");
    insta::assert_snapshot!("audit_entry", s);
    // The genesis entry (certificates in base64) is longer than a screen.
    sh.keys(&[KeyCode::Esc, KeyCode::Home, KeyCode::Enter])
        .settle();
    assert!(sh.screen().contains("Entry 1 · vault.init"));
    let total = seedvault::tui::ui::entry_lines(&sh.app.state).len();
    let rows = seedvault::tui::ui::entry_rows(&sh.app.state);
    assert!(total > 2 * rows, "the genesis entry is long: {total}");
    sh.key(KeyCode::PageDown);
    assert_eq!(sh.app.state.audit.open, Some(rows));
    sh.key(KeyCode::End);
    assert_eq!(sh.app.state.audit.open, Some(total - rows));
    sh.keys(&[KeyCode::PageDown, KeyCode::Down, KeyCode::Char('G')]);
    assert_eq!(
        sh.app.state.audit.open,
        Some(total - rows),
        "never past the end"
    );
    let s = sh.screen();
    assert!(s.contains(&format!("of {total}")), "{s}");
    sh.key(KeyCode::Char('g'));
    assert_eq!(sh.app.state.audit.open, Some(0));
    sh.key(KeyCode::Esc);
    assert!(sh.app.state.audit.open.is_none());
    assert!(!sh.app.state.quit);
}

#[test]
fn filters_by_event_serial_order_request_and_officer() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    grow_log(&tv, 50);
    let mut sh = Shell::on(tv);
    sh.key(KeyCode::Char('5')).settle();
    sh.key(KeyCode::Char('/'))
        .chars("serial:T3")
        .key(KeyCode::Enter)
        .settle();
    let s = sh.screen();
    assert!(s.contains("serial:T3"), "{s}");
    insta::assert_snapshot!("audit_filter", s);
    let page = match &sh.app.state.audit.page {
        Some(Ok(p)) => p.clone(),
        _ => panic!(),
    };
    // Entries 2..=51 are token checks of T(i % 7): T3 is i = 3, 10, ...
    let want: Vec<u64> = (0..50u64).filter(|i| i % 7 == 3).map(|i| i + 2).collect();
    assert_eq!(page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), want);
    // Officer, event; Esc clears.
    sh.key(KeyCode::Char('/'))
        .ctrl('u')
        .chars("officer:bob")
        .key(KeyCode::Enter)
        .settle();
    assert!(sh
        .screen()
        .lines()
        .filter(|l| l.contains("token.verified"))
        .all(|l| l.contains("bob")));
    sh.key(KeyCode::Esc).settle();
    assert!(sh.app.state.audit.filter.is_none());
    sh.key(KeyCode::Char('/'))
        .chars("colour:red")
        .key(KeyCode::Enter);
    assert!(
        sh.screen().contains("unknown filter kind"),
        "{}",
        sh.screen()
    );
    sh.key(KeyCode::Esc);
    assert!(!sh.app.state.quit);
}

#[test]
fn an_edited_index_never_shows_an_entry_that_does_not_match() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    grow_log(&tv, 10);
    // Someone points the index at the genesis entry for serial T1, and
    // deletes the row of entry 3 (a real T1 check).
    tv.sqlite("INSERT INTO audit_index (key, value, seq) VALUES ('serial', 'T1', 1); DELETE FROM audit_index WHERE key = 'serial' AND value = 'T1' AND seq = 3");
    let mut sh = Shell::on(tv);
    sh.key(KeyCode::Char('5')).settle();
    sh.key(KeyCode::Char('/'))
        .chars("serial:T1")
        .key(KeyCode::Enter)
        .settle();
    let seqs: Vec<u64> = match &sh.app.state.audit.page {
        Some(Ok(p)) => p.entries.iter().map(|e| e.seq).collect(),
        _ => panic!(),
    };
    assert_eq!(
        seqs,
        vec![10],
        "genesis over-selected and dropped; 3 hidden"
    );
    // The unfiltered log still shows entry 3.
    sh.key(KeyCode::Esc).settle().key(KeyCode::Home).settle();
    assert!(sh.screen().contains("      3 "));
}

#[test]
fn checkpoint_and_log_export_go_to_a_chosen_directory() {
    let mut sh = Shell::new();
    let medium = sh.tv.tmp.path().join("medium");
    std::fs::create_dir_all(&medium).unwrap();
    sh.key(KeyCode::Char('5')).key(KeyCode::Char('c'));
    assert!(sh.screen().contains("press u to unseal"), "{}", sh.screen());
    sh.unseal(&[0, 1], &[&pass("alice"), &pass("bob")]);
    sh.key(KeyCode::Char('c'))
        .chars(&medium.to_string_lossy())
        .key(KeyCode::Enter)
        .settle();
    let names = crate::common::file_names(&medium);
    let cp = names
        .iter()
        .find(|n| n.starts_with("checkpoint-"))
        .expect("checkpoint written");
    sh.tv
        .cmd()
        .args(["audit", "verify", "--checkpoint"])
        .arg(medium.join(cp))
        .assert()
        .code(0);
    sh.key(KeyCode::Char('x'))
        .chars(&medium.to_string_lossy())
        .key(KeyCode::Enter)
        .settle();
    let s = sh.screen();
    assert!(s.contains("exported"), "{s}");
    let names = crate::common::file_names(&medium);
    let log = names
        .iter()
        .find(|n| n.starts_with("audit-"))
        .expect("log exported");
    let lines = std::fs::read_to_string(medium.join(log))
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(lines, sh.tv.audit_len() + 1, "a header and every entry");
    // A missing directory is refused where it was asked, with advice.
    sh.key(KeyCode::Char('x'))
        .chars("/nonexistent/usb")
        .key(KeyCode::Enter)
        .settle();
    let s = sh.screen();
    assert!(s.contains("does not exist (is the medium mounted?)"), "{s}");
    assert!(s.contains("mount the medium"), "{s}");
}

#[test]
fn verify_reports_progress_through_its_callback() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    grow_log(&tv, 40_000);
    let v = Vault::open(&tv.vault).unwrap();
    let mut seen = Vec::new();
    let r = v
        .verify_audit_progress(&mut |d, t| seen.push((d, t)))
        .unwrap();
    assert!(r.problems.is_empty());
    assert_eq!(seen, vec![(20_000, 40_001), (40_000, 40_001)]);
    let mut seen = Vec::new();
    v.replay_audit_progress(&mut |d, t| seen.push((d, t)))
        .unwrap();
    assert_eq!(seen.len(), 2);
}

#[test]
fn a_resize_reads_a_page_of_the_new_height() {
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    grow_log(&tv, 100);
    let mut sh = Shell::on(tv);
    sh.key(KeyCode::Char('5')).settle();
    let rows = |sh: &Shell| match &sh.app.state.audit.page {
        Some(Ok(p)) => p.entries.len(),
        _ => 0,
    };
    assert_eq!(rows(&sh), 18);
    sh.term = Terminal::new(TestBackend::new(100, 40)).unwrap();
    sh.raw();
    sh.settle();
    assert_eq!(rows(&sh), 34);
    assert_eq!(selected_seq(&sh), 101, "still on the newest entry");
    let s = sh.raw();
    assert!(s.contains("68–101 of 101"), "{s}");
}

#[test]
fn help_lists_the_officers_screens_and_the_quorum_dialogs_when_they_are_open() {
    use seedvault::tui::keys::Context;
    fn text(sh: &Shell) -> String {
        seedvault::tui::ui::help_lines(&sh.app.state)
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
    let mut sh = Shell::new();
    for (tab, ctx, words) in [
        ('2', Context::Batches, "look up a serial"),
        ('3', Context::Orders, "add an order (one officer's card)"),
        ('4', Context::Requests, "approve (a second officer)"),
    ] {
        sh.key(KeyCode::Char(tab)).key(KeyCode::Char('?'));
        let contexts = sh.app.state.help.as_ref().expect("help").contexts.clone();
        assert!(contexts.contains(&ctx), "{contexts:?}");
        let t = text(&sh);
        assert!(t.contains(words), "{t}");
        assert!(t.contains("card check"), "{t}");
        sh.key(KeyCode::Esc);
        assert!(sh.app.state.help.is_none());
    }
    // The Audit screen's c signs a checkpoint (its context comes first).
    sh.key(KeyCode::Char('5')).key(KeyCode::Char('?'));
    let t = text(&sh);
    assert!(t.contains("sign a checkpoint to a medium"), "{t}");
    sh.key(KeyCode::Esc);
    // The ingest wizard and the export dialog opened while sealed.
    for open in ['i', 'e'] {
        sh.key(KeyCode::Char('1')).key(KeyCode::Char(open));
        sh.key(KeyCode::Char('?'));
        let contexts = sh.app.state.help.as_ref().expect("help").contexts.clone();
        assert!(contexts.contains(&Context::ActSealed), "{contexts:?}");
        let t = text(&sh);
        assert!(t.contains("Ingest wizard, export dialog"), "{t}");
        assert!(t.contains("unseal first (when sealed)"), "{t}");
        sh.key(KeyCode::Esc).key(KeyCode::Esc);
        assert!(sh.app.state.ingest.is_none() && sh.app.state.export.is_none());
    }
    // A form takes `?` as text; F1 opens help from anywhere.
    sh.key(KeyCode::Char('3'))
        .settle()
        .key(KeyCode::Char('n'))
        .settle();
    sh.key(KeyCode::F(1));
    let contexts = sh.app.state.help.as_ref().expect("help").contexts.clone();
    assert!(contexts.contains(&Context::Form), "{contexts:?}");
    assert!(text(&sh).contains("Forms (orders, requests, void)"));
    sh.key(KeyCode::F(1));
    assert!(sh.app.state.help.is_none());
    assert!(!sh.app.state.quit);
}

/// A serial's history in the browser includes the `batch.serials` part of
/// its batch that lists it, although those lists are not indexed serial
/// by serial (found through the serial's batch), and only that part: a
/// batch of 25,000 serials has three parts.
#[test]
fn a_serial_filter_finds_the_batch_part_that_lists_the_serial() {
    use seedvault::vault::audit_browse::{Anchor, AuditFilter};
    let tv = TestVault::new(2, &["alice", "bob", "carol"]);
    tv.ingest("hex", 25_000, 70_000_000, 7);
    let vault = seedvault::vault::Vault::open(&tv.vault).unwrap();
    for (serial, part) in [("70000005", 1), ("70012345", 2), ("70024999", 3)] {
        let f = AuditFilter::parse(&format!("serial:{serial}")).unwrap();
        let page = vault.audit_page(Some(&f), Anchor::First, 20).unwrap();
        let parts: Vec<_> = page
            .entries
            .iter()
            .filter(|e| e.event == "batch.serials")
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(&e.json).unwrap();
                v["data"]["part"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(parts, vec![part], "serial {serial}");
    }
}
