//! The SQLite-backed [`Store`]: schema, migrations, and atomic cursor saves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use crate::{Cursor, CursorRecord, PluginKey, StoreError};

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// How long a writer waits for another connection's lock (e.g. `sgevents state set` while the
/// daemon runs) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA_V1: &str = "
CREATE TABLE cursors (
    collection TEXT NOT NULL,
    plugin     TEXT NOT NULL,
    record     TEXT NOT NULL,
    PRIMARY KEY (collection, plugin)
) WITHOUT ROWID;
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// The metadata key set with the first saved cursors: a store that has it and no cursors was
/// emptied, not new.
pub const STARTED_KEY: &str = "started";

/// An open state database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// [`STARTED_KEY`] is known to be set.
    started: bool,
}

impl Store {
    /// Opens (creating if needed) the database at `path`: WAL journal, `synchronous=NORMAL`
    /// (a process crash loses nothing committed; a power cut may lose the last commits),
    /// a busy timeout, and schema migration to [`SCHEMA_VERSION`].
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened, [`StoreError::Corrupt`] when it is not
    /// a healthy database, [`StoreError::NotOurs`] or [`StoreError::TooNew`] when it is someone
    /// else's or a newer schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if is_zero_bytes(path) {
            return Err(StoreError::Empty {
                path: path.to_owned(),
            });
        }
        Store::open_even_empty(path)
    }

    /// Like [`Store::open`], but a zero-byte file is taken as a new database (for
    /// `--start-at`, where every position is given).
    ///
    /// # Errors
    /// As [`Store::open`], without [`StoreError::Empty`].
    pub fn open_even_empty(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() || is_zero_bytes(path) {
            create(path)?;
        }
        Store::open_file(path)
    }

    fn open_file(path: &Path) -> Result<Store, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
            started: false,
        };
        store.configure()?;
        store.migrate()?;
        store.started = store.get_meta(STARTED_KEY)?.is_some();
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether cursors were ever saved in this database (see [`STARTED_KEY`]).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Every stored cursor.
    ///
    /// # Errors
    /// [`StoreError::BadRecord`] naming the plugin whose record does not decode; never skips it.
    pub fn load(&self) -> Result<BTreeMap<PluginKey, Cursor>, StoreError> {
        let rows = self.rows()?;
        let mut cursors = BTreeMap::new();
        for (key, record) in rows {
            let record: CursorRecord =
                serde_json::from_str(&record).map_err(|err| StoreError::BadRecord {
                    path: self.path.clone(),
                    collection: key.collection.clone(),
                    plugin: key.plugin.clone(),
                    detail: err.to_string(),
                })?;
            cursors.insert(key, Cursor::from(record));
        }
        Ok(cursors)
    }

    /// The keys of every stored cursor, without decoding the records (usable even when a record
    /// is damaged, to repair it).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] or [`StoreError::Corrupt`] when the table cannot be read.
    pub fn keys(&self) -> Result<Vec<PluginKey>, StoreError> {
        Ok(self.rows()?.into_iter().map(|(key, _)| key).collect())
    }

    /// Writes all `updates` in one transaction: after a crash either all or none are stored.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when the transaction fails; nothing is then written.
    pub fn save(&mut self, updates: &[(PluginKey, Cursor)]) -> Result<(), StoreError> {
        let path = &self.path;
        let fail = |action, source| classify(path, action, source);
        let tx = self
            .conn
            .transaction()
            .map_err(|err| fail("begin a transaction", err))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO cursors (collection, plugin, record) VALUES (?1, ?2, ?3)
                     ON CONFLICT (collection, plugin) DO UPDATE SET record = excluded.record",
                )
                .map_err(|err| fail("prepare a cursor write", err))?;
            for (key, cursor) in updates {
                let record = serde_json::to_string(&CursorRecord::from(cursor)).map_err(|err| {
                    StoreError::BadRecord {
                        path: path.clone(),
                        collection: key.collection.clone(),
                        plugin: key.plugin.clone(),
                        detail: format!("cannot encode: {err}"),
                    }
                })?;
                insert
                    .execute(params![key.collection, key.plugin, record])
                    .map_err(|err| fail("save cursors", err))?;
            }
            if !self.started && !updates.is_empty() {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, '1') ON CONFLICT (key) DO NOTHING",
                    [STARTED_KEY],
                )
                .map_err(|err| fail("mark the store as started", err))?;
            }
        }
        tx.commit().map_err(|err| fail("commit cursors", err))?;
        self.started |= !updates.is_empty();
        Ok(())
    }

    /// Deletes the cursors of `keys` in one transaction (plugins removed from the config).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when the transaction fails; nothing is then deleted.
    pub fn remove(&mut self, keys: &[PluginKey]) -> Result<(), StoreError> {
        let path = &self.path;
        let fail = |action, source| classify(path, action, source);
        let tx = self
            .conn
            .transaction()
            .map_err(|err| fail("begin a transaction", err))?;
        for key in keys {
            tx.execute(
                "DELETE FROM cursors WHERE collection = ?1 AND plugin = ?2",
                params![key.collection, key.plugin],
            )
            .map_err(|err| fail("delete cursors", err))?;
        }
        tx.commit()
            .map_err(|err| fail("commit cursor deletions", err))
    }

    /// Sets a free-form metadata value, e.g. `imported_from`.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when the write fails.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(|err| classify(&self.path, "write metadata", err))
    }

    /// A metadata value, or `None` when it was never set.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when the read fails.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|err| classify(&self.path, "read metadata", err))
    }

    fn rows(&self) -> Result<Vec<(PluginKey, String)>, StoreError> {
        let fail = |err| classify(&self.path, "read cursors", err);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT collection, plugin, record FROM cursors ORDER BY collection, plugin",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    PluginKey::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?),
                    row.get(2)?,
                ))
            })
            .map_err(fail)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(fail)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|err| classify(path, "set the busy timeout", err))?;
        // The first statement that reads the file: a non-database file fails here.
        self.conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| {
                row.get::<_, String>(0)
            })
            .map_err(|err| classify(path, "switch to WAL mode", err))?;
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(|err| classify(path, "configure the connection", err))?;
        let check: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|err| classify(path, "check integrity", err))?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: path.clone(),
                detail: format!("integrity check: {check}"),
            });
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = &self.path;
        let fail = |action, err| classify(path, action, err);
        // An up-to-date store needs no write lock: opening it next to a running daemon (or
        // while another process saves) must not wait for, or fail on, the writer.
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|err| fail("read the schema version", err))?;
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|err| fail("begin the migration", err))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|err| fail("read the schema version", err))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            let tables: Vec<String> = {
                let mut stmt = tx
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                    .map_err(|err| fail("list tables", err))?;
                let names = stmt
                    .query_map([], |row| row.get(0))
                    .map_err(|err| fail("list tables", err))?;
                names
                    .collect::<Result<_, _>>()
                    .map_err(|err| fail("list tables", err))?
            };
            if !tables.is_empty() {
                return Err(StoreError::NotOurs {
                    path: path.clone(),
                    tables,
                });
            }
            tx.execute_batch(SCHEMA_V1)
                .map_err(|err| fail("create the schema", err))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|err| fail("set the schema version", err))?;
        }
        // Later schema versions add `if version < N { ... }` steps here.
        tx.commit().map_err(|err| fail("commit the migration", err))
    }
}

