//! Benchmark (not a test): the console on a big vault, 1,000,000 seeds and
//! 1,000,000 audit entries. Prints, against the targets of issue 11:
//!
//! - first frame after start (KDF excluded: nothing is unsealed): <= 300 ms
//! - per key press in every list (key, the vault thread's answer, the
//!   frame): <= 16 ms
//! - a log filter over all entries (Enter to frame): <= 200 ms
//! - peak resident memory (VmHWM): <= 200 MB
//!
//!     cargo bench --bench tui
//!
//! The fixture is built once by a child process (so its memory does not
//! count) with the vault's own code, a real 1,000,000-token ingest, then
//! token checks appended until the log holds 1,000,000 entries, and kept
//! in `target/tui-bench/` for the next run (delete it to rebuild).

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use seedvault::audit::{self, events, Event};
use seedvault::crypto::KdfParams;
use seedvault::media::Medium;
use seedvault::tui::worker::{Sources, AUDIT_WINDOW};
use seedvault::tui::{App, Options};
use seedvault::vault::Vault;

#[path = "common/mod.rs"]
mod common;

const SEEDS: u64 = 1_000_000;
const ENTRIES: u64 = 1_000_000;
const FIRST: u64 = 30_000_000;
const WAIT: Duration = Duration::from_secs(120);

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tui-bench")
}

/// Builds the fixture in `dir` (run in a child process).
fn build(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let csv = dir.join("batch.csv");
    common::make_batch("azure-csv", SEEDS, FIRST, 7, &csv);
    let out = common::vault(dir, KdfParams::INSECURE_FAST);
    let vdir = dir.join("vault");
    let mut u = Vault::open(&vdir)
        .unwrap()
        .unseal(common::quorum(&out), "bench")
        .unwrap();
    common::ingest(&mut u, &csv);
    drop(u.finish());
    std::fs::remove_file(&csv).unwrap();
    let id = out.vault_id.to_string();
    let mut conn = rusqlite::Connection::open(vdir.join("vault.db")).unwrap();
    let tx = conn.transaction().unwrap();
    let mut head = audit::head(&tx).unwrap();
    let mut i = 0u64;
    while head.count < ENTRIES {
        let serial = FIRST + (i % SEEDS);
        head = audit::append(
            &tx,
            &id,
            &Event {
                kind: events::TOKEN_VERIFIED,
                actors: vec![common::NAMES[(i % 2) as usize].into()],
                data: serde_json::json!({ "serial": serial.to_string(), "at": 1_800_000_000u64 + i, "matched": true, "drift": 0 }),
            },
        )
        .unwrap();
        i += 1;
    }
    tx.commit().unwrap();
    std::fs::write(dir.join("ready"), b"").unwrap();
}

fn no_media() -> Vec<Medium> {
    Vec::new()
}

struct Timing {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Timing {
    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }
    fn print(&self, target: f64) {
        let max = self.samples.iter().max().copied().unwrap_or_default();
        let mean = self.samples.iter().sum::<Duration>()
            / u32::try_from(self.samples.len().max(1)).unwrap();
        println!(
            "  {:<34} mean {:>7.2} ms  max {:>7.2} ms  ({} presses; target <= {target} ms)",
            self.name,
            Self::ms(mean),
            Self::ms(max),
            self.samples.len()
        );
    }
}

fn press(app: &mut App, term: &mut Terminal<TestBackend>, code: KeyCode) -> Duration {
    let t = Instant::now();
    app.key(KeyEvent::new(code, KeyModifiers::NONE), Instant::now());
    assert!(app.settle(WAIT));
    app.draw(term).unwrap();
    t.elapsed()
}

