//! The terminal front end: `seedvault tui`.
//!
//! The shape is the one ratatui's templates and gitui use: a key becomes an
//! [`Action`](action::Action) through the table in [`keys`], `update`
//! changes the [`State`](app::State) and asks the vault thread
//! ([`worker`]) for anything slow or secret, and `ui::render` draws the
//! state. The unseal dialog ([`unseal`]), the one screen that takes
//! secrets (passphrases), keeps its steps to itself. Only this file
//! touches the terminal, and only the worker touches the vault, so the
//! whole app runs the same on a real terminal and on ratatui's
//! `TestBackend` with a scripted clock (see `tests/tui_app.rs`).
//!
//! Security model item 4: the unsealed vault lives on the worker thread
//! for the session; it is dropped (key wiped) on `s`, on quit, when no
//! key has been pressed for the idle timeout (1 second to 8 hours), and on
//! a panic. Each of these ends the session with a `vault.sealed` entry
//! naming the reason. Of the unsealed vault the session keeps only the
//! key-encryption key and the officers' names
//! ([`crate::vault::UnsealedSession`]).
//!
//! A panic: `ratatui::init`'s hook restores the terminal before the
//! message prints; the unwinding then drops the [`App`], whose worker
//! handle sees `std::thread::panicking()`, asks the vault thread to end the
//! session (reason `panic`) and joins it, so the key is wiped before the
//! process exits. This needs `panic = "unwind"` (Rust's default); the
//! profiles in Cargo.toml must not set `abort`, and a test checks that.

pub mod action;
pub mod acts;
pub mod advice;
pub mod app;
pub mod export;
pub mod ingest;
pub mod keys;
pub mod officer;
pub mod quorum;
pub mod ui;
pub mod unseal;
pub mod worker;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyEvent, KeyEventKind};
use ratatui::Terminal;

use crate::vault::{Vault, VaultError};
use app::State;
use worker::{Job, Sources, Worker};

pub use app::{DEFAULT_IDLE_TIMEOUT, MAX_IDLE_TIMEOUT_S, MIN_IDLE_TIMEOUT_S};

/// How the app is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Idle time before an unsealed session seals itself.
    pub idle_timeout: Duration,
    /// Where media and cards are looked for.
    pub sources: Sources,
}

impl Options {
    /// The binary's defaults: real media, `./cards` (`run` adds the
    /// `cards` directory beside the vault directory).
    pub fn new(idle_timeout: Duration) -> Self {
        Options {
            idle_timeout,
            sources: Sources {
                media: crate::media::removable_media,
                card_dirs: vec![PathBuf::from("cards")],
                audit_window: worker::AUDIT_WINDOW,
                media_dirs: Vec::new(),
            },
        }
    }
}

/// The app: its state and the vault thread.
#[derive(Debug)]
pub struct App {
    /// What is shown.
    pub state: State,
    worker: Worker,
}

impl App {
    /// Starts the vault thread with `vault` and asks for a first read.
    pub fn new(vault: Vault, opts: Options, now: Instant) -> App {
        let state = State::new(vault.dir().to_path_buf(), opts.idle_timeout, now);
        let worker = Worker::start(vault, opts.sources);
        let mut app = App { state, worker };
        let jobs = app.state.first_jobs();
        app.run_jobs(jobs);
        app
    }

    fn run_jobs(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            if self.worker.send(job) {
                self.state.pending += 1;
            } else {
                self.state.notice = Some(app::Notice {
                    text: "the vault thread has stopped; quit and start again".into(),
                    error: true,
                });
            }
        }
    }

    /// A key press at `now`.
    pub fn key(&mut self, key: KeyEvent, now: Instant) {
        // The idle check runs before the key counts as activity, so a key
        // pressed after the timeout cannot revive an expired session. (No
        // periodic re-read here: it would delay this key's answer.)
        let jobs = app::expire(&mut self.state, now);
        self.run_jobs(jobs);
        self.state.last_activity = now;
        if let Some(action) = keys::lookup(&self.state.contexts(), &key) {
            let jobs = app::update(&mut self.state, action);
            self.run_jobs(jobs);
        }
    }

    /// The clock moved to `now` (no key).
    pub fn tick(&mut self, now: Instant) {
        let jobs = app::tick(&mut self.state, now);
        self.run_jobs(jobs);
    }

    /// Applies the replies that are ready.
    pub fn pump(&mut self) {
        while let Some(r) = self.worker.try_recv() {
            let jobs = app::apply(&mut self.state, r);
            self.run_jobs(jobs);
        }
    }

    /// Waits until every job sent has been answered (tests; quitting).
    /// False if `timeout` passed first.
    pub fn settle(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.state.pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(r) = self.worker.recv_timeout(left) {
                let jobs = app::apply(&mut self.state, r);
                self.run_jobs(jobs);
            }
        }
        true
    }

    /// The terminal is `cols` x `rows` now: lists page by what fits, so
    /// a page whose length no longer fits is read again.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        if self.state.viewport == (cols, rows) {
            return;
        }
        let before = self.state.audit_rows();
        self.state.viewport = (cols, rows);
        if self.state.audit_rows() != before && self.state.audit.page.is_some() {
            let job = self.state.reload_page();
            self.run_jobs(vec![job]);
        }
    }

    /// Draws the state (noting the terminal's size first).
    pub fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> io::Result<()> {
        let size = terminal.size()?;
        self.resize(size.width, size.height);
        terminal.draw(|f| ui::render(f, &self.state)).map(|_| ())
    }
}

/// Why the TUI could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TuiError {
    /// The vault could not be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] io::Error),
}

/// Restores the terminal when dropped, whichever way `run` ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// `seedvault tui`: runs until the user quits. The vault is sealed (the
/// worker thread has dropped any key) before this returns.
pub fn run(dir: &Path, idle_timeout: Duration, media_dirs: Vec<PathBuf>) -> Result<(), TuiError> {
    let vault = Vault::open(dir)?;
    // `ratatui::init` enters raw mode and the alternate screen and installs
    // a panic hook that restores the terminal before the message prints.
    let mut terminal = ratatui::init();
    let _restore = Restore;
    let mut options = Options::new(idle_timeout);
    options.sources.media_dirs = media_dirs;
    // Cards kept beside the vault directory (`demo/cards` next to
    // `demo/vault`, as `seedvault demo` and many ceremonies lay them out).
    if let Some(beside) = dir.parent().map(|p| p.join("cards")) {
        if beside.is_dir() && !options.sources.card_dirs.contains(&beside) {
            options.sources.card_dirs.push(beside);
        }
    }
    let mut app = App::new(vault, options, Instant::now());
    // The NO_COLOR convention: every meaning is also in words or marks.
    app.state.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    while !app.state.quit {
        app.draw(&mut terminal)?;
        if event::poll(Duration::from_millis(200))? {
            match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => app.key(k, Instant::now()),
                Event::Resize(w, h) => app.resize(w, h),
                _ => {}
            }
        }
        app.pump();
        app.tick(Instant::now());
    }
    // Let a queued seal finish and show it, then drop the worker (joins).
    app.settle(Duration::from_secs(10));
    app.draw(&mut terminal)?;
    drop(app);
    Ok(())
}
