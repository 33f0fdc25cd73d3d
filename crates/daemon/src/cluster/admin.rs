//! What `sgevents state` and `sgevents plugin resume` do against a cluster: read and change
//! the plugin records and the poller's position in the shared state.

use std::collections::BTreeMap;

use sgevents_cluster::lease::Lease;
use sgevents_cluster::state::Shared;
use sgevents_cluster::{Cluster, ClusterSettings};

use super::records::{PluginRecord, PollerRecord, plugin_key, poller_key, put_plugin};
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
        let read = self
            .shared
            .read::<PluginRecord>(&plugin_key(key))
            .await
            .map_err(fail)?;
        let (mut record, mut revision) = match read {
            Some(read) => (read.value, Some(read.revision)),
            None => (PluginRecord::seeded(&Cursor::at(id)), None),
        };
        let old = record.last_id;
        if old.is_some_and(|last| id < last) {
            return Err(DaemonError::Cluster(format!(
                "plugin {key} is at event {} in the cluster; in cluster mode a position only moves forward (its earlier events are acknowledged in NATS)",
                old.unwrap_or_default()
            )));
        }
        let mut seed = Cursor::from(record.seed.clone());
        if id > seed.position() {
            seed = Cursor::at(id);
        }
        record.seed = (&seed).into();
        record.last_id = Some(id);
        record.stopped = None;
        put_plugin(&self.shared, key, &mut record, &mut revision)
            .await
            .map_err(fail)?;
        Ok(old)
    }

    /// Lifts a stopOnError stop: the owner runs the failed event again. Returns the event it
    /// stopped at, or `None` when it was not stopped.
    ///
    /// # Errors
    /// [`DaemonError::Cluster`] when NATS fails.
    pub async fn resume(&self, key: &PluginKey) -> Result<Option<i64>, DaemonError> {
        let Some(read) = self
            .shared
            .read::<PluginRecord>(&plugin_key(key))
            .await
            .map_err(fail)?
        else {
            return Ok(None);
        };
        let (mut record, mut revision) = (read.value, Some(read.revision));
        let Some(stopped) = record.stopped.take() else {
            return Ok(None);
        };
        put_plugin(&self.shared, key, &mut record, &mut revision)
            .await
            .map_err(fail)?;
        Ok(Some(stopped.event_id))
    }
}
