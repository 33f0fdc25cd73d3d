//! Persisted plugin cursors in SQLite, and the one-time import of upstream's `eventIdFile`.
//!
//! Synchronous on purpose (no tokio): the daemon owns a [`Store`] on one thread and sends it
//! batches of cursor updates; each [`Store::save`] is one atomic SQLite transaction.

pub mod cursor;
pub mod error;
pub mod legacy;
pub mod page;
pub mod sqlite;

pub use cursor::{BacklogEntryV1, Cursor, CursorRecord, PluginKey};
pub use error::StoreError;
pub use legacy::{LegacyError, LegacyState};
pub use sqlite::{SCHEMA_VERSION, STARTED_KEY, Store};

#[cfg(test)]
mod tests {
    #[test]
    fn the_store_has_no_async_runtime() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest.split("[dependencies]").nth(1).unwrap_or("");
        let dependencies = dependencies.split("\n[").next().unwrap_or("");
        assert!(dependencies.contains("rusqlite"), "{dependencies}");
        assert!(!dependencies.contains("tokio"), "{dependencies}");
    }
}
