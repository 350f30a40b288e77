//! The export dialog: an approved request's seeds, encrypted to the
//! customer, onto a medium, with the unsealed session's key.
//!
//! What the officers confirm is what the library measured: the plan
//! ([`UnsealedVault::export_plan`]) runs every check the export runs
//! (the approval from the officers' signed statements and its expiry,
//! every serial, the medium, files that would be overwritten, room) and
//! makes the bundle in memory to measure it, writing nothing. The summary
//! shows the recipient's fingerprints in groups of four, large enough to
//! read out over the phone. The export then runs on the vault thread and
//! reports each step (sealing, writing, reading back, recording); a
//! refusal at any point is shown here with the library's words.
//!
//! [`UnsealedVault::export_plan`]: crate::vault::UnsealedVault::export_plan

use std::path::PathBuf;
use std::time::Instant;

use super::action::Action;
use super::ingest::Refusal;
use super::keys::Context;
use crate::vault::{ExportOutcome, ExportPlan, ExportStep, Request, RequestState, UnsealedSession};

/// An approved request that can be exported now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Request id.
    pub id: String,
    /// Order id.
    pub order_id: String,
    /// Serials.
    pub serials: u64,
    /// Format name.
    pub format: String,
    /// End of the approval (unix seconds).
    pub expires_at: i64,
}

/// The approved, unexpired requests among `requests` at `now` (unix).
pub fn candidates(requests: &[Request], now: i64) -> Vec<Candidate> {
    requests
        .iter()
        .filter(|r| !r.approval_expired(now))
        .filter_map(|r| match r.state {
            RequestState::Approved { expires_at } => Some(Candidate {
                id: r.id.clone(),
                order_id: r.order_id.clone(),
                serials: r.serials,
                format: r.format.name().to_owned(),
                expires_at,
            }),
            _ => None,
        })
        .collect()
}

/// What has the keyboard on the medium step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The directory field.
    Path,
    /// The list of media.
    List,
}

/// The dialog's steps.
#[derive(Debug, Clone)]
pub enum Step {
    /// Opened while the vault is sealed: says so and offers `u`.
    Sealed,
    /// Pick the request (when the dialog was not opened on one).
    Pick {
        /// The approved, unexpired requests.
        candidates: Vec<Candidate>,
        /// Selected row.
        selected: usize,
    },
    /// Choose the medium.
    Medium {
        /// What has the keyboard.
        focus: Focus,
        /// Selected row of the media list.
        selected: usize,
    },
    /// The vault thread checks everything and measures the bundle.
    Planning {
        /// When it started.
        since: Instant,
    },
    /// What will happen; Enter or y writes.
    Summary {
        /// The library's plan.
        plan: Box<ExportPlan>,
        /// Scroll offset.
        scroll: u16,
    },
    /// The vault thread exports.
    Writing {
        /// When the officer confirmed.
        since: Instant,
        /// The step the export reported last.
        step: Option<ExportStep>,
        /// The plan confirmed.
        plan: Box<ExportPlan>,
    },
    /// Written, read back and recorded.
    Done(ExportOutcome),
    /// Refused (by the plan or by the export); nothing was written.
    Refused {
        /// What the library said.
        refusal: Refusal,
        /// Whether `Esc` goes back to the medium step (a refusal of the
        /// plan) rather than closing.
        back: bool,
    },
}

/// The dialog.
#[derive(Debug, Clone)]
pub struct ExportDialog {
    /// The request (None until picked).
    pub request: Option<String>,
    /// The medium directory typed or picked.
    pub medium: String,
    /// The media to pick from (mounted and `--media`), as paths.
    pub media: Vec<PathBuf>,
    /// Where the dialog is.
    pub step: Step,
    /// A problem with the input, shown under it.
    pub problem: Option<String>,
}

/// What the dialog asks of the app.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing beyond its own state.
    Stay,
    /// Run this on the vault thread.
    Run(Job),
    /// Close the dialog.
    Close,
    /// A key that cannot act now (work under way).
    Busy,
    /// Close and open the unseal dialog.
    Unseal,
}

impl ExportDialog {
    /// A dialog for request `id`, at the medium step, the path field
    /// pre-filled with the first of `media`. (The Requests screen opens
    /// it this way on the selected approved request.)
    pub fn for_request(id: impl Into<String>, media: Vec<PathBuf>) -> ExportDialog {
        ExportDialog {
            request: Some(id.into()),
            medium: media
                .first()
                .map(|m| m.display().to_string())
                .unwrap_or_default(),
            media,
            step: Step::Medium {
                focus: Focus::Path,
                selected: 0,
            },
            problem: None,
        }
    }

