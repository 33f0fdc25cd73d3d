//! Upstream's `matchEvents` filter, with its quirks, evaluated in Rust.

use std::collections::BTreeMap;

use serde_json::Value;

/// A callback's `matchEvents` argument.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MatchEvents {
    /// `None` or any falsy value: every event matches.
    #[default]
    All,
    /// `{event_type: values}`. When a `'*'` key is present, upstream uses only its value
    /// for every event type; [`MatchEvents::from_json`] keeps just that entry then.
    Types(BTreeMap<String, AttributeFilter>),
}

/// The value side of a `matchEvents` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeFilter {
    /// `None`, or a collection containing `'*'`: any attribute, including none.
    Any,
    /// A list (tuple, set) of attribute names, or a dict whose keys are: `attribute_name` must
    /// be set and be one of them. Items that are not strings are kept out: upstream compares
    /// them with `==` and they never equal a name.
    OneOf(Vec<String>),
    /// A string: upstream tests `attribute_name in value`, which for a string is a substring test.
    Substring(String),
}

/// Why a `matchEvents` value cannot be used. Upstream crashes its main loop with a `TypeError`
/// at dispatch time on these; we refuse the registration instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchEventsError {
    /// The top level must be a dict (or a falsy value).
    #[error(
        "matchEvents is {0}: it must be a dict such as {{'Shotgun_Shot_Change': ['sg_status_list']}} \
         (or None for every event); upstream indexes it by event type and crashes on anything else"
    )]
    NotADict(String),
    /// A value upstream tests `'*' in value` on and that is not a container.
    #[error(
        "matchEvents[{key:?}] is {value}: upstream tests `'*' in` it for every {key} event and \
         crashes (a {kind} is not a container); use None for any attribute or a list of \
         attribute names"
    )]
    BadValue {
        /// The event type key.
        key: String,
        /// The offending value, as JSON.
        value: String,
        /// Its JSON kind (`number`, `boolean`).
        kind: &'static str,
    },
}

impl MatchEvents {
    /// Reads `matchEvents` as the Python side serialised it to JSON (tuples and sets become lists).
    ///
    /// # Errors
    /// Returns [`MatchEventsError`] for a non-empty non-dict, or a value that is not None,
    /// a string or a list of strings.
    pub fn from_json(value: &Value) -> Result<MatchEvents, MatchEventsError> {
        if is_falsy(value) {
            return Ok(MatchEvents::All);
        }
        let Value::Object(map) = value else {
            return Err(MatchEventsError::NotADict(value.to_string()));
        };
        let mut types = BTreeMap::new();
        // With a '*' key upstream looks at nothing else, so nothing else can crash it.
        if let Some(star) = map.get("*") {
            types.insert("*".to_owned(), AttributeFilter::from_json("*", star)?);
            return Ok(MatchEvents::Types(types));
        }
        for (key, value) in map {
            types.insert(key.clone(), AttributeFilter::from_json(key, value)?);
        }
        Ok(MatchEvents::Types(types))
    }

    /// Whether an event of this type and attribute passes the filter.
    pub fn matches(&self, event_type: &str, attribute_name: Option<&str>) -> bool {
        let MatchEvents::Types(types) = self else {
            return true;
        };
        let filter = match types.get("*") {
            Some(star) => star,
            None => match types.get(event_type) {
                Some(filter) => filter,
                None => return false,
            },
        };
        filter.matches(attribute_name)
    }
}

impl AttributeFilter {
    fn from_json(key: &str, value: &Value) -> Result<AttributeFilter, MatchEventsError> {
        let names = |items: &mut dyn Iterator<Item = &str>| {
            let mut names = Vec::new();
            for item in items {
                if item == "*" {
                    return AttributeFilter::Any;
                }
                names.push(item.to_owned());
            }
            AttributeFilter::OneOf(names)
        };
        match value {
            Value::Null => Ok(AttributeFilter::Any),
            Value::String(s) if s.contains('*') => Ok(AttributeFilter::Any),
            Value::String(s) => Ok(AttributeFilter::Substring(s.clone())),
            // `'code' in ['id', 1]` is a plain `==` scan upstream: non-strings never match.
            Value::Array(items) => Ok(names(&mut items.iter().filter_map(Value::as_str))),
            // `in` on a dict tests its keys.
            Value::Object(map) => Ok(names(&mut map.keys().map(String::as_str))),
            Value::Bool(_) | Value::Number(_) => Err(MatchEventsError::BadValue {
                key: key.to_owned(),
                value: value.to_string(),
                kind: if value.is_boolean() {
                    "boolean"
                } else {
                    "number"
                },
            }),
        }
    }

    fn matches(&self, attribute_name: Option<&str>) -> bool {
        match self {
            AttributeFilter::Any => true,
            _ if attribute_name.is_none_or(str::is_empty) => false,
            AttributeFilter::OneOf(names) => {
                names.iter().any(|n| Some(n.as_str()) == attribute_name)
            }
            AttributeFilter::Substring(s) => attribute_name.is_some_and(|a| s.contains(a)),
        }
    }
}

fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests;
