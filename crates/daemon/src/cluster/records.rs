//! What the nodes keep in the cluster's shared state: the poller's position and each plugin's
//! record (its seed, the last stream message it finished, a stopOnError stop and an
//! operator's pause).

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
    /// `sgevents plugin resume|skip`.
    #[serde(default)]
    pub(crate) stopped: Option<Stopped>,
    /// An operator paused it: no node hands it events until `sgevents plugin unpause`.
    #[serde(default)]
    pub(crate) paused: bool,
}

/// Where and why a plugin stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stopped {
    /// The event it stopped at.
    pub(crate) event_id: i64,
    /// That event's stream sequence, so `skip` can pass over exactly it (0: recorded by an
    /// older sgevents, which did not keep it).
    #[serde(default)]
    pub(crate) sequence: u64,
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
            paused: false,
        }
    }
}

/// Writes the running plugin's `record` over whatever is stored: on a conflict (an operator's
/// write, or the node that took the plugin over) the stored seed, stop, pause and node are
/// kept and ours written again (a stop this node has just recorded, while the store has none,
/// is kept too). Updates `revision`.
pub(crate) async fn put_plugin(
    shared: &Shared,
    key: &PluginKey,
    record: &mut PluginRecord,
    revision: &mut Option<u64>,
) -> Result<(), WriteError> {
    write_plugin(shared, key, record, revision, false).await
}

/// [`put_plugin`] for the node taking the plugin on: its own node name is written even on a
/// conflict, so a previous owner finishing its last event cannot claim the plugin back.
pub(crate) async fn claim_plugin(
    shared: &Shared,
    key: &PluginKey,
    record: &mut PluginRecord,
    revision: &mut Option<u64>,
) -> Result<(), WriteError> {
    write_plugin(shared, key, record, revision, true).await
}

async fn write_plugin(
    shared: &Shared,
    key: &PluginKey,
    record: &mut PluginRecord,
    revision: &mut Option<u64>,
    claim: bool,
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
                    if record.stopped.is_none() || stored.value.stopped.is_some() {
                        record.stopped = stored.value.stopped;
                    }
                    record.paused = stored.value.paused;
                    if !claim {
                        record.node = stored.value.node;
                    }
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

/// Applies an operator's `change` to a plugin's record by compare-and-set, reading it again
/// and re-applying the change when a node wrote it in between, so the change is never lost.
/// `change` sees `None` for a plugin with no record yet and returns what to write (`None`:
/// nothing) and what to answer.
pub(crate) async fn change_plugin<T, E>(
    shared: &Shared,
    key: &PluginKey,
    mut change: impl FnMut(Option<PluginRecord>) -> Result<(Option<PluginRecord>, T), E>,
) -> Result<T, E>
where
    E: From<WriteError>,
{
    let name = plugin_key(key);
    loop {
        let read = shared
            .read::<PluginRecord>(&name)
            .await
            .map_err(WriteError::from)?;
        let (value, revision) = match read {
            Some(read) => (Some(read.value), Some(read.revision)),
            None => (None, None),
        };
        let (write, answer) = change(value)?;
        let Some(record) = write else {
            return Ok(answer);
        };
        match shared.write(&name, &record, revision).await {
            Ok(_) => return Ok(answer),
            Err(WriteError::Conflict(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
}
