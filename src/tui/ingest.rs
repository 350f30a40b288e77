//! The ingest wizard: a factory batch from a medium into the vault, with
//! the unsealed session's key.
//!
//! The wizard never guesses what the officer meant: the file is read and
//! checked in full first ([`UnsealedVault::preview_ingest`], the same
//! reading, decryption and checks as the ingest, storing nothing), the
//! report shown is the library's own text (the words the CLI prints), and
//! the confirmation names the count, the format, the label and the
//! file's SHA-256. The ingest that follows is refused if the file is no
//! longer the one confirmed ([`IngestControl::expect_sha256`]). Until the
//! officer confirms, nothing is stored and nothing is logged except what
//! the CLI logs for a refused file (`batch.refused`).
//!
//! Like the unseal dialog, the wizard is a state machine of its own inside
//! the app's state; the work runs on the vault thread (`work`, called by
//! the worker with the session) and comes back as [`Reply`]s, several per
//! job while a large batch is read. The state holds paths and results,
//! never a secret: a PSKC key or password is read from its file on the
//! vault thread, at the moment of use.
//!
//! [`UnsealedVault::preview_ingest`]: crate::vault::UnsealedVault::preview_ingest

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::action::Action;
use super::keys::Context;
use crate::formats::{Format, PskcKey, ReadOptions};
use crate::vault::{
    BatchPreview, IngestControl, IngestError, IngestOutcome, IngestSource, UnsealedSession,
    VaultError,
};

/// A refusal as the dialogs show it: the library's message (the CLI's
/// words) and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The library's message, verbatim.
    pub message: String,
    /// What to do next, for the console.
    pub advice: Option<String>,
    /// Whether it is evidence of tampering (the CLI exits 3).
    pub tampering: bool,
}

impl Refusal {
    /// A refusal with no advice.
    pub fn plain(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            advice: None,
            tampering: false,
        }
    }

    /// A vault error, with console advice (see [`vault_advice`]).
    pub fn vault(e: &VaultError) -> Refusal {
        Refusal {
            message: e.to_string(),
            advice: vault_advice(e).map(str::to_owned),
            tampering: e.is_tampering(),
        }
    }

    fn ingest(e: &IngestError) -> Refusal {
        let advice = match e {
            IngestError::Vault(v) => return Refusal::vault(v),
            IngestError::Records { .. } | IngestError::Format { .. } | IngestError::Empty(_) => {
                "nothing was stored; ask the factory for a corrected file, or give the format or the PSKC key if it is one"
            }
            IngestError::AlreadyPresent { .. } => {
                "nothing was stored; the batch (or part of it) is already in the vault: check the Batches screen"
            }
            IngestError::OpenPgp { .. } => {
                "nothing was stored; check that the file was encrypted to this vault's certificate and that the factory certificate is the factory's"
            }
            IngestError::Changed { .. } => {
                "nothing was stored; check the file again (Esc) and confirm what it holds now"
            }
        };
        Refusal {
            message: e.to_string(),
            advice: Some(advice.to_owned()),
            tampering: false,
        }
    }
}