/// Creates a new database with its schema beside `path` and renames it into place, so a kill
/// during creation never leaves a half-made (zero-byte) file at `path`.
fn create(path: &Path) -> Result<(), StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".creating");
    let temp = PathBuf::from(name);
    let fail = |source| StoreError::Create {
        path: path.to_owned(),
        source,
    };
    match std::fs::remove_file(&temp) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(fail(err)),
        _ => {}
    }
    // Closed before the rename, so its write-ahead log is folded into the file.
    drop(Store::open_file(&temp)?);
    std::fs::rename(&temp, path).map_err(fail)?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        // Make the rename durable; a directory that cannot be synced is not worth failing for.
        let _ = std::fs::File::open(dir).and_then(|dir| dir.sync_all());
    }
    Ok(())
}

/// A database file of zero bytes with no write-ahead log holding pages: nothing SQLite could
/// read, so not a database this daemon wrote.
fn is_zero_bytes(path: &Path) -> bool {
    let len = |path: &Path| std::fs::metadata(path).map(|meta| meta.len()).ok();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    len(path) == Some(0) && len(Path::new(&wal)).is_none_or(|wal| wal == 0)
}

/// Maps SQLite's "this is not a database" and corruption codes to [`StoreError::Corrupt`].
fn classify(path: &Path, action: &'static str, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_owned(),
            detail: source.to_string(),
        },
        _ => StoreError::Sqlite {
            path: path.to_owned(),
            action,
            source,
        },
    }
}
