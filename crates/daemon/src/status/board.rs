//! The shared status board: the loop writes through its methods, readers take snapshots.

use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};

use jiff::Timestamp;

use super::{
    ApiHealth, DaemonInfo, ErrorInfo, PluginStatus, SiteStatus, StatusSnapshot, StatusSource,
};

#[derive(Debug)]
struct Inner {
    daemon: DaemonInfo,
    site: SiteStatus,
    plugins: Vec<PluginStatus>,
}

/// A cheap, cloneable handle on the current status. Writers hold the lock only to copy values.
#[derive(Debug, Clone)]
pub struct StatusBoard {
    inner: Arc<RwLock<Inner>>,
}

impl StatusBoard {
    /// A board for this process and the site at `url`, with no plugins yet.
    pub fn new(url: impl Into<String>) -> StatusBoard {
        StatusBoard::with_daemon(DaemonInfo::current(), url)
    }

    /// A board with explicit daemon details (tests, or a daemon that started earlier).
    pub fn with_daemon(daemon: DaemonInfo, url: impl Into<String>) -> StatusBoard {
        StatusBoard {
            inner: Arc::new(RwLock::new(Inner {
                daemon,
                site: SiteStatus::new(url),
                plugins: Vec::new(),
            })),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The loop went round (feeds `/healthz`).
    pub fn heartbeat(&self) {
        self.heartbeat_at(Timestamp::now());
    }

    /// The loop went round at `at`.
    pub fn heartbeat_at(&self, at: Timestamp) {
        self.write().daemon.heartbeat_at = Some(at);
    }

    /// A poll succeeded now with `events` events; `latest_event_id` is the highest id seen.
    pub fn poll_succeeded(&self, events: u64, latest_event_id: Option<i64>) {
        self.poll_succeeded_at(Timestamp::now(), events, latest_event_id);
    }

    /// A poll succeeded at `at`.
    pub fn poll_succeeded_at(&self, at: Timestamp, events: u64, latest_event_id: Option<i64>) {
        let mut inner = self.write();
        let site = &mut inner.site;
        site.last_poll_at = Some(at);
        site.last_poll_ok = Some(true);
        site.last_poll_events = Some(events);
        site.last_success_at = Some(at);
        site.consecutive_failures = 0;
        if latest_event_id.is_some() {
            site.latest_event_id = site.latest_event_id.max(latest_event_id);
        }
        site.api = ApiHealth::Healthy;
    }

    /// A poll failed now with `message`.
    pub fn poll_failed(&self, message: impl Into<String>) {
        self.poll_failed_at(Timestamp::now(), message);
    }

    /// A poll failed at `at`.
    pub fn poll_failed_at(&self, at: Timestamp, message: impl Into<String>) {
        let mut inner = self.write();
        let site = &mut inner.site;
        site.last_poll_at = Some(at);
        site.last_poll_ok = Some(false);
        site.last_poll_events = None;
        site.last_error = Some(ErrorInfo {
            at,
            message: message.into(),
        });
        site.consecutive_failures = site.consecutive_failures.saturating_add(1);
        site.api = ApiHealth::from_history(
            Some(false),
            site.consecutive_failures,
            site.last_success_at.is_some(),
        );
    }

    /// Replaces the plugin list (after discovery or a reload), in dispatch order.
    pub fn set_plugins(&self, plugins: Vec<PluginStatus>) {
        self.write().plugins = plugins;
    }

    /// Changes plugin `name` (first match); adds it with `collection` "" if it is unknown.
    pub fn update_plugin(&self, name: &str, change: impl FnOnce(&mut PluginStatus)) {
        let mut inner = self.write();
        let index = match inner.plugins.iter().position(|plugin| plugin.name == name) {
            Some(index) => index,
            None => {
                inner.plugins.push(PluginStatus::new(name, ""));
                inner.plugins.len() - 1
            }
        };
        change(&mut inner.plugins[index]);
    }

    /// Removes plugin `name`.
    pub fn remove_plugin(&self, name: &str) {
        self.write().plugins.retain(|plugin| plugin.name != name);
    }

    /// Changes the site view directly (for fields without a dedicated method).
    pub fn update_site(&self, change: impl FnOnce(&mut SiteStatus)) {
        change(&mut self.write().site);
    }
}

impl StatusSource for StatusBoard {
    fn snapshot(&self) -> StatusSnapshot {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut snapshot = StatusSnapshot {
            generated_at: Timestamp::now(),
            daemon: inner.daemon.clone(),
            site: inner.site.clone(),
            plugins: inner.plugins.clone(),
            degraded: false,
            degraded_reasons: Vec::new(),
            cluster: None,
        };
        snapshot.mark_degraded(Some(super::DEFAULT_LAG_ALERT));
        snapshot
    }
}
