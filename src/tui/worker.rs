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

use super::advice::Shown;
use crate::audit::{ChainReport, ReplayReport};
use crate::cards::SealedCard;
use crate::media::Medium;
use crate::vault::audit_browse::{Anchor, AuditFilter, AuditPage};
use crate::vault::{HeldSecrets, Request, SealReason, Status, UnsealedSession, Vault, VaultError};

/// What the audit log says a TUI unseal was for.
pub const PURPOSE: &str = "tui session";

/// Work for the vault thread. Each job gets exactly one final [`Reply`]
/// (and, for long ones, [`Reply::Progress`] messages before it).
#[derive(Debug)]
pub enum Job {
    /// Re-read status, requests and media.
    Refresh,
    /// Read one page of the audit log.
    AuditPage(PageQuery),
    /// Walk the audit chain (with progress).
    Verify,
    /// Replay the log against the tables (with progress).
    Replay,
    /// Sign a checkpoint with the unsealed session and write it into this
    /// directory.
    Checkpoint(PathBuf),
    /// Write the whole log (`audit export`) into this directory.
    ExportLog(PathBuf),
    /// List the cards in a directory (`None`: media mounts and the default
    /// directories).
    ScanCards(Option<PathBuf>),
    /// Check from their headers that these cards can form a quorum.
    CheckCards(Vec<PathBuf>),
    /// Check one card's passphrase (Argon2id), before the next custodian
    /// types theirs.
    CheckPassphrase(PathBuf, SecretString),
    /// Open these cards with these passphrases (same order) and keep the
    /// unsealed vault for the session.
    Unseal(Vec<(PathBuf, SecretString)>),
    /// End the session (logged with the reason) and wipe the key.
    Seal(SealReason),
    /// An ingest wizard job (runs with the session).
    Ingest(super::ingest::Job),
    /// An export dialog job (runs with the session).
    Export(super::export::Job),
    /// Work of the officers' screens (lists, dry runs, one officer's act).
    Acts(super::acts::work::ActJob),
}

/// A page of the audit log to read, and which row to select in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// The filter in force.
    pub filter: Option<AuditFilter>,
    /// Where the page lies.
    pub anchor: Anchor,
    /// Rows on screen.
    pub rows: usize,
    /// What to select when it arrives.
    pub select: Select,
}

/// Which row of a new page to select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The first row.
    First,
    /// The last row.
    Last,
    /// The entry with this `seq`, else the nearest row.
    Seq(u64),
    /// Row `row` if the page starts after `after` (a page down), else the
    /// last (the page was moved back inside the log's end).
    PageDown {
        /// The row the cursor was on.
        row: usize,
        /// The last `seq` of the previous page.
        after: u64,
    },
    /// Row `row` if the page ends before `before`, else the first.
    PageUp {
        /// The row the cursor was on.
        row: usize,
        /// The first `seq` of the previous page.
        before: u64,
    },
}

/// What the TUI shows of the vault; re-read after every change and every
/// few seconds.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `vault.status()`, or why it failed.
    pub status: Result<Status, Shown>,
    /// Seed requests, every state.
    pub requests: Result<Vec<Request>, Shown>,
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
    /// Share index, 0-based as stored (shown 1-based, as `card check`).
    pub member_index: u8,
    /// Whether the header names this vault.
    pub this_vault: bool,
}

/// One final answer per job, and progress messages on the way.
#[derive(Debug)]
pub enum Reply {
    /// A long job's progress: not an answer (the job is still running).
    Progress {
        /// What is running ("verifying", "replaying").
        what: &'static str,
        /// Entries done.
        done: u64,
        /// Entries in all.
        total: u64,
    },
    /// For [`Job::Refresh`].
    Refreshed(Snapshot),
    /// For [`Job::AuditPage`]: the query, and the page or the refusal.
    AuditPage(PageQuery, Result<AuditPage, Shown>),
    /// For [`Job::Verify`].
    Verified(Result<ChainReport, Shown>),
    /// For [`Job::Replay`].
    Replayed(Result<ReplayReport, Shown>),
    /// For [`Job::Checkpoint`] and [`Job::ExportLog`]: what was written.
    Wrote(Result<String, Shown>, Snapshot),
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
    Checked(Result<(), Shown>, Snapshot),
    /// For [`Job::CheckPassphrase`]: the card, and whether it opened.
    PassphraseChecked(PathBuf, Result<(), Shown>, Snapshot),
    /// For [`Job::Unseal`]: the officers and what the session holds in
    /// memory, or the library's refusal.
    Unsealed(Result<(Vec<String>, HeldSecrets), Shown>, Snapshot),
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

