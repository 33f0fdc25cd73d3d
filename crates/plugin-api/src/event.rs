//! The EventLogEntry row as the daemon and plugins see it.

use std::sync::OnceLock;

use jiff::Timestamp;
use serde_json::{Map, Value};

mod head;

pub use head::{PathStep, RowSink};

/// The fields upstream shotgunEvents asks for on every EventLogEntry read.
/// The site adds `type` on its own.
pub const EVENT_FIELDS: &[&str] = &[
    "id",
    "event_type",
    "attribute_name",
    "meta",
    "entity",
    "user",
    "project",
    "session_uuid",
    "created_at",
];

/// One EventLogEntry row, kept exactly as the site returned it, with the fields the daemon
/// needs parsed once. The row's JSON text is kept as it came; [`Event::raw`] parses it into an
/// object on first use only, since a Python plugin's host encodes the text itself and most
/// events never need the parsed object.
#[derive(Debug, Clone)]
pub struct Event {
    /// The row's id.
    pub id: i64,
    /// For example `Shotgun_Shot_Change`.
    pub event_type: String,
    /// The changed field for `_Change` events, else `None`.
    pub attribute_name: Option<String>,
    /// When the site wrote the row (site clock, second resolution).
    pub created_at: Timestamp,
    /// The row as the site sent it: a JSON object.
    text: Box<str>,
    /// `text` parsed, on first use.
    raw: OnceLock<Map<String, Value>>,
    links: Links,
    /// The plugin host's wire encoding of the row, made by the first host that sends the event
    /// and shared by every other one (the same `Arc<Event>` goes to every plugin).
    wire: Encoded,
}

/// The links the daemon's filters look at on every event.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Links {
    pub(crate) project_id: Option<i64>,
    pub(crate) user: Option<(String, i64)>,
    pub(crate) sudo_actual_user: Option<(String, i64)>,
}

/// Two events are equal when their rows are: the same fields with the same values, in the
/// same order (the JSON texts may differ in spacing).
impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.id == other.id
            && self.event_type == other.event_type
            && self.attribute_name == other.attribute_name
            && self.created_at == other.created_at
            && (self.text == other.text || self.raw() == other.raw())
    }
}

/// Bytes derived from an event once, on first use. Not part of the event's value: two events
/// compare equal whatever their caches hold.
#[derive(Default, Clone)]
struct Encoded(OnceLock<Box<[u8]>>);

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

/// Makes events of the rows a site read returns: [`Event::from_text`], or one that does
/// more in the same pass over the text (the plugin host's, which writes its pickle).
pub trait EventReader: Send + Sync {
    /// The event of one row's JSON text.
    ///
    /// # Errors
    /// As [`Event::from_text`].
    fn read(&self, text: &str) -> Result<Event, EventError>;
}

/// Why a row from the site could not be read as an event.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EventError {
    /// The row is not a JSON object.
    #[error("EventLogEntry row is not a JSON object: {0}")]
    NotAnObject(String),
    /// The row's text is not JSON the parser takes (nested too deep, say).
    #[error("EventLogEntry row could not be read: {0}")]
    Unreadable(String),
    /// A required field is missing or has the wrong type.
    #[error("EventLogEntry row {id:?} has a missing or malformed `{field}` field")]
    BadField {
        /// The row's id, when it could be read.
        id: Option<i64>,
        /// The field name.
        field: &'static str,
    },
}

impl Event {
    /// Reads a row as returned by an api3 `read` of EventLogEntry.
    ///
    /// # Errors
    /// Returns [`EventError`] when `id`, `event_type` or `created_at` is missing or malformed.
    pub fn from_json(value: Value) -> Result<Event, EventError> {
        let Value::Object(raw) = value else {
            return Err(EventError::NotAnObject(value.to_string()));
        };
        // A map with string keys always serializes; the text is then read as any row's is.
        let text = serde_json::to_string(&raw).unwrap_or_default();
        let (fields, links) = read_row(&text, &mut head::NoSink)?;
        let mut event = Event::checked(fields, links, text.as_str().into())?;
        event.raw = OnceLock::from(raw);
        Ok(event)
    }

