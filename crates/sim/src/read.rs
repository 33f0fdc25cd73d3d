//! `read`: filtering, sorting, paging and rendering records, with fast paths for polling
//! EventLogEntry by id (selection here, rendering in [`events`]).

mod events;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::db::{Db, Entity, EventRow};
use crate::error::ApiError;
use crate::filter::{self, Filter, Path, compare};
use crate::schema::DataType;
use crate::time;
use crate::value::{link_of, render};

/// A record of any table, as filters and renderers see it.
#[derive(Clone)]
pub(crate) enum Row<'a> {
    Entity {
        ty: &'a Arc<str>,
        id: i64,
        entity: &'a Entity,
    },
    Event(&'a EventRow),
}

impl<'a> Row<'a> {
    /// Finds a live record.
    pub(crate) fn lookup(db: &'a Db, ty: &str, id: i64) -> Option<Self> {
        if ty == "EventLogEntry" {
            let idx = db.events.binary_search_by_key(&id, |e| e.id).ok()?;
            return Some(Row::Event(&db.events[idx]));
        }
        let (ty, table) = db.tables.get_key_value(ty)?;
        let entity = table.get(&id).filter(|e| !e.retired)?;
        Some(Row::Entity { ty, id, entity })
    }

    pub(crate) fn type_name(&self) -> &str {
        match self {
            Row::Entity { ty, .. } => ty,
            Row::Event(_) => "EventLogEntry",
        }
    }

    pub(crate) fn id(&self) -> i64 {
        match self {
            Row::Entity { id, .. } => *id,
            Row::Event(e) => e.id,
        }
    }

    /// The stored value of a field (links as `{"type", "id"}`).
    pub(crate) fn raw(&self, db: &Db, field: &str) -> Value {
        match self {
            Row::Entity { ty, id, entity } => {
                if field == "id" {
                    return Value::from(*id);
                }
                match entity.fields.get(field) {
                    Some(v) => v.clone(),
                    None => match db
                        .schema
                        .entity(ty)
                        .and_then(|d| d.field(field))
                        .map(|f| &f.data_type)
                    {
                        Some(DataType::MultiEntity | DataType::TagList) => json!([]),
                        Some(DataType::Checkbox) => Value::Bool(false),
                        _ => Value::Null,
                    },
                }
            }
            Row::Event(e) => event_field(db, e, field),
        }
    }
}

fn event_field(db: &Db, e: &EventRow, field: &str) -> Value {
    let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::String(s.to_owned()));
    match field {
        "id" => Value::from(e.id),
        "event_type" => text(Some(&e.event_type)),
        "attribute_name" => text(e.attribute_name.as_deref()),
        "description" => text(Some(&e.description)),
        "session_uuid" => text(e.session_uuid.as_deref()),
        "created_at" => Value::String(time::format_wire(e.created_at)),
        "meta" => serde_json::from_str(e.meta.get()).unwrap_or(Value::Null),
        "entity" => match &e.entity {
            Some(l) if db.get(&l.ty, l.id).is_some_and(|r| !r.retired) => {
                json!({"type": &*l.ty, "id": l.id})
            }
            _ => Value::Null,
        },
        "user" => e
            .user
            .as_ref()
            .map_or(Value::Null, |l| json!({"type": &*l.ty, "id": l.id})),
        "project" => e
            .project
            .map_or(Value::Null, |p| json!({"type": "Project", "id": p})),
        _ => Value::Null,
    }
}

/// The wire value of a (dotted) return field, or `None` when the path does not exist.
pub(crate) fn output_field(db: &Db, row: &Row<'_>, name: &str) -> Option<Value> {
    let path = filter::resolve_path(&db.schema, "read", row.type_name(), name).ok()?;
    Some(render_path(db, row, &path))
}

fn render_path(db: &Db, row: &Row<'_>, path: &Path) -> Value {
    let value = if path.hops.is_empty() {
        row.raw(db, &path.field)
    } else {
        path.fetch(db, row)
            .into_iter()
            .next()
            .unwrap_or(Value::Null)
    };
    render(db, &path.data_type, &value)
}

/// One rendered cell: a value, or the raw stored JSON of an event's `meta`.
#[derive(Serialize)]
#[serde(untagged)]
enum Cell<'a> {
    Value(Value),
    Raw(&'a RawValue),
}

struct OutRow<'a>(Vec<(&'a str, Cell<'a>)>);

impl Serialize for OutRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct ReadResults<'a> {
    entities: Vec<OutRow<'a>>,
    paging_info: Value,
}

