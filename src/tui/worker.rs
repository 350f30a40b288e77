//! The vault lives on this thread, not on the UI's.
//!
//! Everything slow or secret happens here: reading card files, Argon2id
//! (about half a second per card), walking the audit chain, and holding
//! the [`UnsealedSession`] for the session. The UI thread sends [`Job`]s and
//! gets one [`Reply`] per job, so it keeps drawing (and counting down the
//! idle timeout) while a quorum is being opened, and the key never sits in
//! the state the renderer reads. Dropping the [`Worker`] closes the channel;
//! the thread then drops whatever vault it holds, which wipes the key.
//!
//! What the session holds is the least its acts need: right after the
//! unseal the [`UnsealedVault`](crate::vault::UnsealedVault) becomes an
//! [`UnsealedSession`], which keeps the key-encryption key and the
//! officers' names and wipes the officers' signing keys and any data key
//! (see [`HeldSecrets`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use secrecy::SecretString;

use crate::audit::ChainReport;
use crate::cards::SealedCard;
use crate::media::Medium;
use crate::vault::{AuditEntry, HeldSecrets, Request, Status, UnsealedSession, Vault, VaultError};

/// What the audit log says a TUI unseal was for.
pub const PURPOSE: &str = "tui session";

/// Work for the vault thread.
#[derive(Debug)]
pub enum Job {
    /// Re-read status, audit entries and media.
    Refresh,
    /// Walk the audit chain.
    Verify,
    /// List the cards in a directory (`None`: media mounts and the default
    /// directories).
    ScanCards(Option<PathBuf>),
    /// Check from their headers that these cards can form a quorum.
    CheckCards(Vec<PathBuf>),
    /// Open these cards with these passphrases (same order) and keep the
    /// unsealed vault for the session.
    Unseal(Vec<(PathBuf, SecretString)>),
    /// Drop the unsealed vault (wipes the key).
    Seal,
    /// An ingest wizard job (runs with the session).
    Ingest(super::ingest::Job),
    /// An export dialog job (runs with the session).
    Export(super::export::Job),
    /// Work of the officers' screens (lists, dry runs, one officer's act).
    Acts(super::acts::work::ActJob),
}

/// How many of the latest audit entries the TUI reads (the log of a
/// long-lived vault has millions; the chain check still covers them all).
pub const AUDIT_WINDOW: u64 = 10_000;

/// What the TUI shows of the vault; re-read after every change.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `vault.status()`, or why it failed.
    pub status: Result<Status, String>,
    /// The latest [`AUDIT_WINDOW`] audit entries.
    pub audit: Result<Vec<AuditEntry>, String>,
    /// Seed requests, every state.
    pub requests: Result<Vec<Request>, String>,
    /// When this was read (unix time).
    pub read_at: i64,
    /// Mounted media.
    pub media: Vec<Medium>,
}

/// A card file found by a scan: its public header only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// The file.
    pub path: PathBuf,
    /// The custodian named in the header.
    pub custodian: String,
    /// Share index.
    pub member_index: u8,
    /// Whether the header names this vault.
    pub this_vault: bool,
}

/// One answer per job.
#[derive(Debug)]
pub enum Reply {
    /// For [`Job::Refresh`].
    Refreshed(Snapshot),
    /// For [`Job::Verify`].
    Verified(Result<ChainReport, String>),
    /// For [`Job::ScanCards`]: the directories looked in, the cards, and
    /// files that looked like cards but could not be read.
    Cards {
        /// The directories looked in.
        dirs: Vec<PathBuf>,
        /// The cards found, by their public headers.
        cards: Vec<CardInfo>,
        /// Files that looked like cards but could not be read.
        errors: Vec<String>,
    },
    /// For [`Job::CheckCards`]: the library's refusal, verbatim (a refusal
    /// is logged, hence the fresh snapshot).
    Checked(Result<(), String>, Snapshot),
    /// For [`Job::Unseal`]: the officers and what the session holds in
    /// memory, or the library's refusal.
    Unsealed(Result<(Vec<String>, HeldSecrets), String>, Snapshot),
    /// For [`Job::Seal`].
    Sealed(Snapshot),
    /// For [`Job::Ingest`]: progress (no snapshot), then the answer with a
    /// fresh snapshot when the job may have changed the vault.
    Ingest(super::ingest::Reply, Option<Box<Snapshot>>),
    /// For [`Job::Export`]: likewise.
    Export(super::export::Reply, Option<Box<Snapshot>>),
    /// For [`Job::Acts`]; a fresh snapshot when the vault may have changed.
    Acts(super::acts::work::ActReply, Option<Box<Snapshot>>),
}

impl Reply {
    /// Whether this is a progress report, with the job's answer still to
    /// come (it does not count as the answer).
    pub fn is_progress(&self) -> bool {
        match self {
            Reply::Ingest(r, _) => r.is_progress(),
            Reply::Export(r, _) => r.is_progress(),
            _ => false,
        }
    }
}

