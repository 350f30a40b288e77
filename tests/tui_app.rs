//! The whole terminal UI on ratatui's `TestBackend`: scripted keys, an
//! injected clock, a real (fast-KDF) vault in a temporary directory, and
//! insta snapshots of the screen. Volatile values (vault id, hashes,
//! fingerprints, times, the temp path) are masked before snapshotting.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use secrecy::SecretString;
use seedvault::crypto::KdfParams;
use seedvault::media::Medium;
use seedvault::tui::app::Session;
use seedvault::tui::worker::{Sources, AUDIT_WINDOW};
use seedvault::tui::{App, Options};
use seedvault::vault::{self, HeldSecrets, InitParams, Vault};

const NAMES: [&str; 3] = ["alice", "bob", "carol"];
const WAIT: Duration = Duration::from_secs(60);

fn pass(name: &str) -> String {
    format!("{name}-passphrase-123")
}

fn no_media() -> Vec<Medium> {
    Vec::new()
}

struct Fixture {
    tmp: tempfile::TempDir,
    vault: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let vault = tmp.path().join("vault");
    vault::init(
        &vault,
        InitParams {
            threshold: 2,
            custodians: NAMES.iter().map(|n| n.to_string()).collect(),
            passphrases: NAMES.iter().map(|n| SecretString::from(pass(n))).collect(),
            kdf: KdfParams::INSECURE_FAST,
            approval_ttl_s: vault::DEFAULT_APPROVAL_TTL_S,
            cards_out: tmp.path().join("cards"),
        },
    )
    .unwrap();
    Fixture { tmp, vault }
}

