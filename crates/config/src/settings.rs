//! The validated runtime settings every other crate receives (durations, paths, enums).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::Secret;

/// Which file format a configuration was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// Upstream's `shotgunEventDaemon.conf` (Python ConfigParser INI).
    Ini,
    /// Our native TOML format.
    Toml,
}

/// Everything the daemon needs, validated once at start-up and passed explicitly.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The file these settings came from.
    pub source: PathBuf,
    /// That file's format.
    pub format: ConfigFormat,
    /// The `[daemon]` section.
    pub daemon: DaemonSettings,
    /// The site connection (`[shotgun]` in INI, `[site]` in TOML).
    pub site: SiteSettings,
    /// One entry per plugin directory, in configuration order.
    pub plugins: Vec<PluginPathSettings>,
    /// Email alerts, or `None` when disabled or incomplete (upstream then sends no mail).
    pub emails: Option<EmailSettings>,
    /// Cluster mode, or `None` to run one node alone (no `[cluster]` section).
    pub cluster: Option<ClusterConfig>,
    /// Things that are allowed but probably not what the user meant; the daemon logs them.
    pub warnings: Vec<String>,
}

/// Daemon-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    /// Pid file used by `start`/`stop`; always set by INI files, optional in TOML.
    pub pid_file: Option<PathBuf>,
    /// Upstream's state file, imported once on first start; never written.
    pub event_id_file: Option<PathBuf>,
    /// Our SQLite cursor store.
    pub state_db: PathBuf,
    /// Log files, level and format.
    pub log: LogSettings,
    /// Pause after `max_conn_retries` failed attempts.
    pub conn_retry_sleep: Duration,
    /// Failed attempts before an ERROR is logged and the pause starts.
    pub max_conn_retries: u32,
    /// Pause after a batch that was not full.
    pub fetch_interval: Duration,
    /// Most events read per query.
    pub max_event_batch_size: u32,
    /// How long a missing event id is waited for (site clock).
    pub backlog_timeout: Duration,
    /// Concurrent or sequential dispatch.
    pub dispatch: DispatchMode,
    /// Events queued per plugin worker.
    pub queue_size: usize,
    /// How long in-flight callbacks may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// How long loading one plugin file may take before the plugin is marked hung.
    pub load_timeout: Duration,
    /// A loop without a heartbeat for this long is stalled (`/healthz`, systemd watchdog).
    pub heartbeat_timeout: Duration,
    /// Listen address of the status/metrics HTTP endpoint; `None` = off.
    pub http: Option<SocketAddr>,
    /// The control socket of `sgevents plugin ...`.
    pub control_socket: PathBuf,
    /// Enables the status page's action buttons (loopback only); `None` = read-only page.
    pub control_token: Option<Secret>,
    /// Lag beyond which a plugin makes the daemon degraded.
    pub lag_alert: Duration,
}

/// Logging settings, as the logging module consumes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Upstream's `logMode`.
    pub mode: LogMode,
    /// Upstream's `logPath`: the directory for log files, or `None` to use `file` as given.
    pub path: Option<PathBuf>,
    /// Upstream's `logFile`: the main log's file name.
    pub file: String,
    /// Python numeric level threshold, 0..=50 (10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL).
    pub level: u8,
    /// Whether `<logFile>.timing` is written.
    pub timing: bool,
    /// Format of the foreground stdout log.
    pub format: LogFormat,
}

