//! Upstream's line formats: file lines, foreground lines, level names and the timing message.

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// Python's level name for a numeric level (`Level 15` for levels without a name).
pub fn level_name(level: u8) -> String {
    match level {
        50 => "CRITICAL".to_owned(),
        40 => "ERROR".to_owned(),
        30 => "WARNING".to_owned(),
        20 => "INFO".to_owned(),
        10 => "DEBUG".to_owned(),
        0 => "NOTSET".to_owned(),
        other => format!("Level {other}"),
    }
}

/// The Python level of a tracing level: ERROR 40, WARN 30, INFO 20, DEBUG/TRACE 10.
pub(super) fn py_level_of(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 40,
        tracing::Level::WARN => 30,
        tracing::Level::INFO => 20,
        _ => 10,
    }
}

/// Python's `asctime`: `2026-11-22 10:00:00,123` in local time.
pub(super) fn asctime(now: &Zoned) -> String {
    format!(
        "{},{:03}",
        now.strftime("%Y-%m-%d %H:%M:%S"),
        now.subsec_nanosecond() / 1_000_000
    )
}

/// A file line: `%(asctime)s - %(name)s - %(levelname)s - %(message)s`.
pub(super) fn file_line(now: &Zoned, logger: &str, level: u8, message: &str) -> String {
    format!(
        "{} - {logger} - {} - {message}",
        asctime(now),
        level_name(level)
    )
}

/// Upstream's foreground line: `%(levelname)s:%(name)s:%(message)s`.
pub(super) fn console_line(logger: &str, level: u8, message: &str) -> String {
    format!("{}:{logger}:{message}", level_name(level))
}

/// One JSON object for the foreground JSON format.
pub(super) fn json_line(
    now: &Zoned,
    logger: &str,
    level: u8,
    message: &str,
    fields: &[(String, String)],
) -> String {
    let mut object = serde_json::Map::new();
    object.insert("time".into(), now.timestamp().to_string().into());
    object.insert("level".into(), level_name(level).into());
    object.insert("logger".into(), logger.into());
    object.insert("message".into(), message.into());
    for (key, value) in fields {
        object
            .entry(key.clone())
            .or_insert_with(|| value.clone().into());
    }
    serde_json::Value::Object(object).to_string()
}

/// Python `datetime.isoformat()` of an aware datetime: microseconds only when non-zero, and
/// the UTC offset as `+HH:MM`.
pub fn isoformat(ts: Timestamp, tz: &TimeZone) -> String {
    let zoned = ts.to_zoned(tz.clone());
    let micros = zoned.subsec_nanosecond() / 1000;
    let base = zoned.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let fraction = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    let offset = zoned.offset().seconds();
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    let (hours, minutes, seconds) = (abs / 3600, abs % 3600 / 60, abs % 60);
    let tail = if seconds == 0 {
        format!("{sign}{hours:02}:{minutes:02}")
    } else {
        format!("{sign}{hours:02}:{minutes:02}:{seconds:02}")
    };
    format!("{base}{fraction}{tail}")
}

/// Upstream's `_prettyTimeDeltaFormat`: `DD:HH:MM:SS.micro`, with Python's floor division for
/// negative spans (a clock skew of -1.5 s prints `-1:23:59:58.500000`).
pub fn pretty_delta(from: Timestamp, to: Timestamp) -> String {
    let micros = to.as_microsecond() as i128 - from.as_microsecond() as i128;
    const DAY: i128 = 86_400_000_000;
    let days = micros.div_euclid(DAY);
    let rest = micros.rem_euclid(DAY);
    let hours = rest / 3_600_000_000;
    let minutes = rest % 3_600_000_000 / 60_000_000;
    let seconds = rest % 60_000_000 / 1_000_000;
    let micro = rest % 1_000_000;
    format!("{days:02}:{hours:02}:{minutes:02}:{seconds:02}.{micro:06}")
}

/// One callback run, for the `.timing` log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimingRecord {
    /// The event's id.
    pub event_id: i64,
    /// The event's `created_at` (site clock).
    pub created_at: Timestamp,
    /// `<plugin>.<callback>`, as upstream's callback logger name without `plugin.`.
    pub callback: String,
    /// When the callback started.
    pub start: Timestamp,
    /// When it returned.
    pub end: Timestamp,
    /// Whether it raised.
    pub error: bool,
}

/// Upstream's timing message:
/// `event_id=%d created_at=%s callback=%s start=%s end=%s duration=%s error=%s delay=%s`.
pub fn timing_message(record: &TimingRecord, tz: &TimeZone) -> String {
    format!(
        "event_id={} created_at={} callback={} start={} end={} duration={} error={} delay={}",
        record.event_id,
        isoformat(record.created_at, tz),
        record.callback,
        isoformat(record.start, tz),
        isoformat(record.end, tz),
        pretty_delta(record.start, record.end),
        if record.error { "True" } else { "False" },
        pretty_delta(record.created_at, record.start),
    )
}
