//! The `events` message: event rows plus the few places the runner must touch to turn a row
//! into exactly what `shotgun_api3`'s `find` returns (docs/plugin-protocol.md, section 4).
//!
//! The walk over every value happens here, once, in Rust; the runner's work per event is
//! `json.loads` (C code) and one conversion per listed path.

use std::collections::{HashSet, VecDeque};
use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use serde_json::{Map, Value};
use sgevents_api::Event;

/// Years whose datetimes the runner may build from a Unix timestamp; others are left to its
/// exact slow path (`maybe_dates`), so no range or overflow case differs from the client.
const FAST_YEARS: std::ops::RangeInclusive<i64> = 1900..=9998;

/// How many rows a shared process keeps for the `held` entries of its other plugins (the
/// runner's `ROWS_KEPT`).
pub(crate) const ROWS_KEPT: usize = 256;

/// The rows a process shared by several plugins keeps, mirrored entry for entry: the same
/// first-in, first-out list the runner keeps, since both see the same entries in order.
#[derive(Default)]
pub(crate) struct KeptRows {
    order: VecDeque<i64>,
    ids: HashSet<i64>,
}

impl KeptRows {
    /// Adds `event` to `message` as `held` when the process keeps its row, else in full
    /// with `keep`, so each row crosses the channel once for all the process's plugins.
    pub(crate) fn push(&mut self, message: &mut EventsMessage, event: &Event, callbacks: &[usize]) {
        if self.ids.contains(&event.id) {
            message.push_held(event.id, callbacks);
            return;
        }
        if self.order.len() >= ROWS_KEPT
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.order.push_back(event.id);
        self.ids.insert(event.id);
        message.push_entry(event, callbacks, true);
    }
}

/// One `events` message being built: `{"type":"events","slot":S,"events":[...]}\n`.
pub(crate) struct EventsMessage {
    buf: Vec<u8>,
    count: usize,
}

impl EventsMessage {
    /// An empty message for `slot`, writing into `buf` (cleared first, so a caller can reuse
    /// one buffer for every message).
    pub(crate) fn new(slot: u32, mut buf: Vec<u8>) -> EventsMessage {
        buf.clear();
        buf.extend_from_slice(b"{\"type\":\"events\",\"slot\":");
        buf.extend_from_slice(slot.to_string().as_bytes());
        buf.extend_from_slice(b",\"events\":[");
        EventsMessage { buf, count: 0 }
    }

    /// Adds one event and the callbacks that will run on it.
    pub(crate) fn push(&mut self, event: &Event, callbacks: &[usize]) {
        self.push_entry(event, callbacks, false);
    }

    /// Adds an event whose row the process kept for an earlier entry: only its id and the
    /// callbacks.
    fn push_held(&mut self, id: i64, callbacks: &[usize]) {
        if self.count > 0 {
            self.buf.push(b',');
        }
        self.count += 1;
        let _ = write!(self.buf, "{{\"id\":{id},\"held\":true,\"callbacks\":");
        if serde_json::to_writer(&mut self.buf, callbacks).is_err() {
            self.buf.extend_from_slice(b"[]");
        }
        self.buf.push(b'}');
    }

    /// Adds one event in full; with `keep` the process keeps its row for later entries.
    fn push_entry(&mut self, event: &Event, callbacks: &[usize], keep: bool) {
        if self.count > 0 {
            self.buf.push(b',');
        }
        self.count += 1;
        // `{"id":N,"callbacks":[...],` then the entry's shared fields: only the id and
        // the callbacks are written per plugin: the rest (the row and its paths, the walk
        // over every value) is encoded once per event and shared by every plugin's host.
        let rest = event.wire_bytes(encode_rest);
        // Serialising plain JSON values into a Vec cannot fail; should it ever, the entry is
        // written as `null`, which the runner reports as an unreadable entry.
        let mut head = Vec::with_capacity(32);
        let keep = if keep { "\"keep\":true," } else { "" };
        let written = write!(head, "{{\"id\":{},{keep}\"callbacks\":", event.id).is_ok()
            && serde_json::to_writer(&mut head, callbacks).is_ok();
        if written && !rest.is_empty() {
            self.buf.extend_from_slice(&head);
            self.buf.push(b',');
            self.buf.extend_from_slice(rest);
        } else {
            self.buf.extend_from_slice(b"null");
        }
    }

    /// How many events the message holds.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The message's size so far, in bytes.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The finished line, newline included.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(b"]}\n");
        self.buf
    }
}

/// An entry without its per-plugin head: `"row":{...},"dates":[...],...}` (the serialised
/// entry after `{"id":N,"callbacks":[...],`), or nothing when it cannot be encoded.
fn encode_rest(event: &Event) -> Vec<u8> {
    match serde_json::to_vec(&Entry::new(event)) {
        // Drop the opening brace: the head before it is written per plugin.
        Ok(mut bytes) if bytes.first() == Some(&b'{') => {
            bytes.remove(0);
            bytes
        }
        _ => Vec::new(),
    }
}

