//! The officer card dialog: one officer's card and passphrase for one act.
//!
//! Acts of one person (order add and assign, request create, approve,
//! reject, serial void, card check) are signed with that officer's own
//! card key, so they ask for the card even during an unsealed session:
//! the session proves a quorum was present once, not who is at the
//! keyboard now. The dialog says who is acting (the custodian the chosen
//! card names) and what for, before the passphrase is typed.
//!
//! The passphrase lives in the unseal dialog's [`PassField`]: allocated
//! once at full size, wiped on drop, shown by `Debug` as a length. It
//! leaves the dialog once, as a `SecretString` in the job for the vault
//! thread; `Esc`, the idle timeout and quitting drop (wipe) it.

use std::path::PathBuf;
use std::time::Instant;

use secrecy::SecretString;
use zeroize::Zeroize;

use super::action::Action;
use super::acts::work::Act;
use super::keys::Context;
use super::unseal::{PassField, MAX_PASSPHRASE};
use super::worker::CardInfo;

/// The steps of the officer dialog.
#[derive(Debug)]
pub enum OfficerStep {
    /// Choose the acting officer's card.
    Cards,
    /// Type that card's passphrase.
    Passphrase {
        /// The chosen card.
        card: CardInfo,
        /// The field; wiped on drop.
        input: PassField,
    },
    /// The vault thread opens the card and does the act.
    Working {
        /// The acting officer (as the card names them).
        name: String,
        /// When it started (for the spinner).
        since: Instant,
    },
}

/// What the dialog hands back to the app.
#[derive(Debug)]
pub enum OfficerOutcome {
    /// Nothing for the app to do.
    Stay,
    /// Closed (Esc on the card list).
    Cancel,
    /// Scan the card directories and media (the unseal dialog's job), or
    /// only the directory typed.
    Scan(Option<PathBuf>),
    /// Run the act with this card and passphrase.
    Run {
        /// The card file.
        card: PathBuf,
        /// Its passphrase.
        pass: SecretString,
        /// The act.
        act: Act,
    },
}

/// The officer card dialog.
#[derive(Debug)]
pub struct OfficerDialog {
    /// The act the card is asked for.
    pub act: Act,
    /// The act in words ("approve request R0001").
    pub what: String,
    /// Current step.
    pub step: OfficerStep,
    /// Cards found by the scan.
    pub cards: Vec<CardInfo>,
    /// Directories the scan looked in.
    pub scanned: Vec<PathBuf>,
    /// Card files that could not be read.
    pub scan_errors: Vec<String>,
    /// Whether a scan is running.
    pub scanning: bool,
    /// Cursor in the card list.
    pub cursor: usize,
    /// A note for the officer (no card chosen, empty passphrase).
    pub error: Option<String>,
    /// A card directory typed by the officer (empty: media and defaults).
    pub dir: String,
    /// Whether the directory field has the keyboard.
    pub dir_focus: bool,
}

impl OfficerDialog {
    /// A dialog for `act`; the caller sends the card scan.
    pub fn new(act: Act) -> Self {
        OfficerDialog {
            what: act.describe(),
            act,
            step: OfficerStep::Cards,
            cards: Vec::new(),
            scanned: Vec::new(),
            scan_errors: Vec::new(),
            scanning: true,
            cursor: 0,
            error: None,
            dir: String::new(),
            dir_focus: false,
        }
    }

    /// Characters in the passphrase field (all the screen may learn).
    pub fn masked_len(&self) -> usize {
        match &self.step {
            OfficerStep::Passphrase { input, .. } => input.chars().count(),
            _ => 0,
        }
    }

    /// True while a passphrase is being typed.
    pub fn holds_passphrase(&self) -> bool {
        matches!(self.step, OfficerStep::Passphrase { .. })
    }

    /// The keybinding contexts, innermost first.
    pub fn contexts(&self) -> Vec<Context> {
        match self.step {
            OfficerStep::Cards if self.dir_focus => vec![Context::TextField, Context::Form],
            OfficerStep::Cards => vec![Context::OfficerCards, Context::Form],
            OfficerStep::Passphrase { .. } => vec![Context::TextField, Context::Form],
            OfficerStep::Working { .. } => vec![Context::Form],
        }
    }

