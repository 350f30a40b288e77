//! The vault and its two states.
//!
//! A [`Vault`] is sealed: it can say what it holds (status, audit) but
//! holds no key. [`Vault::unseal`] consumes M opened cards and returns an
//! [`UnsealedVault`], the only value from which seeds or the vault's
//! private key can be reached. Operations that need plaintext take an
//! `&UnsealedVault`, so "forgot to check the quorum" does not compile.

mod approval;
pub mod audit_browse;
mod backup;
pub mod binary;
mod checkpoints;
pub mod clock;
pub mod crash;
mod destroy;
mod export;
mod export_reader;
mod generate;
mod ingest;
mod init;
pub mod keys;
mod lifecycle;
mod listing;
mod orders;
mod query;
mod reissue;
mod rekey;
mod requests;
mod retention;
mod seeds;
pub mod statement;
mod status;
mod unseal;
pub mod upn;

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;

use crate::audit::{self, Event};
use crate::cards::{CardError, VaultId};
use crate::store::{Store, StoreError};

pub use approval::ApprovedRequest;
pub use backup::{
    prepare_restore, BackupOutcome, PreparedRestore, RestoreOutcome, BACKUP_CHECKPOINT, BACKUP_DB,
    BACKUP_MANIFEST, BACKUP_SIGNATURE,
};
pub use checkpoints::{BrokenLogPolicy, LogCheck};
pub use destroy::{
    DestroyOutcome, DestroyPlan, DestroySelection, DestructionRecord, MAX_LISTED_REFUSALS,
};
pub use export::{ExportOutcome, ExportPlan, ExportStep};
pub use generate::{parse_params, seed_len, GenerateOutcome, GenerateSpec, MAX_COUNT};
pub use ingest::{
    BatchPreview, IngestControl, IngestError, IngestOutcome, IngestSource, PROGRESS_EVERY,
};
pub use init::{
    init, preflight, InitOutcome, InitParams, CERT_FILE, MAX_CUSTODIANS, MIN_PASSPHRASE_CHARS,
};
pub use lifecycle::{Request, RequestState, RequestStateKind};
pub(crate) use listing::parse_serials_text;
pub use listing::{
    read_serials_file, read_upn_file, AssignPlan, BatchSummary, OrderSummary, RequestPreview,
};
pub use orders::check_free_text;
pub use orders::Order;
pub use query::AuditEntry;
pub use reissue::ReissueOutcome;
pub use rekey::{
    short_share_set, PendingCustodian, PendingRekey, PreparedRekey, RekeyCommitted, RekeyParams,
    RekeyStarted,
};
pub use requests::{CreatedRequest, NewRequest};
pub use retention::{DueOrder, RetentionPolicy};
pub use seeds::{HistoryItem, SeedFault, SerialRecord, TokenCheck, VERIFY_WINDOW};
pub use status::{
    counted, AuditStatus, CheckpointStatus, Counts, LastBackup, Status, UnfinishedExport,
};
pub use unseal::{CardCheck, HeldSecrets, Officer, SealReason, UnsealedSession, UnsealedVault};

/// Default lifetime of an approval: 24 hours.
pub const DEFAULT_APPROVAL_TTL_S: i64 = 24 * 3600;

/// SQL: how many completed exports took the serial `s.serial` (the same
/// count as the `seed_exports` view). One index probe per serial, so a query
/// about some serials costs what they cost, not what the vault's whole
/// export history does, as the view (materialized whole) would. The `+`
/// keeps SQLite from probing the index once per completed export instead.
pub(crate) const EXPORTS_OF_SERIAL: &str =
    "(SELECT count(*) FROM request_serials rs WHERE rs.serial = s.serial
     AND +rs.request_id IN (SELECT request_id FROM exports WHERE state = 'completed'))";

