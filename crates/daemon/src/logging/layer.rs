//! The tracing `Layer` that routes records to upstream's files by their `logger` field.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use sgevents_config::{LogFormat, LogMode, LogSettings};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;

use super::appender::{BACKUPS_KEPT, RotatingFile, SharedClock};
use super::format::{console_line, file_line, json_line, py_level_of};

/// Where foreground lines go (stdout in the daemon, a buffer in tests).
pub type ConsoleWriter = Box<dyn Write + Send>;

/// Routes every tracing event carrying (or defaulting to) a `logger` field into upstream's
/// files, and optionally to a console.
pub struct UpstreamLayer {
    shared: Arc<Shared>,
}

pub(super) struct Shared {
    settings: LogSettings,
    clock: SharedClock,
    state: Mutex<State>,
}

struct State {
    files: HashMap<PathBuf, RotatingFile>,
    console: Option<(ConsoleWriter, LogFormat)>,
    /// Write failures are reported once on stderr, like Python's `handleError`, not per line.
    reported_error: bool,
}

impl UpstreamLayer {
    /// A layer writing as `settings` says, with `clock` for timestamps and rotation, and
    /// foreground lines to `console` when given.
    pub fn new(settings: &LogSettings, clock: SharedClock, console: Option<ConsoleWriter>) -> Self {
        let console = console.map(|writer| (writer, settings.format));
        Self {
            shared: Arc::new(Shared {
                settings: settings.clone(),
                clock,
                state: Mutex::new(State {
                    files: HashMap::new(),
                    console,
                    reported_error: false,
                }),
            }),
        }
    }

    pub(super) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the files usable; keep logging.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Flushes the console (files are written unbuffered).
    pub(super) fn flush(&self) {
        if let Some((console, _)) = &mut self.lock().console {
            let _ = console.flush();
        }
    }

    /// The files a record of `logger` goes to, per `logMode` (see the module docs).
    fn targets(&self, logger: &str) -> Vec<PathBuf> {
        let log = &self.settings;
        let mut targets = Vec::with_capacity(2);
        if logger == "timing" {
            if log.timing {
                targets.push(log.timing_log());
            }
            // Upstream's timing logger propagates to the root logger, which holds the main
            // file handler only in mode 0.
            if log.mode == LogMode::Single {
                targets.push(log.main_log());
            }
            return targets;
        }
        match (log.mode, plugin_name(logger)) {
            (LogMode::PerPlugin, Some(plugin)) => targets.push(log.plugin_log(plugin)),
            _ => targets.push(log.main_log()),
        }
        targets
    }

    pub(super) fn write(&self, record: &Record) {
        if record.open_only {
            self.open(&record.logger);
            return;
        }
        if !record.from_python && record.level < self.settings.level {
            return;
        }
        let now = self.clock.now();
        let message = record.full_message();
        let line = file_line(&now, &record.logger, record.level, &message);
        let mut state = self.lock();
        for path in self.targets(&record.logger) {
            let result = match state.files.get_mut(&path) {
                Some(file) => file.write_line(&line, &now),
                None => RotatingFile::open(&path, &now, BACKUPS_KEPT).and_then(|mut file| {
                    let written = file.write_line(&line, &now);
                    state.files.insert(path.clone(), file);
                    written
                }),
            };
            if let Err(err) = result
                && !state.reported_error
            {
                state.reported_error = true;
                eprintln!("sgevents: cannot write log file {}: {err}", path.display());
            }
        }
        if let Some((console, format)) = &mut state.console {
            let text = match format {
                LogFormat::Text => console_line(&record.logger, record.level, &message),
                LogFormat::Json => json_line(
                    &now,
                    &record.logger,
                    record.level,
                    &record.message,
                    &record.fields,
                ),
            };
            let _ = writeln!(console, "{text}");
        }
    }
}

impl Shared {
    /// Opens (creating) the file of a plugin's logger in `logMode` 1, writing nothing.
    fn open(&self, logger: &str) {
        if self.settings.mode != LogMode::PerPlugin || plugin_name(logger).is_none() {
            return;
        }
        let now = self.clock.now();
        let mut state = self.lock();
        for path in self.targets(logger) {
            if state.files.contains_key(&path) {
                continue;
            }
            match RotatingFile::open(&path, &now, BACKUPS_KEPT) {
                Ok(file) => {
                    state.files.insert(path, file);
                }
                Err(err) if !state.reported_error => {
                    state.reported_error = true;
                    eprintln!("sgevents: cannot create log file {}: {err}", path.display());
                }
                Err(_) => {}
            }
        }
    }
}

/// `plugin.<name>` and `plugin.<name>.<callback>` -> `<name>`.
fn plugin_name(logger: &str) -> Option<&str> {
    let rest = logger.strip_prefix("plugin.")?;
    let name = rest.split('.').next().unwrap_or(rest);
    (!name.is_empty()).then_some(name)
}

/// One event, as the layer sees it.
pub(super) struct Record {
    pub(super) logger: String,
    pub(super) level: u8,
    pub(super) message: String,
    pub(super) fields: Vec<(String, String)>,
    /// From a plugin's Python logging, which already applied the logger levels.
    pub(super) from_python: bool,
    /// Only open the logger's file ([`super::open_plugin_log`]).
    pub(super) open_only: bool,
}

impl Record {
    /// The message followed by any other fields as ` key=value`.
    fn full_message(&self) -> String {
        let mut text = self.message.clone();
        for (key, value) in &self.fields {
            let _ = write!(text, " {key}={value}");
        }
        text
    }
}

#[derive(Default)]
struct FieldVisitor {
    logger: Option<String>,
    py_level: Option<i64>,
    critical: bool,
    open_only: bool,
    message: String,
    fields: Vec<(String, String)>,
}

impl FieldVisitor {
    fn record(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "logger" => self.logger = Some(value),
            "py_level" => self.py_level = value.parse().ok(),
            "critical" => self.critical = value == "true",
            "open_only" => self.open_only = value == "true",
            name => self.fields.push((name.to_owned(), value)),
        }
    }
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_owned());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record(field, value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record(field, value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for UpstreamLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let level = match (visitor.py_level, visitor.critical) {
            (Some(level), _) => u8::try_from(level.clamp(0, 255)).unwrap_or(u8::MAX),
            (None, true) => 50,
            (None, false) => py_level_of(*metadata.level()),
        };
        let logger = match visitor.logger {
            Some(logger) => logger,
            None => {
                // Library chatter (HTTP clients, TLS) without a logger only shows from WARNING.
                if !metadata.target().starts_with("sgevents") && level < 30 {
                    return;
                }
                "engine".to_owned()
            }
        };
        self.shared.write(&Record {
            logger,
            level,
            message: visitor.message,
            fields: visitor.fields,
            from_python: metadata.target() == super::PYTHON_TARGET,
            open_only: visitor.open_only && metadata.target() == super::OPEN_TARGET,
        });
    }
}