/// Console advice after a vault error. The console's own words (keys and
/// screens, not command lines) for the ingest wizard and export dialog,
/// else the console's general advice ([`crate::tui::advice::for_error`]).
pub fn vault_advice(e: &VaultError) -> Option<&'static str> {
    Some(match e {
        VaultError::Tampered(_)
        | VaultError::RequestTampered { .. }
        | VaultError::SeedIntegrity { .. }
        | VaultError::BrokenLog { .. } => {
            "stop: verify the audit log (Audit screen, v) and involve your auditors before using this vault"
        }
        VaultError::ApprovalExpired { .. } => {
            "create the request again and have a second officer approve it"
        }
        VaultError::RequestNotFound { .. } => "the Requests screen lists every request",
        VaultError::RequestNotApproved { .. } => {
            "a second officer must approve the request first (Requests screen)"
        }
        VaultError::RequestChanged { .. } => {
            "nothing was recorded by this run; check the request on the Requests screen"
        }
        VaultError::ExportRefused { .. } => {
            "nothing was written; check these serials (Batches screen) and create a new request"
        }
        VaultError::MediaMissing { .. } => "mount the medium, or type the directory of one",
        VaultError::MediaInsideVault { .. } => {
            "choose a removable medium outside the vault directory"
        }
        VaultError::MediaNotWritable { .. } => {
            "check that the medium is mounted read-write and is not write-protected"
        }
        VaultError::MediaTooSmall { .. } => "choose a medium with more free space",
        VaultError::MediumWriteFailed { .. } => "export again to a medium that works",
        VaultError::WouldOverwrite(_) => {
            "seedvault never overwrites a file: move it away or choose another medium"
        }
        VaultError::VaultChanged { .. } => "try again",
        _ => return crate::tui::advice::for_error(e),
    })
}

/// What has the keyboard on the first step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The batch file's path.
    Path,
    /// The files found on media.
    Files,
    /// The batch label.
    Label,
    /// The format, blank to detect it.
    Format,
    /// The factory certificate file (`--factory-cert`).
    FactoryCert,
    /// The PSKC pre-shared key file (`--pskc-key-file`).
    PskcKey,
    /// The PSKC password file (`--pskc-password-file`).
    PskcPassword,
}

impl Field {
    /// Tab order.
    pub const ORDER: [Field; 7] = [
        Field::Path,
        Field::Files,
        Field::Label,
        Field::Format,
        Field::FactoryCert,
        Field::PskcKey,
        Field::PskcPassword,
    ];

    fn next(self) -> Field {
        let i = Field::ORDER.iter().position(|f| *f == self).unwrap_or(0);
        Field::ORDER[(i + 1) % Field::ORDER.len()]
    }

    /// The field's label on screen.
    pub fn title(self) -> &'static str {
        match self {
            Field::Path => "File",
            Field::Files => "Files on media",
            Field::Label => "Label (optional)",
            Field::Format => "Format (blank: detect)",
            Field::FactoryCert => "Factory certificate",
            Field::PskcKey => "PSKC key file",
            Field::PskcPassword => "PSKC password file",
        }
    }
}

/// A file found on a medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// What the officer typed on the first step: paths and a label, never a
/// secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    /// The batch file.
    pub path: String,
    /// Label for the batch.
    pub label: String,
    /// Format name, blank to detect.
    pub format: String,
    /// Factory certificate file.
    pub factory_cert: String,
    /// PSKC pre-shared key file.
    pub pskc_key_file: String,
    /// PSKC password file.
    pub pskc_password_file: String,
}

impl Choice {
    fn field_mut(&mut self, f: Field) -> Option<&mut String> {
        match f {
            Field::Path => Some(&mut self.path),
            Field::Label => Some(&mut self.label),
            Field::Format => Some(&mut self.format),
            Field::FactoryCert => Some(&mut self.factory_cert),
            Field::PskcKey => Some(&mut self.pskc_key_file),
            Field::PskcPassword => Some(&mut self.pskc_password_file),
            Field::Files => None,
        }
    }

    /// The text of field `f` (empty for the file list).
    pub fn field(&self, f: Field) -> &str {
        match f {
            Field::Path => &self.path,
            Field::Label => &self.label,
            Field::Format => &self.format,
            Field::FactoryCert => &self.factory_cert,
            Field::PskcKey => &self.pskc_key_file,
            Field::PskcPassword => &self.pskc_password_file,
            Field::Files => "",
        }
    }
}

