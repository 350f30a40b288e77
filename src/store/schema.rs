//! The schema, as an ordered list of migrations.
//!
//! `PRAGMA user_version` records how many have run. Each migration runs in
//! the transaction that bumps the version, so a vault is always at exactly
//! one version. A database newer than this build is refused, never
//! downgraded. (Twenty lines of code; a migration crate would add a
//! dependency to an air-gapped build for no gain.)

/// Migration scripts; index + 1 is the resulting `user_version`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the vault, its custodians, sealed seeds and the audit log.
    r#"
    CREATE TABLE vault (
        singleton        INTEGER PRIMARY KEY CHECK (singleton = 1),
        vault_id         TEXT NOT NULL,
        threshold        INTEGER NOT NULL,
        share_count      INTEGER NOT NULL,
        test_vault       INTEGER NOT NULL,
        created_at       TEXT NOT NULL,
        key_version      INTEGER NOT NULL,
        master_check     BLOB NOT NULL,
        vault_cert       BLOB NOT NULL,
        vault_key_sealed BLOB NOT NULL,
        approval_ttl_s   INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE custodians (
        member_index INTEGER PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        commitment   BLOB NOT NULL,
        officer_fpr  TEXT NOT NULL,
        officer_cert BLOB NOT NULL
    ) STRICT;

    CREATE TABLE data_keys (
        id          INTEGER PRIMARY KEY,
        key_version INTEGER NOT NULL,
        wrapped     BLOB NOT NULL
    ) STRICT;

    CREATE TABLE batches (
        id            INTEGER PRIMARY KEY,
        label         TEXT,
        source_sha256 TEXT NOT NULL,
        format        TEXT NOT NULL,
        count         INTEGER NOT NULL,
        officers      TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        data_key_id   INTEGER NOT NULL REFERENCES data_keys(id),
        audit_seq     INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE seeds (
        serial      TEXT PRIMARY KEY,
        batch_id    INTEGER NOT NULL REFERENCES batches(id),
        data_key_id INTEGER NOT NULL REFERENCES data_keys(id),
        params      TEXT NOT NULL,
        sealed      BLOB NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('active', 'voided')),
        void_reason TEXT,
        voided_at   TEXT,
        voided_by   TEXT,
        order_id    TEXT,
        exported    INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX seeds_batch ON seeds(batch_id);

    CREATE TABLE audit (
        seq  INTEGER PRIMARY KEY,
        body BLOB NOT NULL,
        hash BLOB NOT NULL
    ) STRICT;

    CREATE TABLE checkpoints (
        seq       INTEGER PRIMARY KEY,
        head_hash BLOB NOT NULL,
        created_at TEXT NOT NULL,
        signed    TEXT NOT NULL
    ) STRICT;
    "#,
];
