//! The EventLogEntry row as the daemon and plugins see it.

use jiff::Timestamp;
use serde_json::{Map, Value};

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

/// One EventLogEntry row, kept exactly as the site returned it (`raw`), with the
/// fields the daemon needs parsed once.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The row's id.
    pub id: i64,
    /// For example `Shotgun_Shot_Change`.
    pub event_type: String,
    /// The changed field for `_Change` events, else `None`.
    pub attribute_name: Option<String>,
    /// When the site wrote the row (site clock, second resolution).
    pub created_at: Timestamp,
    /// The row as the site sent it: the JSON object a plugin receives.
    pub raw: Map<String, Value>,
    /// The plugin host's wire encoding of the row, made by the first host that sends the event
    /// and shared by every other one (the same `Arc<Event>` goes to every plugin).
    wire: Encoded,
}

/// Bytes derived from an event once, on first use. Not part of the event's value: two events
/// compare equal whatever their caches hold.
#[derive(Default, Clone)]
struct Encoded(std::sync::OnceLock<Box<[u8]>>);

impl PartialEq for Encoded {
    fn eq(&self, _other: &Encoded) -> bool {
        true
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

/// Why a row from the site could not be read as an event.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    /// The row is not a JSON object.
    #[error("EventLogEntry row is not a JSON object: {0}")]
    NotAnObject(String),
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
        let id = raw.get("id").and_then(Value::as_i64);
        let bad = |field| EventError::BadField { id, field };
        let event_type = raw
            .get("event_type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("event_type"))?
            .to_owned();
        let attribute_name = match raw.get("attribute_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("attribute_name")),
        };
        let created_at = raw
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Timestamp>().ok())
            .ok_or_else(|| bad("created_at"))?;
        let id = id.ok_or_else(|| bad("id"))?;
        Ok(Event {
            id,
            event_type,
            attribute_name,
            created_at,
            raw,
            wire: Encoded::default(),
        })
    }

    /// The plugin host's wire encoding of this event: `encode` runs on the first call only,
    /// later calls (from other plugins' hosts) share its bytes. Only the plugin host calls
    /// this, always with the same `encode`.
    pub fn wire_bytes(&self, encode: impl FnOnce(&Event) -> Vec<u8>) -> &[u8] {
        self.wire.0.get_or_init(|| encode(self).into_boxed_slice())
    }

    /// The id of the event's project, if it has one.
    pub fn project_id(&self) -> Option<i64> {
        link_id(self.raw.get("project"))
    }

    /// The `(type, id)` of the user who made the change, if known.
    pub fn user(&self) -> Option<(&str, i64)> {
        let user = self.raw.get("user")?;
        Some((user.get("type")?.as_str()?, user.get("id")?.as_i64()?))
    }

    /// `meta.sudo_actual_user`, the real principal behind a sudo write, as `(type, id)`.
    pub fn sudo_actual_user(&self) -> Option<(&str, i64)> {
        let user = self.raw.get("meta")?.get("sudo_actual_user")?;
        Some((user.get("type")?.as_str()?, user.get("id")?.as_i64()?))
    }
}

fn link_id(value: Option<&Value>) -> Option<i64> {
    value?.get("id")?.as_i64()
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
}