struct Harness {
    fx: Fixture,
    app: App,
    term: Terminal<TestBackend>,
    t0: Instant,
    now: Instant,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_fixture(fixture())
    }

    fn with_fixture(fx: Fixture) -> Harness {
        let t0 = Instant::now();
        let opts = Options {
            idle_timeout: Duration::from_secs(300),
            sources: Sources {
                media: no_media,
                card_dirs: vec![fx.tmp.path().join("cards")],
                audit_window: AUDIT_WINDOW,
                media_dirs: Vec::new(),
            },
        };
        let mut app = App::new(Vault::open(&fx.vault).unwrap(), opts, t0);
        app.resize(100, 30);
        assert!(app.settle(WAIT));
        let term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        Harness {
            fx,
            app,
            term,
            t0,
            now: t0,
        }
    }

    fn key(&mut self, code: KeyCode) -> &mut Self {
        self.app
            .key(KeyEvent::new(code, KeyModifiers::NONE), self.now);
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

    /// Moves the clock to t0 + `secs` without a key press.
    fn at(&mut self, secs: u64) -> &mut Self {
        self.now = self.t0 + Duration::from_secs(secs);
        self.app.tick(self.now);
        self
    }

    /// The screen as text, unmasked (for assertions about secrets).
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
        out
    }

    /// The screen with volatile values masked, for snapshots.
    fn screen(&mut self) -> String {
        let tmp = self.fx.tmp.path().to_string_lossy().into_owned();
        let raw: Vec<String> = self
            .raw()
            .lines()
            .map(|l| replace_keep_width(l, &tmp, "<TMP>"))
            .collect();
        mask_hex(&mask_times(&(raw.join("\n") + "\n")))
    }

    /// Unseals with the cards of `who` (indices into NAMES) and the passphrases given.
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
            self.chars(p).key(KeyCode::Enter);
        }
        self.settle()
    }

    fn session(&self) -> &Session {
        &self.app.state.session
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

/// `2026-11-22T14:33:08Z` -> `YYYY-MM-DDTHH:MM:SSZ` (same width).
fn mask_times(s: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    const MASK: &str = "YYYY-MM-DDTHH:MM:SSZ";
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let fits = i + SHAPE.len() <= b.len()
            && SHAPE.iter().zip(&b[i..]).all(|(p, c)| {
                if *p == b'd' {
                    c.is_ascii_digit()
                } else {
                    p == c
                }
            });
        if fits {
            out.push_str(MASK);
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

#[test]
fn overview_of_a_test_vault() {
    let mut h = Harness::new();
    let s = h.screen();
    assert!(s.contains("TEST VAULT: NEVER FOR REAL SEEDS"), "{s}");
    assert!(s.contains("2 of 3; custodians alice, bob, carol"), "{s}");
    assert!(s.contains("SEALED"), "{s}");
    insta::assert_snapshot!("overview", s);
}

#[test]
fn tabs_switch_with_tab_shift_tab_and_digits() {
    let mut h = Harness::new();
    h.key(KeyCode::Tab).settle();
    assert!(h.screen().contains("Batches · 0"), "{}", h.screen());
    h.key(KeyCode::BackTab);
    assert!(h.screen().contains("Quorum"));
    h.key(KeyCode::BackTab);
    assert!(
        h.screen().contains("Audit log · 1–1 of 1"),
        "{}",
        h.screen()
    );
    h.key(KeyCode::Char('5'));
    assert!(h.screen().contains("vault.init"));
    h.key(KeyCode::Char('1'));
    assert!(h.screen().contains("Quorum"));
}

#[test]
fn audit_log_lists_entries_shows_json_and_verifies() {
    let mut h = Harness::new();
    // Two refused attempts give the log something to show.
    h.unseal(&[0], &[]).key(KeyCode::Esc);
    h.unseal(&[0, 1], &[&pass("alice"), "not-bobs-passphrase"])
        .key(KeyCode::Esc);
    h.key(KeyCode::Char('5'));
    let list = h.screen();
    assert!(list.contains("vault.unseal_failed"), "{list}");
    insta::assert_snapshot!("audit_list", list);

    h.keys(&[KeyCode::Home, KeyCode::Down, KeyCode::Enter]);
    let entry = h.screen();
    assert!(entry.contains("Entry 2 · vault.unseal_failed"), "{entry}");
    assert!(
        entry.contains("\"reason\": \"2 of 3 cards needed, 1 given\""),
        "{entry}"
    );
    insta::assert_snapshot!("audit_entry", entry);

    h.key(KeyCode::Esc).key(KeyCode::Char('v')).settle();
    let verified = h.screen();
    assert!(verified.contains("verify: intact, 3 entries"), "{verified}");
    insta::assert_snapshot!("audit_verified", verified);
}

#[test]
fn chain_verification_names_the_altered_entry() {
    let fx = fixture();
    {
        let db = rusqlite::Connection::open(fx.vault.join("vault.db")).unwrap();
        db.execute("UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), 'vault.init', 'vault.xxxx') AS BLOB) WHERE seq = 1", [])
            .unwrap();
    }
    let mut h = Harness::with_fixture(fx);
    h.keys(&[KeyCode::Char('5'), KeyCode::Char('v')]).settle();
    let s = h.screen();
    assert!(s.contains("BROKEN"), "{s}");
    assert!(
        s.contains("entry 1: contents do not match the stored hash (entry altered)"),
        "{s}"
    );
    assert!(s.contains("AUDIT CHAIN BROKEN"), "{s}");
}

#[test]
fn too_few_cards_are_refused_with_the_librarys_message() {
    let mut h = Harness::new();
    h.unseal(&[1], &[]);
    let s = h.screen();
    assert!(s.contains("2 of 3 cards needed, 1 given"), "{s}");
    assert_eq!(h.session(), &Session::Sealed);
    insta::assert_snapshot!("unseal_too_few_cards", s);
}

#[test]
fn wrong_passphrase_is_refused_naming_the_card() {
    let mut h = Harness::new();
    h.unseal(&[0, 1], &[&pass("alice"), "bob-passphrase-999"]);
    let s = h.screen();
    assert!(
        s.contains("wrong passphrase for card <TMP>/cards/bob.card (custodian bob)"),
        "{s}"
    );
    assert!(!s.contains("bob-passphrase-999"));
    assert_eq!(h.session(), &Session::Sealed);
    insta::assert_snapshot!("unseal_wrong_passphrase", s);
}

#[test]
fn typed_passphrase_is_masked() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('u')).settle();
    h.keys(&[
        KeyCode::Char(' '),
        KeyCode::Down,
        KeyCode::Char(' '),
        KeyCode::Enter,
    ])
    .settle();
    let secret = pass("alice");
    h.chars(&secret);
    let raw = h.raw();
    assert!(!raw.contains(&secret), "{raw}");
    // No fragment of it either (the name is on screen; the rest must not be).
    assert!(!raw.contains("passphrase-123"), "{raw}");
    assert!(
        raw.contains(&format!(
            "Passphrase: {}_",
            "•".repeat(secret.chars().count())
        )),
        "{raw}"
    );
    // Nor in the state's Debug output.
    let dbg = format!("{:?}", h.app.state);
    assert!(!dbg.contains(&secret), "{dbg}");
    insta::assert_snapshot!("passphrase_masked", h.screen());
}

#[test]
fn unseal_shows_working_then_unsealed_with_officers_and_countdown() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('u')).settle();
    h.keys(&[
        KeyCode::Char(' '),
        KeyCode::Down,
        KeyCode::Down,
        KeyCode::Char(' '),
        KeyCode::Enter,
    ])
    .settle();
    h.chars(&pass("alice"))
        .key(KeyCode::Enter)
        .chars(&pass("carol"))
        .key(KeyCode::Enter);
    // The first verdict has not been applied yet: alice's card is being
    // checked while carol's passphrase waits, typed ahead.
    let working = h.raw();
    assert!(
        working.contains("checking alice's passphrase (Argon2id)"),
        "{working}"
    );
    assert!(!working.contains(&pass("carol")), "{working}");
    h.settle();
    // The vault thread keeps the key-encryption key for the session and
    // nothing else: the officers' signing keys from their cards and any
    // data key were wiped right after the unseal.
    assert_eq!(
        h.session(),
        &Session::Unsealed {
            officers: vec!["alice".into(), "carol".into()],
            held: HeldSecrets {
                kek_version: 1,
                officer_keys: 0,
                data_keys: 0,
            },
        }
    );
    let s = h.screen();
    assert!(
        s.contains("UNSEALED  by alice, carol · seals in 5:00 idle"),
        "{s}"
    );
    assert!(
        s.contains(
            "In memory    the key-encryption key (version 1); no officer signing key, no data key"
        ),
        "{s}"
    );
    insta::assert_snapshot!("unsealed", s);
    // `s` seals.
    h.key(KeyCode::Char('s')).settle();
    assert_eq!(h.session(), &Session::Sealed);
    let s = h.screen();
    assert!(s.contains(" SEALED "), "{s}");
    assert!(!s.contains("In memory"), "{s}");
}

