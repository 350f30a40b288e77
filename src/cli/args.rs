//! The command line, as a contract (SPEC "CLI contract"): names, flags and
//! exit codes here are relied on by scripts and ceremony procedures. Add
//! freely; never rename.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Offline vault for the factory seeds of TOTP/HOTP hardware tokens.
#[derive(Debug, Parser)]
#[command(name = "seedvault", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// The vault directory [default: ./vault]
    #[arg(long, global = true, env = "SEEDVAULT_DIR", value_name = "DIR")]
    pub vault: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Key ceremony: create a vault, split its master key M-of-N, write the custodians' cards.
    Init(InitArgs),
    /// The vault at a glance (no card needed).
    Status(JsonArg),
    /// Print the vault's public OpenPGP certificate (armored).
    VaultCert,
    /// Custodian cards: check one, or show its paper-backup words.
    #[command(subcommand)]
    Card(CardCommand),
    /// Ingest a factory seed batch (all or nothing); needs the quorum.
    Ingest(IngestArgs),
    /// A serial's state and history (never its secret), or void it.
    #[command(subcommand)]
    Serial(SerialCommand),
    /// Check a code shown by a token (±10 steps); needs the quorum.
    VerifyToken(VerifyTokenArgs),
    /// Customer orders: record one, assign shipped serials, show one.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Seed requests: create (one officer), approve or reject (another officer), list.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Export an approved request's seeds, encrypted to the customer, onto media; needs the quorum.
    Export(ExportArgs),
    /// Check that these cards unseal the vault (ceremony rehearsal); changes nothing else.
    Unseal(QuorumArgs),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Build a demo vault (in ./demo) and walk through the whole flow; a second run reuses it.
    Demo(DemoArgs),
    /// Full-screen terminal UI: overview, audit log, unsealed sessions.
    Tui(TuiArgs),
    /// Key lifecycle: a new master key and new cards (start, verify every card, commit or cancel).
    #[command(subcommand)]
    Rekey(RekeyCommand),
    /// Write a verified backup of the vault into a new directory on other media; needs the quorum.
    Backup(BackupArgs),
    /// Restore a backup into a new vault directory (exit 3 if the backup does not verify); needs the quorum.
    Restore(RestoreArgs),
    /// Version and SHA-256 of the running binary (compare with the published release hash).
    Version(JsonArg),
    /// Seed batches made in the vault: generate a production batch with its burn file.
    #[command(subcommand)]
    Batch(super::generate::BatchCommand),
    /// Ceremonies: walk a script step by step (logged), print it for paper, show a past one.
    #[command(subcommand)]
    Ceremony(CeremonyCommand),
    /// Retention policy: how long delivered seeds stay, and which are due for destruction.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Seed lifecycle: destroy delivered or voided seeds (two officers; signed receipt).
    #[command(subcommand)]
    Seeds(SeedsCommand),
}

/// `seedvault ceremony ...` (c1).
#[derive(Debug, Subcommand)]
pub enum CeremonyCommand {
    /// Walk a ceremony script: show each step, perform the tool steps, the witness initials each.
    Run(CeremonyRunArgs),
    /// The paper script: Step | Activity | Initials | Time, with blank Initials and Time.
    Print {
        /// The script (ceremony-scripts/*.toml).
        #[arg(value_name = "SCRIPT")]
        script: std::path::PathBuf,
        /// Bind a script variable (repeatable): NAME=VALUE.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        sets: Vec<String>,
    },
    /// Print a ceremony's transcript again, rebuilt from the audit log.
    Show {
        /// The ceremony id (or a unique prefix of 4 or more digits).
        #[arg(value_name = "ID")]
        id: String,
        /// Print one JSON document to stdout.
        #[arg(long)]
        json: bool,
    },
    /// Every ceremony in the audit log.
    List(JsonArg),
}

#[derive(Debug, Args)]
pub struct CeremonyRunArgs {
    /// The script (ceremony-scripts/*.toml).
    #[arg(value_name = "SCRIPT")]
    pub script: PathBuf,
    /// Where to write the transcript (the record medium).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// REHEARSALS: answers read before standard input, and passphrase files by custodian.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Bind a script variable (repeatable): NAME=VALUE (logged with the ceremony).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// TEST ONLY: an init step makes a test vault with a cheap Argon2id.
    #[arg(long)]
    pub insecure_fast_kdf: bool,
}

/// `seedvault retention ...` (d1).
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Set the policy: seeds are due for destruction DAYS after their first export (one officer).
    Set(RetentionSetArgs),
    /// List the serials due for destruction under the policy, by order.
    Due(JsonArg),
}

