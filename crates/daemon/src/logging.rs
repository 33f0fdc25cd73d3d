//! Upstream-compatible logging through `tracing`: the same files, names, line format and rotation.
//!
//! Every record carries a `logger` field: `engine` (the default), `plugin.<name>`,
//! `plugin.<name>.<callback>` or `timing`, and optionally `py_level` (Python's numeric level;
//! `tracing::error!(logger = "engine", py_level = 50, ...)` is CRITICAL; `critical = true` is an
//! alias). [`UpstreamLayer`] routes records like upstream:
//!
//! - `logMode` 0: every record in `<logPath>/<logFile>`;
//! - `logMode` 1: `engine` in `<logPath>/<logFile>`, each plugin and its callbacks in
//!   `<logPath>/plugin.<name>`;
//! - `timing` in `<logFile>.timing` when `timing_log` is on (and, as upstream's propagation
//!   does, in the main file in mode 0).
//!
//! Lines are `%(asctime)s - %(name)s - %(levelname)s - %(message)s` in local time; files roll
//! over at local midnight with Python's `name.YYYY-MM-DD` names, 10 kept. In the foreground
//! records also go to stdout as `LEVEL:logger:message` or JSON. Records below the `logging`
//! level are dropped, except those of a plugin's Python logging ([`PYTHON_TARGET`]): Python
//! already applied the plugin's own logger levels, so a plugin that raised its logger to DEBUG
//! gets its DEBUG lines, as upstream. Records without a `logger` from other crates' targets
//! (HTTP, TLS) are kept only from WARNING up. With `logMode` 1 a plugin's file is created
//! when it loads ([`open_plugin_log`]), even if it never logs, as upstream's handler does.

mod appender;
mod format;
mod layer;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use jiff::tz::TimeZone;
use sgevents_config::LogSettings;
use tracing_subscriber::layer::SubscriberExt;

pub use appender::{BACKUPS_KEPT, Clock, RotatingFile, SharedClock, SystemClock, dated_name};
pub use format::{TimingRecord, isoformat, level_name, pretty_delta, timing_message};
pub use layer::{ConsoleWriter, UpstreamLayer};
pub use sgevents_plugin_host::logs::PYTHON_TARGET;

/// The target of [`open_plugin_log`]'s record, which opens a file and writes nothing.
const OPEN_TARGET: &str = "sgevents::logging::open";

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log directory could not be created.
    #[error("cannot create log directory {path}: {source}; create it or fix daemon.logPath")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `logPath` exists and is not a directory.
    #[error("log path {0} is not a directory; point daemon.logPath at a directory")]
    NotADirectory(std::path::PathBuf),
    /// A global tracing subscriber is already installed.
    #[error("logging is already initialised in this process")]
    AlreadyInitialised,
}

/// Keeps logging alive; flushes the console when dropped. Hold it for the process lifetime.
pub struct LogGuard {
    shared: Arc<layer::Shared>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.flush();
    }
}

/// Installs the global subscriber: upstream's files per `settings`, plus stdout when
/// `foreground` (text or JSON per `settings.format`), plus email `alerts` when given. Creates
/// `logPath` if missing, as upstream.
///
/// # Errors
/// [`LogError`] when the log directory cannot be made or a subscriber is already installed.
pub fn init(
    settings: &LogSettings,
    foreground: bool,
    alerts: Option<crate::alerts::AlertLayer>,
) -> Result<LogGuard, LogError> {
    prepare_dir(settings)?;
    let console: Option<ConsoleWriter> = foreground.then(|| Box::new(std::io::stdout()) as _);
    let layer = UpstreamLayer::new(settings, Arc::new(SystemClock), console);
    let shared = layer.shared();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(alerts)
        .with(record_filter(settings.level));
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| LogError::AlreadyInitialised)?;
    Ok(LogGuard { shared })
}

/// Creates `settings.path` if needed, like upstream's `getLogFile`.
///
/// # Errors
/// [`LogError::NotADirectory`] or [`LogError::CreateDir`].
pub fn prepare_dir(settings: &LogSettings) -> Result<(), LogError> {
    let Some(dir) = &settings.path else {
        return Ok(());
    };
    if dir.exists() && !dir.is_dir() {
        return Err(LogError::NotADirectory(dir.clone()));
    }
    std::fs::create_dir_all(dir).map_err(|source| LogError::CreateDir {
        path: dir.clone(),
        source,
    })
}

/// The tracing level filter that lets every record at or above Python `level` through.
pub fn level_filter(level: u8) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match level {
        0..=10 => LevelFilter::TRACE,
        11..=20 => LevelFilter::INFO,
        21..=30 => LevelFilter::WARN,
        _ => LevelFilter::ERROR,
    }
}

/// [`level_filter`] for everything but a plugin's Python records and [`open_plugin_log`],
/// which pass at every level (see the module docs). Install it next to [`UpstreamLayer`].
pub fn record_filter(level: u8) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    tracing_subscriber::filter::Targets::new()
        .with_default(level_filter(level))
        .with_target(PYTHON_TARGET, LevelFilter::TRACE)
        .with_target(OPEN_TARGET, LevelFilter::TRACE)
}

/// Writes a record that came from a Python plugin (its logger name, Python level and message)
/// into the same files, as if the plugin had logged in-process. Python's logging already
/// decided it passes, so the daemon's level does not apply.
pub fn plugin_record(logger: &str, level: u8, message: &str) {
    sgevents_plugin_host::logs::emit_python(logger, i64::from(level), message);
}

/// Creates `logPath/plugin.<name>` now when `logMode` is 1 (a no-op otherwise), like
/// upstream's file handler set up when a plugin is loaded. Call it for each plugin file
/// before loading it.
pub fn open_plugin_log(plugin: &str) {
    tracing::info!(target: OPEN_TARGET, logger = %format_args!("plugin.{plugin}"), open_only = true, "");
}

/// Writes one callback run to the `.timing` log (upstream's line format; local time zone).
pub fn timing_record(record: &TimingRecord) {
    let message = timing_message(record, &TimeZone::system());
    tracing::info!(target: "sgevents::timing", logger = "timing", "{message}");
}