#[test]
fn idle_timeout_reseals_and_a_key_press_resets_it() {
    let mut h = Harness::new();
    h.unseal(&[0, 1], &[&pass("alice"), &pass("bob")]);
    assert!(matches!(h.session(), Session::Unsealed { .. }));
    h.at(200);
    assert!(h.screen().contains("seals in 1:40 idle"));
    h.key(KeyCode::Char('2')); // activity at 200 s
    h.at(499);
    assert!(h.screen().contains("seals in 0:01 idle"), "{}", h.screen());
    assert!(matches!(h.session(), Session::Unsealed { .. }));
    h.at(500).settle();
    assert_eq!(h.session(), &Session::Sealed);
    let s = h.screen();
    assert!(s.contains("sealed: no key pressed for 5:00"), "{s}");
    insta::assert_snapshot!("idle_resealed", s);
}

#[test]
fn a_key_after_the_timeout_does_not_revive_the_session() {
    let mut h = Harness::new();
    h.unseal(&[0, 2], &[&pass("alice"), &pass("carol")]);
    h.now = h.t0 + Duration::from_secs(301);
    h.key(KeyCode::Char('1')).settle();
    assert_eq!(h.session(), &Session::Sealed);
}

#[test]
fn quitting_seals() {
    let mut h = Harness::new();
    h.unseal(&[1, 2], &[&pass("bob"), &pass("carol")]);
    // `q` asks while unsealed; `y` confirms.
    h.key(KeyCode::Char('q')).settle();
    assert!(!h.app.state.quit);
    h.key(KeyCode::Char('y')).settle();
    assert!(h.app.state.quit);
    assert_eq!(h.session(), &Session::Sealed);
}

