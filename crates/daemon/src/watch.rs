//! The snapshot the loop publishes, for the status page, `/readyz`, the systemd notifier and
//! tests. The loop writes whole copies; everything else reads copies. Nothing here is shared
//! with workers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use sgevents_plugin_api::CallbackSpec;

use crate::PluginKey;
use crate::cursor::Cursor;
pub use crate::status::PluginState;

/// What the loop publishes. The loop writes; everything else reads.
#[derive(Debug, Default)]
pub struct Watch {
    site: Mutex<SiteView>,
    plugins: Mutex<Vec<PluginEntry>>,
}

/// The site as the loop sees it.
#[derive(Debug, Clone, Default)]
pub struct SiteView {
    /// The site's URL.
    pub url: String,
    /// The highest event id fetched.
    pub high_water: Option<i64>,
    /// The site's clock as last seen (newest `created_at` or HTTP `Date`).
    pub site_now: Option<Timestamp>,
    /// When a poll last succeeded (daemon clock).
    pub last_poll_ok: Option<Timestamp>,
    /// Events the last successful poll of new events returned.
    pub last_poll_events: Option<u64>,
    /// The last poll failure.
    pub last_error: Option<(Timestamp, String)>,
    /// Failed attempts in a row (0 after a success).
    pub consecutive_failures: u32,
    /// When the loop last went round (daemon clock). A stalled loop stops updating it.
    pub heartbeat: Option<Timestamp>,
    /// A plugin lagging more than this on the site's clock makes the daemon degraded.
    pub degraded_lag: Option<Duration>,
    /// Cluster mode: the leader and the live nodes.
    pub cluster: Option<crate::status::ClusterStatus>,
}

/// The event a plugin is running now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningEvent {
    /// Its id.
    pub id: i64,
    /// Its `event_type`.
    pub event_type: String,
    /// When the plugin started on it (daemon clock).
    pub since: Timestamp,
}

/// One plugin's published state.
#[derive(Debug, Clone)]
pub struct SlotView {
    /// Loading, active, failed, paused or hung.
    pub state: PluginState,
    /// The committed-or-committing cursor, as the worker last reported it.
    pub cursor: Cursor,
    /// The callbacks and their filters.
    pub callbacks: Arc<Vec<CallbackSpec>>,
    /// The last failure and when it happened.
    pub last_error: Option<(Timestamp, String)>,
    /// `created_at` of the last event handled.
    pub last_event_at: Option<Timestamp>,
    /// The event the plugin is running now; `None` when idle.
    pub running: Option<RunningEvent>,
    /// Events handed to the plugin.
    pub dispatched: u64,
    /// Failed callbacks.
    pub failures: u64,
    /// Plugin process restarts (crashes, timeouts).
    pub restarts: u64,
    /// Cluster mode: the node running it.
    pub node: Option<String>,
}

impl SlotView {
    pub(crate) fn new(cursor: Cursor) -> SlotView {
        SlotView {
            state: PluginState::Loading,
            cursor,
            callbacks: Arc::new(Vec::new()),
            last_error: None,
            last_event_at: None,
            running: None,
            dispatched: 0,
            failures: 0,
            restarts: 0,
            node: None,
        }
    }
}

/// One plugin as the status page lists it.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    /// Its cursor's key.
    pub key: PluginKey,
    /// Its file, for Python plugins.
    pub path: Option<PathBuf>,
    /// Its state.
    pub view: SlotView,
}

impl Watch {
    /// A copy of the site view.
    pub fn site(&self) -> SiteView {
        relock(&self.site).clone()
    }

    /// Changes the site view.
    pub(crate) fn update_site(&self, change: impl FnOnce(&mut SiteView)) {
        change(&mut relock(&self.site));
    }

    /// The plugins, in dispatch order, with a copy of each one's view.
    pub fn plugins(&self) -> Vec<(PluginKey, Option<PathBuf>, SlotView)> {
        relock(&self.plugins)
            .iter()
            .map(|entry| (entry.key.clone(), entry.path.clone(), entry.view.clone()))
            .collect()
    }

    /// Whether every plugin has left `loading` (for the systemd notifier).
    pub fn all_loaded(&self) -> bool {
        relock(&self.plugins)
            .iter()
            .all(|entry| entry.view.state != PluginState::Loading)
    }

    pub(crate) fn set_plugins(&self, entries: Vec<PluginEntry>) {
        *relock(&self.plugins) = entries;
    }

    /// Replaces the entry at `idx` (same plugin, same place in the list).
    pub(crate) fn set_plugin(&self, idx: usize, entry: PluginEntry) {
        if let Some(slot) = relock(&self.plugins).get_mut(idx) {
            *slot = entry;
        }
    }
}

/// Locks, recovering from poisoning: every mutex in the loop guards plain values that are
/// consistent between statements, so a panic elsewhere never leaves them half-written.
pub(crate) fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
