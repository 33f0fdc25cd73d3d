//! An event's row from the site's JSON text straight to pickle, in one pass that builds no
//! parsed tree: serde_json's parser calls back with each key and value, and each is written
//! at once, datetimes as `date(seconds)` calls (the rules are [`super::classify`]'s).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{DateKind, Extras, Step, classify, pickle};

/// Writes the JSON object `text` to `out` as the row a callback gets, and notes in `extras`
/// what the runner converts itself.
///
/// # Errors
/// The parser's, for text that is not one JSON object (an event's text was read as one
/// when the event was made, with the same parser and limits).
pub(super) fn write<'t>(
    text: &'t str,
    out: &mut Vec<u8>,
    extras: &mut Extras<'t>,
) -> Result<(), serde_json::Error> {
    let mut parser = serde_json::Deserializer::from_str(text);
    let mut writer = Writer {
        out,
        path: Vec::new(),
        maybe: Vec::new(),
    };
    let top = TopRow {
        writer: &mut writer,
        extras: Vec::new(),
    }
    .deserialize(&mut parser)?;
    parser.end()?;
    extras.maybe_dates = writer.maybe;
    for (key, seen) in top {
        match seen {
            Seen::Text { lt: true, .. } => extras.unescape.push(key),
            Seen::Map { local_link: true } => extras.local_links.push(key),
            _ => {}
        }
    }
    Ok(())
}

/// Where the writing is: the output, the path to the value being written, and the paths of
/// the strings only the client's own test can judge.
struct Writer<'t, 'o> {
    out: &'o mut Vec<u8>,
    path: Vec<Step<'t>>,
    maybe: Vec<Vec<Step<'t>>>,
}

/// What a written value was, as far as the caller needs to know.
#[derive(Clone, Copy)]
enum Seen {
    /// A string: whether it holds `&lt;`, whether it is `local`.
    Text {
        lt: bool,
        local: bool,
    },
    /// An object: whether its `link_type` is `local`.
    Map {
        local_link: bool,
    },
    Other,
}

/// The row itself: an object, whose top-level keys and what their values were are returned
/// (the runner's fixes apply to top-level keys only).
struct TopRow<'w, 't, 'o> {
    writer: &'w mut Writer<'t, 'o>,
    extras: Vec<(Cow<'t, str>, Seen)>,
}

impl<'t> DeserializeSeed<'t> for TopRow<'_, 't, '_> {
    type Value = Vec<(Cow<'t, str>, Seen)>;

    fn deserialize<D: Deserializer<'t>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'t> Visitor<'t> for TopRow<'_, 't, '_> {
    type Value = Vec<(Cow<'t, str>, Seen)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an EventLogEntry object")
    }

    fn visit_map<A: MapAccess<'t>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let start = pickle::open_dict(self.writer.out);
        while let Some(key) = map.next_key_seed(Key)? {
            let seen = self.writer.entry(&mut map, key.clone())?;
            if matches!(
                seen,
                Seen::Text { lt: true, .. } | Seen::Map { local_link: true }
            ) {
                self.extras.push((key, seen));
            }
        }
        pickle::close_dict(self.writer.out, start);
        Ok(self.extras)
    }
}

impl<'t> Writer<'t, '_> {
    /// Writes one key and its value, the value at its place in the path.
    fn entry<A: MapAccess<'t>>(
        &mut self,
        map: &mut A,
        key: Cow<'t, str>,
    ) -> Result<Seen, A::Error> {
        pickle::text(self.out, &key);
        self.path.push(Step::Key(key));
        let seen = map.next_value_seed(Value(self))?;
        self.path.pop();
        Ok(seen)
    }
}

/// A key, borrowed from the text unless it had to be unescaped.
struct Key;

impl<'t> DeserializeSeed<'t> for Key {
    type Value = Cow<'t, str>;

    fn deserialize<D: Deserializer<'t>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'t> Visitor<'t> for Key {
    type Value = Cow<'t, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, key: &'t str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

/// Any value, written where the path says.
struct Value<'w, 't, 'o>(&'w mut Writer<'t, 'o>);

impl<'t> DeserializeSeed<'t> for Value<'_, 't, '_> {
    type Value = Seen;

    fn deserialize<D: Deserializer<'t>>(self, deserializer: D) -> Result<Seen, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'t> Visitor<'t> for Value<'_, 't, '_> {
    type Value = Seen;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Seen, E> {
        pickle::none(self.0.out);
        Ok(Seen::Other)
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Seen, E> {
        pickle::boolean(self.0.out, flag);
        Ok(Seen::Other)
    }

    fn visit_i64<E>(self, int: i64) -> Result<Seen, E> {
        pickle::int(self.0.out, int);
        Ok(Seen::Other)
    }

    fn visit_u64<E>(self, int: u64) -> Result<Seen, E> {
        match i64::try_from(int) {
            Ok(int) => pickle::int(self.0.out, int),
            Err(_) => pickle::big_int(self.0.out, int),
        }
        Ok(Seen::Other)
    }

    fn visit_f64<E>(self, float: f64) -> Result<Seen, E> {
        // What json.loads gives for the shortest text of this double.
        pickle::float(self.0.out, float);
        Ok(Seen::Other)
    }

    fn visit_str<E>(self, text: &str) -> Result<Seen, E> {
        let writer = self.0;
        match classify(text) {
            DateKind::Date(seconds) => pickle::date(writer.out, seconds),
            DateKind::Maybe => {
                writer.maybe.push(writer.path.clone());
                pickle::text(writer.out, text);
            }
            DateKind::No => pickle::text(writer.out, text),
        }
        // Only a top-level string is unescaped, and only a top-level object can be a link.
        let depth = writer.path.len();
        Ok(Seen::Text {
            lt: depth == 1 && text.contains("&lt;"),
            local: depth == 2 && text == "local",
        })
    }

    fn visit_seq<A: SeqAccess<'t>>(self, mut seq: A) -> Result<Seen, A::Error> {
        let writer = self.0;
        let start = pickle::open_list(writer.out);
        let mut index = 0;
        loop {
            writer.path.push(Step::Index(index));
            let item = seq.next_element_seed(Value(writer))?;
            writer.path.pop();
            if item.is_none() {
                break;
            }
            index += 1;
        }
        pickle::close_list(writer.out, start);
        Ok(Seen::Other)
    }

    fn visit_map<A: MapAccess<'t>>(self, mut map: A) -> Result<Seen, A::Error> {
        let writer = self.0;
        let start = pickle::open_dict(writer.out);
        let mut local_link = false;
        while let Some(key) = map.next_key_seed(Key)? {
            let is_link_type = key == "link_type";
            let seen = writer.entry(&mut map, key)?;
            if is_link_type {
                // As `Map::get`: the last of a repeated key counts.
                local_link = matches!(seen, Seen::Text { local: true, .. });
            }
        }
        pickle::close_dict(writer.out, start);
        Ok(Seen::Map { local_link })
    }
}
