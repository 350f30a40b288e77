//! The TUI's state and the one function that changes it.
//!
//! `update` turns an [`Action`] into a new state plus [`Job`]s for the
//! vault thread; `apply` folds the thread's replies back in; `tick` moves
//! the clock. None of them does I/O: the event loop (or a test) passes the
//! time in, so the idle re-seal can be tested without waiting five minutes.
//! While the unseal dialog is open `update` hands the keys to it
//! ([`super::unseal`]) and acts on what it reports back.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::action::Action;
use super::export::ExportDialog;
use super::ingest::IngestWizard;
use super::keys::Context;
use super::unseal::{Outcome, UnsealDialog};
use super::worker::{Job, Reply, Snapshot};
use crate::audit::ChainReport;
use crate::media::Medium;
use crate::vault::{AuditEntry, HeldSecrets, Request, Status};

/// Default idle time before an unsealed session seals itself.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Shortest idle timeout `seedvault tui --idle-timeout` accepts, seconds.
pub const MIN_IDLE_TIMEOUT_S: u64 = 1;

/// Longest idle timeout `seedvault tui --idle-timeout` accepts, seconds:
/// 8 hours, one shift at the console. A longer one would keep the key in
/// memory through a shift change or a night at an unattended console,
/// which is what the timeout exists to prevent.
pub const MAX_IDLE_TIMEOUT_S: u64 = 8 * 3600;

/// Rows a PgUp/PgDn moves.
const PAGE: usize = 10;

/// The tabs, in order. New screens (seeds, batches) add a variant here,
/// a line in `ALL`, and a render function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// The vault at a glance.
    Overview,
    /// Batches and serials.
    Batches,
    /// Orders.
    Orders,
    /// Seed requests: what waits for a second officer, what waits for export.
    Requests,
    /// The audit log.
    Audit,
}

impl Tab {
    /// All tabs, in display order.
    pub const ALL: [Tab; 5] = [
        Tab::Overview,
        Tab::Batches,
        Tab::Orders,
        Tab::Requests,
        Tab::Audit,
    ];

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Batches => "Batches",
            Tab::Orders => "Orders",
            Tab::Requests => "Requests",
            Tab::Audit => "Audit log",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// Whether the key is in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// No key.
    Sealed,
    /// The vault thread is opening the cards.
    Unsealing,
    /// The key is held for these officers; re-seals after the idle timeout.
    Unsealed {
        /// Whose cards.
        officers: Vec<String>,
        /// What the vault thread holds in memory for the session.
        held: HeldSecrets,
    },
    /// A seal was requested; the vault thread has not confirmed yet.
    Sealing,
}

/// Result of the last chain verification.
#[derive(Debug, Clone)]
pub enum Verify {
    /// Not run in this session.
    NotRun,
    /// Running.
    Running,
    /// Finished: the report, or why it could not run.
    Done(Result<ChainReport, String>),
}

/// The audit tab.
#[derive(Debug, Clone)]
pub struct AuditView {
    /// The entries (None until first read).
    pub entries: Option<Result<Vec<AuditEntry>, String>>,
    /// Selected row.
    pub selected: usize,
    /// The entry whose JSON is shown, and its scroll offset.
    pub open: Option<(usize, u16)>,
    /// Chain verification.
    pub verify: Verify,
}

/// A one-line message in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Shown in red.
    pub error: bool,
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct State {
    /// The vault directory (for the title).
    pub vault_dir: PathBuf,
    /// The current time, as given by the event loop.
    pub now: Instant,
    /// Last key press.
    pub last_activity: Instant,
    /// Idle time before re-sealing.
    pub idle_timeout: Duration,
    /// Current tab.
    pub tab: Tab,
    /// The vault's status.
    pub status: Option<Result<Status, String>>,
    /// Mounted media.
    pub media: Vec<Medium>,
    /// The audit tab.
    pub audit: AuditView,
    /// Seed requests (None until first read), oldest first.
    pub requests: Option<Result<Vec<Request>, String>>,
    /// Unix time of the last read, to tell an expired approval.
    pub read_at: i64,
    /// Seal state.
    pub session: Session,
    /// The unseal dialog, when open.
    pub dialog: Option<UnsealDialog>,
    /// The ingest wizard, when open.
    pub ingest: Option<IngestWizard>,
    /// The export dialog, when open.
    pub export: Option<ExportDialog>,
    /// Help overlay shown.
    pub help: bool,
    /// Status-bar message.
    pub notice: Option<Notice>,
    /// Jobs sent and not answered yet.
    pub pending: usize,
    /// The user asked to quit.
    pub quit: bool,
    /// The officers' screens and acts (t3).
    pub acts: super::acts::Acts,
}