    /// False for progress messages (the log's and the ingest wizard's and
    /// export dialog's), true for a job's answer: only an answer lowers
    /// the pending count.
    pub fn is_final(&self) -> bool {
        !matches!(self, Reply::Progress { .. }) && !self.is_progress()
    }
}

/// Where the worker looks for cards and media.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Lists mounted removable media (`media::removable_media` in the binary).
    pub media: fn() -> Vec<Medium>,
    /// Directories scanned besides the media mounts (`./cards`).
    pub card_dirs: Vec<PathBuf>,
    /// Kept so that callers written for the old window still build; the
    /// log is now read a page at a time, whole, and this is not used.
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

/// The size of the audit window the TUI once read (see
/// [`Sources::audit_window`]; unused since the log is paged).
pub const AUDIT_WINDOW: u64 = 10_000;

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
                    let progress = |what: &'static str, done: u64, total: u64| {
                        let _ = reply_tx.send(Reply::Progress { what, done, total });
                    };
                    let reply = held.run(job, &sources, &progress, &reply_tx);
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
                // A session still open when the UI went away ends logged,
                // with a checkpoint; the key is wiped.
                if let Held::Unsealed(u) = held {
                    drop(u.end(SealReason::Closed));
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
        // A panic on the UI thread unwinds through here (the profiles keep
        // panic = unwind; tests/tui_shell.rs checks): the session is ended
        // and logged as such before the channel closes.
        if std::thread::panicking() {
            self.send(Job::Seal(SealReason::Panic));
        }
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
    fn vault(&self) -> Result<&Vault, Shown> {
        match self {
            Held::Sealed(v) => Ok(v),
            Held::Unsealed(u) => Ok(u.vault()),
            Held::Gone(dir, why) => Err(Shown::text(
                format!(
                    "the vault at {} could not be reopened: {why}",
                    dir.display()
                ),
                Some("quit (q) and start the console again"),
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
                status: v.status().map_err(Shown::from),
                requests: v.requests().map_err(Shown::from),
                read_at,
                media,
            },
            Err(e) => Snapshot {
                status: Err(e.clone()),
                requests: Err(e),
                read_at,
                media,
            },
        }
    }

    fn run(
        &mut self,
        job: Job,
        sources: &Sources,
        progress: &dyn Fn(&'static str, u64, u64),
        tx: &Sender<Reply>,
    ) -> Reply {
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
            Job::AuditPage(q) => {
                let page = self.vault().and_then(|v| {
                    v.audit_page(q.filter.as_ref(), q.anchor, q.rows)
                        .map_err(Shown::from)
                });
                Reply::AuditPage(q, page)
            }
            Job::Verify => Reply::Verified(self.vault().and_then(|v| {
                v.verify_audit_progress(&mut |d, t| progress("verifying", d, t))
                    .map_err(Shown::from)
            })),
            Job::Replay => Reply::Replayed(self.vault().and_then(|v| {
                v.replay_audit_progress(&mut |d, t| progress("replaying", d, t))
                    .map_err(Shown::from)
            })),
            Job::Checkpoint(dir) => Reply::Wrote(self.checkpoint(&dir), self.snapshot(sources)),
            Job::ExportLog(dir) => Reply::Wrote(self.export_log(&dir), self.snapshot(sources)),
            Job::ScanCards(dir) => self.scan(dir, sources),
            Job::CheckCards(paths) => {
                let r = self.check(&paths);
                Reply::Checked(r, self.snapshot(sources))
            }
            Job::CheckPassphrase(path, pass) => {
                let r = self.check_passphrase(&path, &pass);
                Reply::PassphraseChecked(path, r, self.snapshot(sources))
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
                        let why = self
                            .vault()
                            .err()
                            .map(|e| e.to_string())
                            .unwrap_or_default();
                        super::acts::work::gone(j, why)
                    }
                };
                let snap = r.changed().then(|| Box::new(self.snapshot(sources)));
                Reply::Acts(r, snap)
            }
            Job::Seal(reason) => {
                let taken = std::mem::replace(self, Held::Gone(PathBuf::new(), String::new()));
                *self = match taken {
                    // The session ends logged, with a signed checkpoint. If
                    // either cannot be written, the session's work stays
                    // committed and the next quorum command writes one;
                    // sealing must not wait on it.
                    Held::Unsealed(u) => Held::Sealed(u.end(reason).0),
                    other => other,
                };
                Reply::Sealed(self.snapshot(sources))
            }
        }
    }

    /// A file name in `dir` for what is written now: `NAME-<entries>.EXT`,
    /// refusing to replace a file (the library creates it new).
    fn target(&self, dir: &Path, name: &str, ext: &str) -> Result<PathBuf, Shown> {
        if !dir.is_dir() {
            return Err(Shown::from(VaultError::MediaMissing {
                path: dir.to_path_buf(),
            }));
        }
        let n = self.vault()?.status().map_err(Shown::from)?.audit.entries;
        Ok(dir.join(format!("{name}-{n}.{ext}")))
    }

    fn checkpoint(&mut self, dir: &Path) -> Result<String, Shown> {
        let Held::Unsealed(u) = self else {
            return Err(Shown::text(
                "signing a checkpoint needs the vault key",
                Some("press u to unseal with a quorum, then c again"),
            ));
        };
        let signed = u.act(|uv| uv.checkpoint()).map_err(Shown::from)?;
        if signed.is_none() {
            return Err(Shown::text(
                "this session went on over a broken log and signs no checkpoint",
                Some(
                    "stop and involve the auditors: on the Audit screen (5) press v to verify and p to replay the log",
                ),
            ));
        }
        let path = self.target(dir, "checkpoint", "asc")?;
        match self.vault()?.save_checkpoint(&path).map_err(Shown::from)? {
            Some(cp) => Ok(format!("{}: {cp}", path.display())),
            None => Err(Shown::text("no checkpoint was stored", None)),
        }
    }

    fn export_log(&mut self, dir: &Path) -> Result<String, Shown> {
        let path = self.target(dir, "audit", "jsonl")?;
        let n = self.vault()?.export_audit(&path).map_err(Shown::from)?;
        Ok(format!(
            "{}: {} exported",
            path.display(),
            crate::vault::counted(n, "audit entry", "audit entries")
        ))
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
    fn read_cards(&mut self, paths: &[PathBuf]) -> Result<Vec<SealedCard>, Shown> {
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
                    return Err(Shown::from(VaultError::Card(e)));
                }
            }
        }
        Ok(cards)
    }

    fn check(&mut self, paths: &[PathBuf]) -> Result<(), Shown> {
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
            return Err(Shown::from(e));
        }
        Ok(())
    }

    /// Opens one card with its passphrase (Argon2id), logging a refusal
    /// as the unseal would.
    fn check_passphrase(&mut self, path: &Path, pass: &SecretString) -> Result<(), Shown> {
        let card = self.read_cards(std::slice::from_ref(&path.to_path_buf()))?;
        let Held::Sealed(v) = self else {
            return Err(already(self));
        };
        match card.first() {
            Some(c) => v
                .check_card_for(c, pass, PURPOSE)
                .map(|_| ())
                .map_err(Shown::from),
            None => Err(Shown::text("no card was read", None)),
        }
    }

    fn unseal(
        &mut self,
        given: Vec<(PathBuf, SecretString)>,
    ) -> Result<(Vec<String>, HeldSecrets), Shown> {
        let (paths, passes): (Vec<PathBuf>, Vec<SecretString>) = given.into_iter().unzip();
        let cards = self.read_cards(&paths)?;
        if !matches!(self, Held::Sealed(_)) {
            return Err(already(self));
        }
        let Held::Sealed(vault) =
            std::mem::replace(self, Held::Gone(PathBuf::new(), String::new()))
        else {
            return Err(Shown::text("internal: vault state changed", None)); // checked just above
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
                    return Err(Shown::text(
                        format!("{e}. The console does not unseal over a broken log"),
                        Some("stop and involve the auditors; incident response is done at the command line"),
                    ));
                }
                Err(Shown::from(e))
            }
        }
    }
}

fn already(held: &Held) -> Shown {
    match held {
        Held::Unsealed(u) => Shown::text(
            format!(
                "the vault is already unsealed by {}",
                u.officer_names().join(", ")
            ),
            Some("press s to seal first"),
        ),
        other => other
            .vault()
            .err()
            .unwrap_or_else(|| Shown::text("the vault is not available", None)),
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
