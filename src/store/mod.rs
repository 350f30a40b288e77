//! The vault's one SQLite database.
//!
//! SQLite gives the property the security model needs most: a state change
//! and its audit entry commit in one transaction, so after a crash, kill or
//! full disk the vault is as before the command or as after it. Settings:
//! rollback journal (`DELETE`, so the vault directory holds one file at
//! rest), `synchronous=FULL` (a commit is on the platter before we say so),
//! `secure_delete` (freed pages are zeroed), foreign keys on, and write
//! transactions taken `IMMEDIATE` so two consoles cannot interleave.
//!
//! Only ciphertext and public data are ever stored here.

pub mod schema;

use std::fmt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// File name of the database inside the vault directory.
pub const DB_FILE: &str = "vault.db";

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No vault at the path.
    #[error("no vault at {0}")]
    NoVault(PathBuf),
    /// The database was written by a newer seedvault.
    #[error("the vault at {path} has schema version {found}; this seedvault knows up to {known}")]
    TooNew {
        /// The vault directory.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
    /// The schema version is one no seedvault writes (negative): edited.
    #[error("the vault at {path} has schema version {found}, which no seedvault writes (the database was edited)")]
    BadVersion {
        /// The vault directory.
        path: PathBuf,
        /// Its version.
        found: i64,
    },
    /// The database file could not be created.
    #[error("cannot create the database {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite failed (full disk, locked, corrupted file...).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// An open vault database.
pub struct Store {
    conn: Connection,
    dir: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Read-write, without SQLite's per-connection mutex ("multi-thread"
/// mode, rusqlite's own default): a `Connection` is `Send` but not `Sync`,
/// so the compiler already keeps two threads from using one at a time, and
/// the mutex SQLite would take and drop around every step and column read
/// is pure cost (7 % of a full audit walk).
fn open_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// The page size of a new vault's database. The audit walks read every
/// page of the log once: with SQLite's default 4 KiB pages that is some
/// 75,000 `pread`s for a million entries, a tenth of `audit verify`'s CPU
/// in the kernel. 16 KiB pages cut the calls fourfold; larger ones saved
/// little more and make every small transaction journal and write more.
pub const PAGE_SIZE: u32 = 16_384;

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "trusted_schema", "OFF")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

fn migrate(conn: &mut Connection, dir: &Path) -> Result<(), StoreError> {
    let known = i64::try_from(schema::MIGRATIONS.len()).unwrap_or(i64::MAX);
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > known {
        return Err(StoreError::TooNew {
            path: dir.to_owned(),
            found: version,
            known,
        });
    }
    let done = usize::try_from(version).map_err(|_| StoreError::BadVersion {
        path: dir.to_owned(),
        found: version,
    })?;
    for (applied, sql) in (1_i64..).zip(schema::MIGRATIONS).skip(done) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", applied)?;
        tx.commit()?;
    }
    Ok(())
}

impl Store {
    /// Creates a new database file at `file` (which must not exist),
    /// readable by its owner only.
    pub fn create(file: &Path) -> Result<Self, StoreError> {
        // The file is made here, 0600, before SQLite opens it: SQLite would
        // create it with the umask's mode (often 0644), and it gives its
        // -journal, -wal and -shm files the database file's mode.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
            .map_err(|source| StoreError::Create {
                path: file.to_owned(),
                source,
            })?;
        let mut conn = Connection::open_with_flags(file, open_flags())?;
        // Set before the first table is written, so it holds for the file's
        // life (a vault made before this keeps its 4 KiB pages and works
        // the same).
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        configure(&conn)?;
        let dir = file.parent().unwrap_or(Path::new(".")).to_owned();
        migrate(&mut conn, &dir)?;
        Ok(Store { conn, dir })
    }

    /// Opens the vault in `dir`, applying pending migrations.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let file = dir.join(DB_FILE);
        if !file.is_file() {
            return Err(StoreError::NoVault(dir.to_owned()));
        }
        let mut conn = Connection::open_with_flags(&file, open_flags())?;
        configure(&conn)?;
        migrate(&mut conn, dir)?;
        Ok(Store {
            conn,
            dir: dir.to_owned(),
        })
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// For reads.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A second connection to the same database, read-only, for a read
    /// that runs on another thread while this one works.
    pub fn reader(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            self.dir.join(DB_FILE),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "trusted_schema", "OFF")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    /// [`Store::write`] for a transaction that inserts the rows its new rows
    /// refer to itself (an ingest's or generate's batch, data key and
    /// parameter set, then a million seeds pointing at them): foreign keys
    /// are not checked per row, which cost a fifth of the inserts' time.
    /// They are on again before this returns, whatever `f` returned. Not
    /// a safety measure either way: the disk is not trusted, and whoever
    /// edits it edits with them off.
    pub fn write_own_references<T, E>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        self.conn.pragma_update(None, "foreign_keys", "OFF")?;
        let out = self.write(f);
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        out
    }

    /// Runs `reads` in one read transaction (rolled back: nothing is
    /// written), or in the one already open. A run of lookups then takes
    /// SQLite's shared lock and looks for a hot journal once, not once per
    /// statement, which is most of a lookup's cost. For a long run that
    /// must not keep a writer waiting all along, take the transaction in
    /// parts instead (as ingest's duplicate check does).
    pub fn read<T, E>(&self, reads: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        if !self.conn.is_autocommit() {
            return reads();
        }
        let tx = self.conn.unchecked_transaction()?;
        let out = reads()?;
        tx.rollback()?;
        Ok(out)
    }

    /// Runs `f` in an immediate write transaction; commits only if `f`
    /// returns `Ok`. Every state change goes through here together with
    /// its audit entry.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}
