//! The api3 `read` method: filter wire format, `shotgun_api3`'s paging rules, event rows.

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::transport::{body_text, decode};
use super::{Client, is_truthy};
use crate::{ClientError, Event, EventError, EventReader};

/// `{"logical_operator": "and", "conditions": [...]}`.
pub(super) fn and_filter(conditions: Vec<Value>) -> Value {
    json!({"logical_operator": "and", "conditions": conditions})
}

/// `{"path", "relation", "values"}`; `values` is always a list on the wire.
pub(super) fn condition(path: &str, relation: &str, values: Value) -> Value {
    json!({"path": path, "relation": relation, "values": values})
}

impl Client {
    /// Reads up to `limit` rows (`limit > 0`) sorted by id, paging as `shotgun_api3.find` does:
    /// one request when `limit` fits in a page, else pages of `records_per_page` until the site
    /// says there is no next page or `limit` rows are in.
    pub(super) async fn find(
        &self,
        entity_type: &str,
        filters: Value,
        fields: &[&str],
        direction: &str,
        limit: usize,
    ) -> Result<Vec<Value>, ClientError> {
        self.pages(entity_type, filters, fields, direction, limit, &row_page)
            .await
    }

    /// Up to `limit` EventLogEntry rows with [`crate::EVENT_FIELDS`], ascending, as events.
    pub(super) async fn find_events(
        &self,
        filters: Value,
        limit: usize,
    ) -> Result<Vec<Event>, ClientError> {
        let fields = crate::EVENT_FIELDS;
        let reader = self.reader.as_deref();
        let page_of = |method: &str, headers: &HeaderMap, bytes: &[u8]| {
            event_page(method, headers, bytes, reader)
        };
        self.pages("EventLogEntry", filters, fields, "asc", limit, &page_of)
            .await
    }

    async fn pages<T>(
        &self,
        entity_type: &str,
        filters: Value,
        fields: &[&str],
        direction: &str,
        limit: usize,
        page_of: &PageOf<'_, T>,
    ) -> Result<Vec<T>, ClientError> {
        let per_page = self.records_per_page().max(1);
        let single = limit <= per_page;
        let entities_per_page = if single { limit } else { per_page };
        let mut rows = Vec::new();
        let mut page = 1_u64;
        loop {
            let payload = json!({
                "type": entity_type,
                "return_fields": fields,
                "filters": filters,
                "return_only": "active",
                "paging": {"entities_per_page": entities_per_page, "current_page": page},
                "sorts": [{"field_name": "id", "direction": direction}],
                "api_return_image_urls": true,
                "return_paging_info_without_counts": !single,
            });
            let (entities, has_next) = self.call_with("read", Some(payload), page_of).await?;
            let n_entities = entities.len();
            rows.extend(entities);
            if single {
                rows.truncate(limit);
                return Ok(rows);
            }
            if rows.len() >= limit {
                rows.truncate(limit);
                return Ok(rows);
            }
            // A site that keeps claiming more pages but sends none would loop forever.
            if !has_next || n_entities == 0 {
                return Ok(rows);
            }
            page += 1;
        }
    }
}

/// How a `read` reply's body (method, headers, bytes) becomes a page of rows and whether
/// more pages follow.
type PageOf<'a, T> =
    dyn Fn(&str, &HeaderMap, &[u8]) -> Result<(Vec<T>, bool), ClientError> + Sync + 'a;

/// A page of rows: the `results` of a `read`.
fn row_page(
    method: &str,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<(Vec<Value>, bool), ClientError> {
    split_read_result(decode(method, headers, bytes)?)
}

/// The reply of a `read` as it nearly always comes: only the envelope and the paging are
/// parsed here, each row is kept as its text for [`Event::from_text`].
#[derive(Deserialize)]
struct EventReply<'a> {
    #[serde(borrow)]
    results: EventResults<'a>,
    #[serde(default)]
    exception: Value,
}

#[derive(Deserialize)]
struct EventResults<'a> {
    #[serde(borrow)]
    entities: Vec<&'a RawValue>,
    #[serde(default)]
    paging_info: Value,
}

/// A page of events. A reply of any other shape (an error, a surprise) is read as
/// [`row_page`] reads it, so it gets the same error or the same events.
fn event_page(
    method: &str,
    headers: &HeaderMap,
    bytes: &[u8],
    reader: Option<&dyn EventReader>,
) -> Result<(Vec<Event>, bool), ClientError> {
    let text = body_text(method, headers, bytes)?;
    match serde_json::from_str::<EventReply<'_>>(text) {
        Ok(reply) if !is_truthy(&reply.exception) => {
            let has_next = reply
                .results
                .paging_info
                .get("has_next_page")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let events = reply
                .results
                .entities
                .iter()
                .map(|row| {
                    let text = row.get();
                    reader
                        .map_or_else(|| Event::from_text(text), |reader| reader.read(text))
                        .map_err(bad_event)
                })
                .collect::<Result<Vec<Event>, ClientError>>()?;
            Ok((events, has_next))
        }
        _ => {
            let (rows, has_next) = row_page(method, headers, bytes)?;
            Ok((parse_events(rows)?, has_next))
        }
    }
}

/// `{"entities": [...], "paging_info": {"has_next_page": bool, ...}}` → rows and has-next.
fn split_read_result(result: Value) -> Result<(Vec<Value>, bool), ClientError> {
    let bad = |detail: String| ClientError::BadReply {
        method: "read".to_owned(),
        detail,
    };
    let Value::Object(mut object) = result else {
        return Err(bad(format!("`results` is not an object: {result}")));
    };
    let entities = match object.remove("entities") {
        Some(Value::Array(entities)) => entities,
        Some(other) => return Err(bad(format!("`entities` is not a list: {other}"))),
        None => return Err(bad("`results` has no `entities` list".to_owned())),
    };
    let has_next = object
        .get("paging_info")
        .and_then(|info| info.get("has_next_page"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok((entities, has_next))
}

/// Parses EventLogEntry rows, naming the id and field of the first malformed one.
pub(super) fn parse_events(rows: Vec<Value>) -> Result<Vec<Event>, ClientError> {
    rows.into_iter()
        .map(|row| Event::from_json(row).map_err(bad_event))
        .collect()
}

fn bad_event(err: EventError) -> ClientError {
    ClientError::BadReply {
        method: "read".to_owned(),
        detail: match err {
            EventError::NotAnObject(text) => {
                format!("an EventLogEntry row is not an object: {text}")
            }
            EventError::Unreadable(reason) => {
                format!("an EventLogEntry row could not be read: {reason}")
            }
            EventError::BadField {
                id: Some(id),
                field,
            } => {
                format!("EventLogEntry {id} has a missing or malformed `{field}` field")
            }
            EventError::BadField { id: None, field } => format!(
                "an EventLogEntry row without an integer id has a missing or malformed `{field}` field"
            ),
        },
    }
}