    /// A dialog that first lists `candidates` to pick from.
    pub fn pick(candidates: Vec<Candidate>, media: Vec<PathBuf>) -> ExportDialog {
        let mut d = ExportDialog::for_request(String::new(), media);
        d.request = None;
        d.step = Step::Pick {
            candidates,
            selected: 0,
        };
        d
    }

    /// The dialog opened while the vault is sealed: it says so and offers `u`.
    pub fn sealed(request: Option<String>) -> ExportDialog {
        let mut d = ExportDialog::for_request(String::new(), Vec::new());
        d.request = request;
        d.step = Step::Sealed;
        d
    }

    /// The keybinding contexts, innermost first.
    pub fn contexts(&self) -> Vec<Context> {
        match &self.step {
            Step::Sealed => vec![Context::ActSealed, Context::Act],
            Step::Pick { .. }
            | Step::Medium {
                focus: Focus::List, ..
            } => vec![Context::ActList, Context::Act],
            Step::Medium { .. } => vec![Context::TextField, Context::Act],
            Step::Summary { .. } | Step::Done(_) | Step::Refused { .. } => {
                vec![Context::ActConfirm, Context::Act]
            }
            _ => vec![Context::Act],
        }
    }

    /// Whether the vault thread is working for the dialog.
    pub fn busy(&self) -> bool {
        matches!(self.step, Step::Planning { .. } | Step::Writing { .. })
    }

    fn back_to_medium(&mut self) {
        self.step = Step::Medium {
            focus: Focus::Path,
            selected: 0,
        };
    }

    /// Applies one action.
    pub fn update(&mut self, action: Action, now: Instant) -> Outcome {
        match &mut self.step {
            Step::Sealed => match action {
                Action::Back => Outcome::Close,
                Action::OpenUnseal => Outcome::Unseal,
                _ => Outcome::Stay,
            },
            Step::Pick {
                candidates,
                selected,
            } => match action {
                Action::Back => Outcome::Close,
                Action::Up => {
                    *selected = selected.saturating_sub(1);
                    Outcome::Stay
                }
                Action::Down => {
                    *selected = (*selected + 1).min(candidates.len().saturating_sub(1));
                    Outcome::Stay
                }
                Action::Confirm => match candidates.get(*selected) {
                    Some(c) => {
                        self.request = Some(c.id.clone());
                        self.back_to_medium();
                        Outcome::Stay
                    }
                    None => Outcome::Stay,
                },
                _ => Outcome::Stay,
            },
            Step::Medium { focus, selected } => match action {
                Action::Back => Outcome::Close,
                Action::SwitchFocus => {
                    *focus = match focus {
                        Focus::Path => Focus::List,
                        Focus::List => Focus::Path,
                    };
                    Outcome::Stay
                }
                Action::Up => {
                    *selected = selected.saturating_sub(1);
                    Outcome::Stay
                }
                Action::Down => {
                    *selected = (*selected + 1).min(self.media.len().saturating_sub(1));
                    Outcome::Stay
                }
                Action::Input(c) => {
                    self.medium.push(c);
                    Outcome::Stay
                }
                Action::Backspace => {
                    self.medium.pop();
                    Outcome::Stay
                }
                Action::ClearInput => {
                    self.medium.clear();
                    Outcome::Stay
                }
                Action::Confirm => {
                    if *focus == Focus::List {
                        match self.media.get(*selected) {
                            Some(m) => self.medium = m.display().to_string(),
                            None => {
                                self.problem =
                                    Some("no medium is mounted; type the directory of one".into());
                                return Outcome::Stay;
                            }
                        }
                    }
                    let Some(request) = self.request.clone() else {
                        return Outcome::Close;
                    };
                    if self.medium.trim().is_empty() {
                        self.problem = Some(
                            "type the directory of the medium, or Tab to pick a mounted one".into(),
                        );
                        return Outcome::Stay;
                    }
                    self.problem = None;
                    self.step = Step::Planning { since: now };
                    Outcome::Run(Job::Plan {
                        request,
                        media: PathBuf::from(self.medium.trim()),
                    })
                }
                _ => Outcome::Stay,
            },
            Step::Summary { plan, scroll } => match action {
                Action::Back => {
                    self.back_to_medium();
                    Outcome::Stay
                }
                Action::Up => {
                    *scroll = scroll.saturating_sub(1);
                    Outcome::Stay
                }
                Action::Down => {
                    *scroll = scroll.saturating_add(1);
                    Outcome::Stay
                }
                Action::Confirm => {
                    let plan = plan.clone();
                    let job = Job::Export {
                        request: plan.request_id.clone(),
                        media: PathBuf::from(self.medium.trim()),
                    };
                    self.step = Step::Writing {
                        since: now,
                        step: None,
                        plan,
                    };
                    Outcome::Run(job)
                }
                _ => Outcome::Stay,
            },
            Step::Done(_) => match action {
                Action::Back | Action::Confirm => Outcome::Close,
                _ => Outcome::Stay,
            },
            Step::Refused { back, .. } => match action {
                Action::Back if *back => {
                    self.back_to_medium();
                    Outcome::Stay
                }
                Action::Back => Outcome::Close,
                _ => Outcome::Stay,
            },
            Step::Planning { .. } | Step::Writing { .. } => Outcome::Busy,
        }
    }