/// Everything that can refuse or fail at the vault level. Messages name
/// the card, custodian or path concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A vault already exists where `init` was asked to make one.
    #[error("a vault already exists in {0}; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    /// A file would be overwritten (a card or certificate by `init`, a
    /// bundle or manifest on the medium, a checkpoint file): seedvault
    /// never overwrites one.
    #[error("{0} already exists; refusing to overwrite it")]
    WouldOverwrite(PathBuf),
    /// Threshold and custodian count do not satisfy 2 <= M <= N <= 16.
    #[error("invalid quorum {m} of {n}: need 2 <= threshold <= custodians <= 16")]
    BadQuorum {
        /// Threshold.
        m: usize,
        /// Custodians.
        n: usize,
    },
    /// Two custodians with the same name.
    #[error("custodian name {0:?} is given twice (names must differ, ignoring case)")]
    DuplicateCustodian(String),
    /// A custodian name that cannot be a card file name.
    #[error("custodian name {name:?} is not allowed: {why}")]
    BadCustodianName {
        /// The name.
        name: String,
        /// Why.
        why: &'static str,
    },
    /// Too short a passphrase.
    #[error("the passphrase for {custodian} has {chars} characters; at least {MIN_PASSPHRASE_CHARS} are required")]
    WeakPassphrase {
        /// The custodian.
        custodian: String,
        /// Its length.
        chars: usize,
    },
    /// One passphrase per custodian is needed.
    #[error("{given} passphrases for {needed} custodians")]
    PassphraseCount {
        /// Custodians.
        needed: usize,
        /// Passphrases.
        given: usize,
    },
    /// A card problem (unreadable, corrupted, wrong passphrase).
    #[error(transparent)]
    Card(#[from] CardError),
    /// A card of another vault.
    #[error("card {path} belongs to vault {card_vault}, not to this vault {vault}")]
    ForeignCard {
        /// The card.
        path: PathBuf,
        /// Its vault.
        card_vault: VaultId,
        /// This vault.
        vault: VaultId,
    },
    /// The same card (same custodian) given twice.
    #[error("card {path} is custodian {name}'s card, which was already given as {first}")]
    DuplicateCard {
        /// The repeated card.
        path: PathBuf,
        /// Its custodian.
        name: String,
        /// Where it was first given.
        first: PathBuf,
    },
    /// Fewer cards than the threshold.
    #[error("{needed} of {total} cards needed, {given} given")]
    TooFewCards {
        /// Threshold.
        needed: usize,
        /// Custodians.
        total: usize,
        /// Distinct cards given.
        given: usize,
    },
    /// A card whose header names a custodian this vault does not have.
    #[error(
        "card {path} names custodian {name} (share {index}), who is not a custodian of this vault"
    )]
    UnknownCustodian {
        /// The card.
        path: PathBuf,
        /// Name in the card.
        name: String,
        /// Member index in the card.
        index: u8,
    },
    /// The share in a card does not match the vault's commitment.
    #[error("card {path} (custodian {name}) holds a share that does not match this vault's record of it; the card is damaged or forged")]
    ShareMismatch {
        /// The card.
        path: PathBuf,
        /// Its custodian.
        name: String,
    },
    /// A card sealed with cheaper Argon2id parameters than the vault's
    /// ceremony recorded (refused before any key derivation).
    #[error("card {path} (custodian {name}) is sealed with Argon2id {card}, weaker than this vault's policy {policy} (recorded at its key ceremony); the card was re-sealed or altered")]
    WeakCardKdf {
        /// The card.
        path: PathBuf,
        /// Its custodian.
        name: String,
        /// The card's parameters.
        card: crate::crypto::KdfParams,
        /// The vault's.
        policy: crate::crypto::KdfParams,
    },
    /// A card of a key version a rekey retired (k1).
    #[error("card {path} (custodian {name}) is a card of key version {version}, retired by rekey on {date}; it no longer opens this vault")]
    RetiredCard {
        /// The card.
        path: PathBuf,
        /// Its custodian.
        name: String,
        /// Its key version.
        version: u32,
        /// When the rekey that retired it was committed (YYYY-MM-DD).
        date: String,
    },
    /// A card made by a rekey that is not in force: pending, cancelled
    /// or never committed (k1).
    #[error("card {path} (custodian {name}) was made by rekey {rekey}, which {state}")]
    UncommittedCard {
        /// The card.
        path: PathBuf,
        /// Its custodian.
        name: String,
        /// The rekey named in its header: id and share set (short form).
        rekey: String,
        /// Where that rekey stands.
        state: String,
    },
    /// A card given to `rekey verify` or `rekey commit` that is not of
    /// the pending rekey (k1).
    #[error("card {path} (custodian {name}) is not a card of the pending rekey {rekey}: {what}")]
    NotOfPendingRekey {
        /// The card.
        path: PathBuf,
        /// Its custodian.
        name: String,
        /// The pending rekey: id and share set (short form).
        rekey: String,
        /// Why.
        what: String,
    },
    /// `rekey start` while another rekey is pending (k1).
    #[error(
        "rekey {rekey_id} (share set {share_set}) is pending; at most one rekey can be pending"
    )]
    RekeyPending {
        /// The pending rekey.
        rekey_id: String,
        /// Its share set (short form).
        share_set: String,
    },
    /// `rekey verify`, `commit` or `cancel` with no rekey pending (k1).
    #[error("no rekey is pending")]
    NoPendingRekey,
    /// `rekey commit` before every new card was verified (k1).
    #[error("rekey {rekey_id} cannot be committed: {} of {total} new cards were not verified ({})", unverified.len(), unverified.join(", "))]
    RekeyNotVerified {
        /// The pending rekey.
        rekey_id: String,
        /// The custodians who have not run `rekey verify`.
        unverified: Vec<String>,
        /// N.
        total: usize,
    },
    /// The combined shares did not give this vault's master key.
    #[error("the cards combine to a key that is not this vault's master key: {0}")]
    WrongMasterKey(String),
    /// No request has this id.
    #[error("request {id} does not exist")]
    RequestNotFound {
        /// The request id as given.
        id: String,
    },
    /// Only a pending request can be approved or rejected.
    #[error("request {id} is {state}, not pending")]
    RequestNotPending {
        /// The request.
        id: String,
        /// Where it stands.
        state: RequestStateKind,
    },
    /// Only an approved request can be exported.
    #[error("{}", not_approved_message(id, *state))]
    RequestNotApproved {
        /// The request.
        id: String,
        /// Where it stands (pending, rejected or exported).
        state: RequestStateKind,
    },
    /// The signed approval of the request has expired.
    #[error("the approval of request {id} expired")]
    ApprovalExpired {
        /// The request.
        id: String,
    },
    /// The officer who created a request tried to decide it.
    #[error("{officer} created request {id} and cannot {action} it: a different officer must (two-person rule)")]
    TwoPersonRule {
        /// The creating officer.
        officer: String,
        /// The request.
        id: String,
        /// `approve` or `reject`.
        action: &'static str,
    },
    /// Another run changed the request between reading it and acting on
    /// it; nothing was recorded by this run.
    #[error("request {id} {what}")]
    RequestChanged {
        /// The request.
        id: String,
        /// What happened to it and what this run did not do.
        what: String,
    },
    /// `request create` found problems; every one is listed and nothing
    /// was written.
    #[error("request refused, nothing was written; {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    RequestRefused {
        /// Every problem, one line each, naming the serial or field.
        problems: Vec<String>,
        /// Of the requested serials, those refused only because they
        /// were exported before (a re-export would take them).
        already_exported: Vec<String>,
    },
    /// `request create`: the chosen format cannot carry some requested
    /// tokens faithfully (the customer's tool would compute other codes);
    /// each is named with the reason in plain words; nothing was written.
    #[error("request refused, nothing was written; {} token(s) cannot be written as {format}:{}", listed.len() as u64 + more, carry_list(listed, *more))]
    FormatCannotCarry {
        /// The format asked for.
        format: &'static str,
        /// The first tokens that cannot be written: (serial, reason).
        listed: Vec<(String, String)>,
        /// How many more there are beyond `listed`.
        more: u64,
    },
    /// An export found problems with the request's serials (voided,
    /// exported meanwhile, missing); nothing was written.
    #[error("request {id} cannot be exported:\n  {}", problems.join("\n  "))]
    ExportRefused {
        /// The request.
        id: String,
        /// Every problem, naming the serial.
        problems: Vec<String>,
    },
    /// No order has this id.
    #[error("order {id} does not exist")]
    OrderNotFound {
        /// The order id.
        id: String,
    },
    /// An order with this id is already recorded.
    #[error("order {id} already exists")]
    OrderExists {
        /// The order id.
        id: String,
    },
    /// The media directory does not exist.
    #[error("media directory {} does not exist (is the medium mounted?)", path.display())]
    MediaMissing {
        /// The directory as given.
        path: PathBuf,
    },
    /// The media directory is inside the vault directory or contains it.
    #[error("media directory {} is inside the vault directory (or contains it)", path.display())]
    MediaInsideVault {
        /// The directory as given.
        path: PathBuf,
    },
    /// The media directory cannot be written to.
    #[error("media directory {} is not writable: {source}", path.display())]
    MediaNotWritable {
        /// The directory as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The medium has too little free space for the export.
    #[error("media {} has {free} bytes free; the export needs about {need}", path.display())]
    MediaTooSmall {
        /// The medium.
        path: PathBuf,
        /// Free bytes.
        free: u64,
        /// Bytes needed.
        need: u64,
    },
    /// Writing the bundle or manifest to the medium failed; what this run
    /// wrote is removed and the request stays approved.
    #[error("writing to the medium failed: {source}\nWhat was written is removed; nothing is marked exported and request {id} stays approved.")]
    MediumWriteFailed {
        /// The request.
        id: String,
        /// The failure (a file and its I/O error, or a read-back mismatch).
        #[source]
        source: Box<VaultError>,
    },
    /// A file on the medium read back differently from what was written.
    #[error("{} reads back differently from what was written (bad medium?)", path.display())]
    ReadBackMismatch {
        /// The file.
        path: PathBuf,
    },
    /// A request's row contradicts what the officers signed, or cannot be
    /// read: the database was edited. Exit code 3.
    #[error("tampering detected: request {id}: {what}")]
    RequestTampered {
        /// The request.
        id: String,
        /// What is wrong with it.
        what: String,
    },
    /// The vault holds no such serial.
    #[error("serial {serial} is not in the vault")]
    SerialNotFound {
        /// The serial as given.
        serial: String,
    },
    /// The seed of the serial was destroyed (`seeds destroy`): it can be
    /// neither exported, checked nor requested again (d1).
    #[error("serial {serial}: seed destroyed on {date}")]
    SeedDestroyed {
        /// The serial.
        serial: String,
        /// When (YYYY-MM-DD, UTC).
        date: String,
    },
    /// The serial is voided already (voiding it again is refused).
    #[error("serial {serial} is already voided")]
    SerialVoided {
        /// The serial.
        serial: String,
    },
    /// A seed of the vault, or the token parameters its seal binds, failed
    /// to open: the database was edited or damaged. Exit code 3.
    #[error("tampering detected: {}", what.describe(serial))]
    SeedIntegrity {
        /// The serial whose seed failed.
        serial: String,
        /// What failed.
        what: SeedFault,
    },
    /// Another command changed the vault while this one was preparing its
    /// write; nothing was written by this one.
    #[error("another command changed the vault during {command}; nothing was written")]
    VaultChanged {
        /// The command that gave up (`ingest`).
        command: &'static str,
    },
    /// A request that the vault's rules refuse (unknown serial, missing
    /// reason, ...); the message says what and where. The long tail of
    /// one-off refusals; those a caller acts on have their own variant.
    #[error("{0}")]
    Refused(String),
    /// The vault's own records contradict each other or the log: someone
    /// changed the database behind the vault's back. Exit code 3.
    #[error("tampering detected: {0}")]
    Tampered(String),
    /// The audit log is broken (its chain, or a checkpoint it no longer
    /// extends), so a quorum session or an officer's act is refused.
    /// Exit code 3.
    #[error("the audit log is broken; refusing {purpose}: {reason}")]
    BrokenLog {
        /// What the session was for.
        purpose: String,
        /// What is wrong with the log.
        reason: String,
    },
    /// Appending to or reading the audit log failed.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    /// An OpenPGP operation (signing a statement, decision, manifest or
    /// checkpoint; encoding a key) failed unexpectedly.
    #[error("cryptographic failure: {0}")]
    Pgp(#[source] crate::pgp::PgpError),
    /// A cryptographic operation failed unexpectedly.
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The message of [`VaultError::RequestNotApproved`].
fn not_approved_message(id: &str, state: RequestStateKind) -> String {
    match state {
        RequestStateKind::Pending => {
            format!("request {id} is not approved yet (a second officer must approve it)")
        }
        other => format!("request {id} is {other}; only an approved request can be exported"),
    }
}

impl From<rusqlite::Error> for VaultError {
    fn from(e: rusqlite::Error) -> Self {
        VaultError::Store(StoreError::Sqlite(e))
    }
}

impl VaultError {
    /// An I/O error making `path`, which must not replace an existing
    /// file: [`VaultError::WouldOverwrite`] when it exists already.
    pub(crate) fn creating(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            VaultError::WouldOverwrite(path.to_owned())
        } else {
            VaultError::Io {
                path: path.to_owned(),
                source,
            }
        }
    }

    /// Whether this error means the vault's data was tampered with (exit 3).
    pub fn is_tampering(&self) -> bool {
        match self {
            VaultError::Tampered(_)
            | VaultError::RequestTampered { .. }
            | VaultError::SeedIntegrity { .. }
            | VaultError::BrokenLog { .. } => true,
            // An audit error is a database or encoding failure, not
            // evidence of an edit; a new kind must be decided here.
            VaultError::Audit(a) => match a {
                audit::AuditError::Sqlite(_) | audit::AuditError::Encode(_) => false,
            },
            VaultError::MediumWriteFailed { source, .. } => source.is_tampering(),
            _ => false,
        }
    }
}

/// The lines of [`VaultError::FormatCannotCarry`]: one per token, then
/// how many more.
fn carry_list(listed: &[(String, String)], more: u64) -> String {
    let mut out = String::new();
    for (serial, why) in listed {
        out.push_str(&format!("\n  serial {serial}: {why}"));
    }
    if more > 0 {
        out.push_str(&format!("\n  and {more} more"));
    }
    out
}

/// A custodian as the vault records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custodian {
    /// Name (also the card's file name).
    pub name: String,
    /// SLIP-0039 member index of their share.
    pub member_index: u8,
    /// Commitment to their share.
    pub commitment: [u8; 32],
    /// Fingerprint of their card's signing key.
    pub officer_fingerprint: String,
    /// Their card's public signing certificate (binary OpenPGP).
    pub officer_cert: Vec<u8>,
}

