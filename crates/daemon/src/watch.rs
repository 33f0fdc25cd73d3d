//! A read-only window on the running loop, for the status page, `/readyz` and tests.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;

use crate::PluginKey;
use crate::worker::SlotView;

/// What the loop publishes. The loop writes; everything else reads.
#[derive(Debug, Default)]
pub struct Watch {
    site: Mutex<SiteView>,
    plugins: Mutex<Vec<PluginEntry>>,
}

/// The site as the poller sees it.
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
    /// The last poll failure.
    pub last_error: Option<(Timestamp, String)>,
    /// When the loop last went round (daemon clock).
    pub heartbeat: Option<Timestamp>,
}

/// One plugin as the status page lists it.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    /// Its cursor's key.
    pub key: PluginKey,
    /// Its file, for Python plugins.
    pub path: Option<PathBuf>,
    /// Its live state.
    pub view: Arc<Mutex<SlotView>>,
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
            .map(|entry| {
                (
                    entry.key.clone(),
                    entry.path.clone(),
                    relock(&entry.view).clone(),
                )
            })
            .collect()
    }

    pub(crate) fn set_plugins(&self, entries: Vec<PluginEntry>) {
        *relock(&self.plugins) = entries;
    }
}

/// Locks, recovering from poisoning: every mutex in the loop guards plain values that are
/// consistent between statements, so a panic elsewhere never leaves them half-written.
pub(crate) fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