/// The wizard's steps.
#[derive(Debug, Clone)]
pub enum Step {
    /// Opened while the vault is sealed: says so and offers `u`.
    Sealed,
    /// Type or pick the file, and the options.
    Choose {
        /// What has the keyboard.
        focus: Field,
        /// The files found on media (None while they are listed).
        files: Option<Vec<FoundFile>>,
        /// Selected row of the file list.
        selected: usize,
    },
    /// The vault thread reads and checks the whole file.
    Checking {
        /// When it started.
        since: Instant,
        /// Tokens read so far.
        read: u64,
    },
    /// The report, and the confirmation when the file is good.
    Report {
        /// What the check found: the preview, or the refusal.
        outcome: Result<BatchPreview, Refusal>,
        /// Scroll offset of the report.
        scroll: u16,
    },
    /// The vault thread seals and stores the batch.
    Sealing {
        /// Tokens in the file.
        total: u64,
        /// Tokens stored so far.
        done: u64,
        /// Time the vault thread has spent so far (for the throughput).
        elapsed: Duration,
        /// When the officer confirmed (for the spinner).
        since: Instant,
    },
    /// The batch is in.
    Done(IngestOutcome),
    /// The ingest itself was refused (nothing stored).
    Failed(Refusal),
}

/// The wizard.
#[derive(Debug, Clone)]
pub struct IngestWizard {
    /// What the officer typed.
    pub choice: Choice,
    /// Where the wizard is.
    pub step: Step,
    /// A problem with the fields, shown under them.
    pub problem: Option<String>,
}

/// What the wizard asks of the app.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing beyond its own state.
    Stay,
    /// Run this on the vault thread.
    Run(Job),
    /// Close the wizard.
    Close,
    /// A key that cannot act now (work under way).
    Busy,
    /// Close and open the unseal dialog.
    Unseal,
}

impl Default for IngestWizard {
    fn default() -> Self {
        IngestWizard::new()
    }
}

impl IngestWizard {
    /// A fresh wizard: the path field has the keyboard. Send
    /// [`Job::ListFiles`] to fill the file list.
    pub fn new() -> IngestWizard {
        IngestWizard {
            choice: Choice::default(),
            step: Step::Choose {
                focus: Field::Path,
                files: None,
                selected: 0,
            },
            problem: None,
        }
    }

    /// The wizard opened while the vault is sealed: it says so and offers `u`.
    pub fn sealed() -> IngestWizard {
        IngestWizard {
            step: Step::Sealed,
            ..IngestWizard::new()
        }
    }

    /// The keybinding contexts, innermost first.
    pub fn contexts(&self) -> Vec<Context> {
        match &self.step {
            Step::Sealed => vec![Context::ActSealed, Context::Act],
            Step::Choose {
                focus: Field::Files,
                ..
            } => vec![Context::ActList, Context::Act],
            Step::Choose { .. } => vec![Context::TextField, Context::Act],
            Step::Report { .. } | Step::Done(_) | Step::Failed(_) => {
                vec![Context::ActConfirm, Context::Act]
            }
            _ => vec![Context::Act],
        }
    }

    /// Whether the vault thread is working for the wizard.
    pub fn busy(&self) -> bool {
        matches!(self.step, Step::Checking { .. } | Step::Sealing { .. })
    }