/// Where the worker looks for cards and media.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Lists mounted removable media (`media::removable_media` in the binary).
    pub media: fn() -> Vec<Medium>,
    /// Directories scanned besides the media mounts (`./cards`).
    pub card_dirs: Vec<PathBuf>,
    /// How many of the latest audit entries to read ([`AUDIT_WINDOW`]).
    pub audit_window: u64,
    /// Directories treated as removable media besides the mounted ones
    /// (`seedvault tui --media DIR`: the demo medium, tests).
    pub media_dirs: Vec<PathBuf>,
}

impl Sources {
    /// The mounted media, then the `--media` directories.
    pub fn all_media(&self) -> Vec<Medium> {
        let mut m = (self.media)();
        m.extend(self.media_dirs.iter().map(|d| crate::media::directory(d)));
        m
    }
}

/// Handle to the vault thread.
#[derive(Debug)]
pub struct Worker {
    jobs: Option<Sender<Job>>,
    replies: Receiver<Reply>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the thread; it owns `vault` from now on.
    pub fn start(vault: Vault, sources: Sources) -> Worker {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (reply_tx, replies) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("seedvault-vault".into())
            .spawn(move || {
                let mut held = Held::Sealed(vault);
                for job in job_rx {
                    let reply = held.run(job, &sources, &reply_tx);
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
                // An unsealed session still open ends with a checkpoint; then
                // `held` drops and an unsealed vault's key is wiped.
                if let Held::Unsealed(u) = held {
                    drop(u.finish());
                }
            })
            .ok();
        Worker {
            jobs: Some(jobs),
            replies,
            thread,
        }
    }

    /// Queues a job. False when the thread is gone.
    pub fn send(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok())
    }

    /// A reply, if one is ready.
    pub fn try_recv(&self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }

    /// Waits up to `timeout` for a reply.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Reply> {
        self.replies.recv_timeout(timeout).ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop; joining makes sure
        // the unsealed vault is dropped before the process goes on (or exits).
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// One value for the thread's lifetime: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Held {
    Sealed(Vault),
    Unsealed(UnsealedSession),
    /// The vault could not be reopened after a failed unseal.
    Gone(PathBuf, String),
}

impl Held {
    fn vault(&self) -> Result<&Vault, String> {
        match self {
            Held::Sealed(v) => Ok(v),
            Held::Unsealed(u) => Ok(u.vault()),
            Held::Gone(dir, why) => Err(format!(
                "the vault at {} could not be reopened: {why}",
                dir.display()
            )),
        }
    }

    fn session(&mut self) -> Option<&mut UnsealedSession> {
        match self {
            Held::Unsealed(u) => Some(u),
            _ => None,
        }
    }

    fn snapshot(&self, sources: &Sources) -> Snapshot {
        let media = sources.all_media();
        let read_at = crate::vault::clock::unix_now();
        match self.vault() {
            Ok(v) => Snapshot {
                status: v.status().map_err(|e| e.to_string()),
                audit: v
                    .audit_entries(sources.audit_window)
                    .map_err(|e| e.to_string()),
                requests: v.requests().map_err(|e| e.to_string()),
                read_at,
                media,
            },
            Err(e) => Snapshot {
                status: Err(e.clone()),
                audit: Err(e.clone()),
                requests: Err(e),
                read_at,
                media,
            },
        }
    }

    fn run(&mut self, job: Job, sources: &Sources, tx: &Sender<Reply>) -> Reply {
        match job {
            Job::Ingest(j) => {
                let listing = matches!(j, super::ingest::Job::ListFiles);
                let roots: Vec<PathBuf> = sources
                    .all_media()
                    .into_iter()
                    .map(|m| m.mount_point)
                    .collect();
                let send = |r| {
                    let _ = tx.send(Reply::Ingest(r, None));
                };
                let r = super::ingest::work(j, self.session(), &roots, &send);
                let snap = (!listing).then(|| Box::new(self.snapshot(sources)));
                Reply::Ingest(r, snap)
            }
            Job::Export(j) => {
                let send = |r| {
                    let _ = tx.send(Reply::Export(r, None));
                };
                let r = super::export::work(j, self.session(), &send);
                Reply::Export(r, Some(Box::new(self.snapshot(sources))))
            }
            Job::Refresh => Reply::Refreshed(self.snapshot(sources)),
            Job::Verify => Reply::Verified(
                self.vault()
                    .and_then(|v| v.verify_audit().map_err(|e| e.to_string())),
            ),
            Job::ScanCards(dir) => self.scan(dir, sources),
            Job::CheckCards(paths) => {
                let r = self.check(&paths);
                Reply::Checked(r, self.snapshot(sources))
            }
            Job::Unseal(cards) => {
                let r = self.unseal(cards);
                Reply::Unsealed(r, self.snapshot(sources))
            }
            Job::Acts(j) => {
                let r = match self {
                    Held::Sealed(v) => super::acts::work::run(j, v),
                    Held::Unsealed(u) => u.act(|uv| super::acts::work::run(j, uv.vault_mut())),
                    Held::Gone(..) => {
                        let why = self.vault().err().unwrap_or_default();
                        super::acts::work::gone(j, why)
                    }
                };
                let snap = r.changed().then(|| Box::new(self.snapshot(sources)));
                Reply::Acts(r, snap)
            }
            Job::Seal => {
                let taken = std::mem::replace(self, Held::Gone(PathBuf::new(), String::new()));
                *self = match taken {
                    // The session ends with a signed checkpoint. If it cannot be
                    // written, the session's work stays committed and the next
                    // quorum command writes one; sealing must not wait on it.
                    Held::Unsealed(u) => Held::Sealed(u.finish().0),
                    other => other,
                };
                Reply::Sealed(self.snapshot(sources))
            }
        }
    }

