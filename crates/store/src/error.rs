//! The store's error type. Every variant names the database file and says what to do.

use std::path::PathBuf;

/// Why the state database could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created.
    #[error(
        "cannot open the state database {}: {source}; check that the directory exists and is writable",
        path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file exists but is not a healthy SQLite database.
    #[error(
        "the state database {} is unreadable or corrupt ({detail}); stop the daemon, move the file aside \
         and restore a backup, or set each plugin's position with `sgevents state set`",
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// A new database could not be put in place.
    #[error(
        "cannot create the state database {}: {source}; check that the directory exists and is writable",
        path.display()
    )]
    Create {
        /// The database file.
        path: PathBuf,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but holds nothing (zero bytes): it was truncated, or created by hand.
    #[error(
        "the state database {} is empty (0 bytes): it was truncated or is not ours, and starting from it \
         would replay or skip events. If this is a new install, remove the file (plugins then start at the \
         site's latest event); otherwise restore a backup, or start with `--start-at ID` (or `--start-at latest`)",
        path.display()
    )]
    Empty {
        /// The database file.
        path: PathBuf,
    },
    /// The database has been used (its first cursors were saved) but holds no cursor now.
    #[error(
        "the state database {} has no plugin cursors although this daemon has saved some before: it was \
         emptied or replaced, and starting from it would replay or skip events. Restore a backup, set each \
         plugin's position with `sgevents state set PLUGIN ID`, or start with `--start-at ID` (or \
         `--start-at latest`)",
        path.display()
    )]
    NoCursors {
        /// The database file.
        path: PathBuf,
    },
    /// The file is an SQLite database, but not one of ours.
    #[error(
        "{} is an SQLite database but not an sgevents state database (it has tables {tables:?}); \
         point the state setting at a new file",
        path.display()
    )]
    NotOurs {
        /// The database file.
        path: PathBuf,
        /// The tables found.
        tables: Vec<String>,
    },
    /// The database was written by a newer sgevents.
    #[error(
        "the state database {} has schema version {found}, newer than this sgevents supports ({supported}); \
         upgrade sgevents",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// One cursor record could not be decoded.
    #[error(
        "the state database {} holds an unreadable cursor for plugin `{plugin}` of `{collection}` ({detail}); \
         overwrite it with `sgevents state set`",
        path.display()
    )]
    BadRecord {
        /// The database file.
        path: PathBuf,
        /// The plugin's collection.
        collection: String,
        /// The plugin's name.
        plugin: String,
        /// What was wrong.
        detail: String,
    },
    /// An SQLite operation failed.
    #[error("cannot {action} in the state database {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What we were doing, e.g. "save cursors".
        action: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}