    /// Applies one action.
    pub fn update(&mut self, action: Action, now: Instant) -> Outcome {
        if self.busy() {
            return Outcome::Busy;
        }
        let choose_again = Step::Choose {
            focus: Field::Path,
            files: None,
            selected: 0,
        };
        match &mut self.step {
            Step::Sealed => match action {
                Action::Back => Outcome::Close,
                Action::OpenUnseal => Outcome::Unseal,
                _ => Outcome::Stay,
            },
            Step::Choose {
                focus,
                files,
                selected,
            } => {
                match action {
                    Action::Back => Outcome::Close,
                    Action::SwitchFocus => {
                        *focus = focus.next();
                        Outcome::Stay
                    }
                    Action::Up => {
                        *selected = selected.saturating_sub(1);
                        Outcome::Stay
                    }
                    Action::Down => {
                        let n = files.as_ref().map_or(0, Vec::len);
                        *selected = (*selected + 1).min(n.saturating_sub(1));
                        Outcome::Stay
                    }
                    Action::Input(c) => {
                        if let Some(s) = self.choice.field_mut(*focus) {
                            s.push(c);
                        }
                        Outcome::Stay
                    }
                    Action::Backspace => {
                        if let Some(s) = self.choice.field_mut(*focus) {
                            s.pop();
                        }
                        Outcome::Stay
                    }
                    Action::ClearInput => {
                        if let Some(s) = self.choice.field_mut(*focus) {
                            s.clear();
                        }
                        Outcome::Stay
                    }
                    Action::Confirm => {
                        if *focus == Field::Files {
                            match files.as_ref().and_then(|f| f.get(*selected)) {
                                Some(f) => self.choice.path = f.path.display().to_string(),
                                None => {
                                    self.problem = Some("no file on the media to pick".into());
                                    return Outcome::Stay;
                                }
                            }
                        }
                        if self.choice.path.trim().is_empty() {
                            self.problem = Some("type the path of the batch file, or Tab to pick one from the media".into());
                            return Outcome::Stay;
                        }
                        self.problem = None;
                        self.step = Step::Checking {
                            since: now,
                            read: 0,
                        };
                        Outcome::Run(Job::Preview(self.choice.clone()))
                    }
                    _ => Outcome::Stay,
                }
            }
            Step::Report { outcome, scroll } => match action {
                Action::Back => {
                    self.step = choose_again;
                    Outcome::Run(Job::ListFiles)
                }
                Action::Up => {
                    *scroll = scroll.saturating_sub(1);
                    Outcome::Stay
                }
                Action::Down => {
                    *scroll = scroll.saturating_add(1);
                    Outcome::Stay
                }
                Action::PageUp => {
                    *scroll = scroll.saturating_sub(10);
                    Outcome::Stay
                }
                Action::PageDown => {
                    *scroll = scroll.saturating_add(10);
                    Outcome::Stay
                }
                Action::Confirm => match outcome {
                    Ok(p) => {
                        let job = Job::Ingest(self.choice.clone(), p.source_sha256.clone());
                        self.step = Step::Sealing {
                            total: p.count,
                            done: 0,
                            elapsed: Duration::ZERO,
                            since: now,
                        };
                        Outcome::Run(job)
                    }
                    Err(_) => Outcome::Stay,
                },
                _ => Outcome::Stay,
            },
            Step::Done(_) => match action {
                Action::Back | Action::Confirm => Outcome::Close,
                _ => Outcome::Stay,
            },
            // Nothing was stored: back to the file, to check it again.
            Step::Failed(_) => match action {
                Action::Back => {
                    self.step = choose_again;
                    Outcome::Run(Job::ListFiles)
                }
                _ => Outcome::Stay,
            },
            Step::Checking { .. } | Step::Sealing { .. } => Outcome::Busy,
        }
    }

    /// Folds in a reply from the vault thread.
    pub fn reply(&mut self, r: Reply) {
        match (r, &mut self.step) {
            (
                Reply::Files(found),
                Step::Choose {
                    files, selected, ..
                },
            ) => {
                *selected = (*selected).min(found.len().saturating_sub(1));
                *files = Some(found);
            }
            (Reply::Progress { tokens, elapsed }, Step::Checking { read, .. }) => {
                let _ = elapsed;
                *read = tokens;
            }
            (
                Reply::Progress { tokens, elapsed },
                Step::Sealing {
                    done, elapsed: e, ..
                },
            ) => {
                *done = tokens;
                *e = elapsed;
            }
            (Reply::Previewed(outcome), Step::Checking { .. }) => {
                self.step = Step::Report { outcome, scroll: 0 };
            }
            (Reply::Ingested(r), Step::Sealing { .. }) => {
                self.step = match r {
                    Ok(o) => Step::Done(o),
                    Err(e) => Step::Failed(e),
                };
            }
            _ => {}
        }
    }
}