    fn scan(&self, dir: Option<PathBuf>, sources: &Sources) -> Reply {
        let dirs: Vec<PathBuf> = match dir {
            Some(d) => vec![d],
            None => {
                let mut d: Vec<PathBuf> = Vec::new();
                for m in (sources.media)() {
                    d.push(m.mount_point.join("cards"));
                    d.push(m.mount_point);
                }
                d.extend(sources.card_dirs.iter().cloned());
                d
            }
        };
        let this = self.vault().ok().map(|v| v.info().vault_id);
        let mut cards = Vec::new();
        let mut errors = Vec::new();
        for d in &dirs {
            for path in card_files(d) {
                match SealedCard::read(&path) {
                    Ok(c) => cards.push(CardInfo {
                        custodian: c.header.name.clone(),
                        member_index: c.header.member_index,
                        this_vault: Some(c.header.vault_id) == this,
                        path,
                    }),
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        Reply::Cards {
            dirs,
            cards,
            errors,
        }
    }

    /// Reads the cards, logging an unreadable one as a refused attempt
    /// (as the CLI does).
    fn read_cards(&mut self, paths: &[PathBuf]) -> Result<Vec<SealedCard>, String> {
        let mut cards = Vec::new();
        for p in paths {
            match SealedCard::read(p) {
                Ok(c) => cards.push(c),
                Err(e) => {
                    if let Held::Sealed(v) = self {
                        let given: Vec<String> =
                            paths.iter().map(|p| p.display().to_string()).collect();
                        v.record_refusal(PURPOSE, given.clone(), given, &e.to_string());
                    }
                    return Err(e.to_string());
                }
            }
        }
        Ok(cards)
    }

    fn check(&mut self, paths: &[PathBuf]) -> Result<(), String> {
        let cards = self.read_cards(paths)?;
        let Held::Sealed(v) = self else {
            return Err(already(self));
        };
        if let Err(e) = v.check_quorum_cards(&cards) {
            let names: Vec<String> = cards.iter().map(|c| c.header.name.clone()).collect();
            let described = cards
                .iter()
                .map(|c| format!("{} ({})", c.header.name, c.path.display()))
                .collect();
            v.record_refusal(PURPOSE, names, described, &e.to_string());
            return Err(e.to_string());
        }
        Ok(())
    }

    fn unseal(
        &mut self,
        given: Vec<(PathBuf, SecretString)>,
    ) -> Result<(Vec<String>, HeldSecrets), String> {
        let (paths, passes): (Vec<PathBuf>, Vec<SecretString>) = given.into_iter().unzip();
        let cards = self.read_cards(&paths)?;
        if !matches!(self, Held::Sealed(_)) {
            return Err(already(self));
        }
        let Held::Sealed(vault) =
            std::mem::replace(self, Held::Gone(PathBuf::new(), String::new()))
        else {
            return Err("internal: vault state changed".into()); // checked just above
        };
        let dir = vault.dir().to_path_buf();
        match vault.unseal(cards.into_iter().zip(passes).collect(), PURPOSE) {
            Ok(u) => {
                // Officers' signing keys and data keys are wiped here.
                let session = u.into_session();
                let answer = (session.officer_names(), session.held_secrets());
                *self = Held::Unsealed(session);
                Ok(answer)
            }
            Err(e) => {
                // `unseal` consumed the vault; open it again to go on browsing.
                *self = match Vault::open(&dir) {
                    Ok(v) => Held::Sealed(v),
                    Err(e2) => Held::Gone(dir, e2.to_string()),
                };
                // The UI never goes on over a broken log (the refusal is
                // logged); incident response has the CLI's explicit flag.
                if matches!(e, VaultError::BrokenLog { .. }) {
                    return Err(format!(
                        "{e}. The terminal UI does not unseal over a broken log: stop and involve the auditors (incident response: the CLI's quorum commands take --accept-broken-log)"
                    ));
                }
                Err(e.to_string())
            }
        }
    }
}

fn already(held: &Held) -> String {
    match held {
        Held::Unsealed(u) => format!(
            "the vault is already unsealed by {}",
            u.officer_names().join(", ")
        ),
        other => other.vault().err().unwrap_or_default(),
    }
}

/// `*.card` files directly in `dir`, sorted; nothing if it cannot be read.
fn card_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "card"))
        .collect();
    v.sort();
    v
}
