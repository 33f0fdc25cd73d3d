//! What the nodes keep in the cluster's shared state: the poller's position and each plugin's
//! record (its seed, the last stream message it finished, and a stopOnError stop).

use serde::{Deserialize, Serialize};
use sgevents_cluster::state::{Shared, WriteError};
use sgevents_store::CursorRecord;

use crate::{Cursor, PluginKey};

/// The key of the poller's position.
pub(crate) fn poller_key() -> String {
    Shared::key("poller", "position")
}

/// The key of a plugin's record.
pub(crate) fn plugin_key(key: &PluginKey) -> String {
    Shared::key("plugin", &key.to_string())
}

/// The poller's position, written only by the lease holder at the revision it last wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PollerRecord {
    /// The last id read in order and the missing ids still awaited.
    pub(crate) cursor: CursorRecord,
    /// The node that wrote it.
    pub(crate) leader: String,
}

/// A plugin's standing in the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PluginRecord {
    /// Events this cursor calls old are acked without running (the first start's position).
    pub(crate) seed: CursorRecord,
    /// The stream sequence of the last message finished; a redelivery at or below it is acked.
    #[serde(default)]
    pub(crate) sequence: u64,
    /// The highest event id finished.
    #[serde(default)]
    pub(crate) last_id: Option<i64>,
    /// The node running it now.
    #[serde(default)]
    pub(crate) node: Option<String>,
    /// A stopOnError failure stopped it; every node leaves it alone until its file changes or
    /// `sgevents state resume`.
    #[serde(default)]
    pub(crate) stopped: Option<Stopped>,
}

/// Where and why a plugin stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stopped {
    /// The event it stopped at.
    pub(crate) event_id: i64,
    /// The plugin file's modification time then (nanoseconds): a change resumes it.
    pub(crate) file: String,
    /// The failure.
    pub(crate) error: String,
}

impl PluginRecord {
    /// A record whose seed is `seed`.
    pub(crate) fn seeded(seed: &Cursor) -> PluginRecord {
        PluginRecord {
            seed: seed.into(),
            sequence: 0,
            last_id: seed.last_id,
            node: None,
            stopped: None,
        }
    }
}

/// Writes `record` over whatever is stored: on a conflict (an operator's write) the stored
/// seed and stop are kept and ours written again. Returns the new revision.
pub(crate) async fn put_plugin(
    shared: &Shared,
    key: &PluginKey,
    record: &mut PluginRecord,
    revision: &mut Option<u64>,
) -> Result<(), WriteError> {
    let name = plugin_key(key);
    loop {
        match shared.write(&name, record, *revision).await {
            Ok(next) => {
                *revision = Some(next);
                return Ok(());
            }
            Err(WriteError::Conflict(_)) => {
                let stored = shared.read::<PluginRecord>(&name).await?;
                if let Some(stored) = stored {
                    record.seed = stored.value.seed;
                    record.stopped = stored.value.stopped;
                    if stored.value.sequence > record.sequence {
                        record.sequence = stored.value.sequence;
                    }
                    // The node that owned the plugin before may have finished events since
                    // this node read the record: positions only move forward.
                    record.last_id = record.last_id.max(stored.value.last_id);
                    *revision = Some(stored.revision);
                } else {
                    *revision = None;
                }
            }
            Err(err) => return Err(err),
        }
    }
}