/// Work for the vault thread.
#[derive(Debug, Clone)]
pub enum Job {
    /// List the files on the media.
    ListFiles,
    /// Read and check the whole file; store nothing.
    Preview(Choice),
    /// Ingest the file, refused unless its SHA-256 is this one.
    Ingest(Choice, String),
}

/// The vault thread's answers (several per job while a file is read).
#[derive(Debug, Clone)]
pub enum Reply {
    /// For [`Job::ListFiles`].
    Files(Vec<FoundFile>),
    /// While [`Job::Preview`] or [`Job::Ingest`] runs: tokens read or
    /// stored so far, and the time spent.
    Progress {
        /// Tokens so far.
        tokens: u64,
        /// Time since the job started.
        elapsed: Duration,
    },
    /// For [`Job::Preview`].
    Previewed(Result<BatchPreview, Refusal>),
    /// For [`Job::Ingest`].
    Ingested(Result<IngestOutcome, Refusal>),
}

impl Reply {
    /// Whether more replies to the same job follow.
    pub fn is_progress(&self) -> bool {
        matches!(self, Reply::Progress { .. })
    }
}

/// Most files listed from the media.
const MAX_FILES: usize = 200;

/// The files on the media: regular, non-hidden files in each root and in
/// its direct subdirectories, except card files and the vault's own
/// exports (bundles and manifests). Sorted by path.
pub fn list_files(roots: &[PathBuf]) -> Vec<FoundFile> {
    let mut out = Vec::new();
    for root in roots {
        collect(root, 1, &mut out);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    out.truncate(MAX_FILES);
    out
}

fn collect(dir: &Path, depth: u8, out: &mut Vec<FoundFile>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if out.len() >= MAX_FILES * 4 {
            return;
        }
        let path = e.path();
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        let Ok(meta) = e.metadata() else { continue };
        if hidden {
            continue;
        }
        if meta.is_dir() && depth > 0 {
            collect(&path, depth - 1, out);
        } else if meta.is_file() && !not_a_batch(&path) {
            out.push(FoundFile {
                path,
                size: meta.len(),
            });
        }
    }
}

/// Whether `path` is a file seedvault writes to media and never reads as
/// a batch: a card, an export manifest (`<order>-<request>.manifest.asc`)
/// or an export bundle (`<order>-<request>.<format>.asc`).
fn not_a_batch(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(".card") || name.ends_with(".manifest.asc") {
        return true;
    }
    Format::ALL.iter().any(|f| {
        name.strip_suffix(&format!(".{}.asc", f.extension()))
            .and_then(|stem| stem.rsplit_once("-R"))
            .is_some_and(|(order, req)| {
                !order.is_empty() && !req.is_empty() && req.bytes().all(|b| b.is_ascii_digit())
            })
    })
}

/// Runs a wizard job on the vault thread. `send` carries progress replies
/// while it runs; the returned reply is the last one.
pub fn work(
    job: Job,
    session: Option<&mut UnsealedSession>,
    roots: &[PathBuf],
    send: &dyn Fn(Reply),
) -> Reply {
    let started = Instant::now();
    let progress = |tokens: u64| {
        send(Reply::Progress {
            tokens,
            elapsed: started.elapsed(),
        })
    };
    match job {
        Job::ListFiles => Reply::Files(list_files(roots)),
        Job::Preview(choice) => Reply::Previewed(with_source(&choice, session, |uv, src| {
            uv.preview_ingest(src, Some(&progress))
                .map_err(|e| Refusal::ingest(&e))
        })),
        Job::Ingest(choice, sha) => Reply::Ingested(with_source(&choice, session, |uv, src| {
            let ctl = IngestControl {
                expect_sha256: Some(sha),
                progress: Some(&progress),
            };
            uv.ingest_with(src, &ctl).map_err(|e| Refusal::ingest(&e))
        })),
    }
}

