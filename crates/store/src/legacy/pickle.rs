//! Walks the unpickled value of a state file into cursors, decoding pickled `datetime`s by shape.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use serde_pickle::{DeOptions, ErrorCode, HashableValue, Value};

use super::{LegacyState, ParseError};
use crate::Cursor;

pub(super) fn decode(bytes: &[u8], tz: &TimeZone) -> Result<LegacyState, ParseError> {
    let value = serde_pickle::value_from_slice(bytes, DeOptions::new().keep_restore_state())
        .map_err(|err| match err {
            serde_pickle::Error::Eval(ErrorCode::EOFWhileParsing, _) => ParseError::Truncated,
            serde_pickle::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                ParseError::Truncated
            }
            other => ParseError::NotPickle(other.to_string()),
        })?;
    let Value::Dict(collections) = value else {
        return Err(shape("the top level", "expected a dict of plugin paths"));
    };
    let mut out = BTreeMap::new();
    for (path_key, plugins) in collections {
        let path = text_key(&path_key, "the top level")?;
        let at = format!("[{path:?}]");
        let Value::Dict(plugins) = plugins else {
            return Err(shape(&at, "expected a dict of plugin names"));
        };
        let mut cursors = BTreeMap::new();
        for (name_key, state) in plugins {
            let name = text_key(&name_key, &at)?;
            let at = format!("{at}[{name:?}]");
            cursors.insert(name, cursor(state, &at, tz)?);
        }
        out.insert(path, cursors);
    }
    Ok(LegacyState::Collections(out))
}

/// `(lastEventId | None, {id: datetime})`, or a bare id / None from before backlogs existed.
fn cursor(state: Value, at: &str, tz: &TimeZone) -> Result<Cursor, ParseError> {
    let items = match state {
        Value::Tuple(items) | Value::List(items) => items,
        Value::None => return Ok(Cursor::default()),
        Value::I64(id) => return Ok(Cursor::at(id)),
        _ => return Err(shape(at, "expected a (last id, backlog) pair")),
    };
    let [last, backlog] = <[Value; 2]>::try_from(items)
        .map_err(|items| shape(at, &format!("expected a pair, found {} items", items.len())))?;
    let last_id = match last {
        Value::None => None,
        Value::I64(id) => Some(id),
        _ => return Err(shape(&format!("{at}[0]"), "expected an event id or None")),
    };
    let backlog = match backlog {
        Value::Dict(entries) => entries,
        Value::None => BTreeMap::new(),
        _ => {
            return Err(shape(
                &format!("{at}[1]"),
                "expected a dict of event id to datetime",
            ));
        }
    };
    let mut deadlines = BTreeMap::new();
    for (id, when) in backlog {
        let HashableValue::I64(id) = id else {
            return Err(shape(
                &format!("{at}[1]"),
                "a backlog key is not an event id",
            ));
        };
        let at = format!("{at}[1][{id}]");
        deadlines.insert(id, datetime(when, &at, tz)?);
    }
    Ok(Cursor {
        last_id,
        backlog: deadlines,
    })
}

/// A pickled `datetime.datetime` as kept by `keep_restore_state`: the REDUCE arguments
/// `(state_bytes[, tzinfo])`. Naive values are read in `tz`.
fn datetime(value: Value, at: &str, tz: &TimeZone) -> Result<Timestamp, ParseError> {
    let Value::Tuple(mut args) = value else {
        return Err(shape(at, "expected a datetime"));
    };
    if args.is_empty() || args.len() > 2 {
        return Err(shape(at, "expected a datetime"));
    }
    let tzinfo = if args.len() == 2 { args.pop() } else { None };
    let state = args
        .pop()
        .and_then(state_bytes)
        .ok_or_else(|| shape(at, "expected a datetime's 10-byte state"))?;
    let civil = civil_from_state(&state).ok_or_else(|| shape(at, "not a valid datetime"))?;
    let zone = match tzinfo {
        None => tz.clone(),
        Some(info) => TimeZone::fixed(
            fixed_offset(info)
                .ok_or_else(|| shape(at, "unsupported tzinfo (only fixed offsets)"))?,
        ),
    };
    civil
        .to_zoned(zone)
        .map(|zoned| zoned.timestamp())
        .map_err(|err| shape(at, &format!("not a valid local time: {err}")))
}

/// The state bytes: raw bytes (protocol 3+, or a Python 2 str), or the protocol-2 form of Python 3
/// bytes, `_codecs.encode(latin1_text, "latin1")`.
fn state_bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::Bytes(bytes) => Some(bytes),
        Value::Tuple(parts) => match parts.as_slice() {
            [Value::String(text), Value::String(codec)]
                if codec == "latin1" || codec == "latin-1" =>
            {
                text.chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect()
            }
            _ => None,
        },
        Value::String(text) => text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect(),
        _ => None,
    }
}

/// CPython's datetime pickle state: year (2 bytes, big endian), month (high bit = fold), day,
/// hour, minute, second, microsecond (3 bytes, big endian).
fn civil_from_state(b: &[u8]) -> Option<DateTime> {
    let [y0, y1, month, day, hour, minute, second, u0, u1, u2] = <[u8; 10]>::try_from(b).ok()?;
    let year = i16::try_from(u16::from(y0) << 8 | u16::from(y1)).ok()?;
    let micros = i32::from(u0) << 16 | i32::from(u1) << 8 | i32::from(u2);
    DateTime::new(
        year,
        i8::try_from(month & 0x7F).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        micros.checked_mul(1000)?,
    )
    .ok()
}

/// `datetime.timezone(timedelta(days, seconds, micros))` as kept by `keep_restore_state`:
/// `((days, seconds, micros),)`.
fn fixed_offset(info: Value) -> Option<Offset> {
    let Value::Tuple(outer) = info else {
        return None;
    };
    let [Value::Tuple(delta)] = outer.as_slice() else {
        return None;
    };
    let (days, seconds) = match delta.as_slice() {
        [Value::I64(d), Value::I64(s), ..] => (*d, *s),
        _ => return None,
    };
    let total = days.checked_mul(86_400)?.checked_add(seconds)?;
    Offset::from_seconds(i32::try_from(total).ok()?).ok()
}

fn text_key(key: &HashableValue, at: &str) -> Result<String, ParseError> {
    match key {
        HashableValue::String(text) => Ok(text.clone()),
        // Python 2 `str` keys arrive as bytes.
        HashableValue::Bytes(bytes) => {
            String::from_utf8(bytes.clone()).map_err(|_| shape(at, "a key is not valid UTF-8 text"))
        }
        _ => Err(shape(at, "a key is not text")),
    }
}

fn shape(location: &str, detail: &str) -> ParseError {
    ParseError::Shape(location.to_owned(), detail.to_owned())
}
