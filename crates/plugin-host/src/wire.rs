//! The `events` message: event rows as pickles that Python's C unpickler turns into exactly
//! what `shotgun_api3`'s `find` returns (docs/plugin-protocol.md, section 4).
//!
//! The walk over every value happens here, once per event, in Rust: datetimes go on the
//! wire as calls that build them, so the runner's work per event is the unpickling and,
//! for the rare rows that need it, one conversion per listed path.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Write;

use sgevents_api::{Event, PathStep};

mod pickle;
mod row;

use row::PickleRow;
pub use row::PickledEvents;

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
    ids: rustc_hash::FxHashSet<i64>,
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

/// One `events` message being built: the line `{"type":"events","slot":S,"bytes":N}\n`,
/// then N bytes of pickle: a list of `(id, callbacks, row, extras, keep)` tuples
/// (docs/plugin-protocol.md, section 4).
pub(crate) struct EventsMessage {
    slot: u32,
    buf: Vec<u8>,
    count: usize,
}

impl EventsMessage {
    /// An empty message for `slot`, writing into `buf` (cleared first, so a caller can reuse
    /// one buffer for every message).
    pub(crate) fn new(slot: u32, mut buf: Vec<u8>) -> EventsMessage {
        buf.clear();
        pickle::begin(&mut buf);
        EventsMessage {
            slot,
            buf,
            count: 0,
        }
    }

    /// Adds one event and the callbacks that will run on it.
    pub(crate) fn push(&mut self, event: &Event, callbacks: &[usize]) {
        self.push_entry(event, callbacks, false);
    }

    /// Adds an event whose row the process kept for an earlier entry: no row, no extras.
    fn push_held(&mut self, id: i64, callbacks: &[usize]) {
        self.push_tuple(id, callbacks, None, false);
    }

    /// Adds one event in full; with `keep` the process keeps its row for later entries.
    fn push_entry(&mut self, event: &Event, callbacks: &[usize], keep: bool) {
        // Only the id, the callbacks and `keep` are written per plugin: the row and its
        // extras (the walk over every value) are encoded once per event and shared by
        // every plugin's host.
        let rest = event.wire_bytes(encode_rest);
        self.push_tuple(event.id, callbacks, Some(rest), keep);
    }

    /// `(id, callbacks, row, extras, keep)`; `rest` is the row and extras already written,
    /// or `None` for a held entry (both `None`).
    fn push_tuple(&mut self, id: i64, callbacks: &[usize], rest: Option<&[u8]>, keep: bool) {
        self.count += 1;
        let out = &mut self.buf;
        pickle::open_tuple(out);
        pickle::int(out, id);
        write_callbacks(out, callbacks);
        match rest {
            Some(rest) => out.extend_from_slice(rest),
            None => {
                pickle::none(out);
                pickle::none(out);
            }
        }
        pickle::boolean(out, keep);
        pickle::close_tuple(out);
    }

    /// How many events the message holds.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The message's size so far, in bytes.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The finished message: its line, then its payload.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        pickle::end(&mut self.buf);
        let mut message = Vec::with_capacity(self.buf.len() + 48);
        // Writing into a Vec cannot fail.
        let _ = writeln!(
            message,
            "{{\"type\":\"events\",\"slot\":{},\"bytes\":{}}}",
            self.slot,
            self.buf.len()
        );
        message.extend_from_slice(&self.buf);
        message
    }
}

fn write_callbacks(out: &mut Vec<u8>, callbacks: &[usize]) {
    pickle::list(out, |out| {
        for &callback in callbacks {
            pickle::int(out, i64::try_from(callback).unwrap_or(i64::MAX));
        }
    });
}

/// An entry's shared part: the row, with every datetime already a `date(seconds)` call,
/// then its extras (`None`, or a dict of the rare conversions left to the runner). An event
/// read by [`PickledEvents`] has it already; this writes it for the others (an event made
/// from a parsed row, or read without that reader).
fn encode_rest(event: &Event) -> Vec<u8> {
    let mut row = PickleRow::with_capacity(event.text().len() / 2 + 64);
    match Event::walk_text(event.text(), &mut row) {
        Ok(()) => row.finish(),
        Err(err) => {
            // Cannot happen: the event's text was read whole, with the same parser and
            // limits, when the event was made. Said loudly, and the callback gets no row.
            tracing::error!(
                logger = "engine",
                "EventLogEntry {} could not be encoded for its plugin process: {err}",
                event.id
            );
            let mut out = Vec::new();
            pickle::none(&mut out);
            Extras::default().write(&mut out);
            out
        }
    }
}

/// The conversions of a row the runner makes itself (rare; most rows have none).
#[derive(Debug, Default)]
pub(crate) struct Extras<'a> {
    /// Strings that may be datetimes (non-ASCII digits, far years): the runner applies
    /// `shotgun_api3`'s own test and conversion to them.
    pub(crate) maybe_dates: Vec<Vec<PathStep<'a>>>,
    /// Top-level keys whose string holds `&lt;`, which the client turns into `<`.
    pub(crate) unescape: Vec<Cow<'a, str>>,
    /// Top-level keys holding a `link_type: local` file link, which gets `local_path`/`url`.
    pub(crate) local_links: Vec<Cow<'a, str>>,
}

impl Extras<'_> {
    /// `None` when there is nothing to do, else a dict of the non-empty lists. A path is a
    /// top-level key, or a list of keys and indexes.
    fn write(&self, out: &mut Vec<u8>) {
        if self.maybe_dates.is_empty() && self.unescape.is_empty() && self.local_links.is_empty() {
            pickle::none(out);
            return;
        }
        let keys = |out: &mut Vec<u8>, name: &str, keys: &[Cow<'_, str>]| {
            if !keys.is_empty() {
                pickle::text(out, name);
                pickle::list(out, |out| {
                    for key in keys {
                        pickle::text(out, key);
                    }
                });
            }
        };
        pickle::dict(out, |out| {
            if !self.maybe_dates.is_empty() {
                pickle::text(out, "maybe_dates");
                pickle::list(out, |out| {
                    for path in &self.maybe_dates {
                        write_path(out, path);
                    }
                });
            }
            keys(out, "unescape", &self.unescape);
            keys(out, "local_links", &self.local_links);
        });
    }
}

fn write_path(out: &mut Vec<u8>, path: &[PathStep<'_>]) {
    let step = |out: &mut Vec<u8>, step: &PathStep<'_>| match step {
        PathStep::Key(key) => pickle::text(out, key),
        PathStep::Index(idx) => pickle::int(out, i64::try_from(*idx).unwrap_or(i64::MAX)),
    };
    if let [PathStep::Key(key)] = path {
        pickle::text(out, key);
        return;
    }
    pickle::list(out, |out| {
        for each in path {
            step(out, each);
        }
    });
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
