//! The quorum acts in the app: opening the ingest wizard and the export
//! dialog, handing them the keys, and folding the vault thread's replies
//! to their jobs into the state. The wizard and the dialog keep their own
//! steps ([`super::ingest`], [`super::export`]); this module is the glue
//! `app::update` and `app::apply` call while one of them is open.

use std::path::PathBuf;

use super::action::Action;
use super::app::{self, Session, State};
use super::export::{self, ExportDialog};
use super::ingest::{self, IngestWizard};
use super::worker::{Job, Reply};

/// The media the export dialog offers, in the overview's order.
fn media_paths(state: &State) -> Vec<PathBuf> {
    state.media.iter().map(|m| m.mount_point.clone()).collect()
}

fn unsealed(state: &State) -> bool {
    matches!(state.session, Session::Unsealed { .. })
}

/// `i`: opens the ingest wizard (while sealed, it says the vault must be
/// unsealed first and offers `u`).
pub fn open_ingest(state: &mut State) -> Vec<Job> {
    if !unsealed(state) {
        state.ingest = Some(IngestWizard::sealed());
        return Vec::new();
    }
    state.ingest = Some(IngestWizard::new());
    vec![Job::Ingest(ingest::Job::ListFiles)]
}

/// Closes the quorum act's dialog and opens the unseal dialog.
fn unseal_instead(state: &mut State) -> Vec<Job> {
    state.ingest = None;
    state.export = None;
    app::update(state, Action::OpenUnseal)
}

/// `e`: opens the export dialog on `request` (the Requests screen passes
/// the selected approved request), else on a list of the approved,
/// unexpired requests to pick from.
pub fn open_export(state: &mut State, request: Option<String>) -> Vec<Job> {
    if !unsealed(state) {
        state.export = Some(ExportDialog::sealed(request));
        return Vec::new();
    }
    let media = media_paths(state);
    state.export = Some(match request {
        Some(id) => ExportDialog::for_request(id, media),
        None => {
            let all = match &state.requests {
                Some(Ok(r)) => export::candidates(r, state.read_at),
                _ => Vec::new(),
            };
            ExportDialog::pick(all, media)
        }
    });
    Vec::new()
}

/// A key while the wizard or the dialog is open.
pub fn update(state: &mut State, action: Action) -> Vec<Job> {
    if action == Action::Quit {
        // The app's quit: it asks first while unsealed (`y` closes the
        // dialog, seals and quits; `n` comes back here).
        return app::ask_quit(state);
    }
    let now = state.now;
    if let Some(w) = state.ingest.as_mut() {
        return match w.update(action, now) {
            ingest::Outcome::Stay => Vec::new(),
            ingest::Outcome::Run(job) => vec![Job::Ingest(job)],
            ingest::Outcome::Close => {
                state.ingest = None;
                Vec::new()
            }
            ingest::Outcome::Busy => {
                state.info("the ingest is under way; it cannot be interrupted");
                Vec::new()
            }
            ingest::Outcome::Unseal => unseal_instead(state),
        };
    }
    if let Some(d) = state.export.as_mut() {
        return match d.update(action, now) {
            export::Outcome::Stay => Vec::new(),
            export::Outcome::Run(job) => vec![Job::Export(job)],
            export::Outcome::Close => {
                state.export = None;
                Vec::new()
            }
            export::Outcome::Busy => {
                state.info("the export is under way; it cannot be interrupted");
                Vec::new()
            }
            export::Outcome::Unseal => unseal_instead(state),
        };
    }
    Vec::new()
}

/// A reply to one of the wizard's or the dialog's jobs. Returns the jobs
/// a fresh snapshot leads to.
pub fn apply(state: &mut State, reply: Reply) -> Vec<Job> {
    let mut jobs = Vec::new();
    match reply {
        Reply::Ingest(r, snap) => {
            if let Some(s) = snap {
                jobs = state.apply_snapshot(*s);
            }
            match &r {
                ingest::Reply::Ingested(Ok(o)) => {
                    state.info(format!("batch {} ingested: {} tokens", o.batch_id, o.count))
                }
                ingest::Reply::Ingested(Err(_)) => {
                    state.error("ingest refused; nothing was stored")
                }
                _ => {}
            }
            if let Some(w) = state.ingest.as_mut() {
                w.reply(r);
            }
        }
        Reply::Export(r, snap) => {
            if let Some(s) = snap {
                jobs = state.apply_snapshot(*s);
            }
            match &r {
                export::Reply::Exported(Ok(o)) => state.info(format!(
                    "request {} exported: {} serials",
                    o.request_id, o.serials
                )),
                export::Reply::Exported(Err(_)) | export::Reply::Planned(Err(_)) => {
                    state.error("export refused; nothing was written")
                }
                _ => {}
            }
            if let Some(d) = state.export.as_mut() {
                d.reply(r);
            }
        }
        _ => {}
    }
    jobs
}
