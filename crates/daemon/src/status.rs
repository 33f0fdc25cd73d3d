//! The status view: snapshot types (JSON), the shared [`StatusBoard`], health checks, the HTML page and the terminal table.
//!
//! The loop writes to a [`StatusBoard`] (or any [`StatusSource`]); the status server and
//! `sgevents status` only read [`StatusSnapshot`]s. Nothing here reaches into workers.

mod board;
mod charts;
pub mod client;
mod degraded;
mod filter_text;
mod from_watch;
mod health;
pub mod history;
mod html;
pub mod text;

#[cfg(test)]
mod tests;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use board::StatusBoard;

/// The lag beyond which a plugin makes the daemon degraded when `lag_alert_secs` is not set.
pub const DEFAULT_LAG_ALERT: std::time::Duration = std::time::Duration::from_secs(600);
pub use filter_text::match_events_text;
pub use from_watch::WatchStatus;
pub use health::{Check, HealthPolicy};
pub use history::History;
pub use html::{PageExtras, render_html, render_page};

/// Anything that can produce the current status (the board, or an adapter over the loop's state).
pub trait StatusSource: Send + Sync {
    /// A consistent copy of the current status.
    fn snapshot(&self) -> StatusSnapshot;
}

/// Everything the status page shows, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    /// When the snapshot was taken.
    pub generated_at: Timestamp,
    /// The daemon process.
    pub daemon: DaemonInfo,
    /// The tracking site and the poller.
    pub site: SiteStatus,
    /// Each plugin, in dispatch order.
    pub plugins: Vec<PluginStatus>,
    /// Whether a plugin is failed, paused, hung or lagging beyond `lag_alert_secs`
    /// (see [`StatusSnapshot::mark_degraded`]).
    #[serde(default)]
    pub degraded: bool,
    /// Why, one sentence per plugin (empty when not degraded).
    #[serde(default)]
    pub degraded_reasons: Vec<String>,
    /// Cluster mode: who polls and which nodes are live (absent on a single node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The node that holds the poller's lease, if any.
    pub leader: Option<String>,
    /// The live nodes, sorted.
    pub nodes: Vec<String>,
}

/// The daemon process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// The sgevents version.
    pub version: String,
    /// When the daemon started.
    pub started_at: Timestamp,
    /// Its process id.
    pub pid: u32,
    /// When the loop last went round.
    pub heartbeat_at: Option<Timestamp>,
}

impl DaemonInfo {
    /// This process, starting now.
    pub fn current() -> DaemonInfo {
        DaemonInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: Timestamp::now(),
            pid: std::process::id(),
            heartbeat_at: None,
        }
    }
}

/// The site as the poller sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteStatus {
    /// The site URL.
    pub url: String,
    /// When the last poll finished.
    pub last_poll_at: Option<Timestamp>,
    /// Whether the last poll succeeded.
    pub last_poll_ok: Option<bool>,
    /// Events the last successful poll returned.
    pub last_poll_events: Option<u64>,
    /// When a poll last succeeded.
    pub last_success_at: Option<Timestamp>,
    /// The last poll failure.
    pub last_error: Option<ErrorInfo>,
    /// Polls that failed in a row (0 after a success).
    pub consecutive_failures: u32,
    /// The highest event id seen on the site.
    pub latest_event_id: Option<i64>,
    /// A summary of the API's health.
    pub api: ApiHealth,
}

impl SiteStatus {
    /// A site nobody has polled yet.
    pub fn new(url: impl Into<String>) -> SiteStatus {
        SiteStatus {
            url: url.into(),
            last_poll_at: None,
            last_poll_ok: None,
            last_poll_events: None,
            last_success_at: None,
            last_error: None,
            consecutive_failures: 0,
            latest_event_id: None,
            api: ApiHealth::Unknown,
        }
    }
}

/// How the site's API is doing, from the poller's last attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiHealth {
    /// Not polled yet.
    Unknown,
    /// The last poll succeeded.
    Healthy,
    /// The last poll failed, but fewer than [`ApiHealth::DOWN_AFTER`] in a row.
    Degraded,
    /// Many polls in a row failed, or none ever succeeded.
    Down,
}

impl ApiHealth {
    /// Failed polls in a row after which the API counts as down.
    pub const DOWN_AFTER: u32 = 3;