#[test]
fn esc_closes_the_dialog_and_never_quits() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('u')).settle().key(KeyCode::Esc);
    assert!(h.app.state.dialog.is_none());
    assert!(!h.app.state.quit);
    h.key(KeyCode::Esc);
    assert!(!h.app.state.quit);
}

#[test]
fn help_overlay_lists_the_keybinding_table() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('?'));
    let s = h.screen();
    for b in seedvault::tui::keys::BINDINGS
        .iter()
        .filter(|b| !b.label.is_empty() && b.context == seedvault::tui::keys::Context::Main)
    {
        assert!(s.contains(b.help), "help lacks {:?}\n{s}", b.help);
    }
    insta::assert_snapshot!("help", s);
    h.key(KeyCode::Esc);
    assert!(h.app.state.help.is_none());
}

#[test]
fn a_typed_directory_is_scanned_and_another_vaults_card_is_refused() {
    let other = fixture();
    let mut h = Harness::new();
    let dir = other.tmp.path().join("cards");
    h.key(KeyCode::Char('u')).settle();
    h.key(KeyCode::Tab)
        .chars(&dir.to_string_lossy())
        .key(KeyCode::Enter)
        .settle();
    let s = h.raw();
    assert!(s.contains("(another vault's card)"), "{s}");
    h.keys(&[
        KeyCode::Char(' '),
        KeyCode::Down,
        KeyCode::Char(' '),
        KeyCode::Enter,
    ])
    .settle();
    let err = h
        .app
        .state
        .dialog
        .as_ref()
        .and_then(|d| d.error.clone())
        .map(|e| e.message)
        .unwrap_or_default();
    assert!(
        err.contains("belongs to vault") && err.contains("alice.card"),
        "{err}"
    );
    assert_eq!(h.session(), &Session::Sealed);
}

fn one_medium() -> Vec<Medium> {
    vec![Medium {
        mount_point: PathBuf::from("/media/usb0"),
        device: "/dev/sdb1".into(),
        fs_type: "vfat".into(),
        free_bytes: 1_900_000_000,
        total_bytes: 8_000_000_000,
    }]
}

#[test]
fn overview_lists_mounted_media_with_free_space() {
    let fx = fixture();
    let opts = Options {
        idle_timeout: Duration::from_secs(300),
        sources: Sources {
            media: one_medium,
            card_dirs: Vec::new(),
            audit_window: AUDIT_WINDOW,
            media_dirs: Vec::new(),
        },
    };
    let mut app = App::new(Vault::open(&fx.vault).unwrap(), opts, Instant::now());
    assert!(app.settle(WAIT));
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    app.draw(&mut term).unwrap();
    let buf = term.backend().buffer();
    let text: String = (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                + "\n"
        })
        .collect();
    assert!(
        text.contains("Media        /media/usb0  1.9 GB free of 8.0 GB  (/dev/sdb1 vfat)"),
        "{text}"
    );
}