    /// The scan's answer.
    pub fn cards_found(&mut self, dirs: Vec<PathBuf>, cards: Vec<CardInfo>, errors: Vec<String>) {
        self.scanning = false;
        self.scanned = dirs;
        // This vault's cards first, so the cursor starts on one.
        let (mut mine, other): (Vec<CardInfo>, Vec<CardInfo>) =
            cards.into_iter().partition(|c| c.this_vault);
        mine.extend(other);
        self.cards = mine;
        self.scan_errors = errors;
        self.cursor = self.cursor.min(self.cards.len().saturating_sub(1));
    }

    /// Applies one action.
    pub fn update(&mut self, action: Action, now: Instant) -> OfficerOutcome {
        match &mut self.step {
            OfficerStep::Cards if self.dir_focus => {
                match action {
                    Action::Back | Action::SwitchFocus => self.dir_focus = false,
                    Action::Input(c) => self.dir.push(c),
                    Action::Backspace => {
                        self.dir.pop();
                    }
                    Action::ClearInput => self.dir.clear(),
                    Action::Confirm => {
                        self.dir_focus = false;
                        self.scanning = true;
                        self.cursor = 0;
                        let dir = self.dir.trim();
                        return OfficerOutcome::Scan((!dir.is_empty()).then(|| PathBuf::from(dir)));
                    }
                    _ => {}
                }
                OfficerOutcome::Stay
            }
            OfficerStep::Cards => match action {
                Action::Back => OfficerOutcome::Cancel,
                Action::SwitchFocus => {
                    self.dir_focus = true;
                    OfficerOutcome::Stay
                }
                Action::Up => {
                    self.cursor = self.cursor.saturating_sub(1);
                    OfficerOutcome::Stay
                }
                Action::Down => {
                    self.cursor = (self.cursor + 1).min(self.cards.len().saturating_sub(1));
                    OfficerOutcome::Stay
                }
                Action::Refresh => {
                    self.scanning = true;
                    let dir = self.dir.trim();
                    OfficerOutcome::Scan((!dir.is_empty()).then(|| PathBuf::from(dir)))
                }
                Action::Confirm => match self.cards.get(self.cursor) {
                    None => {
                        self.error = Some(if self.scanning {
                            "still looking for cards…".into()
                        } else {
                            "no card found: insert the officer's medium, then r to look again"
                                .into()
                        });
                        OfficerOutcome::Stay
                    }
                    Some(c) => {
                        self.error = None;
                        self.step = OfficerStep::Passphrase {
                            card: c.clone(),
                            input: PassField::new(),
                        };
                        OfficerOutcome::Stay
                    }
                },
                _ => OfficerOutcome::Stay,
            },
            OfficerStep::Passphrase { card, input } => match action {
                // Back to the card list; the field drops (wipes) here.
                Action::Back => {
                    self.step = OfficerStep::Cards;
                    self.error = None;
                    OfficerOutcome::Stay
                }
                Action::Input(c) if input.len() + c.len_utf8() <= MAX_PASSPHRASE => {
                    input.push(c);
                    OfficerOutcome::Stay
                }
                Action::Backspace => {
                    input.pop();
                    OfficerOutcome::Stay
                }
                Action::ClearInput => {
                    input.zeroize();
                    OfficerOutcome::Stay
                }
                Action::Confirm if input.is_empty() => {
                    self.error = Some("type the passphrase, then Enter".into());
                    OfficerOutcome::Stay
                }
                Action::Confirm => {
                    let pass = SecretString::from(input.as_str().to_owned());
                    input.zeroize();
                    let path = card.path.clone();
                    let name = card.custodian.clone();
                    self.error = None;
                    self.step = OfficerStep::Working { name, since: now };
                    OfficerOutcome::Run {
                        card: path,
                        pass,
                        act: self.act.clone(),
                    }
                }
                _ => OfficerOutcome::Stay,
            },
            OfficerStep::Working { .. } => OfficerOutcome::Stay,
        }
    }
}
