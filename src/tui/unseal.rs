//! The unseal dialog: choose the cards, have their headers checked, type
//! each custodian's passphrase (each is checked on the vault thread as
//! soon as it is typed, so a wrong one is asked again for that card only),
//! wait while the vault thread opens them.
//!
//! The dialog is a state machine of its own inside the app's state, and
//! the only part of the TUI that holds a secret before the vault thread
//! does: the passphrases being typed. Keeping it in one module puts what
//! guards them where a reviewer reads it at once: the field is allocated
//! at its full size once (typing never leaves a copy behind in freed
//! memory), wiped on drop, shown by `Debug` as a length, and the renderer
//! (`ui::unseal`) asks for the length only. The dialog decides its own
//! steps; what concerns the whole app (the session, the status bar,
//! quitting) it hands back to `app::update` as an `Outcome`.

use std::path::PathBuf;
use std::time::Instant;

use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use super::action::Action;
use super::advice::Shown;
use super::keys::Context;
use super::worker::{CardInfo, Job};

/// Longest passphrase the field takes. The buffer is allocated at this
/// size up front so typing never reallocates (a reallocation would leave
/// a copy of the prefix behind in freed memory that nothing wipes).
pub const MAX_PASSPHRASE: usize = 512;

/// Which part of the card step has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The directory field.
    Path,
    /// The card list.
    List,
}

/// The steps of the unseal dialog.
#[derive(Debug)]
pub enum Step {
    /// Choose the cards.
    Cards,
    /// The vault thread checks the chosen cards' headers.
    Checking,
    /// Ask each chosen card's passphrase in turn.
    Passphrase {
        /// The chosen cards.
        chosen: Vec<CardInfo>,
        /// Whose passphrase is being typed.
        index: usize,
        /// Passphrases verified so far, same order as `chosen`.
        typed: Vec<SecretString>,
        /// The field; wiped on drop.
        input: PassField,
        /// The passphrase of card `index`, while the vault thread checks
        /// it. Meanwhile the field takes the next card's passphrase.
        checking: Option<SecretString>,
        /// Enter was pressed on the next passphrase during the check.
        enter_queued: bool,
    },
    /// The vault thread is running Argon2id and combining the shares.
    Working {
        /// The custodians whose cards are being opened.
        names: Vec<String>,
        /// When it started (for the spinner).
        since: Instant,
    },
}

/// The passphrase being typed. Wiped on drop; `Debug` shows its length
/// only, so a logged or panicking state cannot print it.
pub struct PassField(Zeroizing<String>);

impl PassField {
    pub(super) fn new() -> Self {
        PassField(Zeroizing::new(String::with_capacity(MAX_PASSPHRASE)))
    }
}

impl std::ops::Deref for PassField {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl std::ops::DerefMut for PassField {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.0
    }
}

impl std::fmt::Debug for PassField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PassField([REDACTED {} chars])", self.0.chars().count())
    }
}

/// The unseal dialog.
#[derive(Debug)]
pub struct UnsealDialog {
    /// Current step.
    pub step: Step,
    /// The directory field (empty: media mounts and default directories).
    pub dir: String,
    /// Directories the last scan looked in.
    pub scanned: Vec<PathBuf>,
    /// Whether a scan is running.
    pub scanning: bool,
    /// Cards found.
    pub cards: Vec<CardInfo>,
    /// Card files that could not be read.
    pub scan_errors: Vec<String>,
    /// Which are chosen.
    pub chosen: Vec<bool>,
    /// Cursor in the list.
    pub cursor: usize,
    /// Keyboard focus in the card step.
    pub focus: Focus,
    /// The library's last refusal, verbatim, with advice.
    pub error: Option<Shown>,
    /// Keys pressed in the card list while the scan ran (applied when
    /// it ends, so keys typed right after `u` are not lost).
    queued: Vec<Action>,
}

impl UnsealDialog {
    pub(super) fn new() -> Self {
        UnsealDialog {
            step: Step::Cards,
            dir: String::new(),
            scanned: Vec::new(),
            scanning: true,
            cards: Vec::new(),
            scan_errors: Vec::new(),
            chosen: Vec::new(),
            cursor: 0,
            focus: Focus::List,
            error: None,
            queued: Vec::new(),
        }
    }

    /// How many characters are in the passphrase field (all that the
    /// screen may learn about it).
    pub fn masked_len(&self) -> usize {
        match &self.step {
            Step::Passphrase { input, .. } => input.chars().count(),
            _ => 0,
        }
    }
    /// True while passphrases are being typed or held (the idle timeout
    /// closes the dialog then, wiping them).
    pub fn holds_passphrases(&self) -> bool {
        matches!(self.step, Step::Passphrase { .. })
    }