#[derive(Serialize)]
struct Envelope<'a> {
    results: ReadResults<'a>,
}

/// Options of one read, parsed from the payload.
pub(crate) struct ReadRequest {
    pub(crate) ty: String,
    pub(crate) filter: Filter,
    pub(crate) return_fields: Vec<String>,
    pub(crate) retired: bool,
    pub(crate) per_page: usize,
    pub(crate) page: usize,
    pub(crate) sorts: Vec<(Path, bool)>,
    pub(crate) want_counts: bool,
}

impl ReadRequest {
    pub(crate) fn parse(db: &Db, payload: &Value, now: i64) -> Result<Self, ApiError> {
        let ty = payload
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid("API read() requires 'type' (an entity type name)"))?;
        crate::write::entity_def(&db.schema, "read", ty)?;
        let filter = filter::compile(&db.schema, "read", ty, payload.get("filters"), now)?;
        let return_fields = match payload.get("return_fields") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => vec!["id".to_owned()],
        };
        let retired = payload.get("return_only").and_then(Value::as_str) == Some("retired");
        let paging = payload.get("paging");
        let num = |key: &str| paging.and_then(|p| p.get(key)).and_then(Value::as_u64);
        let per_page = num("entities_per_page").unwrap_or(500).clamp(1, 5000) as usize;
        let page = num("current_page").unwrap_or(1).max(1) as usize;
        let mut sorts = Vec::new();
        for sort in payload
            .get("sorts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = sort
                .get("field_name")
                .or_else(|| sort.get("column"))
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("API read() each sort needs 'field_name'"))?;
            let path = filter::resolve_path(&db.schema, "read", ty, field)?;
            let desc = match sort
                .get("direction")
                .and_then(Value::as_str)
                .unwrap_or("asc")
            {
                "asc" => false,
                "desc" => true,
                other => {
                    return Err(ApiError::invalid(format!(
                        "API read() sort direction '{other}' is invalid: use 'asc' or 'desc'"
                    )));
                }
            };
            sorts.push((path, desc));
        }
        let want_counts = payload
            .get("return_paging_info")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Self {
            ty: ty.to_owned(),
            filter,
            return_fields,
            retired,
            per_page,
            page,
            sorts,
            want_counts,
        })
    }
}

/// Runs a read and serialises the whole `{"results": ...}` reply.
pub(crate) fn read(db: &Db, req: &ReadRequest, now_ms: i64) -> Vec<u8> {
    read_with(db, req, now_ms, true)
}

/// [`read`], writing EventLogEntry rows of plain event fields straight to bytes when `fast`
/// (the generic renderer otherwise; both give the same bytes).
fn read_with(db: &Db, req: &ReadRequest, now_ms: i64, fast: bool) -> Vec<u8> {
    let offset = (req.page - 1).saturating_mul(req.per_page);
    let (rows, has_next, total) = if req.ty == "EventLogEntry" {
        select_events(db, req, offset, now_ms)
    } else {
        select_entities(db, req, offset)
    };
    let paging_info = paging_info(req, has_next, total);
    if fast
        && req.ty == "EventLogEntry"
        && let Some(plan) = events::Plan::new(db, &req.return_fields)
        && let Ok(bytes) = events::write(db, &plan, &rows, &paging_info)
    {
        return bytes;
    }
    generic(db, req, &rows, paging_info)
}

fn paging_info(req: &ReadRequest, has_next: bool, total: Option<usize>) -> Value {
    let mut paging_info = json!({
        "current_page": req.page, "entities_per_page": req.per_page, "has_next_page": has_next,
    });
    if let Some(total) = total {
        paging_info["entity_count"] = Value::from(total);
        paging_info["page_count"] = Value::from(total.div_ceil(req.per_page));
    }
    paging_info
}

/// Renders every cell as a value tree, then serialises the envelope.
fn generic(db: &Db, req: &ReadRequest, rows: &[Row<'_>], paging_info: Value) -> Vec<u8> {
    let paths: Vec<(&str, Option<Path>)> = req
        .return_fields
        .iter()
        .filter(|f| f.as_str() != "type" && f.as_str() != "id")
        .map(|f| {
            (
                f.as_str(),
                filter::resolve_path(&db.schema, "read", &req.ty, f).ok(),
            )
        })
        .collect();
    let entities = rows
        .iter()
        .map(|row| {
            let mut cells = Vec::with_capacity(paths.len() + 2);
            cells.push((
                "type",
                Cell::Value(Value::String(row.type_name().to_owned())),
            ));
            cells.push(("id", Cell::Value(Value::from(row.id()))));
            for (name, path) in &paths {
                match (row, path) {
                    (Row::Event(e), Some(p)) if p.hops.is_empty() && p.field == "meta" => {
                        cells.push((name, Cell::Raw(&e.meta)));
                    }
                    (_, Some(p)) => cells.push((name, Cell::Value(render_path(db, row, p)))),
                    (_, None) => {}
                }
            }
            OutRow(cells)
        })
        .collect();
    let envelope = Envelope {
        results: ReadResults {
            entities,
            paging_info,
        },
    };
    serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{\"results\":{\"entities\":[]}}".to_vec())
}

type Selected<'a> = (Vec<Row<'a>>, bool, Option<usize>);