/// Where a list of custodians is written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CustodianTable {
    /// The vault's own (`custodians`).
    Current,
    /// A pending rekey's (`rekey_custodians`).
    Pending,
}

/// Writes `custodians` as rows of `table` (init, rekey start and commit).
pub(crate) fn insert_custodians(
    conn: &rusqlite::Connection,
    table: CustodianTable,
    custodians: &[Custodian],
) -> rusqlite::Result<()> {
    let sql = match table {
        CustodianTable::Current => {
            "INSERT INTO custodians (member_index, name, commitment, officer_fpr, officer_cert)
             VALUES (?1, ?2, ?3, ?4, ?5)"
        }
        CustodianTable::Pending => {
            "INSERT INTO rekey_custodians (member_index, name, commitment, officer_fpr, officer_cert)
             VALUES (?1, ?2, ?3, ?4, ?5)"
        }
    };
    let mut insert = conn.prepare_cached(sql)?;
    for c in custodians {
        insert.execute(rusqlite::params![
            c.member_index,
            c.name,
            &c.commitment[..],
            c.officer_fingerprint,
            c.officer_cert
        ])?;
    }
    Ok(())
}

/// The vault's fixed facts, read at open.
#[derive(Clone)]
pub struct VaultInfo {
    /// Its id.
    pub vault_id: VaultId,
    /// M.
    pub threshold: u8,
    /// N.
    pub share_count: u8,
    /// Made with `--insecure-fast-kdf`.
    pub test_vault: bool,
    /// When.
    pub created_at: String,
    /// Current master key version (bumped by rekey).
    pub key_version: u32,
    /// The custodians, by member index.
    pub custodians: Vec<Custodian>,
    /// Public certificate (binary).
    pub vault_cert: Vec<u8>,
    /// How long an approval stays valid.
    pub approval_ttl_s: i64,
    /// The cards' Argon2id parameters as the genesis entry recorded them
    /// at the ceremony (`None` for a vault made before they were recorded).
    pub kdf_recorded: Option<crate::crypto::KdfParams>,
    master_check: Vec<u8>,
    vault_key_sealed: Vec<u8>,
}