    /// Reads a row from its JSON text, as it came in the site's reply; only the fields the
    /// daemon needs are parsed now.
    ///
    /// # Errors
    /// Returns [`EventError`] as [`Event::from_json`] does: [`EventError::NotAnObject`] for
    /// text that is not a JSON object, [`EventError::Unreadable`] for one the parser refuses.
    pub fn from_text(text: &str) -> Result<Event, EventError> {
        Event::from_text_with(text, &mut head::NoSink)
    }

    /// [`Event::from_text`], with every key and value of the row handed to `sink` on the
    /// way: one pass over the text serves both.
    ///
    /// # Errors
    /// As [`Event::from_text`].
    pub fn from_text_with<'t, S: RowSink<'t>>(
        text: &'t str,
        sink: &mut S,
    ) -> Result<Event, EventError> {
        let (fields, links) = read_row(text, sink)?;
        Event::checked(fields, links, text.into())
    }

    /// Hands every key and value of the row's JSON text `text` to `sink`, in order.
    ///
    /// # Errors
    /// As [`Event::from_text`], for text that is not one JSON object.
    pub fn walk_text<'t, S: RowSink<'t>>(text: &'t str, sink: &mut S) -> Result<(), EventError> {
        read_row(text, sink).map(|_| ())
    }

    fn checked(
        fields: head::Fields<'_>,
        links: Links,
        text: Box<str>,
    ) -> Result<Event, EventError> {
        use head::Scalar;
        let id = match fields.id {
            Some(Scalar::Int(id)) => Some(id),
            _ => None,
        };
        let bad = |field| EventError::BadField { id, field };
        let event_type = match fields.event_type {
            Some(Scalar::Text(text)) => text.into_owned(),
            _ => return Err(bad("event_type")),
        };
        let attribute_name = match fields.attribute_name {
            None | Some(Scalar::Null) => None,
            Some(Scalar::Text(name)) => Some(name.into_owned()),
            Some(_) => return Err(bad("attribute_name")),
        };
        let created_at = match &fields.created_at {
            Some(Scalar::Text(text)) => text.parse::<Timestamp>().ok(),
            _ => None,
        }
        .ok_or_else(|| bad("created_at"))?;
        let id = id.ok_or_else(|| bad("id"))?;
        Ok(Event {
            id,
            event_type,
            attribute_name,
            created_at,
            text,
            raw: OnceLock::new(),
            links,
            wire: Encoded::default(),
        })
    }

    /// The row as the site sent it: the JSON object a plugin receives (parsed on first use).
    pub fn raw(&self) -> &Map<String, Value> {
        self.raw.get_or_init(|| {
            // The text was read as a JSON object when the event was made.
            match serde_json::from_str::<Value>(&self.text) {
                Ok(Value::Object(raw)) => raw,
                _ => Map::new(),
            }
        })
    }

    /// The row's JSON text, as the site sent it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Gives the event its plugin host's wire encoding, made while it was read
    /// ([`Event::from_text_with`]); an encoding it already has stays.
    pub fn set_wire_bytes(&self, bytes: Box<[u8]>) {
        let _ = self.wire.0.set(bytes);
    }

    /// The plugin host's wire encoding of this event: `encode` runs on the first call only,
    /// later calls (from other plugins' hosts) share its bytes. Only the plugin host calls
    /// this, always with the same `encode`.
    pub fn wire_bytes(&self, encode: impl FnOnce(&Event) -> Vec<u8>) -> &[u8] {
        self.wire.0.get_or_init(|| encode(self).into_boxed_slice())
    }

    /// The id of the event's project, if it has one.
    pub fn project_id(&self) -> Option<i64> {
        self.links.project_id
    }