#[derive(Debug, Args)]
pub struct RetentionSetArgs {
    /// Days after a seed's first completed export when it is due for destruction (0 to 36500).
    #[arg(long, value_name = "DAYS")]
    pub after_export: u32,
    #[command(flatten)]
    pub officer: OneOfficer,
}

/// `seedvault seeds ...` (d1).
#[derive(Debug, Subcommand)]
pub enum SeedsCommand {
    /// Destroy the seeds of exported or voided serials for good; writes a signed receipt to the medium.
    Destroy(DestroyArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["order", "serials_file", "due"])))]
pub struct DestroyArgs {
    /// Every serial of this order (all must be exported or voided).
    #[arg(long, value_name = "ID")]
    pub order: Option<String>,
    /// The serials in this file, one per line.
    #[arg(long, value_name = "F")]
    pub serials_file: Option<PathBuf>,
    /// Every serial the retention policy makes due now (`seedvault retention due`).
    #[arg(long)]
    pub due: bool,
    /// Why (one line; in the signed statement, the receipt and the log).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Where to write the receipt (removable media).
    #[arg(long, value_name = "DIR")]
    pub media: PathBuf,
    /// Print one JSON document to stdout.
    #[arg(long)]
    pub json: bool,
    /// Two officers' cards at least (the quorum; each signs the destruction).
    #[command(flatten)]
    pub quorum: QuorumArgs,
}

/// `seedvault rekey ...` (k1).
#[derive(Debug, Subcommand)]
pub enum RekeyCommand {
    /// Start a rekey with a quorum of the current cards: new master key, one new card per custodian.
    Start(RekeyStartArgs),
    /// Show the pending rekey, its share set and which new cards were verified.
    Status(JsonArg),
    /// A new custodian checks their own new card (every card must be verified before commit).
    Verify(RekeyOneCardArgs),
    /// Switch the vault to the new key with M new cards (only when all new cards were verified).
    Commit(QuorumArgs),
    /// Discard the pending rekey with one card of the current set.
    Cancel(RekeyOneCardArgs),
}

#[derive(Debug, Args)]
pub struct RekeyStartArgs {
    /// Cards needed to unseal after the rekey (new M), with 2 <= M <= N <= 16.
    #[arg(long, value_name = "M")]
    pub threshold: u8,
    /// A new custodian (repeat for each; new N = how many). Same rules as for init.
    #[arg(long = "custodian", value_name = "NAME", required = true)]
    pub custodians: Vec<String>,
    /// Where to write NAME.card for each new custodian.
    #[arg(long, value_name = "DIR")]
    pub cards_out: PathBuf,
    /// Passphrase file of each new custodian, paired with --custodian by position (else asked twice).
    #[arg(long = "new-passphrase-file", value_name = "F")]
    pub new_passphrase_files: Vec<PathBuf>,
    /// The current quorum.
    #[command(flatten)]
    pub quorum: QuorumArgs,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup directory to create (must not exist; outside the vault directory).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub quorum: QuorumArgs,
}