impl VaultInfo {
    /// The master key's public check value in force (hex):
    /// HKDF-SHA256(MK, "seedvault/v1/" + vault id, "check"), see
    /// `docs/architecture.md`. Lets words combined elsewhere be checked.
    pub fn master_check_hex(&self) -> String {
        crate::crypto::hex(&self.master_check)
    }
}

impl fmt::Debug for VaultInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultInfo")
            .field("vault_id", &self.vault_id)
            .field("threshold", &self.threshold)
            .field("share_count", &self.share_count)
            .field("test_vault", &self.test_vault)
            .finish_non_exhaustive()
    }
}

/// A sealed vault: readable metadata and log, no keys.
#[derive(Debug)]
pub struct Vault {
    store: Store,
    info: VaultInfo,
}

impl Vault {
    /// Opens the vault in `dir`.
    pub fn open(dir: &Path) -> Result<Self, VaultError> {
        let store = Store::open(dir)?;
        let info = load_info(&store)?;
        Ok(Vault { store, info })
    }

    /// The vault's fixed facts.
    pub fn info(&self) -> &VaultInfo {
        &self.info
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// The database (for modules of this crate).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The database for writing (for modules of this crate).
    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The public certificate, ASCII-armored.
    pub fn vault_cert_armored(&self) -> Result<String, VaultError> {
        use sequoia_openpgp::serialize::SerializeInto;
        let cert = crate::pgp::keys::parse_public_cert(&self.info.vault_cert).map_err(|e| {
            VaultError::Tampered(format!("the stored vault certificate is unreadable: {e}"))
        })?;
        let bytes = cert
            .armored()
            .to_vec()
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| VaultError::Crypto(e.to_string()))
    }

