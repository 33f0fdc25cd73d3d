//! A [`StatusSource`] over the loop's [`Watch`], so the status server shows the running loop.

use std::sync::Arc;

use jiff::Timestamp;

use super::{
    ApiHealth, CallbackStatus, DaemonInfo, ErrorInfo, PluginCounts, PluginStatus, RunningStatus,
    SiteStatus, StatusSnapshot, StatusSource,
};
use crate::Watch;

/// The last success counts as recent for [`ApiHealth::Degraded`] (rather than down) within this.
const DEGRADED_WINDOW_SECS: i64 = 120;

/// Reads the loop's [`Watch`] and turns it into [`StatusSnapshot`]s.
#[derive(Debug, Clone)]
pub struct WatchStatus {
    watch: Arc<Watch>,
    daemon: DaemonInfo,
}

impl WatchStatus {
    /// A source over `watch` for this process (started now).
    pub fn new(watch: Arc<Watch>) -> WatchStatus {
        WatchStatus {
            watch,
            daemon: DaemonInfo::current(),
        }
    }

    /// A source with explicit daemon details.
    pub fn with_daemon(watch: Arc<Watch>, daemon: DaemonInfo) -> WatchStatus {
        WatchStatus { watch, daemon }
    }
}

impl StatusSource for WatchStatus {
    fn snapshot(&self) -> StatusSnapshot {
        let now = Timestamp::now();
        let view = self.watch.site();
        let failing = match (&view.last_error, view.last_poll_ok) {
            (Some((at, _)), Some(ok)) => *at > ok,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut site = SiteStatus::new(view.url.clone());
        site.latest_event_id = view.high_water;
        site.last_poll_events = view.last_poll_events;
        site.last_success_at = view.last_poll_ok;
        site.last_error = view.last_error.as_ref().map(|(at, message)| ErrorInfo {
            at: *at,
            message: message.clone(),
        });
        if failing {
            site.last_poll_at = view.last_error.as_ref().map(|(at, _)| *at);
            site.last_poll_ok = Some(false);
            site.consecutive_failures = view.consecutive_failures.max(1);
            let recent = view
                .last_poll_ok
                .is_some_and(|ok| now.duration_since(ok).as_secs() <= DEGRADED_WINDOW_SECS);
            site.api = if recent {
                ApiHealth::Degraded
            } else {
                ApiHealth::Down
            };
        } else if let Some(ok) = view.last_poll_ok {
            site.last_poll_at = Some(ok);
            site.last_poll_ok = Some(true);
            site.api = ApiHealth::Healthy;
        }
        let mut daemon = self.daemon.clone();
        daemon.heartbeat_at = view.heartbeat;

        let plugins = self
            .watch
            .plugins()
            .into_iter()
            .map(|(key, path, slot)| {
                let lag_events = match (view.high_water, slot.cursor.last_id) {
                    (Some(high), Some(last)) => Some(u64::try_from(high - last).unwrap_or(0)),
                    _ => None,
                };
                let lag_seconds = match (lag_events, view.site_now, slot.last_event_at) {
                    (Some(0), _, _) => Some(0.0),
                    (Some(_), Some(site_now), Some(last)) => {
                        Some(site_now.duration_since(last).as_secs_f64().max(0.0))
                    }
                    _ => None,
                };
                PluginStatus {
                    name: key.plugin.clone(),
                    collection: key.collection.clone(),
                    path: path.map(|path| path.display().to_string()),
                    state: slot.state,
                    cursor: slot.cursor.last_id,
                    lag_events,
                    lag_seconds,
                    backlog: slot.cursor.backlog.len() as u64,
                    last_error: slot
                        .last_error
                        .map(|(at, message)| ErrorInfo { at, message }),
                    callbacks: slot.callbacks.iter().map(CallbackStatus::from).collect(),
                    counts: PluginCounts {
                        dispatched: slot.dispatched,
                        failures: slot.failures,
                        restarts: slot.restarts,
                    },
                    running: slot.running.map(|running| RunningStatus {
                        id: running.id,
                        event_type: running.event_type,
                        since: running.since,
                    }),
                    node: slot.node,
                }
            })
            .collect();
        let mut snapshot = StatusSnapshot {
            generated_at: now,
            daemon,
            site,
            plugins,
            degraded: false,
            degraded_reasons: Vec::new(),
            cluster: view.cluster.clone(),
        };
        snapshot.mark_degraded(view.degraded_lag);
        snapshot
    }
}
