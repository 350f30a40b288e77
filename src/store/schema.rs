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

    -- Token parameters are shared by whole batches: stored once.
    CREATE TABLE token_params (
        id   INTEGER PRIMARY KEY,
        json TEXT NOT NULL UNIQUE
    ) STRICT;

    -- Clustered on the serial (WITHOUT ROWID): one B-tree per insert.
    CREATE TABLE seeds (
        serial      TEXT PRIMARY KEY,
        batch_id    INTEGER NOT NULL REFERENCES batches(id),
        data_key_id INTEGER NOT NULL REFERENCES data_keys(id),
        params_id   INTEGER NOT NULL REFERENCES token_params(id),
        sealed      BLOB NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('active', 'voided')),
        void_reason TEXT,
        voided_at   TEXT,
        voided_by   TEXT,
        order_id    TEXT
    ) STRICT, WITHOUT ROWID;

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
    // 2: orders, seed requests with two-person approval, exports.
    r#"
    CREATE TABLE orders (
        id         TEXT PRIMARY KEY,
        customer   TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    ) STRICT;

    CREATE TABLE order_emails (
        order_id TEXT NOT NULL REFERENCES orders(id),
        email    TEXT NOT NULL,
        PRIMARY KEY (order_id, email)
    ) STRICT, WITHOUT ROWID;

    CREATE INDEX seeds_order ON seeds(order_id) WHERE order_id IS NOT NULL;

    CREATE TABLE requests (
        id              TEXT PRIMARY KEY,
        order_id        TEXT NOT NULL REFERENCES orders(id),
        requester       TEXT NOT NULL,
        format          TEXT NOT NULL,
        recipient_cert  BLOB NOT NULL,
        recipient_fpr   TEXT NOT NULL,
        reexport_reason TEXT,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'exported')),
        statement       TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        created_by      TEXT NOT NULL,
        create_sig      TEXT NOT NULL,
        decided_at      TEXT,
        decided_by      TEXT,
        decision_sig    TEXT,
        reject_reason   TEXT,
        expires_at      INTEGER
    ) STRICT;

    CREATE TABLE request_serials (
        request_id TEXT NOT NULL REFERENCES requests(id),
        serial     TEXT NOT NULL,
        PRIMARY KEY (request_id, serial)
    ) STRICT, WITHOUT ROWID;

    CREATE INDEX request_serials_serial ON request_serials(serial);

    CREATE TABLE exports (
        id            INTEGER PRIMARY KEY,
        request_id    TEXT NOT NULL REFERENCES requests(id),
        state         TEXT NOT NULL CHECK (state IN ('started', 'completed', 'failed')),
        started_at    TEXT NOT NULL,
        finished_at   TEXT,
        bundle_path   TEXT NOT NULL,
        manifest_path TEXT NOT NULL,
        bundle_sha256 TEXT
    ) STRICT;
    
    -- How often each serial was exported, derived from the completed
    -- exports (no counter to keep in step with them).
    CREATE VIEW seed_exports AS
        SELECT rs.serial AS serial, count(*) AS exports
        FROM request_serials rs JOIN exports e ON e.request_id = rs.request_id AND e.state = 'completed'
        GROUP BY rs.serial;
    "#,
    // 3 (i2): a request's UPN mapping for Entra; its SHA-256 is in the
    // signed creation statement, which is what makes a row trustworthy.
    r#"
    CREATE TABLE request_upns (
        request_id TEXT NOT NULL REFERENCES requests(id),
        serial     TEXT NOT NULL,
        upn        TEXT NOT NULL,
        PRIMARY KEY (request_id, serial)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 4 (k1, rekey): a pending rekey (at most one) and the key epochs.
    r#"
    -- The pending rekey. Nothing here is trusted as it stands: commit
    -- compares it with the `rekey.started` entry and opens every wrap
    -- under the key the new cards combine to.
    CREATE TABLE rekey_pending (
        singleton        INTEGER PRIMARY KEY CHECK (singleton = 1),
        rekey_id         TEXT NOT NULL,
        new_version      INTEGER NOT NULL,
        threshold        INTEGER NOT NULL,
        share_set        TEXT NOT NULL,
        master_check     BLOB NOT NULL,
        vault_key_sealed BLOB NOT NULL,
        started_at       TEXT NOT NULL,
        audit_seq        INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE rekey_custodians (
        member_index INTEGER PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        commitment   BLOB NOT NULL,
        officer_fpr  TEXT NOT NULL,
        officer_cert BLOB NOT NULL,
        verified_at  TEXT
    ) STRICT;

    -- Every data key wrapped under the pending key version.
    CREATE TABLE rekey_wraps (
        data_key_id INTEGER PRIMARY KEY REFERENCES data_keys(id),
        wrapped     BLOB NOT NULL
    ) STRICT;

    -- One row per committed rekey: where its `vault.rekeyed` entry is.
    CREATE TABLE key_epochs (
        key_version INTEGER PRIMARY KEY,
        rekey_id    TEXT NOT NULL UNIQUE,
        audit_seq   INTEGER NOT NULL,
        rekeyed_at  TEXT NOT NULL
    ) STRICT;
    "#,
    // 5: a lookup table for filtering the log (src/audit/index.rs). Not
    // part of the chain: a browser re-checks each entry it points to. And
    // an index on the seeds' state, so the status (shown by the console
    // every few seconds) counts a million seeds without reading them.
    r#"
    CREATE INDEX seeds_state ON seeds(state);

    CREATE TABLE audit_index (
        key   TEXT NOT NULL,
        value TEXT NOT NULL,
        seq   INTEGER NOT NULL,
        PRIMARY KEY (key, value, seq)
    ) STRICT, WITHOUT ROWID;

    CREATE TEMP VIEW audit_json AS
        SELECT seq, CASE WHEN json_valid(CAST(body AS TEXT)) THEN CAST(body AS TEXT) ELSE '{}' END AS b
        FROM audit;
    INSERT OR IGNORE INTO audit_index (key, value, seq)
        SELECT 'event', json_extract(b, '$.event'), seq FROM audit_json
        WHERE json_type(b, '$.event') = 'text';
    INSERT OR IGNORE INTO audit_index (key, value, seq)
        SELECT 'officer', j.value, a.seq FROM audit_json a, json_each(a.b, '$.actors') j
        WHERE j.type = 'text';
    INSERT OR IGNORE INTO audit_index (key, value, seq)
        SELECT 'order', json_extract(b, '$.data.order_id'), seq FROM audit_json
        WHERE json_type(b, '$.data.order_id') = 'text';
    INSERT OR IGNORE INTO audit_index (key, value, seq)
        SELECT 'request', json_extract(b, '$.data.request_id'), seq FROM audit_json
        WHERE json_type(b, '$.data.request_id') = 'text';
    INSERT OR IGNORE INTO audit_index (key, value, seq)
        SELECT 'serial', json_extract(b, '$.data.serial'), seq FROM audit_json
        WHERE json_type(b, '$.data.serial') = 'text';
    INSERT OR IGNORE INTO audit_index (key, value, seq)
        SELECT 'serial', j.value, a.seq FROM audit_json a, json_each(a.b, '$.data.serials') j
        WHERE j.type = 'text' AND json_extract(a.b, '$.event') IS NOT 'batch.serials';
    DROP VIEW audit_json;
    "#,
    // 6 (d1, seed destruction): what each destruction deleted, and the
    // receipt it signed. Neither decides what may be destroyed (the log and
    // the officers' signatures do); `destroyed_serials` answers "destroyed
    // on DATE" fast, and `audit replay` compares both with the log.
    r#"
    CREATE TABLE destructions (
        id             INTEGER PRIMARY KEY,
        audit_seq      INTEGER NOT NULL,
        destroyed_at   TEXT NOT NULL,
        selection      TEXT NOT NULL,
        order_id       TEXT,
        serials_sha256 TEXT NOT NULL,
        count          INTEGER NOT NULL,
        receipt_name   TEXT NOT NULL,
        receipt        BLOB NOT NULL
    ) STRICT;

    CREATE TABLE destroyed_serials (
        serial         TEXT PRIMARY KEY,
        destruction_id INTEGER NOT NULL REFERENCES destructions(id),
        batch_id       INTEGER NOT NULL,
        order_id       TEXT
    ) STRICT, WITHOUT ROWID;
    "#,
];
