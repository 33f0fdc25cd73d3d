//! What an alert is, and how alerts and digests are worded as mails.

use std::fmt::Write as _;
use std::time::Duration;

use jiff::Timestamp;

/// How bad an alert is; it decides the subject line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertLevel {
    /// Python's ERROR (40) or a tracing ERROR event.
    Error,
    /// Python's CRITICAL (50).
    Critical,
}

impl AlertLevel {
    /// The level as Python names it: `ERROR` or `CRITICAL`.
    pub fn name(self) -> &'static str {
        match self {
            AlertLevel::Error => "ERROR",
            AlertLevel::Critical => "CRITICAL",
        }
    }

    /// The level of a Python log record's `levelno`: 50 and above is CRITICAL, anything else ERROR.
    pub fn from_python(levelno: i64) -> AlertLevel {
        if levelno >= 50 {
            AlertLevel::Critical
        } else {
            AlertLevel::Error
        }
    }
}

/// One log record that should reach a human.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The logger name, as upstream names them: `engine`, `plugin.<name>`, `plugin.<name>.<callback>`.
    pub logger: String,
    /// ERROR or CRITICAL.
    pub level: AlertLevel,
    /// The formatted message (with the traceback, if any).
    pub message: String,
    /// `None`: the configured recipients. `Some(list)`: exactly these; an empty list sends nothing.
    pub recipients: Option<Vec<String>>,
    /// When the record was made.
    pub time: Timestamp,
    /// Where the record was made (`path:line in function`), when known.
    pub location: Option<Location>,
}

/// The source position of a log record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Location {
    /// The file.
    pub path: Option<String>,
    /// The function.
    pub function: Option<String>,
    /// The line number.
    pub line: Option<u32>,
}

impl Alert {
    /// An alert made now, for the configured recipients, with no source position.
    pub fn new(logger: impl Into<String>, level: AlertLevel, message: impl Into<String>) -> Alert {
        Alert {
            logger: logger.into(),
            level,
            message: message.into(),
            recipients: None,
            time: Timestamp::now(),
            location: None,
        }
    }

    /// The same alert with its own recipients (`setEmails`); an empty list sends nothing.
    pub fn with_recipients(mut self, recipients: Option<Vec<String>>) -> Alert {
        self.recipients = recipients;
        self
    }
}

/// The subject of a mail at `level` under the configured prefix.
pub(super) fn subject(prefix: &str, level: AlertLevel) -> String {
    format!("{prefix} {} - SG event daemon.", level.name())
}

/// The body of one alert mail: a header block like upstream's, a blank line, then the message.
pub(super) fn body(alert: &Alert, dropped: u64) -> String {
    let mut out = String::new();
    header(&mut out, alert);
    out.push('\n');
    out.push_str(&alert.message);
    out.push('\n');
    dropped_note(&mut out, dropped);
    out
}

fn header(out: &mut String, alert: &Alert) {
    let location = alert.location.clone().unwrap_or_default();
    let unknown = "(unknown)";
    let _ = writeln!(out, "Time:     {}", local_time(alert.time));
    let _ = writeln!(out, "Logger:   {}", alert.logger);
    let _ = writeln!(out, "Level:    {}", alert.level.name());
    let _ = writeln!(
        out,
        "Path:     {}",
        location.path.as_deref().unwrap_or(unknown)
    );
    let _ = writeln!(
        out,
        "Function: {}",
        location.function.as_deref().unwrap_or(unknown)
    );
    match location.line {
        Some(line) => {
            let _ = writeln!(out, "Line:     {line}");
        }
        None => {
            let _ = writeln!(out, "Line:     {unknown}");
        }
    }
}

fn dropped_note(out: &mut String, dropped: u64) {
    if dropped > 0 {
        let _ = writeln!(
            out,
            "\nNote: {dropped} alert(s) were dropped before this mail because the alert queue was full."
        );
    }
}

/// How many held messages a digest quotes in full; the rest are only counted.
pub(super) const DIGEST_QUOTED: usize = 10;

/// The body of a digest: how many messages of one logger were held back, then the first few.
pub(super) fn digest_body(
    logger: &str,
    held: u64,
    quoted: &[Alert],
    window: Duration,
    max_per_window: u32,
    dropped: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Digest for logger {logger}: {held} message(s) were held back by the rate limit \
         ({max_per_window} mail(s) per {} s).",
        window.as_secs()
    );
    if let (Some(first), Some(last)) = (quoted.first(), quoted.last()) {
        let _ = writeln!(
            out,
            "First held at {}; last quoted at {}.",
            local_time(first.time),
            local_time(last.time)
        );
    }
    for (index, alert) in quoted.iter().enumerate() {
        let _ = writeln!(out, "\n--- held message {} of {held} ---", index + 1);
        header(&mut out, alert);
        out.push('\n');
        out.push_str(&alert.message);
        out.push('\n');
    }
    let unquoted = held.saturating_sub(quoted.len() as u64);
    if unquoted > 0 {
        let _ = writeln!(
            out,
            "\n... and {unquoted} more message(s) not quoted here; see the log."
        );
    }
    dropped_note(&mut out, dropped);
    out
}

fn local_time(time: Timestamp) -> String {
    let zoned = time.to_zoned(jiff::tz::TimeZone::system());
    zoned.strftime("%Y-%m-%d %H:%M:%S%.3f %Z").to_string()
}