/// Builds the [`IngestSource`] from the officer's choice (reading the
/// certificate and key files, with the CLI's words for their problems)
/// and runs `f` with it inside the session.
fn with_source<T>(
    choice: &Choice,
    session: Option<&mut UnsealedSession>,
    f: impl FnOnce(&mut crate::vault::UnsealedVault, &IngestSource<'_>) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    let Some(session) = session else {
        return Err(Refusal {
            message: "the vault is sealed; ingest needs the quorum".into(),
            advice: Some("press u to unseal with the custodians' cards, then i".into()),
            tampering: false,
        });
    };
    let path = PathBuf::from(choice.path.trim());
    if !path.is_file() {
        return Err(Refusal::plain(format!("{}: no such file", path.display())));
    }
    let format = match choice.format.trim() {
        "" => None,
        name => Some(Format::from_name(name).ok_or_else(|| {
            let all: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            Refusal::plain(format!(
                "unknown format {name:?}; one of: {}",
                all.join(", ")
            ))
        })?),
    };
    let factory = match choice.factory_cert.trim() {
        "" => None,
        f => {
            let bytes = std::fs::read(f).map_err(|e| Refusal::plain(format!("{f}: {e}")))?;
            Some(
                crate::pgp::keys::parse_public_cert(&bytes)
                    .map_err(|e| Refusal::plain(format!("{f}: not an OpenPGP certificate: {e}")))?,
            )
        }
    };
    let pskc_key = match (
        choice.pskc_key_file.trim(),
        choice.pskc_password_file.trim(),
    ) {
        ("", "") => None,
        (k, "") => {
            let text = secret_file(Path::new(k))?;
            Some(PskcKey::from_hex(&text).map_err(|e| Refusal::plain(format!("{k}: {e}")))?)
        }
        ("", p) => Some(PskcKey::Password(secret_file(Path::new(p))?)),
        _ => {
            return Err(Refusal::plain(
                "give either a PSKC key file or a PSKC password file, not both",
            ))
        }
    };
    let read_options = ReadOptions {
        pskc_key,
        ..Default::default()
    };
    let label = Some(choice.label.trim().to_owned()).filter(|l| !l.is_empty());
    let src = IngestSource {
        path: &path,
        format,
        label,
        factory_cert: factory.as_ref(),
        read_options: &read_options,
    };
    session.act(|uv| f(uv, &src))
}

/// A key or password file's text, read as the CLI reads
/// `--pskc-*-file` (the library's reader: wiped, one newline dropped).
fn secret_file(path: &Path) -> Result<SecretString, Refusal> {
    crate::cards::read_secret_file(path).map_err(Refusal::plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vaults_own_exports_and_cards_are_not_offered_as_batches() {
        for name in [
            "alice.card",
            "4711-R0001.manifest.asc",
            "4711-R0001.azure-csv.asc",
            "55-R12.hex.asc",
        ] {
            assert!(not_a_batch(Path::new(name)), "{name}");
        }
        for name in [
            "factory-batch-0002.csv",
            "batch.hex",
            "shipment-7.asc",
            "x-Rabc.hex.asc",
            "-R0001.hex.asc",
        ] {
            assert!(!not_a_batch(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn enter_on_an_empty_path_asks_for_one_and_runs_nothing() {
        let mut w = IngestWizard::new();
        let now = Instant::now();
        assert!(matches!(w.update(Action::Confirm, now), Outcome::Stay));
        assert!(w
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("type the path")));
        for c in "/media/usb/b.csv".chars() {
            w.update(Action::Input(c), now);
        }
        match w.update(Action::Confirm, now) {
            Outcome::Run(Job::Preview(c)) => assert_eq!(c.path, "/media/usb/b.csv"),
            other => panic!("{other:?}"),
        }
        // While the vault thread works, keys do nothing but say so.
        assert!(matches!(w.update(Action::Back, now), Outcome::Busy));
    }
}
