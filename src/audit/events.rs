//! The event types of the log. Each constant's doc says what its `data`
//! holds; `docs/audit-log.md` is the full reference.

/// Genesis: `vault_id`, `threshold`, `share_count`, `test_vault`, `kdf`,
/// `approval_ttl_s`, `key_version`, `vault_cert` (base64 of the public
/// certificate), `vault_fingerprint`, and `custodians`: a list of
/// `{name, member_index, commitment, officer_fingerprint, officer_cert}`.
pub const VAULT_INIT: &str = "vault.init";
/// A quorum unsealed the vault for a command: `purpose`, `cards`, and
/// `checkpoint`, the highest checkpoint its log check found the log
/// extending (`{entries, head, time}` or null); since issue 15 also
/// `binary_sha256` (of the running executable; null with `binary_error`
/// when unreadable) and `binary_version` (older entries lack both).
pub const UNSEAL: &str = "vault.unsealed";
/// A refused unseal or card check: `purpose`, `cards` (names claimed by the
/// card headers or file names), `reason`.
pub const UNSEAL_FAILED: &str = "vault.unseal_failed";
/// A custodian displayed their card's SLIP-0039 words: `custodian`,
/// `member_index` (never the words).
pub const CARD_WORDS_SHOWN: &str = "card.words_shown";
/// Part of a batch's serial list, in file order: `batch_id`, `part`
/// (1-based), `serials`, `params` (runs `[set, count]` naming each
/// serial's parameter set in the batch's `params`). Written before the batch's `batch.ingested`, in
/// the same transaction; parts hold at most 10,000 serials.
pub const BATCH_SERIALS: &str = "batch.serials";
/// A batch was ingested: `batch_id`, `label`, `source_name`,
/// `source_sha256` (of the file as given, before any OpenPGP decryption),
/// `format`, `openpgp` (whether the file was encrypted), `factory_signer`
/// (fingerprint, when a signature was required), `count`, `parts`,
/// `serials_sha256` (SHA-256 of the serials joined by `\n`, in order),
/// `params` (the batch's token parameter sets, in order of first use).
pub const BATCH_INGESTED: &str = "batch.ingested";
/// A batch was generated in the vault (`batch generate`) and its burn
/// file written for the factory: the fields of `batch.ingested`
/// (`batch_id`, `label`, `format` of the burn file, `count`, `parts`,
/// `serials_sha256`, `params`), with `source_sha256` the burn file's
/// SHA-256, and `first_serial`, `last_serial`, `factory_fingerprint`,
/// `factory_subkeys` (the encryption keys used), `burn_file`,
/// `burn_sha256`, `manifest`, `manifest_sha256`.
pub const BATCH_GENERATED: &str = "batch.generated";
/// An ingest was refused and nothing stored: `source_name`,
/// `source_sha256`, `format` (if named), `problems` (how many), `listed`
/// (the first 100 as `{line, kind}`: a line number or null and a stable
/// problem kind, never a message or a field of the file), `more`.
pub const BATCH_REFUSED: &str = "batch.refused";
/// A serial was voided (e.g. the token was reprogrammed): `serial`, `reason`.
pub const SERIAL_VOIDED: &str = "serial.voided";
/// A token code was checked: `serial`, `at` (unix time), `matched`, `drift`
/// (never the code itself, which a later replay could abuse).
pub const TOKEN_VERIFIED: &str = "token.verified";
/// An order was recorded: `order_id`, `customer`, `emails` (authorized to
/// request its seeds).
pub const ORDER_ADDED: &str = "order.added";
/// Serials were recorded as shipped in an order: `order_id`, `serials`.
pub const ORDER_ASSIGNED: &str = "order.assigned";
/// A seed request was created: `request_id`, `order_id`, `requester`,
/// `format`, `recipient_fingerprint`, `encryption_subkeys`, `serials`,
/// `reexport_reason` (null unless a re-export), `statement` (the signed
/// text, `docs/formats.md` "Officers' statements"; version 2 since
/// 2026-11-29, serials ascending), `signature` (the creator's detached
/// OpenPGP signature over it).
pub const REQUEST_CREATED: &str = "request.created";
/// A seed request was refused at creation: `order_id`, `requester`,
/// `problems` (every reason).
pub const REQUEST_REFUSED: &str = "request.refused";
/// An approval or rejection was refused (the creator tried to decide their
/// own request, or the request's row contradicts its signed statement):
/// `request_id`, `decision`, `reason`. A decision that lost a race with
/// another officer's is refused without an entry.
pub const REQUEST_DECISION_REFUSED: &str = "request.decision_refused";
/// A request was approved by a second officer: `request_id`, `expires_at`
/// (unix), `statement`, `signature`.
pub const REQUEST_APPROVED: &str = "request.approved";
/// A request was rejected: `request_id`, `reason`, `statement`, `signature`.
pub const REQUEST_REJECTED: &str = "request.rejected";
/// An export was refused before anything was written because the vault's
/// records contradict what the officers signed (a request edited in the
/// database, a forged approval...) or a seed or its token parameters failed
/// their integrity check: `request_id`, `reason`. The CLI exits
/// with code 3.
pub const EXPORT_REFUSED: &str = "export.refused";
/// An export began (before any byte is written): `export_id`,
/// `request_id`, `order_id`, `recipient_fingerprint`, `format`, `serials`
/// (count), `bundle`, `manifest` (file names).
pub const EXPORT_STARTED: &str = "export.started";
/// The files are fsynced, in place and read back: `export_id`,
/// `request_id`, `bundle_sha256`, `serials` (the list, now exported).
pub const EXPORT_COMPLETED: &str = "export.completed";
/// An export failed after it started; partial files were removed and no
/// serial was marked exported: `export_id`, `request_id`, `reason`.
pub const EXPORT_FAILED: &str = "export.failed";
/// A quorum session was refused because the log is broken (its chain, or
/// a checkpoint it no longer extends): `purpose`, `cards`, `reason`,
/// `checkpoint` (the highest known, `{entries, head, time}`, or null).
pub const BROKEN_LOG_REFUSED: &str = "audit.broken_log_refused";
/// A quorum session went on over a broken log (`--accept-broken-log`, for
/// incident response); it signs no checkpoint: `purpose`, `cards`,
/// `reason`, `checkpoint`.
pub const BROKEN_LOG_ACCEPTED: &str = "audit.broken_log_accepted";
/// A session's closing checkpoint was refused because the log no longer
/// extends the head verified when the session began: `purpose`, `entries`
/// and `head` (what would have been signed), `reason`.
pub const CHECKPOINT_REFUSED: &str = "audit.checkpoint_refused";
/// An unsealed session (the terminal UI's) ended and its key was wiped:
/// `purpose`, `reason` (`s`: the seal key; `idle`: the idle timeout;
/// `quit`; `panic`: the program failed; `closed`: the front end went away),
/// `open_s` (how many seconds the session was open). Written before the
/// session's closing checkpoint, so the checkpoint covers it.
pub const SEALED: &str = "vault.sealed";
/// A rekey began (k1): `rekey_id`, `old_version`, `new_version`,
/// `threshold`, `share_count`, `share_set` (the new set's fingerprint),
/// `master_check` (the new master key's check value), `custodians` (the
/// new set: `{name, member_index, commitment, officer_fingerprint,
/// officer_cert}`). Commit acts only on what this entry records.
pub const REKEY_STARTED: &str = "rekey.started";
/// A new custodian checked their card of the pending rekey: `rekey_id`,
/// `share_set`, `custodian`, `member_index`, `statement` and `signature`
/// (the statement signed with the card's new officer key).
pub const REKEY_VERIFIED: &str = "rekey.verified";
/// The pending rekey was discarded by an officer of the current set:
/// `rekey_id`, `share_set`, `new_version`, `by`.
pub const REKEY_CANCELLED: &str = "rekey.cancelled";
/// A rekey was committed: the vault now runs on the new master key.
/// `rekey_id`, `share_set`, `old_version`, `new_version`, `at`,
/// `threshold`, `share_count`, `master_check`, `custodians` (as in
/// `rekey.started`; their officer certificates are the valid ones from
/// this entry on), `data_keys` (how many were rewrapped).
pub const VAULT_REKEYED: &str = "vault.rekeyed";