fn select_events<'a>(db: &'a Db, req: &ReadRequest, offset: usize, now_ms: i64) -> Selected<'a> {
    if req.retired {
        return (Vec::new(), false, Some(0));
    }
    let by_id = match req.sorts.as_slice() {
        [] => Some(false),
        [(p, desc)] if p.hops.is_empty() && p.field == "id" => Some(*desc),
        _ => None,
    };
    let matching =
        |e: &&'a EventRow| e.is_visible(now_ms) && req.filter.matches(db, &Row::Event(e));
    let Some(desc) = by_id else {
        let rows: Vec<Row<'a>> = db.events.iter().filter(matching).map(Row::Event).collect();
        return page_of(db, rows, req, offset);
    };
    let start = req
        .filter
        .id_lower_bound()
        .map_or(0, |bound| db.events.partition_point(|e| e.id <= bound));
    let slice = &db.events[start..];
    let mut rows = Vec::with_capacity(req.per_page.min(slice.len()));
    let mut seen = 0usize;
    let mut has_next = false;
    let mut iter: Box<dyn Iterator<Item = &'a EventRow>> = if desc {
        Box::new(slice.iter().rev())
    } else {
        Box::new(slice.iter())
    };
    for e in iter.by_ref().filter(matching) {
        if seen >= offset + req.per_page {
            has_next = true;
            seen += 1;
            break;
        }
        if seen >= offset {
            rows.push(Row::Event(e));
        }
        seen += 1;
    }
    let total = req
        .want_counts
        .then(|| seen + iter.filter(matching).count());
    (rows, has_next, total)
}

fn select_entities<'a>(db: &'a Db, req: &ReadRequest, offset: usize) -> Selected<'a> {
    let Some((ty, table)) = db.tables.get_key_value(req.ty.as_str()) else {
        return (Vec::new(), false, Some(0));
    };
    let rows: Vec<Row<'a>> = table
        .iter()
        .filter(|(_, e)| e.retired == req.retired)
        .map(|(id, entity)| Row::Entity {
            ty,
            id: *id,
            entity,
        })
        .filter(|row| req.filter.matches(db, row))
        .collect();
    page_of(db, rows, req, offset)
}

fn page_of<'a>(
    db: &'a Db,
    mut rows: Vec<Row<'a>>,
    req: &ReadRequest,
    offset: usize,
) -> Selected<'a> {
    if !req.sorts.is_empty() {
        let mut keyed: Vec<(Vec<Value>, Row<'a>)> = rows
            .into_iter()
            .map(|row| {
                (
                    req.sorts
                        .iter()
                        .map(|(p, _)| sort_key(db, &row, p))
                        .collect(),
                    row,
                )
            })
            .collect();
        keyed.sort_by(|(a, ra), (b, rb)| {
            for (i, (_, desc)) in req.sorts.iter().enumerate() {
                let ord = order(&a[i], &b[i]);
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            ra.id().cmp(&rb.id())
        });
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    }
    let total = rows.len();
    let has_next = offset.saturating_add(req.per_page) < total;
    let page = rows.into_iter().skip(offset).take(req.per_page).collect();
    (page, has_next, Some(total))
}

fn sort_key(db: &Db, row: &Row<'_>, path: &Path) -> Value {
    let v = path
        .fetch(db, row)
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    match (&path.data_type, link_of(&v)) {
        (DataType::Entity, Some((t, i))) => {
            Value::String(db.display_name(t, i).unwrap_or_default().to_lowercase())
        }
        (DataType::Text, _) => v
            .as_str()
            .map_or(Value::Null, |s| Value::String(s.to_lowercase())),
        _ => v,
    }
}

/// Nulls first, then the natural order of the values.
fn order(a: &Value, b: &Value) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => compare(a, b).unwrap_or(Ordering::Equal),
    }
}
