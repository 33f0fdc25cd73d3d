//! The native TOML file's shape (`sgevents.toml`); the field docs are the user documentation.
//!
//! Both formats are first read into these raw structs (INI through `from_ini`), then validated
//! into [`crate::Settings`]. Every field is optional here; which ones are required, and the
//! defaults, are decided in validation so that INI files keep upstream's rules.

use serde::{Deserialize, Serialize};

use crate::{DispatchMode, LogFormat, ProcessMode, Secret};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Daemon-wide settings.
    #[serde(default)]
    pub daemon: RawDaemon,
    /// The site connection (upstream's `[shotgun]` section).
    #[serde(default)]
    pub site: RawSite,
    /// One `[[plugins]]` table per plugin directory (upstream's comma-separated `plugins.paths`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<RawPluginPath>,
    /// Email alerts for ERROR and CRITICAL records; leave the table out to send none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<RawEmails>,
    /// Cluster mode on NATS JetStream; leave the table out to run one node alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<RawCluster>,
}

/// `[daemon]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    /// Pid file written by `sgevents start` and read by `stop` (upstream `pidFile`). Optional in
    /// TOML; `start`/`stop`/`restart` need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<String>,
    /// Upstream's pickled state file (`eventIdFile`). sgevents imports it once into `state_db`
    /// on first start and never writes it. Optional in TOML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id_file: Option<String>,
    /// SQLite file holding each plugin's cursor and backlog. Default:
    /// `sgevents-state.sqlite3` next to `event_id_file`; required when that is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_db: Option<String>,
    /// `0`: every record in the main log file; `1`: the engine in the main log file and each
    /// plugin in `<log_path>/plugin.<name>` (upstream `logMode`). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_mode: Option<i64>,
    /// Directory for log files, created if missing (upstream `logPath`). Without it, `log_file`
    /// is used as a path relative to the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_path: Option<String>,
    /// Name of the main log file (upstream `logFile`). Rotated at local midnight, 10 kept. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// Python numeric log level 0..=50: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL
    /// (upstream `logging`). Default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<i64>,
    /// Format of the stdout log in the foreground: `"text"` or `"json"`. Default `"text"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Write `<log_file>.timing`, one line per callback run (upstream `timing_log: on`). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing_log: Option<bool>,
    /// Seconds to pause after `max_conn_retries` failed site requests (upstream
    /// `conn_retry_sleep`). Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_retry_sleep_secs: Option<i64>,
    /// Failed attempts before an ERROR is logged (upstream `max_conn_retries`). Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_conn_retries: Option<i64>,
    /// Seconds to wait after a batch that was not full (upstream `fetch_interval`). Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_interval_secs: Option<i64>,
    /// Most events read per query (upstream `max_event_batch_size`). Default 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_batch_size: Option<i64>,
    /// Seconds a missing event id is waited for, measured on the site's clock. Default 300
    /// (upstream's hard-coded 5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog_timeout_secs: Option<i64>,
    /// `"concurrent"`: each plugin has its own worker, so a slow plugin delays only itself;
    /// `"sequential"`: upstream's one-callback-at-a-time order. Default `"concurrent"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<DispatchMode>,
    /// Events queued per plugin worker before the poller waits. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_size: Option<i64>,
    /// Seconds in-flight callbacks get to finish after SIGTERM/SIGINT. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<i64>,
    /// Seconds loading one plugin file may take before the plugin is marked hung. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_timeout_secs: Option<i64>,
    /// Seconds without a loop heartbeat after which the daemon counts as stalled: `/healthz`
    /// fails and the systemd watchdog pings stop, so systemd restarts it. Default 60. The loop
    /// never waits for a callback (in sequential dispatch too), so callbacks do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout_secs: Option<i64>,
    /// `host:port` for the status and metrics HTTP endpoint, e.g. `"127.0.0.1:9090"`. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Unix socket on which `sgevents plugin resume|skip|pause|unpause` reach the running
    /// daemon; created mode 0600 and answering only the daemon's own user. Default:
    /// `sgevents-control.sock` next to `state_db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket: Option<String>,
    /// A token that enables the status page's action buttons for failed plugins, when the page
    /// is served on a loopback address. Without it the page is read-only. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_token: Option<Secret>,
    /// Seconds of lag after which a plugin counts as lagging: the status page, the
    /// `degraded` field of `/status.json` and `sgevents_degraded` say so. Default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_alert_secs: Option<i64>,
}

/// `[site]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    /// Site URL (upstream `shotgun.server`). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Script name the engine connects with (upstream `shotgun.name`). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_name: Option<String>,
    /// Script key (upstream `shotgun.key`). Exactly one of `script_key`, `script_key_env`,
    /// `script_key_file` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_key: Option<Secret>,
    /// Name of an environment variable holding the script key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_key_env: Option<String>,
    /// Path of a file holding the script key (a trailing newline is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_key_file: Option<String>,
    /// `host:port` HTTP proxy for the engine and plugin connections (upstream `proxy_server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_server: Option<String>,
    /// Set each event's `session_uuid` on the callback's connection so the web UI live-updates
    /// (upstream `use_session_uuid`). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_session_uuid: Option<bool>,
    /// Seconds before a site request times out. Default 60 (upstream's socket timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<i64>,
}

/// One `[[plugins]]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPluginPath {
    /// Directory holding plugin `*.py` files. Required; it must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Python interpreter for these plugins. Default: `python3` on `PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// `"per_plugin"`: one child process per plugin file; `"per_path"`: one for the whole
    /// directory. Default `"per_plugin"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessMode>,
    /// Seconds a callback may run before it counts as failed. Default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_timeout_secs: Option<i64>,
    /// Deliver only events of these project ids. Default: all projects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_to_projects: Option<Vec<i64>>,
    /// Never deliver events of these project ids. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_projects: Option<Vec<i64>>,
    /// Skip events made by the daemon's own script users, to prevent loops. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_own_events: Option<bool>,
    /// Opt-in: plugin processes run the events shipped ahead to them without waiting for
    /// each cursor commit. Faster catch-up; after a daemon crash up to 64 events per plugin
    /// may run again (instead of one). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_ahead: Option<bool>,
}

/// `[emails]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmails {
    /// Send alerts (upstream `emails.enabled`). Default true in TOML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// SMTP host. With `from`, `to` and `subject`, needed for any mail to be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// SMTP port. Default 25.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// `From:` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Recipient addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// Subject prefix, e.g. `"[SG]"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Use STARTTLS; as upstream, only together with `username` (upstream `useTLS`). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_tls: Option<bool>,
    /// SMTP login user; without it no login happens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// SMTP password. At most one of `password`, `password_env`, `password_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Name of an environment variable holding the SMTP password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Path of a file holding the SMTP password (a trailing newline is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// Seconds of one rate-limit window, per logger. Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_window_secs: Option<i64>,
    /// Mails per logger and window; later records are sent as one digest when the window ends.
    /// Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_window: Option<i64>,
}

/// `[cluster]`: the node joins a cluster of sgevents daemons on NATS JetStream (docs/cluster.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// NATS servers, comma-separated (`nats://host:4222,nats://other:4222`). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_url: Option<String>,
    /// Names the stream, buckets and consumers, so clusters can share a NATS. Default `sgevents`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// This node's name, unique in the cluster. Default: the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Seconds the poller's lease lasts without renewal; another node polls within twice this
    /// after the poller dies. At least 2. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_secs: Option<i64>,
    /// Days an event stays in the cluster's stream; older ones are dropped. 1 to 3650.
    /// Default 7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_max_age_days: Option<i64>,
}