impl State {
    /// A fresh state; the caller should send [`Job::Refresh`].
    pub fn new(vault_dir: PathBuf, idle_timeout: Duration, now: Instant) -> Self {
        State {
            vault_dir,
            now,
            last_activity: now,
            idle_timeout,
            tab: Tab::Overview,
            status: None,
            media: Vec::new(),
            requests: None,
            read_at: 0,
            audit: AuditView {
                entries: None,
                selected: 0,
                open: None,
                verify: Verify::NotRun,
            },
            session: Session::Sealed,
            dialog: None,
            ingest: None,
            export: None,
            help: false,
            notice: None,
            pending: 0,
            quit: false,
            acts: super::acts::Acts::default(),
        }
    }

    /// Time left before the idle re-seal, when unsealed.
    pub fn idle_left(&self) -> Option<Duration> {
        match self.session {
            Session::Unsealed { .. } => Some(
                self.idle_timeout
                    .saturating_sub(self.now.saturating_duration_since(self.last_activity)),
            ),
            _ => None,
        }
    }

    /// The keybinding contexts active now, innermost first.
    pub fn contexts(&self) -> Vec<Context> {
        if self.help {
            return vec![Context::Help];
        }
        if let Some(d) = &self.dialog {
            return d.contexts();
        }
        if let Some(w) = &self.ingest {
            return w.contexts();
        }
        if let Some(d) = &self.export {
            return d.contexts();
        }
        if let Some(c) = super::acts::contexts(self) {
            return c;
        }
        match (self.tab, self.audit.open) {
            (Tab::Audit, Some(_)) => vec![Context::Entry, Context::Main],
            (Tab::Audit, None) => vec![Context::Audit, Context::Main],
            _ => vec![Context::Main],
        }
    }

    fn entries_len(&self) -> usize {
        match &self.audit.entries {
            Some(Ok(e)) => e.len(),
            _ => 0,
        }
    }

    pub(super) fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: false,
        });
    }

    pub(super) fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: true,
        });
    }

    /// Sequence number of the newest entry read.
    fn last_seq(&self) -> Option<u64> {
        match &self.audit.entries {
            Some(Ok(e)) => e.last().map(|e| e.seq),
            _ => None,
        }
    }

    pub(super) fn apply_snapshot(&mut self, s: Snapshot) {
        let len_before = self.entries_len();
        let last_before = self.last_seq();
        let at_end = self.audit.selected + 1 >= len_before;
        self.status = Some(s.status);
        self.media = s.media;
        self.requests = Some(s.requests);
        self.read_at = s.read_at;
        self.audit.entries = Some(s.audit);
        let len = self.entries_len();
        if self.last_seq() != last_before {
            // A verdict about fewer entries must not pass for one about these.
            self.audit.verify = Verify::NotRun;
        }
        if at_end || self.audit.selected >= len {
            self.audit.selected = len.saturating_sub(1);
        }
        if self.audit.open.is_some_and(|(i, _)| i >= len) {
            self.audit.open = None;
        }
    }
}

