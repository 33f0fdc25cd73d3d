//! Wall-clock time and the site's date/date_time text formats.

use jiff::{Timestamp, civil};

/// Seconds since the Unix epoch, now.
pub(crate) fn now_secs() -> i64 {
    Timestamp::now().as_second()
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    Timestamp::now().as_millisecond()
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the wire form of every date_time value.
pub(crate) fn format_wire(secs: i64) -> String {
    match Timestamp::from_second(secs) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => "1970-01-01T00:00:00Z".to_owned(),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC`, the form date_time values take inside event `meta`.
pub(crate) fn format_meta(secs: i64) -> String {
    match Timestamp::from_second(secs) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => "1970-01-01 00:00:00 UTC".to_owned(),
    }
}

/// Parses a date_time as clients send it: ISO 8601 with `Z` or an offset, zoneless (UTC),
/// fractional seconds (truncated) or a bare date (midnight UTC). Returns epoch seconds.
pub(crate) fn parse_date_time(text: &str) -> Option<i64> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts.as_second());
    }
    if let Ok(dt) = text.parse::<civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    if let Ok(date) = text.parse::<civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    None
}

/// Parses a `YYYY-MM-DD` date.
pub(crate) fn parse_date(text: &str) -> Option<civil::Date> {
    if text.len() != 10 {
        return None;
    }
    text.parse::<civil::Date>().ok()
}

/// The UTC calendar date of an epoch-seconds instant.
pub(crate) fn utc_date(secs: i64) -> civil::Date {
    Timestamp::from_second(secs)
        .map(|ts| ts.to_zoned(jiff::tz::TimeZone::UTC).date())
        .unwrap_or_default()
}

/// Epoch seconds of midnight UTC starting `date`.
pub(crate) fn date_start(date: civil::Date) -> i64 {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .unwrap_or(0)
}