#[derive(Debug, Args)]
pub struct RekeyOneCardArgs {
    /// The card (a new card for verify, a current card for cancel).
    #[arg(long = "card", value_name = "PATH")]
    pub card: PathBuf,
    /// Read the passphrase from this file (else asked on the terminal).
    #[arg(long = "passphrase-file", value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
    /// Print one JSON document to stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory (written by `seedvault backup`).
    #[arg(value_name = "DIR")]
    pub backup: PathBuf,
    /// A signed checkpoint saved since (repeatable): a backup older than it is refused.
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoints: Vec<PathBuf>,
    /// A card of the backup's vault (repeat: M cards are needed).
    #[arg(long = "card", value_name = "PATH", required = true)]
    pub cards: Vec<PathBuf>,
    /// Passphrase file of the card at the same position (else asked on the terminal).
    #[arg(long = "passphrase-file", value_name = "F")]
    pub passphrase_files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReissueArgs {
    /// The custodian whose card is re-issued (damaged card or forgotten passphrase).
    #[arg(long, value_name = "NAME")]
    pub custodian: String,
    /// Where to write the new NAME.card.
    #[arg(long, value_name = "DIR")]
    pub cards_out: PathBuf,
    /// The custodian's new passphrase, from this file (else asked twice on the terminal).
    #[arg(long, value_name = "F")]
    pub new_passphrase_file: Option<PathBuf>,
    /// The other custodians' cards: M of them, not the custodian's own.
    #[command(flatten)]
    pub quorum: QuorumArgs,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print one JSON document to stdout.
    #[arg(long)]
    pub json: bool,
}

/// Cards of a quorum and their passphrases.
#[derive(Debug, Args)]
pub struct QuorumArgs {
    /// A custodian card (repeat: M cards are needed).
    #[arg(long = "card", value_name = "PATH", required = true)]
    pub cards: Vec<PathBuf>,
    /// Passphrase file of the card at the same position (else asked on the terminal).
    #[arg(long = "passphrase-file", value_name = "F")]
    pub passphrase_files: Vec<PathBuf>,
    /// INCIDENT RESPONSE: go on although the audit log is broken (logged; no checkpoint is signed).
    #[arg(long)]
    pub accept_broken_log: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cards needed to unseal (M), with 2 <= M <= N <= 16.
    #[arg(long, value_name = "M")]
    pub threshold: u8,
    /// A custodian (repeat for each; N = how many). Becomes the card's file name NAME.card: 1 to 64
    /// letters, digits, '.', '_' or '-', not starting with '.' or '-', distinct ignoring case.
    #[arg(long = "custodian", value_name = "NAME", required = true)]
    pub custodians: Vec<String>,
    /// Where to write NAME.card for each custodian and vault-cert.asc.
    #[arg(long, value_name = "DIR")]
    pub cards_out: PathBuf,
    /// Passphrase file for each custodian, in the same order (else asked twice on the terminal).
    /// Each passphrase has at least 12 characters.
    #[arg(long = "passphrase-file", value_name = "F")]
    pub passphrase_files: Vec<PathBuf>,
    /// TEST ONLY: cheap Argon2id; the vault says so in status and every manifest.
    #[arg(long)]
    pub insecure_fast_kdf: bool,
    /// How long an approval of a seed request stays valid, in hours.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub approval_ttl_hours: u32,
    /// TEST ONLY: approval lifetime in seconds (overrides --approval-ttl-hours).
    #[arg(long, value_name = "SECONDS", hide = true)]
    pub approval_ttl_seconds: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Check a card and its passphrase against the vault (no quorum needed).
    Check(OneCardArgs),
    /// Print the card's SLIP-0039 share words, for a paper backup.
    Words(OneCardArgs),
    /// Re-issue a custodian's damaged card (same share, new card and passphrase); needs M other cards.
    Reissue(ReissueArgs),
}

#[derive(Debug, Args)]
pub struct OneCardArgs {
    /// The card file.
    #[arg(value_name = "CARD")]
    pub card: PathBuf,
    /// Read the passphrase from this file (else asked on the terminal).
    #[arg(long = "passphrase-file", value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain (exit 3 on tampering).
    Verify(AuditVerifyArgs),
    /// Rebuild the vault's state from the log alone and compare it with the tables (exit 3 on any difference).
    Replay(JsonArg),
    /// Write the latest signed checkpoint to a new file (for removable media).
    Checkpoint(OutArg),
    /// Write the whole log to a new file as JSON Lines, for auditors.
    Export(OutArg),
}

#[derive(Debug, Args)]
pub struct OutArg {
    /// The file to write (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Print one JSON document to stdout.
    #[arg(long)]
    pub json: bool,
    /// Saved checkpoints the log must extend (detects truncation, rollback, forks).
    #[arg(long = "checkpoint", value_name = "FILE", num_args = 1..)]
    pub checkpoints: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to build the demo: a new or empty directory, or one an earlier demo made (reused as it is).
    #[arg(long, value_name = "DIR", default_value = "demo")]
    pub dir: PathBuf,
    /// Delete what an earlier demo made in DIR and build it again (never touches other files).
    #[arg(long)]
    pub fresh: bool,
    /// Not used: the demo's vault is always DIR/vault (hides the global --vault from this help).
    #[arg(long, value_name = "DIR", hide = true)]
    pub vault: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The batch file (plain, or an OpenPGP message encrypted to the vault).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The format, instead of detecting it: azure-csv, hex, base32, pskc, otpauth, privacyidea.
    #[arg(long, value_name = "NAME")]
    pub format: Option<String>,
    /// A label for the batch (e.g. the factory's shipment reference).
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// Require a valid OpenPGP signature on the batch by this factory certificate.
    #[arg(long, value_name = "FILE")]
    pub factory_cert: Option<PathBuf>,
    /// File holding the hex pre-shared key of an encrypted PSKC file.
    #[arg(long, value_name = "F")]
    pub pskc_key_file: Option<PathBuf>,
    /// File holding the password of a PBKDF2-encrypted PSKC file.
    #[arg(long, value_name = "F")]
    pub pskc_password_file: Option<PathBuf>,
    /// Print one JSON document to stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quorum: QuorumArgs,
}

/// One officer's card, for acts that need a person rather than the quorum.
#[derive(Debug, Args)]
pub struct OneOfficer {
    /// The officer's card.
    #[arg(long, value_name = "PATH")]
    pub card: PathBuf,
    /// Passphrase file for the card (else asked on the terminal).
    #[arg(long = "passphrase-file", value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
    /// INCIDENT RESPONSE: go on although the audit log is broken (logged).
    #[arg(long)]
    pub accept_broken_log: bool,
}

#[derive(Debug, Subcommand)]
pub enum SerialCommand {
    /// State, batch, order, exports and history of a serial (no secret).
    Show {
        /// The serial.
        serial: String,
        /// Print one JSON document to stdout.
        #[arg(long)]
        json: bool,
    },
    /// Void a serial (e.g. the token was reprogrammed): it can never be exported after.
    Void {
        /// The serial.
        serial: String,
        /// Why (recorded in the log).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        officer: OneOfficer,
    },
}

#[derive(Debug, Args)]
pub struct VerifyTokenArgs {
    /// The token's serial.
    #[arg(value_name = "SERIAL")]
    pub serial: String,
    /// The code the token shows.
    #[arg(long, value_name = "DIGITS")]
    pub code: String,
    /// Check as of this Unix time instead of now.
    #[arg(long, value_name = "UNIX_TIME")]
    pub at: Option<u64>,
    /// Print one JSON document to stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quorum: QuorumArgs,
}

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Seal an unsealed session after this many seconds without a key press
    /// (1 to 28800, i.e. at most 8 hours).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64)
            .range(seedvault::tui::MIN_IDLE_TIMEOUT_S..=seedvault::tui::MAX_IDLE_TIMEOUT_S)
    )]
    pub idle_timeout: u64,
    /// A directory to treat as removable media besides the mounted ones
    /// (repeatable): batch files are listed from it, exports offered to it.
    #[arg(long = "media", value_name = "DIR")]
    pub media: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Record an order: its id, customer and the addresses allowed to request its seeds.
    Add {
        /// Order id (the customer's seed-request id).
        #[arg(long)]
        id: String,
        /// Customer name.
        #[arg(long)]
        customer: String,
        /// An address authorized to request the seeds (repeat).
        #[arg(long = "email", value_name = "ADDR", required = true)]
        emails: Vec<String>,
        #[command(flatten)]
        officer: OneOfficer,
    },
    /// Record the serials shipped in an order (one serial per line).
    Assign {
        /// Order id.
        #[arg(long)]
        id: String,
        /// File with one serial per line.
        #[arg(long, value_name = "F")]
        serials_file: PathBuf,
        #[command(flatten)]
        officer: OneOfficer,
    },
    /// An order, its requesters and serials.
    Show {
        /// Order id.
        #[arg(long)]
        id: String,
        /// Print one JSON document to stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Create a seed request (checked completely; the id is the last line of stdout).
    Create {
        /// Order id.
        #[arg(long)]
        order: String,
        /// The requester's e-mail (must be authorized for the order).
        #[arg(long, value_name = "ADDR")]
        requester: String,
        /// The customer's OpenPGP certificate (armored or binary).
        #[arg(long, value_name = "FILE")]
        recipient_key: PathBuf,
        /// Bundle format: azure-csv, hex, base32, pskc, otpauth, privacyidea.
        #[arg(long, value_name = "NAME")]
        format: String,
        /// Only these serials (default: every serial of the order neither voided nor exported).
        #[arg(long, value_name = "F")]
        serials_file: Option<PathBuf>,
        /// azure-csv only: `serial,upn` per line, each token's Entra user (signed with the request).
        #[arg(long, value_name = "F")]
        upn_file: Option<PathBuf>,
        /// Allow serials already exported (needs --reason; flagged in the log).
        #[arg(long)]
        reexport: bool,
        /// Why a re-export is needed.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Print one JSON document to stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        officer: OneOfficer,
    },
    /// Approve a request (an officer other than its creator).
    Approve {
        /// Request id.
        #[arg(value_name = "REQ")]
        id: String,
        #[command(flatten)]
        officer: OneOfficer,
    },
    /// Reject a request.
    Reject {
        /// Request id.
        #[arg(value_name = "REQ")]
        id: String,
        /// Why.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        officer: OneOfficer,
    },
    /// Every seed request and its state.
    List {
        /// Print one JSON document to stdout.
        #[arg(long)]
        json: bool,
    },
    /// One request: what was signed, the recipient's user ids, and any warning.
    Show {
        /// Request id.
        #[arg(value_name = "REQ")]
        id: String,
        /// Print one JSON document to stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The approved request.
    #[arg(value_name = "REQ")]
    pub request: String,
    /// The mounted medium (a directory outside the vault).
    #[arg(long, value_name = "DIR")]
    pub media: PathBuf,
    /// Print one JSON document to stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quorum: QuorumArgs,
}