    /// The `(type, id)` of the user who made the change, if known.
    pub fn user(&self) -> Option<(&str, i64)> {
        let (kind, id) = self.links.user.as_ref()?;
        Some((kind, *id))
    }

    /// `meta.sudo_actual_user`, the real principal behind a sudo write, as `(type, id)`.
    pub fn sudo_actual_user(&self) -> Option<(&str, i64)> {
        let (kind, id) = self.links.sudo_actual_user.as_ref()?;
        Some((kind, *id))
    }
}

fn read_row<'t, S: RowSink<'t>>(
    text: &'t str,
    sink: &mut S,
) -> Result<(head::Fields<'t>, Links), EventError> {
    if !text.trim_start().starts_with('{') {
        return Err(EventError::NotAnObject(text.to_owned()));
    }
    head::read(text, sink).map_err(|err| EventError::Unreadable(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_site_row() {
        let event = Event::from_json(json!({
            "type": "EventLogEntry", "id": 7, "event_type": "Shotgun_Shot_Change",
            "attribute_name": "sg_status_list", "meta": {"type": "attribute_change"},
            "entity": {"type": "Shot", "id": 3, "name": "sh010"},
            "user": {"type": "ApiUser", "id": 2, "name": "bot 1.0"},
            "project": {"type": "Project", "id": 70, "name": "Demo"},
            "session_uuid": null, "created_at": "2026-11-22T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(event.id, 7);
        assert_eq!(event.attribute_name.as_deref(), Some("sg_status_list"));
        assert_eq!(event.project_id(), Some(70));
        assert_eq!(event.user(), Some(("ApiUser", 2)));
        assert_eq!(event.created_at.to_string(), "2026-11-22T10:00:00Z");
    }

    #[test]
    fn names_the_bad_field() {
        let err = Event::from_json(json!({"id": 9, "event_type": "X", "created_at": "yesterday"}))
            .unwrap_err();
        assert_eq!(
            err,
            EventError::BadField {
                id: Some(9),
                field: "created_at"
            }
        );
    }

    /// What a row's text reads as is what the parsed row says, looked up as a map is (the
    /// last of a repeated key counts, a link is an object with a string `type` and an
    /// integer `id`): the same fields or the same error, the same links, the same `raw()`;
    /// and `from_json` of the parsed row is the same event.
    #[test]
    fn a_row_read_from_its_text_is_the_row_parsed() {
        let rows = [
            r#"{"type": "EventLogEntry", "id": 7, "event_type": "Shotgun_Shot_Change",
               "attribute_name": "sg_status_list",
               "meta": {"type": "attribute_change", "new_value": "ip",
                        "sudo_actual_user": {"type": "HumanUser", "id": 12, "name": "x"}},
               "entity": {"type": "Shot", "id": 3, "name": "sh\u00e9010 \"q\""},
               "user": {"name": "bot", "id": 2, "type": "ApiUser"},
               "project": {"type": "Project", "id": 70, "name": "Demo"},
               "session_uuid": null, "created_at": "2026-11-22T10:00:00Z"}"#,
            // Links that are not objects, or lack a part, or have the wrong types.
            r#"{"id": 8, "event_type": "X", "created_at": "2026-11-22T10:00:01Z",
               "project": [1, 2], "user": {"type": "HumanUser"}, "meta": "text"}"#,
            r#"{"id": 9, "event_type": "X", "created_at": "2026-11-22T10:00:01Z",
               "project": {"id": "70"}, "user": {"type": 3, "id": 4},
               "meta": {"sudo_actual_user": null}}"#,
            // A key given twice counts with its last value, as in a parsed object.
            r#"{"id": 10, "event_type": "X", "event_type": "Y", "created_at": "2026-11-22T10:00:01Z",
               "user": {"type": "ApiUser", "id": 1}, "user": {"type": "ApiUser", "id": 5}}"#,
            // Errors: each names the same field.
            r#"{"id": 11, "event_type": 5, "created_at": "2026-11-22T10:00:01Z"}"#,
            r#"{"id": 12, "event_type": "X", "attribute_name": 1, "created_at": "2026-11-22T10:00:01Z"}"#,
            r#"{"id": "13", "event_type": "X", "created_at": "2026-11-22T10:00:01Z"}"#,
            r#"{"event_type": "X", "created_at": "yesterday"}"#,
            r#"{"id": 14, "event_type": "X"}"#,
            r#"[1, 2]"#,
            r#""text""#,
        ];
        for text in rows {
            let parsed: Value = serde_json::from_str(text).unwrap();
            let from_text = Event::from_text(text);
            match reference(&parsed) {
                Ok((id, event_type, attribute_name, links)) => {
                    let event = from_text.unwrap_or_else(|err| panic!("{text}: {err}"));
                    assert_eq!(
                        (event.id, &event.event_type, &event.attribute_name),
                        (id, &event_type, &attribute_name),
                        "{text}"
                    );
                    assert_eq!(event.links, links, "{text}");
                    assert_eq!(event.raw(), parsed.as_object().unwrap(), "{text}");
                    assert_eq!(event.text(), text);
                    assert_eq!(Event::from_json(parsed.clone()).unwrap(), event, "{text}");
                }
                Err(EventError::NotAnObject(_)) => assert!(
                    matches!(from_text, Err(EventError::NotAnObject(_))),
                    "{text}: {from_text:?}"
                ),
                Err(err) => {
                    assert_eq!(from_text, Err(err.clone()), "{text}");
                    assert_eq!(Event::from_json(parsed), Err(err), "{text}");
                }
            }
        }
        let first = Event::from_text(rows[0]).unwrap();
        assert_eq!(first.project_id(), Some(70));
        assert_eq!(first.user(), Some(("ApiUser", 2)));
        assert_eq!(first.sudo_actual_user(), Some(("HumanUser", 12)));
        assert_eq!(Event::from_text(rows[3]).unwrap().event_type, "Y");
        assert_eq!(
            Event::from_text(rows[3]).unwrap().user(),
            Some(("ApiUser", 5))
        );
    }

    /// A row nested deeper than the parser takes is refused when read, as a parse of the
    /// whole reply refuses it, not taken in and then found unreadable.
    #[test]
    fn a_row_nested_too_deep_is_refused_when_read() {
        let deep = format!(
            r#"{{"id": 1, "event_type": "X", "created_at": "2026-11-22T10:00:01Z", "meta": {}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        assert!(
            matches!(Event::from_text(&deep), Err(EventError::Unreadable(_))),
            "{:?}",
            Event::from_text(&deep)
        );
    }

    type Expected = (i64, String, Option<String>, Links);

    /// The fields and links of a parsed row, by map lookups.
    fn reference(row: &Value) -> Result<Expected, EventError> {
        let Value::Object(raw) = row else {
            return Err(EventError::NotAnObject(row.to_string()));
        };
        let id = raw.get("id").and_then(Value::as_i64);
        let bad = |field| EventError::BadField { id, field };
        let event_type = raw
            .get("event_type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("event_type"))?
            .to_owned();
        let attribute_name = match raw.get("attribute_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(_) => return Err(bad("attribute_name")),
        };
        raw.get("created_at")
            .and_then(Value::as_str)
            .and_then(|text| text.parse::<Timestamp>().ok())
            .ok_or_else(|| bad("created_at"))?;
        let id = id.ok_or_else(|| bad("id"))?;
        let link = |value: Option<&Value>| {
            let value = value?;
            Some((
                value.get("type")?.as_str()?.to_owned(),
                value.get("id")?.as_i64()?,
            ))
        };
        let links = Links {
            project_id: raw.get("project").and_then(|p| p.get("id")?.as_i64()),
            user: link(raw.get("user")),
            sudo_actual_user: link(raw.get("meta").and_then(|m| m.get("sudo_actual_user"))),
        };
        Ok((id, event_type, attribute_name, links))
    }
}