#[test]
fn the_tui_command_refuses_a_missing_vault_before_touching_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("seedvault")
        .unwrap()
        .env_remove("SEEDVAULT_DIR")
        .arg("--vault")
        .arg(tmp.path().join("none"))
        .arg("tui")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no vault at"),
        "{out:?}"
    );
    let out = assert_cmd::Command::cargo_bin("seedvault")
        .unwrap()
        .args(["tui", "--idle-timeout", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_new_entry_clears_an_old_verification_verdict() {
    let mut h = Harness::new();
    h.keys(&[KeyCode::Char('5'), KeyCode::Char('v')]).settle();
    assert!(h.screen().contains("verify: intact, 1 entries"));
    h.unseal(&[0], &[]).key(KeyCode::Esc).settle();
    let s = h.screen();
    assert!(!s.contains("verify: intact, 1 entries"), "{s}");
    assert!(s.contains("Audit log · 1–2 of 2"), "{s}");
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut h = Harness::new();
    for (w, hgt) in [(20, 5), (40, 10), (1, 1)] {
        h.term = Terminal::new(TestBackend::new(w, hgt)).unwrap();
        h.raw();
        h.key(KeyCode::Char('?'));
        h.raw();
        h.key(KeyCode::Esc).key(KeyCode::Char('u')).settle();
        h.raw();
        h.keys(&[
            KeyCode::Char(' '),
            KeyCode::Down,
            KeyCode::Char(' '),
            KeyCode::Enter,
        ])
        .settle();
        h.chars("abc");
        h.raw();
        h.key(KeyCode::Esc)
            .key(KeyCode::Char('5'))
            .key(KeyCode::Char('v'))
            .settle();
        h.raw();
        h.key(KeyCode::Enter);
        h.raw();
        h.key(KeyCode::Esc).key(KeyCode::Char('1'));
    }
}

#[test]
fn requests_tab_shows_what_waits_for_a_second_officer_and_what_waits_for_export() {
    use seedvault::cards::SealedCard;
    use seedvault::formats::{Format, ReadOptions};
    use seedvault::token::Serial;
    use seedvault::vault::{IngestSource, NewRequest};

    let fx = fixture();
    let card = |n: &str| SealedCard::read(&fx.tmp.path().join(format!("cards/{n}.card"))).unwrap();
    let secret = |n: &str| SecretString::from(pass(n));
    let batch = fx.tmp.path().join("batch.otpauth");
    std::fs::write(
        &batch,
        "otpauth://totp/Token2:880001?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\
         otpauth://totp/Token2:880002?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
    )
    .unwrap();
    let mut u = Vault::open(&fx.vault)
        .unwrap()
        .unseal(
            vec![
                (card("alice"), secret("alice")),
                (card("bob"), secret("bob")),
            ],
            "test",
        )
        .unwrap();
    u.ingest(&IngestSource {
        path: &batch,
        format: None,
        label: None,
        factory_cert: None,
        read_options: &ReadOptions::default(),
    })
    .unwrap();
    let mut v = u.seal();
    let alice = v
        .authenticate(&card("alice"), &secret("alice"), "test")
        .unwrap();
    let bob = v
        .authenticate(&card("bob"), &secret("bob"), "test")
        .unwrap();
    v.add_order("77", "Acme", &["it@acme.example".to_owned()], &alice)
        .unwrap();
    let serials = [
        Serial::parse("880001").unwrap(),
        Serial::parse("880002").unwrap(),
    ];
    v.assign_serials("77", &serials, &alice).unwrap();
    let key = seedvault::pgp::keys::generate_customer_key("Acme <it@acme.example>")
        .unwrap()
        .public_armored()
        .unwrap();
    let request = |serial: &Serial| NewRequest {
        order_id: "77",
        requester: "it@acme.example",
        recipient_key: key.as_bytes(),
        format: Format::Otpauth,
        serials: Some(vec![serial.clone()]),
        reexport_reason: None,
        upns: None,
    };
    let first = v.create_request(request(&serials[0]), &alice).unwrap();
    v.decide_request(&first.id, true, None, &bob).unwrap();
    v.create_request(request(&serials[1]), &bob).unwrap();
    drop(v);

    let mut h = Harness::with_fixture(fx);
    h.key(KeyCode::Char('4'));
    let screen = h.screen();
    assert!(
        screen.contains("1 pending approval: a second officer approves"),
        "{screen}"
    );
    assert!(screen.contains("1 approved: export"), "{screen}");
    let (pending, approved) = (screen.find("R0002").unwrap(), screen.find("R0001").unwrap());
    assert!(pending < approved, "newest first:\n{screen}");
    let line = |id: &str| screen.lines().find(|l| l.contains(id)).unwrap().to_owned();
    assert!(
        line("R0002").contains("pending approval") && line("R0002").contains("bob"),
        "{screen}"
    );
    assert!(
        line("R0001").contains("approved")
            && line("R0001").contains("alice")
            && line("R0001").contains("expires in"),
        "{screen}"
    );
}