// Key lifecycle, branch k2: re-issue, backup, restore.

/// A custodian's card re-issued by a quorum of the others: same share, new
/// card, new officer key (its certificate, signed by the vault key).
pub const CARD_REISSUED: &str = "card.reissued";
/// A backup written: the backup's head, the SHA-256 of its files, where.
pub const VAULT_BACKED_UP: &str = "vault.backed_up";
/// A vault restored from a backup (first entry after the backup's head).
pub const VAULT_RESTORED: &str = "vault.restored";

// Ceremonies, branch c1: scripts the tool walks (docs/audit-log.md "Ceremonies").

/// A ceremony began: `ceremony_id`, `script` (file name), `script_sha256`,
/// `title`, `roles` (`{id, title}`), `participants` (`{role, name,
/// initials}`), `vars` (the script's variables as bound), `time`. In a key
/// ceremony it is logged right after the genesis entry, with the time the
/// ceremony really started.
pub const CEREMONY_STARTED: &str = "ceremony.started";
/// A step was walked and initialled: `ceremony_id`, `step`, `activity`,
/// `action` (the tool action or null), `detail` (what the tool reported,
/// never a secret), `initials` (the witness's; empty when not done),
/// `time` (when initialled), `result` (`done`, `ok`, `failed`, `not-done`).
pub const CEREMONY_STEP: &str = "ceremony.step";
/// A step failed or was not done: `ceremony_id`, `step`, `reason` (the
/// administrator's), `error` (the tool's message or null),
/// `witness_initials`, `time`.
pub const CEREMONY_EXCEPTION: &str = "ceremony.exception";
/// A ceremony ended: `ceremony_id`, `result` (`completed` or `aborted`),
/// `steps` and `exceptions` (counts), `time`, `transcript` (file name on
/// the record medium, or null) and `transcript_sha256`.
pub const CEREMONY_FINISHED: &str = "ceremony.finished";

// Seed lifecycle, branch d1: retention and destruction.

/// The retention policy was set by one officer: `after_export_days` (seeds
/// are due for destruction that many days after their first export),
/// `previous` (the policy it replaces, or null).
pub const RETENTION_SET: &str = "retention.set";
/// Part of a destruction's serial list, ascending: `destruction_id`,
/// `part` (1-based), `destroyed` (at most 10,000 serials). Written before
/// its `seeds.destroyed`, in the same transaction.
pub const SEEDS_DESTROYED_SERIALS: &str = "seeds.destroyed_serials";
/// Sealed seeds were deleted for good: `destruction_id`, `selection`
/// (`order`, `serials` or `due`), `order_id` (or null), `count`, `parts`,
/// `serials_sha256` (of the serials sorted and joined by `\n`), `reason`,
/// `officers` (`{name, fingerprint}`), `statement` (the destruction
/// statement, `docs/formats.md`), `signatures` (each officer's detached
/// signature over it, by name), `batches_shredded` (batch ids whose data
/// key was deleted with their last seed), `receipt` (file name) and
/// `receipt_sha256` (of the clearsigned receipt as written to the medium).
pub const SEEDS_DESTROYED: &str = "seeds.destroyed";