    /// Records an event in its own transaction (refusals, failed unseals).
    pub(crate) fn log(&mut self, event: &Event) -> Result<audit::Head, VaultError> {
        let id = self.info.vault_id.to_string();
        self.store
            .write(|tx| audit::append(tx, &id, event).map_err(VaultError::from))
    }

    /// Rebuilds the vault's state from the log alone and compares it with
    /// the tables (`audit replay`).
    pub fn replay_audit(&self) -> Result<audit::ReplayReport, VaultError> {
        Ok(audit::replay(self.store.conn())?)
    }

    /// [`Vault::replay_audit`] with progress, as `verify_audit_progress`.
    pub fn replay_audit_progress(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<audit::ReplayReport, VaultError> {
        Ok(audit::replay::replay_progress(self.store.conn(), progress)?)
    }

    /// Walks the audit chain and checks the vault's fixed facts against
    /// the genesis entry. Problems are in the report; `Err` only when the
    /// database cannot be read.
    pub fn verify_audit(&self) -> Result<audit::ChainReport, VaultError> {
        self.verify_audit_progress(&mut |_, _| {})
    }

    /// [`Vault::verify_audit`], reporting `(entries read, entries)` to
    /// `progress` as the walk goes (the terminal UI's progress bar).
    pub fn verify_audit_progress(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<audit::ChainReport, VaultError> {
        let mut report = audit::verify::verify_chain_progress(
            self.store.conn(),
            &self.info.vault_id.to_string(),
            progress,
        )?;
        // The checkpoints the vault itself stored (signed, checked against
        // the genesis certificate) and recorded in the log: a log cut back
        // below them is truncated even when no checkpoint file is given.
        let found = self.check_checkpoints(&report)?;
        let at = found
            .checkpoint
            .as_ref()
            .map_or(report.head.count, |c| c.entries);
        for problem in found.not_extended.into_iter().chain(found.problems) {
            report
                .problems
                .push(audit::ChainProblem { seq: at, problem });
        }
        // The walk read every body: the re-issue entries it collected are
        // what `genesis_mismatch` would read the log again for.
        let enrolments = report.enrolments.take();
        if let Some(p) = status::genesis_mismatch_given(&self.store, &self.info, enrolments)? {
            report
                .problems
                .push(audit::ChainProblem { seq: 1, problem: p });
        }
        Ok(report)
    }
}

/// A stored integer as the type the vault uses, or tampering: the schema
/// keeps these in range, so a value that does not fit was edited in.
pub(crate) fn stored<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, VaultError> {
    T::try_from(value)
        .map_err(|_| VaultError::Tampered(format!("the stored {what} {value} is out of range")))
}

fn load_info(store: &Store) -> Result<VaultInfo, VaultError> {
    let conn = store.conn();
    let row = conn
        .query_row(
            "SELECT vault_id, threshold, share_count, test_vault, created_at, key_version,
                    master_check, vault_cert, vault_key_sealed, approval_ttl_s FROM vault",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    r.get::<_, Vec<u8>>(8)?,
                    r.get::<_, i64>(9)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| VaultError::Tampered("the vault record is missing".into()))?;
    let vault_id = VaultId::parse(&row.0)
        .ok_or_else(|| VaultError::Tampered(format!("the vault id {:?} is malformed", row.0)))?;
    let mut stmt = conn.prepare(
        "SELECT member_index, name, commitment, officer_fpr, officer_cert FROM custodians ORDER BY member_index",
    )?;
    let custodians = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })?
        .map(|r| {
            let (idx, name, c, fpr, cert) = r?;
            let commitment: [u8; 32] = c.try_into().map_err(|_| {
                VaultError::Tampered(format!("custodian {name}'s share commitment is malformed"))
            })?;
            let member_index = stored(idx, &format!("custodian {name}'s member index"))?;
            Ok(Custodian {
                name,
                member_index,
                commitment,
                officer_fingerprint: fpr,
                officer_cert: cert,
            })
        })
        .collect::<Result<Vec<_>, VaultError>>()?;
    Ok(VaultInfo {
        vault_id,
        threshold: stored(row.1, "threshold")?,
        share_count: stored(row.2, "share count")?,
        test_vault: row.3 != 0,
        created_at: row.4,
        key_version: stored(row.5, "key version")?,
        master_check: row.6,
        vault_cert: row.7,
        vault_key_sealed: row.8,
        approval_ttl_s: row.9,
        kdf_recorded: unseal::recorded_kdf(conn),
        custodians,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "read-only file system",
        )
    }