    /// The health for a poll history.
    pub fn from_history(last_ok: Option<bool>, consecutive_failures: u32, ever_ok: bool) -> Self {
        match last_ok {
            None => ApiHealth::Unknown,
            Some(true) => ApiHealth::Healthy,
            Some(false) if !ever_ok || consecutive_failures >= Self::DOWN_AFTER => ApiHealth::Down,
            Some(false) => ApiHealth::Degraded,
        }
    }

    /// The lowercase name used in JSON and on the page.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiHealth::Unknown => "unknown",
            ApiHealth::Healthy => "healthy",
            ApiHealth::Degraded => "degraded",
            ApiHealth::Down => "down",
        }
    }
}

/// A failure and when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// When.
    pub at: Timestamp,
    /// What went wrong (first line of a traceback, or the whole message).
    pub message: String,
}

/// Where a plugin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// Loading its file for the first time.
    Loading,
    /// Taking events.
    Active,
    /// Stopped by a stopOnError failure or a load error, until its file changes (or an
    /// operator resumes or skips).
    Failed,
    /// Paused by an operator: its cursor stays until `unpause`.
    Paused,
    /// Its load did not finish within `load_timeout`; loaded again when its file changes.
    Hung,
    /// Its file changed; being loaded again.
    Reloading,
    /// Not running (the daemon is down, or the plugin is disabled).
    Inactive,
}

impl PluginState {
    /// The lowercase name used in JSON, on the page and in the terminal.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Loading => "loading",
            PluginState::Active => "active",
            PluginState::Failed => "failed",
            PluginState::Paused => "paused",
            PluginState::Hung => "hung",
            PluginState::Reloading => "reloading",
            PluginState::Inactive => "inactive",
        }
    }
}

/// One plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginStatus {
    /// The plugin name.
    pub name: String,
    /// The plugin folder, as configured (part of its cursor's key).
    pub collection: String,
    /// Its file, for Python plugins.
    pub path: Option<String>,
    /// Its state.
    pub state: PluginState,
    /// The last event id it finished.
    pub cursor: Option<i64>,
    /// Events the site has that it has not handled yet.
    pub lag_events: Option<u64>,
    /// Age in seconds of the oldest event it has not handled (0 when caught up).
    pub lag_seconds: Option<f64>,
    /// Missing event ids it waits for.
    pub backlog: u64,
    /// Its last failure.
    pub last_error: Option<ErrorInfo>,
    /// Its callbacks and their filters.
    pub callbacks: Vec<CallbackStatus>,
    /// Counters since the daemon started.
    pub counts: PluginCounts,
    /// The event it is running now; `None` when idle.
    #[serde(default)]
    pub running: Option<RunningStatus>,
    /// Cluster mode: the node running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The event a plugin is running now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningStatus {
    /// The event id.
    pub id: i64,
    /// Its `event_type`.
    pub event_type: String,
    /// When the plugin started on it.
    pub since: Timestamp,
}

impl PluginStatus {
    /// A plugin with nothing known but its name and folder.
    pub fn new(name: impl Into<String>, collection: impl Into<String>) -> PluginStatus {
        PluginStatus {
            name: name.into(),
            collection: collection.into(),
            path: None,
            state: PluginState::Loading,
            cursor: None,
            lag_events: None,
            lag_seconds: None,
            backlog: 0,
            last_error: None,
            callbacks: Vec::new(),
            counts: PluginCounts::default(),
            running: None,
            node: None,
        }
    }
}

/// One registered callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackStatus {
    /// The callback's name.
    pub name: String,
    /// Its `matchEvents`, as text (see [`match_events_text`]).
    pub filter: String,
    /// Whether a failure stops the plugin.
    pub stop_on_error: bool,
}

impl From<&sgevents_plugin_api::CallbackSpec> for CallbackStatus {
    fn from(spec: &sgevents_plugin_api::CallbackSpec) -> Self {
        CallbackStatus {
            name: spec.name.clone(),
            filter: match_events_text(&spec.match_events),
            stop_on_error: spec.stop_on_error,
        }
    }
}

/// A plugin's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginCounts {
    /// Events handed to it.
    pub dispatched: u64,
    /// Failed callback runs.
    pub failures: u64,
    /// Process restarts.
    pub restarts: u64,
}
