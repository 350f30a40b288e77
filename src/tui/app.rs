//! The TUI's state and the one function that changes it.
//!
//! `update` turns an [`Action`] into a new state plus [`Job`]s for the
//! vault thread; `apply` folds the thread's replies back in (and may ask
//! for more); `tick` moves the clock. None of them does I/O: the event
//! loop (or a test) passes the time in, so the idle re-seal can be tested
//! without waiting five minutes.
//!
//! `update` gives a key to the topmost thing on screen: the help overlay,
//! then a confirmation, then a dialog (unseal; more dialogs add an
//! `Option` field and a line at the top of `update`), then a prompt, then
//! the screen. `Esc` only ever closes or cancels; quitting is `q` (which
//! asks while unsealed) or Ctrl-C.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::action::Action;
use super::advice::Shown;
use super::export::ExportDialog;
use super::ingest::IngestWizard;
use super::keys::Context;
use super::unseal::{Outcome, UnsealDialog};
use super::worker::{Job, PageQuery, Reply, Select, Snapshot};
use crate::audit::{ChainReport, ReplayReport};
use crate::media::Medium;
use crate::vault::audit_browse::{Anchor, AuditFilter, AuditPage};
use crate::vault::{HeldSecrets, Request, SealReason, Status};

/// Default idle time before an unsealed session seals itself.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Shortest idle timeout `seedvault tui --idle-timeout` accepts, seconds.
pub const MIN_IDLE_TIMEOUT_S: u64 = 1;

/// Longest idle timeout `seedvault tui --idle-timeout` accepts, seconds:
/// 8 hours, one shift at the console. A longer one would keep the key in
/// memory through a shift change or a night at an unattended console,
/// which is what the timeout exists to prevent.
pub const MAX_IDLE_TIMEOUT_S: u64 = 8 * 3600;

/// How often the screens re-read the vault by themselves.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// The periodic re-read waits for a pause in typing this long, so that it
/// never delays the answer to a key (a re-read of a vault with a million
/// seeds takes tens of milliseconds on the vault thread).
pub const REFRESH_PAUSE: Duration = Duration::from_millis(500);

/// The screens, in tab order (digits 1..5).
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

/// A long check of the log: not run, running, or its result.
#[derive(Debug, Clone)]
pub enum Check<T> {
    /// Not run in this session.
    NotRun,
    /// Running.
    Running,
    /// Finished: the report, or why it could not run.
    Done(Result<T, Shown>),
}

/// The chain verification's state.
pub type Verify = Check<ChainReport>;

/// The replay's state.
pub type Replay = Check<ReplayReport>;

/// The audit tab: one page of the log at a time.
#[derive(Debug, Clone)]
pub struct AuditView {
    /// The page on screen (None until first read).
    pub page: Option<Result<AuditPage, Shown>>,
    /// Selected row of the page.
    pub selected: usize,
    /// The selected entry is open; its scroll offset in lines.
    pub open: Option<usize>,
    /// The open entry's text, pretty-printed once when it was opened.
    pub opened: String,
    /// The filter in force.
    pub filter: Option<AuditFilter>,
    /// A page is being read; keys wait in `queued` until it arrives.
    pub loading: bool,
    /// Keys pressed while a page was being read, applied when it arrives.
    pub queued: Vec<Action>,
    /// New entries were seen while a page was being read: read it again.
    pub stale: bool,
    /// Chain verification.
    pub verify: Verify,
    /// Replay.
    pub replay: Replay,
    /// Progress of a running verify or replay: (what, done, total).
    pub progress: Option<(&'static str, u64, u64)>,
    /// The last checkpoint or log export written (or why not).
    pub wrote: Option<Result<String, Shown>>,
}

impl AuditView {
    fn entries(&self) -> &[crate::vault::AuditEntry] {
        match &self.page {
            Some(Ok(p)) => &p.entries,
            _ => &[],
        }
    }
}

/// A one-line message in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Shown in red.
    pub error: bool,
}