    /// The refusals a front end or script acts on: none means tampering
    /// (exit 1), and each message names the request, order or medium.
    #[test]
    fn refusals_are_not_tampering_and_name_what_they_refuse() {
        let id = || "R0007".to_owned();
        let media = || PathBuf::from("/media/usb");
        let cases: Vec<(VaultError, &str)> = vec![
            (VaultError::RequestNotFound { id: id() }, "request R0007 does not exist"),
            (
                VaultError::RequestNotPending { id: id(), state: RequestStateKind::Exported },
                "request R0007 is exported, not pending",
            ),
            (
                VaultError::RequestNotApproved { id: id(), state: RequestStateKind::Pending },
                "request R0007 is not approved yet (a second officer must approve it)",
            ),
            (
                VaultError::RequestNotApproved { id: id(), state: RequestStateKind::Rejected },
                "request R0007 is rejected; only an approved request can be exported",
            ),
            (VaultError::ApprovalExpired { id: id() }, "the approval of request R0007 expired"),
            (
                VaultError::TwoPersonRule { officer: "alice".into(), id: id(), action: "approve" },
                "alice created request R0007 and cannot approve it: a different officer must (two-person rule)",
            ),
            (
                VaultError::RequestChanged { id: id(), what: "was approved meanwhile by another run".into() },
                "request R0007 was approved meanwhile by another run",
            ),
            (
                VaultError::RequestRefused {
                    problems: vec!["serial A1 was already exported".into(), "serial A2 is voided".into()],
                    already_exported: vec!["A1".into()],
                },
                "request refused, nothing was written; 2 problem(s):\n  serial A1 was already exported\n  serial A2 is voided",
            ),
            (
                VaultError::ExportRefused { id: id(), problems: vec!["serial A2 is voided".into()] },
                "request R0007 cannot be exported:\n  serial A2 is voided",
            ),
            (VaultError::SerialNotFound { serial: "A1".into() }, "serial A1 is not in the vault"),
            (VaultError::SerialVoided { serial: "A1".into() }, "serial A1 is already voided"),
            (
                VaultError::VaultChanged { command: "ingest" },
                "another command changed the vault during ingest; nothing was written",
            ),
            (VaultError::OrderNotFound { id: "4711".into() }, "order 4711 does not exist"),
            (VaultError::OrderExists { id: "4711".into() }, "order 4711 already exists"),
            (
                VaultError::MediaMissing { path: media() },
                "media directory /media/usb does not exist (is the medium mounted?)",
            ),
            (
                VaultError::MediaInsideVault { path: media() },
                "media directory /media/usb is inside the vault directory (or contains it)",
            ),
            (
                VaultError::MediaNotWritable { path: media(), source: io() },
                "media directory /media/usb is not writable: read-only file system",
            ),
            (
                VaultError::MediaTooSmall { path: media(), free: 10, need: 65546 },
                "media /media/usb has 10 bytes free; the export needs about 65546",
            ),
            (
                VaultError::MediumWriteFailed {
                    id: id(),
                    source: Box::new(VaultError::ReadBackMismatch { path: media().join("b.asc") }),
                },
                "writing to the medium failed: /media/usb/b.asc reads back differently from what was written (bad medium?)\n\
                 What was written is removed; nothing is marked exported and request R0007 stays approved.",
            ),
            (VaultError::WouldOverwrite(media().join("b.asc")), "/media/usb/b.asc already exists; refusing to overwrite it"),
            (
                VaultError::Audit(audit::AuditError::Sqlite(rusqlite::Error::InvalidQuery)),
                "audit log database error: Query is not read-only",
            ),
        ];
        for (e, message) in cases {
            assert!(!e.is_tampering(), "{e:?} must exit 1, not 3");
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn tampering_variants_exit_3_and_keep_their_cause() {
        let tampered = VaultError::RequestTampered {
            id: "R0007".into(),
            what: "its state in the table is none of pending, approved, rejected, exported".into(),
        };
        assert!(tampered.is_tampering());
        assert_eq!(
            tampered.to_string(),
            "tampering detected: request R0007: its state in the table is none of pending, approved, rejected, exported"
        );
        assert!(VaultError::Tampered("the vault record is missing".into()).is_tampering());
        // Every way a seed fails to open is tampering, and names the serial.
        let seeds = [
            (SeedFault::Sealed, "tampering detected: integrity check failed for the seed of serial A1: its ciphertext or its token parameters were altered, or it was moved from another row"),
            (SeedFault::ParamsMissing { set: 2 }, "tampering detected: the token parameters of serial A1 (set 2) are missing from the vault"),
            (SeedFault::ParamsUnreadable { set: 2 }, "tampering detected: the token parameters of serial A1 (set 2) are unreadable"),
            (SeedFault::Oversized, "tampering detected: serial A1 or its sealed seed is longer than the vault allows"),
            (
                SeedFault::Malformed(crate::token::SeedError::AllZero),
                "tampering detected: seed of serial A1: secret is all zero bytes",
            ),
        ];
        for (what, message) in seeds {
            let e = VaultError::SeedIntegrity {
                serial: "A1".into(),
                what,
            };
            assert!(e.is_tampering(), "{e:?}");
            assert_eq!(e.to_string(), message);
        }
        assert!(VaultError::BrokenLog {
            purpose: "export".into(),
            reason: "entry 3".into()
        }
        .is_tampering());
        // A medium failure wrapping tampering is still tampering.
        let wrapped = VaultError::MediumWriteFailed {
            id: "R0007".into(),
            source: Box::new(tampered),
        };
        assert!(wrapped.is_tampering());
        // The audit error's cause is kept, not flattened into a string.
        let e = VaultError::from(audit::AuditError::Sqlite(rusqlite::Error::InvalidQuery));
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("Query is not read-only"));
        assert!(!e.is_tampering());
        let e = VaultError::MediaNotWritable {
            path: PathBuf::from("/m"),
            source: io(),
        };
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("read-only file system"));
    }
}
