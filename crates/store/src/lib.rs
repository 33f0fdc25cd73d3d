//! Persisted plugin cursors in SQLite, and the one-time import of upstream's `eventIdFile`.
//!
//! Synchronous on purpose (no tokio): the daemon owns a [`Store`] on one thread and sends it
//! batches of cursor updates; each [`Store::save`] is one atomic SQLite transaction.

pub mod cursor;
pub mod error;
pub mod legacy;
pub mod sqlite;

pub use cursor::{BacklogEntryV1, Cursor, CursorRecord, PluginKey};
pub use error::StoreError;
pub use legacy::{LegacyError, LegacyState};
pub use sqlite::{SCHEMA_VERSION, STARTED_KEY, Store};