/// The help overlay: the keys of the screen it was opened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpView {
    /// The contexts of that screen, innermost first.
    pub contexts: Vec<Context>,
    /// Lines scrolled.
    pub scroll: usize,
}

/// A yes/no question before an act that cannot be undone.
#[derive(Debug)]
pub struct Confirm {
    /// The question, naming exactly what happens.
    pub question: String,
    /// Jobs to run on yes.
    pub jobs: Vec<Job>,
    /// Quit on yes (after the jobs).
    pub then_quit: Option<SealReason>,
}

/// What a one-line prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptFor {
    /// The audit filter.
    AuditFilter,
    /// The directory a checkpoint is written to.
    Checkpoint,
    /// The directory the log is exported to.
    ExportLog,
}

/// A one-line prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What for.
    pub purpose: PromptFor,
    /// The text typed.
    pub input: String,
    /// Why the last Enter was refused.
    pub error: Option<String>,
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
    /// When the vault was last re-read (asked for).
    pub last_refresh: Instant,
    /// A refresh is under way.
    pub refreshing: bool,
    /// Idle time before re-sealing.
    pub idle_timeout: Duration,
    /// Terminal size (columns, rows), as last drawn.
    pub viewport: (u16, u16),
    /// Draw without colour (`NO_COLOR`).
    pub no_color: bool,
    /// Current tab.
    pub tab: Tab,
    /// The vault's status.
    pub status: Option<Result<Status, Shown>>,
    /// Mounted media.
    pub media: Vec<Medium>,
    /// The audit tab.
    pub audit: AuditView,
    /// Seed requests (None until first read), oldest first.
    pub requests: Option<Result<Vec<Request>, Shown>>,
    /// Unix time of the last read, to tell an expired approval.
    pub read_at: i64,
    /// Seal state.
    pub session: Session,
    /// The unseal dialog, when open.
    pub dialog: Option<UnsealDialog>,
    /// A confirmation, when asked.
    pub confirm: Option<Confirm>,
    /// A one-line prompt, when open.
    pub prompt: Option<Prompt>,
    /// Help overlay, when shown.
    pub help: Option<HelpView>,
    /// The ingest wizard, when open.
    pub ingest: Option<IngestWizard>,
    /// The export dialog, when open.
    pub export: Option<ExportDialog>,
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
    /// A fresh state; the caller should send [`State::first_jobs`].
    pub fn new(vault_dir: PathBuf, idle_timeout: Duration, now: Instant) -> Self {
        State {
            vault_dir,
            now,
            last_activity: now,
            last_refresh: now,
            refreshing: false,
            idle_timeout,
            viewport: (80, 24),
            no_color: false,
            tab: Tab::Overview,
            status: None,
            media: Vec::new(),
            requests: None,
            read_at: 0,
            audit: AuditView {
                page: None,
                selected: 0,
                open: None,
                opened: String::new(),
                filter: None,
                loading: false,
                queued: Vec::new(),
                stale: false,
                verify: Check::NotRun,
                replay: Check::NotRun,
                progress: None,
                wrote: None,
            },
            session: Session::Sealed,
            dialog: None,
            confirm: None,
            prompt: None,
            help: None,
            ingest: None,
            export: None,
            notice: None,
            pending: 0,
            quit: false,
            acts: super::acts::Acts::default(),
        }
    }

    /// What to read first: the status and the log's last page.
    pub fn first_jobs(&mut self) -> Vec<Job> {
        self.refreshing = true;
        vec![Job::Refresh, self.page_job(Anchor::Last, Select::Last)]
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

    /// The keybinding contexts of the screen under any overlay, innermost first.
    pub fn screen_contexts(&self) -> Vec<Context> {
        if self.confirm.is_some() {
            return vec![Context::Confirm];
        }
        if let Some(d) = &self.dialog {
            return d.contexts();
        }
        if self.prompt.is_some() {
            return vec![Context::TextField, Context::Prompt];
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
        match self.tab {
            Tab::Audit if self.audit.open.is_some() => vec![Context::Entry, Context::Main],
            Tab::Audit => vec![Context::Audit, Context::Main],
            _ => vec![Context::Main],
        }
    }

    /// The keybinding contexts active now, innermost first.
    pub fn contexts(&self) -> Vec<Context> {
        if self.help.is_some() {
            return vec![Context::Help];
        }
        self.screen_contexts()
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

    /// Rows of the audit list on screen.
    pub fn audit_rows(&self) -> usize {
        super::ui::audit_rows(self)
    }

    fn page_job(&mut self, anchor: Anchor, select: Select) -> Job {
        self.audit.loading = true;
        Job::AuditPage(PageQuery {
            filter: self.audit.filter.clone(),
            anchor,
            rows: self.audit_rows(),
            select,
        })
    }

    /// The page again around the selected entry (after a resize or a
    /// refresh that found new entries).
    pub fn reload_page(&mut self) -> Job {
        let entries = self.audit.entries();
        let at_end = match &self.audit.page {
            Some(Ok(p)) => !p.more_after && self.audit.selected + 1 >= p.entries.len(),
            _ => true,
        };
        match (entries.first(), entries.get(self.audit.selected)) {
            (Some(first), Some(sel)) if !at_end => {
                let (first, sel) = (first.seq, sel.seq);
                self.page_job(Anchor::From(first), Select::Seq(sel))
            }
            _ => self.page_job(Anchor::Last, Select::Last),
        }
    }

    pub(super) fn apply_snapshot(&mut self, s: Snapshot) -> Vec<Job> {
        let entries_before = match &self.status {
            Some(Ok(st)) => Some(st.audit.entries),
            _ => None,
        };
        self.status = Some(s.status);
        self.media = s.media;
        self.requests = Some(s.requests);
        self.read_at = s.read_at;
        let entries_now = match &self.status {
            Some(Ok(st)) => Some(st.audit.entries),
            _ => None,
        };
        if entries_now == entries_before || entries_before.is_none() {
            // Unchanged, or the first read (the first page is asked for with it).
            return Vec::new();
        }
        // A verdict of "intact" about fewer entries must not pass for one
        // about these (a broken chain stays broken).
        if matches!(&self.audit.verify, Check::Done(Ok(r)) if r.problems.is_empty()) {
            self.audit.verify = Check::NotRun;
        }
        if matches!(&self.audit.replay, Check::Done(Ok(r)) if r.differences.is_empty()) {
            self.audit.replay = Check::NotRun;
        }
        if self.audit.loading {
            self.audit.stale = true;
            return Vec::new();
        }
        vec![self.reload_page()]
    }
}

/// Applies one action. Returns the jobs it needs done.
pub fn update(state: &mut State, action: Action) -> Vec<Job> {
    if state.help.is_some() {
        return update_help(state, action);
    }
    if action == Action::ForceQuit {
        return quit(state, SealReason::Quit);
    }
    if action == Action::ToggleHelp {
        // Help for what has the keyboard: a screen, a dialog, a form (F1
        // anywhere; `?` where nothing is typed).
        state.help = Some(HelpView {
            contexts: state.screen_contexts(),
            scroll: 0,
        });
        return Vec::new();
    }
    if state.confirm.is_some() {
        return update_confirm(state, action);
    }
    if state.dialog.is_some() {
        return update_dialog(state, action);
    }
    if state.prompt.is_some() {
        return update_prompt(state, action);
    }
    if state.ingest.is_some() || state.export.is_some() {
        return super::quorum::update(state, action);
    }
    if let Some(jobs) = super::acts::update(state, action) {
        return jobs;
    }
    match action {
        Action::Quit => ask_quit(state),
        Action::NextTab => goto_tab(state, (state.tab.index() + 1) % Tab::ALL.len()),
        Action::PrevTab => goto_tab(
            state,
            (state.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len(),
        ),
        Action::GotoTab(i) => goto_tab(state, usize::from(i)),
        Action::Refresh => {
            state.info("re-reading the vault");
            let mut jobs = refresh(state);
            jobs.push(Job::Acts(super::acts::work::ActJob::Lists));
            jobs
        }
        Action::OpenUnseal => open_unseal(state),
        Action::Seal => seal(state, SealReason::Key),
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
        _ if state.tab == Tab::Audit => update_audit(state, action),
        // Esc on a screen with nothing to close does nothing: it never quits.
        _ => Vec::new(),
    }
}

fn refresh(state: &mut State) -> Vec<Job> {
    state.last_refresh = state.now;
    if state.refreshing {
        return Vec::new();
    }
    state.refreshing = true;
    vec![Job::Refresh]
}

fn open_unseal(state: &mut State) -> Vec<Job> {
    match &state.session {
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
    }
}

fn seal(state: &mut State, reason: SealReason) -> Vec<Job> {
    match state.session {
        Session::Unsealed { .. } | Session::Unsealing => {
            state.session = Session::Sealing;
            state.info("sealing");
            vec![Job::Seal(reason)]
        }
        _ => {
            state.info("the vault is sealed");
            Vec::new()
        }
    }
}

/// `q`: quits at once while sealed; while unsealed, asks first, naming
/// whose key is wiped.
pub(super) fn ask_quit(state: &mut State) -> Vec<Job> {
    match &state.session {
        Session::Unsealed { officers, .. } => {
            state.confirm = Some(Confirm {
                question: format!(
                    "seal the vault (key of {} wiped) and quit?",
                    officers.join(", ")
                ),
                jobs: Vec::new(),
                then_quit: Some(SealReason::Quit),
            });
            Vec::new()
        }
        Session::Unsealing => {
            state.confirm = Some(Confirm {
                question: "cards are being opened: stop, seal the vault and quit?".into(),
                jobs: Vec::new(),
                then_quit: Some(SealReason::Quit),
            });
            Vec::new()
        }
        _ => quit(state, SealReason::Quit),
    }
}

fn quit(state: &mut State, reason: SealReason) -> Vec<Job> {
    state.quit = true;
    state.dialog = None; // wipes any typed passphrase
    state.confirm = None;
    state.prompt = None;
    state.ingest = None;
    state.export = None;
    super::acts::close(state); // wipes an officer's typed passphrase
    match state.session {
        Session::Unsealed { .. } | Session::Unsealing => {
            state.session = Session::Sealing;
            vec![Job::Seal(reason)]
        }
        _ => Vec::new(),
    }
}

fn update_confirm(state: &mut State, action: Action) -> Vec<Job> {
    match action {
        Action::Confirm => {
            let Some(c) = state.confirm.take() else {
                return Vec::new();
            };
            let mut jobs = c.jobs;
            if let Some(reason) = c.then_quit {
                jobs.extend(quit(state, reason));
            }
            jobs
        }
        Action::Back => {
            state.confirm = None;
            state.info("cancelled");
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn update_help(state: &mut State, action: Action) -> Vec<Job> {
    let lines = super::ui::help_lines(state).len();
    let rows = super::ui::help_rows(state).max(1);
    let max = lines.saturating_sub(rows);
    let Some(h) = state.help.as_mut() else {
        return Vec::new();
    };
    match action {
        Action::ToggleHelp | Action::Back => state.help = None,
        Action::ForceQuit => return quit(state, SealReason::Quit),
        Action::Up => h.scroll = h.scroll.saturating_sub(1),
        Action::Down => h.scroll = (h.scroll + 1).min(max),
        Action::PageUp => h.scroll = h.scroll.saturating_sub(rows),
        Action::PageDown => h.scroll = (h.scroll + rows).min(max),
        Action::Home => h.scroll = 0,
        Action::End => h.scroll = max,
        _ => {}
    }
    Vec::new()
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

fn update_prompt(state: &mut State, action: Action) -> Vec<Job> {
    let Some(p) = state.prompt.as_mut() else {
        return Vec::new();
    };
    match action {
        Action::Input(c) => p.input.push(c),
        Action::Backspace => {
            p.input.pop();
        }
        Action::ClearInput => p.input.clear(),
        Action::Back => state.prompt = None,
        Action::Confirm => return confirm_prompt(state),
        _ => {}
    }
    Vec::new()
}

fn confirm_prompt(state: &mut State) -> Vec<Job> {
    let Some(p) = state.prompt.as_mut() else {
        return Vec::new();
    };
    let text = p.input.trim().to_owned();
    match p.purpose {
        PromptFor::AuditFilter => {
            if text.is_empty() {
                state.prompt = None;
                state.audit.filter = None;
            } else {
                match AuditFilter::parse(&text) {
                    Ok(f) => {
                        state.prompt = None;
                        state.audit.filter = Some(f);
                    }
                    Err(e) => {
                        p.error = Some(e.to_string());
                        return Vec::new();
                    }
                }
            }
            state.audit.open = None;
            vec![state.page_job(Anchor::Last, Select::Last)]
        }
        PromptFor::Checkpoint | PromptFor::ExportLog if text.is_empty() => {
            p.error = Some("type the medium's directory".into());
            Vec::new()
        }
        PromptFor::Checkpoint => {
            state.prompt = None;
            state.info("signing a checkpoint");
            vec![Job::Checkpoint(PathBuf::from(text))]
        }
        PromptFor::ExportLog => {
            state.prompt = None;
            state.info("exporting the log");
            vec![Job::ExportLog(PathBuf::from(text))]
        }
    }
}

fn open_prompt(state: &mut State, purpose: PromptFor) {
    let input = match purpose {
        PromptFor::AuditFilter => state
            .audit
            .filter
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        _ => state
            .media
            .first()
            .map(|m| m.mount_point.display().to_string())
            .unwrap_or_default(),
    };
    state.prompt = Some(Prompt {
        purpose,
        input,
        error: None,
    });
}

fn update_audit(state: &mut State, action: Action) -> Vec<Job> {
    match action {
        Action::VerifyChain => {
            state.audit.verify = Check::Running;
            state.audit.progress = None;
            vec![Job::Verify]
        }
        Action::Replay => {
            state.audit.replay = Check::Running;
            state.audit.progress = None;
            vec![Job::Replay]
        }
        Action::Filter => {
            open_prompt(state, PromptFor::AuditFilter);
            Vec::new()
        }
        Action::ExportLog => {
            open_prompt(state, PromptFor::ExportLog);
            Vec::new()
        }
        Action::Checkpoint => {
            if matches!(state.session, Session::Unsealed { .. }) {
                open_prompt(state, PromptFor::Checkpoint);
            } else {
                state.audit.wrote = Some(Err(Shown::text(
                    "signing a checkpoint needs the vault key",
                    Some("press u to unseal with a quorum, then c again"),
                )));
            }
            Vec::new()
        }
        Action::Back if state.audit.open.is_some() => {
            state.audit.open = None;
            Vec::new()
        }
        Action::Back if state.audit.filter.is_some() => {
            state.audit.filter = None;
            vec![state.page_job(Anchor::Last, Select::Last)]
        }
        _ if state.audit.open.is_some() => {
            entry_nav(state, action);
            Vec::new()
        }
        _ if state.audit.loading => {
            if matches!(
                action,
                Action::Up
                    | Action::Down
                    | Action::PageUp
                    | Action::PageDown
                    | Action::Home
                    | Action::End
                    | Action::Confirm
            ) {
                state.audit.queued.push(action);
            }
            Vec::new()
        }
        _ => audit_nav(state, action),
    }
}

fn entry_nav(state: &mut State, action: Action) {
    let lines = super::ui::entry_lines(state).len();
    let rows = super::ui::entry_rows(state).max(1);
    let max = lines.saturating_sub(rows);
    let Some(scroll) = state.audit.open.as_mut() else {
        return;
    };
    match action {
        Action::Up => *scroll = scroll.saturating_sub(1),
        Action::Down => *scroll = (*scroll + 1).min(max),
        Action::PageUp => *scroll = scroll.saturating_sub(rows),
        Action::PageDown => *scroll = (*scroll + rows).min(max),
        Action::Home => *scroll = 0,
        Action::End => *scroll = max,
        Action::Confirm => state.audit.open = None,
        _ => {}
    }
}

/// Moves in the list; past the page's edge, asks for the next page.
fn audit_nav(state: &mut State, action: Action) -> Vec<Job> {
    let (n, more_before, more_after) = match &state.audit.page {
        Some(Ok(p)) => (p.entries.len(), p.more_before, p.more_after),
        _ => return Vec::new(),
    };
    if n == 0 {
        return Vec::new();
    }
    let seq = |i: usize| state.audit.entries().get(i).map_or(0, |e| e.seq);
    let sel = state.audit.selected.min(n - 1);
    let (anchor, select) = match action {
        Action::Up if sel > 0 => {
            state.audit.selected = sel - 1;
            return Vec::new();
        }
        Action::Up if more_before && n >= 2 => (Anchor::Until(seq(n - 2)), Select::First),
        Action::Up if more_before => (Anchor::Before(seq(0)), Select::Last),
        Action::Down if sel + 1 < n => {
            state.audit.selected = sel + 1;
            return Vec::new();
        }
        Action::Down if more_after && n >= 2 => (Anchor::From(seq(1)), Select::Last),
        Action::Down if more_after => (Anchor::After(seq(0)), Select::First),
        Action::PageDown if more_after => (
            Anchor::After(seq(n - 1)),
            Select::PageDown {
                row: sel,
                after: seq(n - 1),
            },
        ),
        Action::PageDown | Action::End if !more_after => {
            state.audit.selected = n - 1;
            return Vec::new();
        }
        Action::PageUp if more_before => (
            Anchor::Before(seq(0)),
            Select::PageUp {
                row: sel,
                before: seq(0),
            },
        ),
        Action::PageUp | Action::Home if !more_before => {
            state.audit.selected = 0;
            return Vec::new();
        }
        Action::Home => (Anchor::First, Select::First),
        Action::End => (Anchor::Last, Select::Last),
        Action::Confirm => {
            state.audit.selected = sel;
            state.audit.opened = state
                .audit
                .entries()
                .get(sel)
                .map(|e| crate::vault::audit_browse::pretty_json(&e.json))
                .unwrap_or_default();
            state.audit.open = Some(0);
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    vec![state.page_job(anchor, select)]
}

/// A page arrived: select the row asked for, then apply the keys that
/// waited for it.
fn apply_page(state: &mut State, q: PageQuery, page: Result<AuditPage, Shown>) -> Vec<Job> {
    state.audit.loading = false;
    if q.filter != state.audit.filter {
        // Asked for under another filter: read again under this one.
        state.audit.queued.clear();
        return vec![state.page_job(Anchor::Last, Select::Last)];
    }
    let n = page.as_ref().map_or(0, |p| p.entries.len());
    let last = n.saturating_sub(1);
    state.audit.selected = match (&page, q.select) {
        (Ok(_), Select::First) | (Err(_), _) => 0,
        (Ok(_), Select::Last) => last,
        (Ok(p), Select::Seq(s)) => p.entries.iter().position(|e| e.seq >= s).unwrap_or(last),
        (Ok(p), Select::PageDown { row, after }) => {
            if p.first_seq().is_some_and(|f| f > after) {
                row.min(last)
            } else {
                last
            }
        }
        (Ok(p), Select::PageUp { row, before }) => {
            if p.last_seq().is_some_and(|l| l < before) {
                row.min(last)
            } else {
                0
            }
        }
    };
    state.audit.page = Some(page);
    let mut jobs = Vec::new();
    if std::mem::take(&mut state.audit.stale) {
        jobs.push(state.reload_page());
        return jobs; // the queued keys wait for the fresh page
    }
    let queued = std::mem::take(&mut state.audit.queued);
    let mut rest = queued.into_iter();
    for a in rest.by_ref() {
        jobs.extend(update_audit(state, a));
        if state.audit.loading {
            break;
        }
    }
    state.audit.queued.extend(rest);
    jobs
}

fn update_dialog(state: &mut State, action: Action) -> Vec<Job> {
    let Some(d) = state.dialog.as_mut() else {
        return Vec::new();
    };
    match d.update(action) {
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
    }
}

/// Folds a reply from the vault thread into the state. Returns the jobs
/// it leads to (a page after new entries, keys that waited).
pub fn apply(state: &mut State, reply: Reply) -> Vec<Job> {
    // A progress report is not the job's answer: it leaves `pending` alone.
    if reply.is_final() {
        state.pending = state.pending.saturating_sub(1);
    }
    match reply {
        Reply::Progress { what, done, total } => {
            state.audit.progress = Some((what, done, total));
            Vec::new()
        }
        r @ (Reply::Ingest(..) | Reply::Export(..)) => super::quorum::apply(state, r),
        Reply::Refreshed(s) => {
            state.refreshing = false;
            if state
                .notice
                .as_ref()
                .is_some_and(|n| n.text == "re-reading the vault")
            {
                state.info("re-read");
            }
            state.apply_snapshot(s)
        }
        Reply::AuditPage(q, page) => apply_page(state, q, page),
        Reply::Verified(r) => {
            state.audit.progress = None;
            match &r {
                Ok(rep) if rep.problems.is_empty() => {
                    state.info(format!("audit chain intact: {} entries", rep.entries))
                }
                Ok(rep) => state.error(format!(
                    "AUDIT CHAIN BROKEN: {} problem(s)",
                    rep.problems.len()
                )),
                Err(e) => state.error(e.message.clone()),
            }
            state.audit.verify = Check::Done(r);
            Vec::new()
        }
        Reply::Replayed(r) => {
            state.audit.progress = None;
            match &r {
                Ok(rep) if rep.differences.is_empty() => {
                    state.info(format!("replay matches the vault: {} entries", rep.entries))
                }
                Ok(rep) => state.error(format!(
                    "REPLAY DIFFERS: {} difference(s)",
                    rep.differences.len()
                )),
                Err(e) => state.error(e.message.clone()),
            }
            state.audit.replay = Check::Done(r);
            Vec::new()
        }
        Reply::Wrote(r, snap) => {
            match &r {
                Ok(what) => state.info(format!("written: {what}")),
                Err(e) => state.error(e.message.clone()),
            }
            state.audit.wrote = Some(r);
            state.apply_snapshot(snap)
        }
        Reply::Cards {
            dirs,
            cards,
            errors,
        } => {
            // The officer card dialog takes the scan when it asked for it.
            match super::acts::cards_found(state, dirs, cards, errors) {
                Some((dirs, cards, errors)) => match state.dialog.as_mut() {
                    Some(d) => d.cards_found(dirs, cards, errors),
                    None => Vec::new(),
                },
                None => Vec::new(),
            }
        }
        Reply::Acts(r, snap) => {
            let jobs = match snap {
                Some(snap) => state.apply_snapshot(*snap),
                None => Vec::new(),
            };
            super::acts::apply(state, r);
            jobs
        }
        Reply::Checked(r, snap) => {
            let mut jobs = state.apply_snapshot(snap);
            if let Some(d) = state.dialog.as_mut() {
                jobs.extend(d.checked(r));
            }
            jobs
        }
        Reply::PassphraseChecked(path, r, snap) => {
            let mut jobs = state.apply_snapshot(snap);
            let more = match state.dialog.as_mut() {
                Some(d) => d.passphrase_checked(&path, r, state.now),
                None => Vec::new(),
            };
            if more.iter().any(|j| matches!(j, Job::Unseal(_))) {
                state.session = Session::Unsealing;
            }
            jobs.extend(more);
            jobs
        }
        Reply::Unsealed(r, snap) => {
            let jobs = state.apply_snapshot(snap);
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
                        None => state.error(format!("unseal refused: {}", e.message)),
                    }
                }
            }
            jobs
        }
        Reply::Sealed(snap) => {
            state.session = Session::Sealed;
            if state.notice.as_ref().is_some_and(|n| n.text == "sealing") {
                state.info("sealed: the key is wiped");
            }
            state.apply_snapshot(snap)
        }
    }
}

/// Advances the clock; seals after the idle timeout and re-reads the
/// vault every [`REFRESH_EVERY`]. Returns the jobs to run.
pub fn tick(state: &mut State, now: Instant) -> Vec<Job> {
    let mut jobs = expire(state, now);
    if now.saturating_duration_since(state.last_refresh) >= REFRESH_EVERY
        && now.saturating_duration_since(state.last_activity) >= REFRESH_PAUSE
    {
        jobs.extend(refresh(state));
    }
    jobs
}

/// Moves the clock to `now` and seals after the idle timeout (what a key
/// press checks before it counts as activity). Returns the jobs to run.
pub fn expire(state: &mut State, now: Instant) -> Vec<Job> {
    state.now = now;
    let mut jobs = Vec::new();
    let idle = now.saturating_duration_since(state.last_activity);
    if idle < state.idle_timeout {
        return jobs;
    }
    if matches!(state.session, Session::Unsealed { .. }) {
        state.session = Session::Sealing;
        state.confirm = None;
        state.info(format!(
            "sealed: no key pressed for {}",
            super::ui::clock(state.idle_timeout)
        ));
        jobs.push(Job::Seal(SealReason::Idle));
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
        assert!(expire(&mut s, t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(s.idle_left(), Some(Duration::from_secs(1)));
        let jobs = expire(&mut s, t0 + Duration::from_secs(60));
        assert!(matches!(jobs.as_slice(), [Job::Seal(SealReason::Idle)]));
        assert_eq!(s.session, Session::Sealing);
        // Only once.
        assert!(expire(&mut s, t0 + Duration::from_secs(61)).is_empty());
        // The clock also re-reads the vault, every few seconds of no key.
        assert!(matches!(
            tick(&mut s, t0 + Duration::from_secs(62)).as_slice(),
            [Job::Refresh]
        ));
    }

    #[test]
    fn quit_and_s_seal_an_unsealed_session() {
        let t0 = Instant::now();
        let mut s = unsealed(t0);
        // q asks first; Esc on the question keeps the session.
        assert!(update(&mut s, Action::Quit).is_empty());
        assert!(s.confirm.is_some() && !s.quit);
        update(&mut s, Action::Back);
        assert!(s.confirm.is_none() && !s.quit);
        update(&mut s, Action::Quit);
        assert!(matches!(
            update(&mut s, Action::Confirm).as_slice(),
            [Job::Seal(SealReason::Quit)]
        ));
        assert!(s.quit);
        let mut s = unsealed(t0);
        assert!(matches!(
            update(&mut s, Action::Seal).as_slice(),
            [Job::Seal(SealReason::Key)]
        ));
        assert_eq!(s.session, Session::Sealing);
    }

    #[test]
    fn esc_never_quits() {
        let t0 = Instant::now();
        let mut s = unsealed(t0);
        for tab in 0..5 {
            update(&mut s, Action::GotoTab(tab));
            for a in [Action::Back, Action::ToggleHelp, Action::Back, Action::Back] {
                assert!(update(&mut s, a).is_empty());
                assert!(!s.quit);
            }
        }
        assert!(matches!(s.session, Session::Unsealed { .. }));
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
            checking: None,
            enter_queued: false,
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