/// Applies one action. Returns the jobs it needs done.
pub fn update(state: &mut State, action: Action) -> Vec<Job> {
    if state.help {
        if matches!(action, Action::ToggleHelp | Action::Back) {
            state.help = false;
        } else if action == Action::Quit {
            return quit(state);
        }
        return Vec::new();
    }
    if state.dialog.is_some() {
        return update_dialog(state, action);
    }
    if state.ingest.is_some() || state.export.is_some() {
        return super::quorum::update(state, action);
    }
    if let Some(jobs) = super::acts::update(state, action) {
        return jobs;
    }
    match action {
        Action::Quit => quit(state),
        Action::Back => {
            if state.audit.open.is_some() && state.tab == Tab::Audit {
                state.audit.open = None;
                Vec::new()
            } else {
                quit(state)
            }
        }
        Action::ToggleHelp => {
            state.help = true;
            Vec::new()
        }
        Action::NextTab => goto_tab(state, (state.tab.index() + 1) % Tab::ALL.len()),
        Action::PrevTab => goto_tab(
            state,
            (state.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len(),
        ),
        Action::GotoTab(i) => goto_tab(state, i as usize),
        Action::Refresh => {
            state.info("re-reading the vault");
            vec![Job::Refresh, Job::Acts(super::acts::work::ActJob::Lists)]
        }
        Action::OpenUnseal => match &state.session {
            Session::Sealed => {
                state.dialog = Some(UnsealDialog::new());
                vec![Job::ScanCards(None)]
            }
            Session::Unsealed { officers, .. } => {
                let text = format!("already unsealed by {}", officers.join(", "));
                state.info(text);
                Vec::new()
            }
            _ => Vec::new(),
        },
        Action::Seal => match state.session {
            Session::Unsealed { .. } | Session::Unsealing => {
                state.session = Session::Sealing;
                state.info("sealing");
                vec![Job::Seal]
            }
            _ => {
                state.info("the vault is sealed");
                Vec::new()
            }
        },
        Action::OpenIngest => super::quorum::open_ingest(state),
        Action::OpenExport => {
            // On the Requests screen, `e` exports the selected request when
            // it is approved; elsewhere the dialog asks which one.
            let selected = (state.tab == Tab::Requests)
                .then(|| super::acts::selected_request(state))
                .flatten()
                .filter(|r| r.state.kind() == crate::vault::RequestStateKind::Approved)
                .map(|r| r.id.clone());
            super::quorum::open_export(state, selected)
        }
        Action::VerifyChain if state.tab == Tab::Audit => {
            state.audit.verify = Verify::Running;
            vec![Job::Verify]
        }
        nav if state.tab == Tab::Audit => {
            audit_nav(state, nav);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn quit(state: &mut State) -> Vec<Job> {
    state.quit = true;
    state.ingest = None;
    state.export = None;
    state.dialog = None; // wipes any typed passphrase
    match state.session {
        Session::Unsealed { .. } | Session::Unsealing => {
            state.session = Session::Sealing;
            vec![Job::Seal]
        }
        _ => Vec::new(),
    }
}

fn goto_tab(state: &mut State, i: usize) -> Vec<Job> {
    if let Some(t) = Tab::ALL.get(i) {
        state.tab = *t;
    }
    if super::acts::wants_lists(state.tab) {
        return vec![Job::Acts(super::acts::work::ActJob::Lists)];
    }
    Vec::new()
}

fn audit_nav(state: &mut State, action: Action) {
    let len = state.entries_len();
    let open_lines = match (&state.audit.entries, state.audit.open) {
        (Some(Ok(e)), Some((i, _))) => e.get(i).map_or(0, |e| e.json.lines().count()),
        _ => 0,
    };
    if let Some((_, scroll)) = &mut state.audit.open {
        match action {
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::Down => {
                *scroll = (*scroll + 1).min(super::ui::rows(open_lines.saturating_sub(1)))
            }
            Action::Confirm => state.audit.open = None,
            _ => {}
        }
        return;
    }
    if len == 0 {
        return;
    }
    let sel = &mut state.audit.selected;
    match action {
        Action::Up => *sel = sel.saturating_sub(1),
        Action::Down => *sel = (*sel + 1).min(len - 1),
        Action::PageUp => *sel = sel.saturating_sub(PAGE),
        Action::PageDown => *sel = (*sel + PAGE).min(len - 1),
        Action::Home => *sel = 0,
        Action::End => *sel = len - 1,
        Action::Confirm => state.audit.open = Some((*sel, 0)),
        _ => {}
    }
}

fn update_dialog(state: &mut State, action: Action) -> Vec<Job> {
    if action == Action::Quit {
        return quit(state);
    }
    let Some(d) = state.dialog.as_mut() else {
        return Vec::new();
    };
    match d.update(action, state.now) {
        Outcome::Jobs(jobs) => jobs,
        Outcome::Busy => {
            state.info("unsealing is under way; press s afterwards to seal");
            Vec::new()
        }
        Outcome::Cancel => {
            state.dialog = None;
            state.info("unseal cancelled");
            Vec::new()
        }
        Outcome::Unseal(given) => {
            state.session = Session::Unsealing;
            vec![Job::Unseal(given)]
        }
    }
}

/// Folds a reply from the vault thread into the state.
pub fn apply(state: &mut State, reply: Reply) {
    if !reply.is_progress() {
        state.pending = state.pending.saturating_sub(1);
    }
    match reply {
        r @ (Reply::Ingest(..) | Reply::Export(..)) => super::quorum::apply(state, r),
        Reply::Refreshed(s) => state.apply_snapshot(s),
        Reply::Verified(r) => {
            match &r {
                Ok(rep) if rep.problems.is_empty() => {
                    state.info(format!("audit chain intact: {} entries", rep.entries))
                }
                Ok(rep) => state.error(format!(
                    "AUDIT CHAIN BROKEN: {} problem(s)",
                    rep.problems.len()
                )),
                Err(e) => state.error(e.clone()),
            }
            state.audit.verify = Verify::Done(r);
        }
        Reply::Cards {
            dirs,
            cards,
            errors,
        } => {
            if let Some((dirs, cards, errors)) =
                super::acts::cards_found(state, dirs, cards, errors)
            {
                if let Some(d) = state.dialog.as_mut() {
                    d.cards_found(dirs, cards, errors);
                }
            }
        }
        Reply::Acts(r, snap) => {
            if let Some(snap) = snap {
                state.apply_snapshot(*snap);
            }
            super::acts::apply(state, r);
        }
        Reply::Checked(r, snap) => {
            state.apply_snapshot(snap);
            if let Some(d) = state.dialog.as_mut() {
                d.checked(r);
            }
        }
        Reply::Unsealed(r, snap) => {
            state.apply_snapshot(snap);
            match r {
                Ok((officers, held)) => {
                    state.info(format!("unsealed by {}", officers.join(", ")));
                    state.session = Session::Unsealed { officers, held };
                    state.last_activity = state.now;
                    state.dialog = None;
                }
                Err(e) => {
                    if state.session == Session::Unsealing {
                        state.session = Session::Sealed;
                    }
                    // The dialog shows the library's message in full; the
                    // bar only says that it is there (or shows it, if not).
                    match state.dialog.as_mut() {
                        Some(d) => {
                            d.refused(e);
                            state.error("unseal refused");
                        }
                        None => state.error(format!("unseal refused: {e}")),
                    }
                }
            }
        }
        Reply::Sealed(snap) => {
            state.apply_snapshot(snap);
            state.session = Session::Sealed;
            if state.notice.as_ref().is_some_and(|n| n.text == "sealing") {
                state.info("sealed: the key is wiped");
            }
        }
    }
}

/// Advances the clock; seals after the idle timeout. Returns the jobs to run.
pub fn tick(state: &mut State, now: Instant) -> Vec<Job> {
    state.now = now;
    let idle = now.saturating_duration_since(state.last_activity);
    if idle < state.idle_timeout {
        return Vec::new();
    }
    let mut jobs = Vec::new();
    if matches!(state.session, Session::Unsealed { .. }) {
        state.session = Session::Sealing;
        state.info(format!(
            "sealed: no key pressed for {}",
            super::ui::clock(state.idle_timeout)
        ));
        jobs.push(Job::Seal);
    }
    super::acts::idle(state);
    // A half-typed quorum left at an unattended console is wiped too.
    if state
        .dialog
        .as_ref()
        .is_some_and(UnsealDialog::holds_passphrases)
    {
        state.dialog = None;
        state.info("unseal dialog closed after the idle timeout; typed passphrases wiped");
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::unseal::{PassField, Step};

    fn unsealed(t0: Instant) -> State {
        let mut s = State::new(PathBuf::from("v"), Duration::from_secs(60), t0);
        s.session = Session::Unsealed {
            officers: vec!["alice".into(), "bob".into()],
            held: HeldSecrets {
                kek_version: 1,
                officer_keys: 0,
                data_keys: 0,
            },
        };
        s
    }

    #[test]
    fn tick_seals_exactly_at_the_timeout() {
        let t0 = Instant::now();
        let mut s = unsealed(t0);
        assert!(tick(&mut s, t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(s.idle_left(), Some(Duration::from_secs(1)));
        let jobs = tick(&mut s, t0 + Duration::from_secs(60));
        assert!(matches!(jobs.as_slice(), [Job::Seal]));
        assert_eq!(s.session, Session::Sealing);
        // Only once.
        assert!(tick(&mut s, t0 + Duration::from_secs(61)).is_empty());
    }

    #[test]
    fn quit_and_s_seal_an_unsealed_session() {
        let t0 = Instant::now();
        let mut s = unsealed(t0);
        assert!(matches!(
            update(&mut s, Action::Quit).as_slice(),
            [Job::Seal]
        ));
        assert!(s.quit);
        let mut s = unsealed(t0);
        assert!(matches!(
            update(&mut s, Action::Seal).as_slice(),
            [Job::Seal]
        ));
        assert_eq!(s.session, Session::Sealing);
    }

    #[test]
    fn idle_closes_a_half_typed_quorum() {
        let t0 = Instant::now();
        let mut s = State::new(PathBuf::from("v"), Duration::from_secs(60), t0);
        let mut d = UnsealDialog::new();
        d.step = Step::Passphrase {
            chosen: Vec::new(),
            index: 0,
            typed: Vec::new(),
            input: PassField::new(),
        };
        s.dialog = Some(d);
        for c in "secret".chars() {
            update(&mut s, Action::Input(c));
        }
        assert_eq!(s.dialog.as_ref().map(UnsealDialog::masked_len), Some(6));
        assert!(!format!("{s:?}").contains("secret"));
        tick(&mut s, t0 + Duration::from_secs(60));
        assert!(s.dialog.is_none());
    }
}
