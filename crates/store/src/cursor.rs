//! A plugin's position in the event stream and the versioned record it is persisted as.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Which plugin a cursor belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginKey {
    /// The plugin directory exactly as written in the config's `paths` (not normalised, as upstream).
    pub collection: String,
    /// The plugin's name: its file name without `.py`.
    pub plugin: String,
}

impl PluginKey {
    /// A key from its two parts.
    pub fn new(collection: impl Into<String>, plugin: impl Into<String>) -> PluginKey {
        PluginKey {
            collection: collection.into(),
            plugin: plugin.into(),
        }
    }
}

impl fmt::Display for PluginKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.collection, self.plugin)
    }
}

/// Where a plugin stands: the last event it processed, plus the ids below that it has not seen yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The highest event id processed, or `None` for a plugin that has processed nothing yet.
    pub last_id: Option<i64>,
    /// Missing ids still awaited, each with the site-clock time after which it is given up.
    pub backlog: BTreeMap<i64, Timestamp>,
}

impl Cursor {
    /// A cursor at `last_id` with an empty backlog.
    pub fn at(last_id: i64) -> Cursor {
        Cursor {
            last_id: Some(last_id),
            backlog: BTreeMap::new(),
        }
    }

    /// The earliest deadline in the backlog, if any.
    pub fn oldest_deadline(&self) -> Option<Timestamp> {
        self.backlog.values().min().copied()
    }
}

/// The persisted form of a [`Cursor`], tagged with its format version. Old versions must keep
/// loading forever (pinned by `tests/data/cursors_v1.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum CursorRecord {
    /// Format 1: `{"version": "1", "last_id": 41 | null,
    /// "backlog": [{"id": 38, "deadline": "2026-11-22T10:05:00Z"}]}`.
    #[serde(rename = "1")]
    V1 {
        /// See [`Cursor::last_id`].
        last_id: Option<i64>,
        /// See [`Cursor::backlog`], in id order.
        backlog: Vec<BacklogEntryV1>,
    },
}

/// One awaited id in a [`CursorRecord::V1`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BacklogEntryV1 {
    /// The missing event id.
    pub id: i64,
    /// When to give up on it (site clock).
    pub deadline: Timestamp,
}

impl From<&Cursor> for CursorRecord {
    fn from(cursor: &Cursor) -> CursorRecord {
        CursorRecord::V1 {
            last_id: cursor.last_id,
            backlog: cursor
                .backlog
                .iter()
                .map(|(id, deadline)| BacklogEntryV1 {
                    id: *id,
                    deadline: *deadline,
                })
                .collect(),
        }
    }
}

impl From<CursorRecord> for Cursor {
    fn from(record: CursorRecord) -> Cursor {
        match record {
            CursorRecord::V1 { last_id, backlog } => Cursor {
                last_id,
                backlog: backlog
                    .into_iter()
                    .map(|entry| (entry.id, entry.deadline))
                    .collect(),
            },
        }
    }
}
