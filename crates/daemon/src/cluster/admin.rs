//! What `sgevents state` and `sgevents plugin resume|skip|pause|unpause` do against a cluster:
//! read and change the plugin records and the poller's position in the shared state. The same
//! [`act`] answers the control socket of every node, so an action is cluster-wide whichever
//! node is asked, and the node that owns the plugin (now or after a move) obeys it.

use std::collections::BTreeMap;

use sgevents_cluster::lease::Lease;
use sgevents_cluster::state::Shared;
use sgevents_cluster::{Cluster, ClusterSettings};

use super::records::{PluginRecord, PollerRecord, change_plugin, plugin_key, poller_key};
use crate::control::{Action, Refusal, Reply};
use crate::cursor::CursorRules;
use crate::{Cursor, DaemonError, PluginKey};

/// One plugin as the cluster records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStanding {
    /// The last event id it finished (or skipped).
    pub last_id: Option<i64>,
    /// The node that runs it.
    pub node: Option<String>,
    /// The event a stopOnError failure stopped it at.
    pub stopped_at: Option<i64>,
    /// An operator paused it.
    pub paused: bool,
}

/// The cluster's state as `sgevents state show` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The node holding the poller's lease.
    pub leader: Option<String>,
    /// The poller's last id and the ids it still waits for.
    pub poller: Option<Cursor>,
    /// Each plugin asked about that has a record.
    pub plugins: BTreeMap<PluginKey, PluginStanding>,
}

/// A connection for one command.
pub struct Admin {
    shared: Shared,
    lease: Lease,
}

fn fail(err: impl std::fmt::Display) -> DaemonError {
    DaemonError::Cluster(err.to_string())
}

impl Admin {
    /// Connects to the cluster (opening its buckets with one replica when they do not exist
    /// yet; a node creates them with its own count first).
    ///
    /// # Errors
    /// [`DaemonError::Cluster`] when NATS cannot be reached.
    pub async fn connect(settings: ClusterSettings) -> Result<Admin, DaemonError> {
        let replicas = if settings.nats_urls.len() >= 3 { 3 } else { 1 };
        let cluster = Cluster::connect(settings).await.map_err(fail)?;
        Ok(Admin {
            shared: Shared::open(&cluster, replicas).await.map_err(fail)?,
            lease: Lease::open(&cluster, replicas).await.map_err(fail)?,
        })
    }

    /// The leader, the poller's position and the records of `plugins`.
    ///
    /// # Errors
    /// [`DaemonError::Cluster`] when NATS cannot be asked.
    pub async fn show(&self, plugins: &[PluginKey]) -> Result<Standing, DaemonError> {
        let poller = self
            .shared
            .read::<PollerRecord>(&poller_key())
            .await
            .map_err(fail)?
            .map(|read| Cursor::from(read.value.cursor));
        let mut standing = BTreeMap::new();
        for key in plugins {
            if let Some(read) = self
                .shared
                .read::<PluginRecord>(&plugin_key(key))
                .await
                .map_err(fail)?
            {
                standing.insert(
                    key.clone(),
                    PluginStanding {
                        last_id: read.value.last_id,
                        node: read.value.node,
                        stopped_at: read.value.stopped.map(|stopped| stopped.event_id),
                        paused: read.value.paused,
                    },
                );
            }
        }
        Ok(Standing {
            leader: self.lease.holder().await.map_err(fail)?,
            poller,
            plugins: standing,
        })
    }

    /// Moves a plugin forward: events up to `id` are acked without running. It cannot move
    /// back (the events it finished are acked in NATS). Returns the old last id.
    ///
    /// # Errors
    /// [`DaemonError::Cluster`] when NATS fails or `id` is behind the plugin.
    pub async fn set(&self, key: &PluginKey, id: i64) -> Result<Option<i64>, DaemonError> {
        change_plugin(&self.shared, key, |read| {
            let mut record = read.unwrap_or_else(|| PluginRecord::seeded(&Cursor::at(id)));
            let old = record.last_id;
            if let Some(last) = old.filter(|last| id < *last) {
                return Err(DaemonError::Cluster(format!(
                    "plugin {key} is at event {last} in the cluster; in cluster mode a position only moves forward (its earlier events are acknowledged in NATS)"
                )));
            }
            let mut seed = Cursor::from(record.seed.clone());
            if id > seed.position() {
                seed = Cursor::at(id);
            }
            record.seed = (&seed).into();
            record.last_id = Some(id);
            record.stopped = None;
            Ok((Some(record), old))
        })
        .await
    }

