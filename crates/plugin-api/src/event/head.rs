//! One pass over a row's JSON text: the fields the daemon reads on every event are taken on
//! the way, and every key and value goes to a [`RowSink`] (the plugin host writes its pickle
//! from them), so the row is parsed once and never into maps.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::Links;

/// One step of the path from the row to a value: a key, or an index into a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep<'t> {
    /// A key of an object (borrowed from the row's text unless it was escaped there).
    Key(Cow<'t, str>),
    /// An index into a list.
    Index(usize),
}

/// What a walk over a row hands on, in the text's order, with the path to each value (the
/// row itself is the empty path). A key comes before its value.
#[allow(
    unused_variables,
    reason = "each method does nothing unless a sink says otherwise"
)]
pub trait RowSink<'t> {
    /// An object starts at `path`.
    fn open_map(&mut self, path: &[PathStep<'t>]) {}
    /// The next key of the object being written.
    fn key(&mut self, key: &str) {}
    /// The object at `path` ends.
    fn close_map(&mut self, path: &[PathStep<'t>]) {}
    /// A list starts at `path`.
    fn open_list(&mut self, path: &[PathStep<'t>]) {}
    /// The list at `path` ends.
    fn close_list(&mut self, path: &[PathStep<'t>]) {}
    /// `null` at `path`.
    fn null(&mut self, path: &[PathStep<'t>]) {}
    /// `true` or `false` at `path`.
    fn boolean(&mut self, path: &[PathStep<'t>], flag: bool) {}
    /// An integer at `path` that fits an `i64`.
    fn int(&mut self, path: &[PathStep<'t>], int: i64) {}
    /// An integer at `path` above `i64::MAX`.
    fn big_int(&mut self, path: &[PathStep<'t>], int: u64) {}
    /// Any other number at `path`.
    fn float(&mut self, path: &[PathStep<'t>], float: f64) {}
    /// A string at `path`.
    fn text(&mut self, path: &[PathStep<'t>], text: &str) {}
}

/// A sink that takes nothing: only the fields are read.
pub(super) struct NoSink;

impl RowSink<'_> for NoSink {}

/// A value as far as the row's fields need it: an integer (as `Value::as_i64` reads one),
/// a string, null, or anything else.
#[derive(Default)]
pub(super) enum Scalar<'t> {
    Int(i64),
    Text(Cow<'t, str>),
    Null,
    #[default]
    Other,
}

/// The row's own fields (`None`: the key is not there).
#[derive(Default)]
pub(super) struct Fields<'t> {
    pub(super) id: Option<Scalar<'t>>,
    pub(super) event_type: Option<Scalar<'t>>,
    pub(super) attribute_name: Option<Scalar<'t>>,
    pub(super) created_at: Option<Scalar<'t>>,
}

/// Walks the JSON object `text` into `sink`, and returns the row's fields and links. As in
/// a parsed object, a key given twice counts with its last value; the text is read with the
/// limits of a full parse (nesting included).
///
/// # Errors
/// The parser's, for text that is not one JSON object.
pub(super) fn read<'t, S: RowSink<'t>>(
    text: &'t str,
    sink: &mut S,
) -> Result<(Fields<'t>, Links), serde_json::Error> {
    let mut parser = serde_json::Deserializer::from_str(text);
    let mut walk = Walk {
        sink,
        path: Vec::new(),
        fields: Fields::default(),
        parts: Default::default(),
    };
    Value(&mut walk).deserialize_top(&mut parser)?;
    parser.end()?;
    let links = walk.links();
    Ok((walk.fields, links))
}

struct Walk<'s, 't, S> {
    sink: &'s mut S,
    path: Vec<PathStep<'t>>,
    fields: Fields<'t>,
    /// `project`, `user` and `meta.sudo_actual_user` as read so far.
    parts: [Link<'t>; 3],
}

/// A link's `type` and `id`, as `Value::as_str` and `as_i64` read them.
#[derive(Default)]
struct Link<'t> {
    kind: Option<Cow<'t, str>>,
    id: Option<i64>,
}

/// Which of the row's fields a value is, by its path.
#[derive(Clone, Copy)]
enum Place {
    Id,
    EventType,
    AttributeName,
    CreatedAt,
    /// `project`, `user` or `meta.sudo_actual_user` itself.
    Link(usize),
    /// `type` or `id` inside one of them.
    LinkType(usize),
    LinkId(usize),
    /// `meta`, for its `sudo_actual_user`.
    Meta,
    Elsewhere,
}

const PROJECT: usize = 0;
const USER: usize = 1;
const SUDO: usize = 2;

fn key<'a>(step: &'a PathStep<'_>) -> &'a str {
    match step {
        PathStep::Key(key) => key,
        PathStep::Index(_) => "",
    }
}

fn place(path: &[PathStep<'_>]) -> Place {
    let link = |which, rest: &[PathStep<'_>]| match rest {
        [] => Place::Link(which),
        [step] => match key(step) {
            "type" => Place::LinkType(which),
            "id" => Place::LinkId(which),
            _ => Place::Elsewhere,
        },
        _ => Place::Elsewhere,
    };
    let Some((first, rest)) = path.split_first() else {
        return Place::Elsewhere;
    };
    match (key(first), rest) {
        ("id", []) => Place::Id,
        ("event_type", []) => Place::EventType,
        ("attribute_name", []) => Place::AttributeName,
        ("created_at", []) => Place::CreatedAt,
        ("project", rest) => link(PROJECT, rest),
        ("user", rest) => link(USER, rest),
        ("meta", []) => Place::Meta,
        ("meta", [second, rest @ ..]) if key(second) == "sudo_actual_user" => link(SUDO, rest),
        _ => Place::Elsewhere,
    }
}

impl<'t, S> Walk<'_, 't, S> {
    /// A value starts at the current path: a field takes it (`scalar` is asked only then),
    /// and a link it replaces starts over, so the last of a repeated key counts whatever
    /// its type.
    fn arrive(&mut self, scalar: impl FnOnce() -> Scalar<'t>) {
        if self.path.is_empty() || self.path.len() > 3 {
            return;
        }
        match place(&self.path) {
            Place::Id => self.fields.id = Some(scalar()),
            Place::EventType => self.fields.event_type = Some(scalar()),
            Place::AttributeName => self.fields.attribute_name = Some(scalar()),
            Place::CreatedAt => self.fields.created_at = Some(scalar()),
            Place::Link(which) => self.parts[which] = Link::default(),
            Place::LinkType(which) => {
                self.parts[which].kind = match scalar() {
                    Scalar::Text(text) => Some(text),
                    _ => None,
                };
            }
            Place::LinkId(which) => {
                self.parts[which].id = match scalar() {
                    Scalar::Int(id) => Some(id),
                    _ => None,
                };
            }
            Place::Meta => self.parts[SUDO] = Link::default(),
            Place::Elsewhere => {}
        }
    }

    fn links(&mut self) -> Links {
        let [project, user, sudo] = std::mem::take(&mut self.parts);
        let pair = |link: Link<'_>| Some((link.kind?.into_owned(), link.id?));
        Links {
            project_id: project.id,
            user: pair(user),
            sudo_actual_user: pair(sudo),
        }
    }
}

/// Any value, at the walk's current path.
struct Value<'w, 's, 't, S>(&'w mut Walk<'s, 't, S>);

impl<'t, S: RowSink<'t>> DeserializeSeed<'t> for Value<'_, '_, 't, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'t>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'t, S: RowSink<'t>> Value<'_, '_, 't, S> {
    /// The row itself: an object.
    fn deserialize_top<D: Deserializer<'t>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'t, S: RowSink<'t>> Visitor<'t> for Value<'_, '_, 't, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        let walk = self.0;
        walk.arrive(|| Scalar::Null);
        walk.sink.null(&walk.path);
        Ok(())
    }

    fn visit_bool<E>(self, flag: bool) -> Result<(), E> {
        let walk = self.0;
        walk.arrive(|| Scalar::Other);
        walk.sink.boolean(&walk.path, flag);
        Ok(())
    }

    fn visit_i64<E>(self, int: i64) -> Result<(), E> {
        let walk = self.0;
        walk.arrive(|| Scalar::Int(int));
        walk.sink.int(&walk.path, int);
        Ok(())
    }

    fn visit_u64<E>(self, int: u64) -> Result<(), E> {
        let walk = self.0;
        match i64::try_from(int) {
            Ok(small) => {
                walk.arrive(|| Scalar::Int(small));
                walk.sink.int(&walk.path, small);
            }
            Err(_) => {
                walk.arrive(|| Scalar::Other);
                walk.sink.big_int(&walk.path, int);
            }
        }
        Ok(())
    }

    fn visit_f64<E>(self, float: f64) -> Result<(), E> {
        let walk = self.0;
        walk.arrive(|| Scalar::Other);
        walk.sink.float(&walk.path, float);
        Ok(())
    }

    fn visit_borrowed_str<E>(self, text: &'t str) -> Result<(), E> {
        let walk = self.0;
        walk.arrive(|| Scalar::Text(Cow::Borrowed(text)));
        walk.sink.text(&walk.path, text);
        Ok(())
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        let walk = self.0;
        walk.arrive(|| Scalar::Text(Cow::Owned(text.to_owned())));
        walk.sink.text(&walk.path, text);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'t>>(self, mut seq: A) -> Result<(), A::Error> {
        let walk = self.0;
        walk.arrive(|| Scalar::Other);
        walk.sink.open_list(&walk.path);
        let mut index = 0;
        loop {
            walk.path.push(PathStep::Index(index));
            let item = seq.next_element_seed(Value(&mut *walk))?;
            walk.path.pop();
            if item.is_none() {
                break;
            }
            index += 1;
        }
        walk.sink.close_list(&walk.path);
        Ok(())
    }

    fn visit_map<A: MapAccess<'t>>(self, mut map: A) -> Result<(), A::Error> {
        let walk = self.0;
        walk.arrive(|| Scalar::Other);
        walk.sink.open_map(&walk.path);
        while let Some(key) = map.next_key_seed(Key)? {
            walk.sink.key(&key);
            walk.path.push(PathStep::Key(key));
            let value = map.next_value_seed(Value(&mut *walk));
            walk.path.pop();
            value?;
        }
        walk.sink.close_map(&walk.path);
        Ok(())
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