    /// Folds in a reply from the vault thread.
    pub fn reply(&mut self, r: Reply) {
        match (r, &mut self.step) {
            (Reply::Planned(Ok(plan)), Step::Planning { .. }) => {
                self.step = Step::Summary {
                    plan: Box::new(plan),
                    scroll: 0,
                };
            }
            (Reply::Planned(Err(refusal)), Step::Planning { .. }) => {
                self.step = Step::Refused {
                    refusal,
                    back: true,
                };
            }
            (Reply::Progress(s), Step::Writing { step, .. }) => *step = Some(s),
            (Reply::Exported(Ok(o)), Step::Writing { .. }) => self.step = Step::Done(o),
            (Reply::Exported(Err(refusal)), Step::Writing { .. }) => {
                self.step = Step::Refused {
                    refusal,
                    back: false,
                };
            }
            _ => {}
        }
    }
}

/// Work for the vault thread.
#[derive(Debug, Clone)]
pub enum Job {
    /// Check and measure; write nothing.
    Plan {
        /// The request.
        request: String,
        /// The medium directory.
        media: PathBuf,
    },
    /// Export.
    Export {
        /// The request.
        request: String,
        /// The medium directory.
        media: PathBuf,
    },
}

/// The vault thread's answers (several per export).
#[derive(Debug, Clone)]
pub enum Reply {
    /// For [`Job::Plan`].
    Planned(Result<ExportPlan, Refusal>),
    /// While [`Job::Export`] runs: the step it reached.
    Progress(ExportStep),
    /// For [`Job::Export`].
    Exported(Result<ExportOutcome, Refusal>),
}

impl Reply {
    /// Whether more replies to the same job follow.
    pub fn is_progress(&self) -> bool {
        matches!(self, Reply::Progress(_))
    }
}

/// Runs a dialog job on the vault thread with the session; `send` carries
/// progress replies while it runs.
pub fn work(job: Job, session: Option<&mut UnsealedSession>, send: &dyn Fn(Reply)) -> Reply {
    let Some(session) = session else {
        let sealed = Refusal {
            message: "the vault is sealed; export needs the quorum".into(),
            advice: Some("press u to unseal with the custodians' cards, then e".into()),
            tampering: false,
        };
        return match job {
            Job::Plan { .. } => Reply::Planned(Err(sealed)),
            Job::Export { .. } => Reply::Exported(Err(sealed)),
        };
    };
    match job {
        Job::Plan { request, media } => Reply::Planned(
            session
                .act(|uv| uv.export_plan(&request, &media))
                .map_err(|e| Refusal::vault(&e)),
        ),
        Job::Export { request, media } => Reply::Exported(
            session
                .act(|uv| uv.export_with(&request, &media, &|s| send(Reply::Progress(s))))
                .map_err(|e| Refusal::vault(&e)),
        ),
    }
}

/// A fingerprint in groups of four (`ABCD 1234 ...`), to be read aloud.
pub fn grouped(fpr: &str) -> String {
    let chars: Vec<char> = fpr.chars().filter(|c| !c.is_whitespace()).collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_grouped_in_fours() {
        assert_eq!(
            grouped("0123456789ABCDEF0123456789ABCDEF01234567"),
            "0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567"
        );
    }

    #[test]
    fn the_medium_is_prefilled_and_enter_plans_without_writing() {
        let mut d = ExportDialog::for_request("R0007", vec![PathBuf::from("/media/usb")]);
        let now = Instant::now();
        match d.update(Action::Confirm, now) {
            Outcome::Run(Job::Plan { request, media }) => {
                assert_eq!(request, "R0007");
                assert_eq!(media, PathBuf::from("/media/usb"));
            }
            other => panic!("{other:?}"),
        }
        assert!(d.busy());
    }
}