    /// The keybinding contexts active in the dialog, innermost first.
    pub(super) fn contexts(&self) -> Vec<Context> {
        match (&self.step, self.focus) {
            (Step::Cards, Focus::Path) | (Step::Passphrase { .. }, _) => {
                vec![Context::TextField, Context::Dialog]
            }
            (Step::Cards, Focus::List) => vec![Context::CardList, Context::Dialog],
            _ => vec![Context::Dialog],
        }
    }

    /// Applies one action (Quit is the app's, before this is called).
    pub(super) fn update(&mut self, action: Action) -> Outcome {
        if action == Action::Back {
            if matches!(self.step, Step::Working { .. }) {
                // The thread is already opening the cards; let it finish and
                // report, rather than leave an unseal nobody sees.
                return Outcome::Busy;
            }
            return Outcome::Cancel;
        }
        match &mut self.step {
            Step::Cards => Outcome::Jobs(self.cards_step(action)),
            Step::Passphrase {
                input,
                checking,
                enter_queued,
                ..
            } => {
                match action {
                    Action::Input(c) if input.len() + c.len_utf8() <= MAX_PASSPHRASE => {
                        input.push(c)
                    }
                    Action::Backspace => {
                        input.pop();
                    }
                    Action::ClearInput => input.0.zeroize(),
                    Action::Confirm if input.is_empty() => {
                        self.error = Some(Shown::text("type the passphrase, then Enter", None));
                    }
                    // Typed ahead while the card before is checked: it goes
                    // when the verdict comes (and is wiped if it is a no).
                    Action::Confirm if checking.is_some() => *enter_queued = true,
                    Action::Confirm => return Outcome::Jobs(self.submit()),
                    _ => {}
                }
                Outcome::Jobs(Vec::new())
            }
            Step::Checking | Step::Working { .. } => Outcome::Jobs(Vec::new()),
        }
    }

    fn cards_step(&mut self, action: Action) -> Vec<Job> {
        if action == Action::SwitchFocus {
            self.focus = if self.focus == Focus::Path {
                Focus::List
            } else {
                Focus::Path
            };
            return Vec::new();
        }
        match self.focus {
            Focus::Path => match action {
                Action::Input(c) => self.dir.push(c),
                Action::Backspace => {
                    self.dir.pop();
                }
                Action::ClearInput => self.dir.clear(),
                Action::Confirm => {
                    self.scanning = true;
                    self.focus = Focus::List;
                    let dir = self.dir.trim();
                    return vec![Job::ScanCards(
                        (!dir.is_empty()).then(|| PathBuf::from(dir)),
                    )];
                }
                _ => {}
            },
            Focus::List if self.scanning => {
                if matches!(
                    action,
                    Action::Up | Action::Down | Action::ToggleCard | Action::Confirm
                ) {
                    self.queued.push(action);
                }
            }
            Focus::List => match action {
                Action::Up => self.cursor = self.cursor.saturating_sub(1),
                Action::Down => {
                    self.cursor = (self.cursor + 1).min(self.cards.len().saturating_sub(1))
                }
                Action::ToggleCard => {
                    if let Some(c) = self.chosen.get_mut(self.cursor) {
                        *c = !*c;
                    }
                }
                Action::Confirm => {
                    let paths: Vec<PathBuf> = self
                        .cards
                        .iter()
                        .zip(&self.chosen)
                        .filter(|(_, on)| **on)
                        .map(|(c, _)| c.path.clone())
                        .collect();
                    if paths.is_empty() {
                        // Nothing to check, nothing to log.
                        self.error = Some(Shown::text(
                            "no card selected",
                            Some("select a card with Space"),
                        ));
                        return Vec::new();
                    }
                    self.error = None;
                    self.step = Step::Checking;
                    return vec![Job::CheckCards(paths)];
                }
                _ => {}
            },
        }
        Vec::new()
    }

    /// The vault thread's answer to a card scan: its cards join the list
    /// (cards already chosen stay chosen, so cards from two directories
    /// can be combined), then the keys typed during the scan apply.
    pub(super) fn cards_found(
        &mut self,
        dirs: Vec<PathBuf>,
        cards: Vec<CardInfo>,
        errors: Vec<String>,
    ) -> Vec<Job> {
        self.scanning = false;
        for d in dirs {
            if !self.scanned.contains(&d) {
                self.scanned.push(d);
            }
        }
        // Chosen cards first, as they were; then the new scan's.
        let mut kept: Vec<(CardInfo, bool)> = self
            .cards
            .drain(..)
            .zip(self.chosen.drain(..))
            .filter(|(_, on)| *on)
            .collect();
        for c in cards {
            if !kept.iter().any(|(k, _)| k.path == c.path) {
                kept.push((c, false));
            }
        }
        (self.cards, self.chosen) = kept.into_iter().unzip();
        self.scan_errors = errors;
        self.cursor = self.cursor.min(self.cards.len().saturating_sub(1));
        let mut jobs = Vec::new();
        for a in std::mem::take(&mut self.queued) {
            if let Outcome::Jobs(j) = self.update(a) {
                jobs.extend(j);
            }
        }
        jobs
    }