    /// Resumes, skips, pauses or unpauses a plugin in the cluster (see [`act`]).
    ///
    /// # Errors
    /// [`DaemonError::Cluster`] when NATS fails.
    pub async fn act(&self, key: &PluginKey, action: Action) -> Result<Reply, DaemonError> {
        act(&self.shared, key, action).await
    }
}

/// Why an operator's change was not written.
enum NotDone {
    Refused(Refusal),
    Failed(DaemonError),
}

impl From<sgevents_cluster::state::WriteError> for NotDone {
    fn from(err: sgevents_cluster::state::WriteError) -> NotDone {
        NotDone::Failed(fail(err))
    }
}

impl From<sgevents_cluster::state::WriteError> for DaemonError {
    fn from(err: sgevents_cluster::state::WriteError) -> DaemonError {
        fail(err)
    }
}

/// Records an operator's `action` in the plugin's shared record by compare-and-set: `resume`
/// and `skip` lift a stopOnError stop (skip also passes over the failed event), `pause` and
/// `unpause` set and clear the pause. Whichever node owns the plugin, now or later, obeys it.
/// The answer is the one-line account, or why nothing was done (the plugin's state does not
/// allow it).
///
/// # Errors
/// [`DaemonError::Cluster`] when NATS fails.
pub(crate) async fn act(
    shared: &Shared,
    key: &PluginKey,
    action: Action,
) -> Result<Reply, DaemonError> {
    let refuse = |state: &str| {
        NotDone::Refused(Refusal::NotApplicable {
            plugin: key.plugin.clone(),
            state: state.to_owned(),
            verb: action.verb().to_owned(),
        })
    };
    let changed = change_plugin(shared, key, |read| {
        // A plugin with no record has not run anywhere yet.
        let Some(mut record) = read else {
            return Err(refuse("inactive"));
        };
        let state = if record.stopped.is_some() {
            "failed"
        } else if record.paused {
            "paused"
        } else {
            "active"
        };
        let done = match action {
            Action::Resume => {
                let Some(stopped) = record.stopped.take() else {
                    return Err(refuse(state));
                };
                format!(
                    "{key}: resumed at event {} on every node (it retries the event)",
                    stopped.event_id
                )
            }
            Action::Skip => {
                let Some(stopped) = record.stopped.take() else {
                    return Err(refuse(state));
                };
                if stopped.sequence == 0 {
                    return Err(NotDone::Refused(Refusal::Cannot(format!(
                        "the stop of {key} at event {} was recorded by an older sgevents that did not keep its place in the stream; move it past the event with `sgevents state set {} {}`",
                        stopped.event_id, key.plugin, stopped.event_id
                    ))));
                }
                // Every message before the failed one was finished (one in flight at a
                // time), so recording its sequence passes over exactly this event.
                record.sequence = record.sequence.max(stopped.sequence);
                record.last_id = record.last_id.max(Some(stopped.event_id));
                format!(
                    "skipped event {} of {key}; it runs again",
                    stopped.event_id
                )
            }
            Action::Pause => {
                if state != "active" {
                    return Err(refuse(state));
                }
                record.paused = true;
                format!("paused {key} on every node; its position stays")
            }
            Action::Unpause => {
                if !record.paused {
                    return Err(refuse(state));
                }
                record.paused = false;
                format!("unpaused {key} on every node")
            }
        };
        Ok((Some(record), done))
    })
    .await;
    match changed {
        Ok(done) => Ok(Ok(done)),
        Err(NotDone::Refused(refusal)) => Ok(Err(refusal)),
        Err(NotDone::Failed(err)) => Err(err),
    }
}