/// One step of a path into the row: a key or a list index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum Step<'a> {
    /// A key of an object.
    Key(&'a str),
    /// An index into a list.
    Index(usize),
}

/// Where a value sits in the row: a top-level key is written as a plain string, a deeper
/// place as a list of steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path<'a>(Vec<Step<'a>>);

impl Serialize for Path<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let [Step::Key(key)] = self.0.as_slice() {
            return serializer.serialize_str(key);
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for step in &self.0 {
            seq.serialize_element(step)?;
        }
        seq.end()
    }
}

/// One event on the wire, after its per-plugin `id` and `callbacks`.
#[derive(Debug, Serialize)]
pub(crate) struct Entry<'a> {
    /// The row exactly as the site sent it, keys in the site's order.
    row: &'a Map<String, Value>,
    /// Datetime strings and their Unix time: the runner puts the local-zone datetime there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dates: Vec<(Path<'a>, i64)>,
    /// Strings that may be datetimes (non-ASCII digits, far years): the runner applies
    /// `shotgun_api3`'s own test and conversion to them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    maybe_dates: Vec<Path<'a>>,
    /// Top-level keys whose string holds `&lt;`, which the client turns into `<`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unescape: Vec<&'a str>,
    /// Top-level keys holding a `link_type: local` file link, which gets `local_path`/`url`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    local_links: Vec<&'a str>,
}

impl<'a> Entry<'a> {
    pub(crate) fn new(event: &'a Event) -> Entry<'a> {
        let mut entry = Entry {
            row: &event.raw,
            dates: Vec::new(),
            maybe_dates: Vec::new(),
            unescape: Vec::new(),
            local_links: Vec::new(),
        };
        let mut path = Vec::new();
        for (key, value) in &event.raw {
            path.push(Step::Key(key));
            entry.visit(value, &mut path);
            path.pop();
            match value {
                Value::String(text) if text.contains("&lt;") => entry.unescape.push(key),
                Value::Object(link)
                    if link.get("link_type").and_then(Value::as_str) == Some("local") =>
                {
                    entry.local_links.push(key);
                }
                _ => {}
            }
        }
        entry
    }

    fn visit(&mut self, value: &'a Value, path: &mut Vec<Step<'a>>) {
        match value {
            Value::String(text) => match classify(text) {
                DateKind::Date(seconds) => self.dates.push((Path(path.clone()), seconds)),
                DateKind::Maybe => self.maybe_dates.push(Path(path.clone())),
                DateKind::No => {}
            },
            Value::Array(items) => {
                for (idx, item) in items.iter().enumerate() {
                    path.push(Step::Index(idx));
                    self.visit(item, path);
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    path.push(Step::Key(key));
                    self.visit(item, path);
                    path.pop();
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// What `shotgun_api3` makes of a string it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateKind {
    /// A datetime at this Unix time (seconds).
    Date(i64),
    /// Only the client's own test can tell (see [`Entry::maybe_dates`]).
    Maybe,
    /// Stays a string.
    No,
}

/// The client converts a string when it has 20 characters, matches its `_DATE_TIME_PATTERN`
/// and parses with `strptime("%Y-%m-%dT%H:%M:%SZ")` (which ignores case). For ASCII text
/// that is exactly `YYYY-MM-DDTHH:MM:SSZ` with a real calendar date and the pattern's
/// ranges; Python's `\d` also takes other scripts' digits, so 20-character non-ASCII text
/// is left to the runner.
pub(crate) fn classify(text: &str) -> DateKind {
    let bytes = text.as_bytes();
    if bytes.len() != 20 {
        // 20 characters can take up to 80 bytes of UTF-8.
        if bytes.len() > 20 && bytes.len() <= 80 && text.chars().count() == 20 {
            return DateKind::Maybe;
        }
        return DateKind::No;
    }
    if !text.is_ascii() {
        return DateKind::No; // 20 bytes with a multi-byte character: fewer than 20 chars
    }
    let separators = [
        (4, b"-"),
        (7, b"-"),
        (10, b"T"),
        (13, b":"),
        (16, b":"),
        (19, b"Z"),
    ];
    if separators
        .iter()
        .any(|&(at, want)| !bytes[at].eq_ignore_ascii_case(&want[0]))
    {
        return DateKind::No;
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        bytes[from..to].iter().try_fold(0_i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        number(0, 4),
        number(5, 7),
        number(8, 10),
        number(11, 13),
        number(14, 16),
        number(17, 19),
    ) else {
        return DateKind::No;
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return DateKind::No;
    }
    if !FAST_YEARS.contains(&year) {
        return DateKind::Maybe;
    }
    if day > days_in_month(year, month) {
        return DateKind::No;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    DateKind::Date(seconds)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`;
/// written out because it is six lines and the crate has no date dependency).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests;