    /// Sends the field's passphrase for the current card to be checked.
    fn submit(&mut self) -> Vec<Job> {
        let Step::Passphrase {
            chosen,
            index,
            input,
            checking,
            enter_queued,
            ..
        } = &mut self.step
        else {
            return Vec::new();
        };
        *enter_queued = false;
        let Some(card) = chosen.get(*index) else {
            return Vec::new();
        };
        self.error = None;
        let pass = SecretString::from(input.as_str().to_owned());
        input.0.zeroize();
        let job = Job::CheckPassphrase(card.path.clone(), pass.clone());
        *checking = Some(pass);
        vec![job]
    }

    /// The vault thread's verdict on one passphrase: on to the next card
    /// (sending its passphrase if it was typed ahead), or after the last,
    /// [`Job::Unseal`] with every card and passphrase; or the same card
    /// again with the refusal (anything typed ahead is wiped).
    pub(super) fn passphrase_checked(
        &mut self,
        path: &std::path::Path,
        verdict: Result<(), Shown>,
        now: Instant,
    ) -> Vec<Job> {
        let Step::Passphrase {
            chosen,
            index,
            typed,
            input,
            checking,
            enter_queued,
        } = &mut self.step
        else {
            return Vec::new();
        };
        if chosen.get(*index).is_none_or(|c| c.path != path) {
            return Vec::new();
        }
        let Some(pass) = checking.take() else {
            return Vec::new();
        };
        match verdict {
            Err(e) => {
                drop(pass); // wiped
                input.0.zeroize();
                *enter_queued = false;
                self.error = Some(e);
                Vec::new()
            }
            Ok(()) => {
                typed.push(pass);
                *index += 1;
                if *index < chosen.len() {
                    if *enter_queued && !input.is_empty() {
                        return self.submit();
                    }
                    return Vec::new();
                }
                let names = chosen.iter().map(|c| c.custodian.clone()).collect();
                let given = chosen
                    .iter()
                    .map(|c| c.path.clone())
                    .zip(std::mem::take(typed))
                    .collect();
                self.step = Step::Working { names, since: now };
                vec![Job::Unseal(given)]
            }
        }
    }

    /// The vault thread's verdict on the chosen cards' headers: on to the
    /// passphrases, or back to the cards with the refusal. A verdict that
    /// arrives when the dialog is no longer waiting for one is ignored.
    pub(super) fn checked(&mut self, verdict: Result<(), Shown>) -> Vec<Job> {
        if !matches!(self.step, Step::Checking) {
            return Vec::new();
        }
        match verdict {
            Ok(()) => {
                let chosen: Vec<CardInfo> = self
                    .cards
                    .iter()
                    .zip(&self.chosen)
                    .filter(|(_, on)| **on)
                    .map(|(c, _)| c.clone())
                    .collect();
                let n = chosen.len();
                self.step = Step::Passphrase {
                    chosen,
                    index: 0,
                    typed: Vec::with_capacity(n),
                    input: PassField::new(),
                    checking: None,
                    enter_queued: false,
                };
            }
            Err(e) => {
                self.step = Step::Cards;
                self.error = Some(e);
            }
        }
        Vec::new()
    }

    /// The unseal was refused: back to the cards, with the library's
    /// message in full.
    pub(super) fn refused(&mut self, message: Shown) {
        self.step = Step::Cards;
        self.error = Some(message);
    }
}

/// What an action in the dialog asks of the app around it.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Handled in the dialog; these jobs (often none) go to the vault thread.
    Jobs(Vec<Job>),
    /// Esc: close the dialog.
    Cancel,
    /// Esc while the cards are being opened: the dialog stays.
    Busy,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tui::app::{update, State};

    #[test]
    fn esc_does_not_abandon_a_running_unseal() {
        let t0 = Instant::now();
        let mut s = State::new(PathBuf::from("v"), Duration::from_secs(60), t0);
        let mut d = UnsealDialog::new();
        d.step = Step::Working {
            names: vec!["alice".into()],
            since: t0,
        };
        s.dialog = Some(d);
        update(&mut s, Action::Back);
        assert!(s.dialog.is_some());
    }
}