impl LogSettings {
    /// Resolves a log file name like upstream's `getLogFile`: `<logPath>/<name>`, or `name` itself
    /// when no `logPath` is set.
    pub fn file_path(&self, name: &str) -> PathBuf {
        match &self.path {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// The main log file.
    pub fn main_log(&self) -> PathBuf {
        self.file_path(&self.file)
    }

    /// The log of plugin `name` in log mode 1: `<logPath>/plugin.<name>`.
    pub fn plugin_log(&self, name: &str) -> PathBuf {
        self.file_path(&format!("plugin.{name}"))
    }

    /// The timing log: `<main log>.timing`.
    pub fn timing_log(&self) -> PathBuf {
        self.file_path(&format!("{}.timing", self.file))
    }
}

/// Upstream's `logMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// `0`: every record in the main log file.
    Single,
    /// `1`: the engine in the main log, each plugin in `plugin.<name>`.
    PerPlugin,
}

/// Format of the foreground stdout log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Upstream's `LEVEL:logger:message` lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How events are handed to plugins (the one definition; the daemon uses it too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchMode {
    /// Each plugin has its own worker and queue: a slow plugin delays only itself.
    #[default]
    Concurrent,
    /// Upstream's order: one event at a time, every callback in turn.
    Sequential,
}

/// How Python plugins of one directory map to child processes (the one definition; the plugin
/// host uses it too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessMode {
    /// One child process per plugin file (isolation).
    #[default]
    PerPlugin,
    /// One child process for the whole directory (fewer processes).
    PerPath,
}

/// Connection to the tracking site.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSettings {
    /// Site URL, e.g. `https://studio.shotgrid.autodesk.com`.
    pub server: String,
    /// The engine's script name.
    pub script_name: String,
    /// The engine's script key.
    pub script_key: Secret,
    /// `host:port` HTTP proxy for the engine and every plugin connection.
    pub proxy_server: Option<String>,
    /// Pass each event's `session_uuid` to the callback's connection.
    pub use_session_uuid: bool,
    /// Socket timeout of site requests (upstream hard-codes 60 s).
    pub timeout: Duration,
}

/// One plugin directory and how its plugins run.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginPathSettings {
    /// The directory (it existed when the configuration was validated).
    pub path: PathBuf,
    /// Python interpreter for this directory's plugins; `None` = the daemon's default.
    pub python: Option<PathBuf>,
    /// Process layout for this directory's plugins.
    pub process: ProcessMode,
    /// A callback running longer than this is treated as failed.
    pub callback_timeout: Duration,
    /// Event filters applied before any callback of this directory.
    pub filters: PluginFilters,
    /// Plugin processes (one per plugin) run shipped events without waiting for each one's
    /// go, recording finished ids on a progress page (default); off, they run in step.
    pub run_ahead: bool,
}

/// Opt-in event filters for one plugin directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginFilters {
    /// If not empty, only events of these project ids are delivered.
    pub limit_to_projects: Vec<i64>,
    /// Events of these project ids are never delivered.
    pub ignore_projects: Vec<i64>,
    /// Skip events created by the daemon's own script users (loop prevention).
    pub skip_own_events: bool,
}

/// SMTP alerts for ERROR and CRITICAL records.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailSettings {
    /// SMTP host.
    pub server: String,
    /// SMTP port.
    pub port: u16,
    /// `From:` address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject prefix.
    pub subject: String,
    /// STARTTLS (only used together with `username`, as upstream).
    pub use_tls: bool,
    /// SMTP login user.
    pub username: Option<String>,
    /// SMTP login password.
    pub password: Option<Secret>,
    /// Length of one rate-limit window per logger.
    pub digest_window: Duration,
    /// Mails sent per logger and window; the rest go into one digest at the window's end.
    pub max_per_window: u32,
}

/// The `[cluster]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// NATS servers to try, in order.
    pub nats_urls: Vec<String>,
    /// Names the stream, buckets and consumers.
    pub name: String,
    /// This node's name; `None`: the host name.
    pub node: Option<String>,
    /// How long the poller's lease lasts without renewal.
    pub lease: Duration,
    /// How long an event stays in the cluster's stream (`stream_max_age_days`).
    pub stream_max_age: Duration,
}

impl ClusterConfig {
    /// Splits a comma-separated `nats_url` into its servers.
    pub fn split_urls(text: &str) -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