fn keys(
    app: &mut App,
    term: &mut Terminal<TestBackend>,
    name: &'static str,
    codes: &[KeyCode],
) -> Timing {
    Timing {
        name,
        samples: codes.iter().map(|c| press(app, term, *c)).collect(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--build-fixture") {
        build(Path::new(&args[i + 1]));
        return;
    }
    let dir = fixture_dir();
    if !dir.join("ready").exists() {
        println!("building the fixture in {} (once)…", dir.display());
        let t = Instant::now();
        let st = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--build-fixture")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "building the fixture failed");
        println!("  built in {:.0} s", t.elapsed().as_secs_f64());
    }
    let vdir = dir.join("vault");

    // What the first frame waits for, one by one.
    {
        let t = Instant::now();
        let v = Vault::open(&vdir).unwrap();
        let open = t.elapsed();
        let t = Instant::now();
        v.status().unwrap();
        let status = t.elapsed();
        let t = Instant::now();
        v.audit_page(None, seedvault::vault::audit_browse::Anchor::Last, 18)
            .unwrap();
        let page = t.elapsed();
        println!(
            "  (open {:.1} ms, status {:.1} ms, last page {:.1} ms)",
            Timing::ms(open),
            Timing::ms(status),
            Timing::ms(page)
        );
    }

    // First frame: open, read status and the log's last page, draw.
    let t = Instant::now();
    let vault = Vault::open(&vdir).unwrap();
    let opts = Options {
        idle_timeout: Duration::from_secs(300),
        sources: Sources {
            media: no_media,
            card_dirs: vec![dir.join("cards")],
            audit_window: AUDIT_WINDOW,
            media_dirs: Vec::new(),
        },
    };
    let mut app = App::new(vault, opts, Instant::now());
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    app.resize(80, 24);
    assert!(app.settle(WAIT));
    app.draw(&mut term).unwrap();
    let first = t.elapsed();
    let st = match &app.state.status {
        Some(Ok(s)) => s.clone(),
        other => panic!("no status: {other:?}"),
    };
    println!(
        "tui benchmark: {} seeds, {} audit entries, 80x24",
        st.counts.seeds, st.audit.entries
    );
    println!(
        "  first frame after start:           {:>7.2} ms  (target <= 300 ms)",
        Timing::ms(first)
    );

    let mut all = Vec::new();
    all.push(keys(
        &mut app,
        &mut term,
        "tabs (1..5, Tab, Shift-Tab)",
        &[
            KeyCode::Char('2'),
            KeyCode::Char('3'),
            KeyCode::Char('4'),
            KeyCode::Char('5'),
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Char('1'),
            KeyCode::Char('5'),
        ],
    ));
    let mut audit_keys = vec![KeyCode::Home];
    audit_keys.extend([KeyCode::PageDown; 20]);
    audit_keys.extend([KeyCode::Down; 40]);
    audit_keys.extend([KeyCode::Up; 40]);
    audit_keys.extend([KeyCode::PageUp; 10]);
    audit_keys.push(KeyCode::End);
    audit_keys.extend([KeyCode::PageUp; 20]);
    audit_keys.extend([KeyCode::Char('g'), KeyCode::Char('G')]);
    all.push(keys(
        &mut app,
        &mut term,
        "audit list (j/k/PgUp/PgDn/g/G)",
        &audit_keys,
    ));
    let mut entry_keys = vec![KeyCode::Char('g'), KeyCode::Enter];
    entry_keys.extend([KeyCode::PageDown; 6]);
    entry_keys.extend([KeyCode::End, KeyCode::Home, KeyCode::Esc]);
    all.push(keys(&mut app, &mut term, "audit entry view", &entry_keys));
    all.push(keys(
        &mut app,
        &mut term,
        "requests list",
        &[KeyCode::Char('4'), KeyCode::Down, KeyCode::Up],
    ));
    all.push(keys(
        &mut app,
        &mut term,
        "batches list",
        &[
            KeyCode::Char('2'),
            KeyCode::Down,
            KeyCode::Up,
            KeyCode::End,
            KeyCode::Home,
        ],
    ));
    all.push(keys(
        &mut app,
        &mut term,
        "orders list",
        &[KeyCode::Char('3'), KeyCode::Down, KeyCode::Up, KeyCode::End],
    ));
    for t in &all {
        t.print(16.0);
    }

    // Filters: from Enter to the frame showing the matches.
    app.key(
        KeyEvent::new(KeyCode::Char('5'), KeyModifiers::NONE),
        Instant::now(),
    );
    for (name, text) in [
        (
            "filter serial (ingest + checks)",
            format!("serial:{}", FIRST + 123_456),
        ),
        ("filter officer:alice (half)", "officer:alice".to_owned()),
        (
            "filter event:batch.serials",
            "event:batch.serials".to_owned(),
        ),
        ("filter with no match", "serial:NOPE".to_owned()),
    ] {
        app.key(
            KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE),
            Instant::now(),
        );
        app.key(
            KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
            Instant::now(),
        );
        for c in text.chars() {
            app.key(
                KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
                Instant::now(),
            );
        }
        let t = press(&mut app, &mut term, KeyCode::Enter);
        let n = match &app.state.audit.page {
            Some(Ok(p)) => p.entries.len(),
            _ => 0,
        };
        println!(
            "  {name:<34} {:>7.2} ms  ({n} rows on screen; target <= 200 ms)",
            Timing::ms(t)
        );
        let back = keys(
            &mut app,
            &mut term,
            "  paging the filtered list",
            &[KeyCode::Home, KeyCode::PageDown, KeyCode::End],
        );
        back.print(16.0);
    }
    drop(app);
    println!(
        "  peak resident memory (VmHWM):      {:>7.1} MB  (target <= 200 MB)",
        peak_rss_mb()
    );
}
