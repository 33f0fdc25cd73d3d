//! The fields of a row the daemon reads on every event, taken from its JSON text in one pass
//! that builds nothing else: the rest of the row is skipped, not parsed into maps.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::Links;

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

impl Scalar<'_> {
    /// The scalar of a parsed value.
    pub(super) fn of(value: Option<&Value>) -> Option<Scalar<'_>> {
        Some(match value? {
            Value::Null => Scalar::Null,
            Value::String(text) => Scalar::Text(Cow::Borrowed(text)),
            value => value.as_i64().map_or(Scalar::Other, Scalar::Int),
        })
    }
}

/// The row's own fields (`None`: the key is not there).
#[derive(Default)]
pub(super) struct Fields<'t> {
    pub(super) id: Option<Scalar<'t>>,
    pub(super) event_type: Option<Scalar<'t>>,
    pub(super) attribute_name: Option<Scalar<'t>>,
    pub(super) created_at: Option<Scalar<'t>>,
}

/// The fields and links of the JSON object `text`. As in a parsed object, a key given twice
/// counts with its last value; what is skipped is still read through with the limits of a
/// full parse (nesting included), so a text read here parses whole.
///
/// # Errors
/// The parser's, for text that is not one JSON object.
pub(super) fn read(text: &str) -> Result<(Fields<'_>, Links), serde_json::Error> {
    let head = serde_json::from_str::<Head<'_>>(text)?;
    Ok((head.fields, head.links))
}

/// A value read through and dropped. Unlike serde's `IgnoredAny`, which serde_json skips
/// without its nesting limit, it is read as a parse would read it.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skip, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                while map.next_entry::<IgnoredAny, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        deserializer.deserialize_any(Any)
    }
}

/// An enum of the keys a visitor reads, `Other` for the rest.
macro_rules! keys {
    ($name:ident { $($text:literal => $key:ident,)* }) => {
        enum $name {
            $($key,)*
            Other,
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                struct Name;
                impl Visitor<'_> for Name {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_str<E>(self, name: &str) -> Result<$name, E> {
                        Ok(match name {
                            $($text => $name::$key,)*
                            _ => $name::Other,
                        })
                    }
                }
                deserializer.deserialize_str(Name)
            }
        }
    };
}

keys!(RowKey {
    "id" => Id,
    "event_type" => EventType,
    "attribute_name" => AttributeName,
    "created_at" => CreatedAt,
    "project" => Project,
    "user" => User,
    "meta" => Meta,
});

keys!(LinkKey {
    "type" => Type,
    "id" => Id,
});

keys!(MetaKey {
    "sudo_actual_user" => SudoActualUser,
});

struct Head<'t> {
    fields: Fields<'t>,
    links: Links,
}

impl<'de> Deserialize<'de> for Head<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Head<'de>, D::Error> {
        struct Row;
        impl<'de> Visitor<'de> for Row {
            type Value = Head<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an EventLogEntry object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head<'de>, A::Error> {
                let mut fields = Fields::default();
                let mut links = Links::default();
                while let Some(key) = map.next_key::<RowKey>()? {
                    match key {
                        RowKey::Id => fields.id = Some(map.next_value()?),
                        RowKey::EventType => fields.event_type = Some(map.next_value()?),
                        RowKey::AttributeName => fields.attribute_name = Some(map.next_value()?),
                        RowKey::CreatedAt => fields.created_at = Some(map.next_value()?),
                        RowKey::Project => links.project_id = map.next_value::<Link<'_>>()?.id,
                        RowKey::User => links.user = map.next_value::<Link<'_>>()?.pair(),
                        RowKey::Meta => {
                            links.sudo_actual_user = map.next_value::<Meta<'_>>()?.0.pair();
                        }
                        RowKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Head { fields, links })
            }
        }
        deserializer.deserialize_map(Row)
    }
}

/// A visitor of any value that looks into `$map` objects only; every other value gives
/// `$other`.
macro_rules! lenient {
    ($value:ident, |$scalar:ident| $other:expr, |$map:ident| $body:expr) => {
        impl<'de> Deserialize<'de> for $value<'de> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$value<'de>, D::Error> {
                struct Any;
                impl<'de> Visitor<'de> for Any {
                    type Value = $value<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("any value")
                    }
                    fn visit_bool<E>(self, _: bool) -> Result<$value<'de>, E> {
                        let $scalar = Scalar::Other;
                        Ok($other)
                    }
                    fn visit_i64<E>(self, int: i64) -> Result<$value<'de>, E> {
                        let $scalar = Scalar::Int(int);
                        Ok($other)
                    }
                    fn visit_u64<E>(self, int: u64) -> Result<$value<'de>, E> {
                        let $scalar = i64::try_from(int).map_or(Scalar::Other, Scalar::Int);
                        Ok($other)
                    }
                    fn visit_f64<E>(self, _: f64) -> Result<$value<'de>, E> {
                        let $scalar = Scalar::Other;
                        Ok($other)
                    }
                    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<$value<'de>, E> {
                        let $scalar = Scalar::Text(Cow::Borrowed(text));
                        Ok($other)
                    }
                    fn visit_str<E>(self, text: &str) -> Result<$value<'de>, E> {
                        let $scalar = Scalar::Text(Cow::Owned(text.to_owned()));
                        Ok($other)
                    }
                    fn visit_unit<E>(self) -> Result<$value<'de>, E> {
                        let $scalar = Scalar::Null;
                        Ok($other)
                    }
                    fn visit_seq<A: SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<$value<'de>, A::Error> {
                        while seq.next_element::<Skip>()?.is_some() {}
                        let $scalar = Scalar::Other;
                        Ok($other)
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut $map: A,
                    ) -> Result<$value<'de>, A::Error> {
                        $body
                    }
                }
                deserializer.deserialize_any(Any)
            }
        }
    };
}

lenient!(Scalar, |scalar| scalar, |map| {
    while map.next_entry::<IgnoredAny, Skip>()?.is_some() {}
    Ok(Scalar::Other)
});

/// `{"type": ..., "id": ...}`, read as `Value::as_str` and `as_i64` read them.
#[derive(Default)]
struct Link<'t> {
    kind: Option<Cow<'t, str>>,
    id: Option<i64>,
}

impl Link<'_> {
    fn pair(self) -> Option<(String, i64)> {
        Some((self.kind?.into_owned(), self.id?))
    }
}

lenient!(Link, |_scalar| Link::default(), |map| {
    let mut link = Link::default();
    while let Some(key) = map.next_key::<LinkKey>()? {
        match key {
            LinkKey::Type => {
                link.kind = match map.next_value::<Scalar<'_>>()? {
                    Scalar::Text(text) => Some(text),
                    _ => None,
                };
            }
            LinkKey::Id => {
                link.id = match map.next_value::<Scalar<'_>>()? {
                    Scalar::Int(id) => Some(id),
                    _ => None,
                };
            }
            LinkKey::Other => {
                map.next_value::<Skip>()?;
            }
        }
    }
    Ok(link)
});

/// `meta`, for its `sudo_actual_user` only.
#[derive(Default)]
struct Meta<'t>(Link<'t>);

lenient!(Meta, |_scalar| Meta::default(), |map| {
    let mut meta = Meta::default();
    while let Some(key) = map.next_key::<MetaKey>()? {
        match key {
            MetaKey::SudoActualUser => meta.0 = map.next_value()?,
            MetaKey::Other => {
                map.next_value::<Skip>()?;
            }
        }
    }
    Ok(meta)
});
