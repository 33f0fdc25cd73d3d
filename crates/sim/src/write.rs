//! Writes: create, update (multi-entity set/add/remove, single-hop linked fields), delete
//! (retire) and revive, each logging the EventLogEntry rows a real site logs.

mod linked;

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::db::{Db, Entity, EventRow, Link};
use crate::error::ApiError;
use crate::events::{Actor, Change};
use crate::read::Row;
use crate::schema::{DataType, EntityDef, FieldDef, Schema};
use crate::time;
use crate::value::{link_of, normalize, render};

/// How an update treats a multi-entity field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Set,
    Add,
    Remove,
}

/// One field of a create or update.
#[derive(Debug, Clone)]
pub(crate) struct FieldWrite {
    pub(crate) name: String,
    pub(crate) value: Value,
    pub(crate) mode: Mode,
}

pub(crate) fn entity_def<'a>(
    schema: &'a Schema,
    method: &str,
    ty: &str,
) -> Result<&'a EntityDef, ApiError> {
    schema.entity(ty).ok_or_else(|| {
        ApiError::invalid(format!(
            "API {method}() unknown entity type '{ty}': it does not exist in this site's schema"
        ))
    })
}

fn field_def<'a>(def: &'a EntityDef, method: &str, name: &str) -> Result<&'a FieldDef, ApiError> {
    def.field(name).ok_or_else(|| {
        ApiError::invalid(format!("API {method}() {}.{name} doesn't exist.", def.name))
    })
}

fn missing(method: &str, code: u32, ty: &str, id: i64) -> ApiError {
    ApiError::crud(format!(
        "API {method}() CRUD ERROR #{code}: Entity of type [{ty}] with id={id} does not exist."
    ))
}

/// `create`: returns the new record with the fields set and the requested `return_fields`.
pub(crate) fn create(
    db: &mut Db,
    actor: &Actor,
    method: &str,
    ty: &str,
    fields: &[FieldWrite],
    return_fields: &[String],
    now: i64,
) -> Result<Value, ApiError> {
    let schema = db.schema.clone();
    let def = entity_def(&schema, method, ty)?;
    if ty == "EventLogEntry" {
        return create_event(db, actor, method, def, fields, return_fields, now);
    }
    let mut values: Vec<(&FieldDef, Value)> = Vec::new();
    for write in fields {
        let field = field_def(def, method, &write.name)?;
        let on_create_only = matches!(field.name.as_str(), "created_at" | "created_by");
        if (!field.editable && !on_create_only) || field.name == "id" {
            return Err(ApiError::invalid(format!(
                "API {method}() {ty}.{} is not editable.",
                field.name
            )));
        }
        let v = normalize(db, method, ty, field, &write.value)?;
        values.retain(|(f, _)| f.name != field.name);
        values.push((field, v));
    }
    for field in def.fields.values() {
        let settable = !field.default.is_null() && field.data_type != DataType::Checkbox;
        if settable && !values.iter().any(|(f, _)| f.name == field.name) {
            values.push((field, field.default.clone()));
        }
    }
    let ty_arc = db.intern(ty);
    let id = db.alloc_id(&ty_arc);
    let mut entity = Entity::default();
    let stamp = Value::String(time::format_wire(now));
    let by = json!({"type": &*actor.user.ty, "id": actor.user.id});
    entity.fields.insert("created_at".into(), stamp.clone());
    entity.fields.insert("updated_at".into(), stamp);
    entity.fields.insert("created_by".into(), by.clone());
    entity.fields.insert("updated_by".into(), by);
    for (field, v) in &values {
        entity.fields.insert(field.name.clone(), v.clone());
    }
    db.put(&ty_arc, id, entity);
    db.log(actor, &ty_arc, id, now, Change::New);
    for (field, v) in &values {
        if matches!(field.name.as_str(), "created_at" | "created_by") {
            continue;
        }
        match &field.data_type {
            DataType::MultiEntity => {
                let added = v.as_array().cloned().unwrap_or_default();
                if !added.is_empty() {
                    db.log(
                        actor,
                        &ty_arc,
                        id,
                        now,
                        Change::Multi {
                            field,
                            added: &added,
                            removed: &[],
                            in_create: true,
                        },
                    );
                }
            }
            _ if v.is_null() || *v == Value::Bool(false) => {}
            _ => db.log(
                actor,
                &ty_arc,
                id,
                now,
                Change::Field {
                    field,
                    old: &Value::Null,
                    new: v,
                    in_create: true,
                },
            ),
        }
    }
    let mut out = Map::new();
    out.insert("type".into(), Value::String(ty.to_owned()));
    out.insert("id".into(), Value::from(id));
    for (field, v) in &values {
        out.insert(field.name.clone(), render(db, &field.data_type, v));
    }
    add_return_fields(db, &ty_arc, id, return_fields, &mut out);
    Ok(Value::Object(out))
}

/// API-created EventLogEntry rows (custom event types): stored as given, never logged.
fn create_event(
    db: &mut Db,
    actor: &Actor,
    method: &str,
    def: &EntityDef,
    fields: &[FieldWrite],
    return_fields: &[String],
    now: i64,
) -> Result<Value, ApiError> {
    let mut row = EventRow {
        id: 0,
        event_type: "".into(),
        attribute_name: None,
        meta: serde_json::value::to_raw_value(&Value::Null).unwrap_or_default(),
        entity: None,
        user: Some(actor.user.clone()),
        project: None,
        session_uuid: actor.session_uuid.as_deref().map(Into::into),
        created_at: now,
        description: "".into(),
        visible_at_ms: 0,
    };
    for write in fields {
        let field = field_def(def, method, &write.name)?;
        let v = normalize(db, method, "EventLogEntry", field, &write.value)?;
        let text = || v.as_str().map(Into::into);
        let link = |db: &mut Db| {
            link_of(&v).map(|(t, i)| Link {
                ty: db.intern(t),
                id: i,
            })
        };
        match field.name.as_str() {
            "event_type" => row.event_type = text().unwrap_or_default(),
            "attribute_name" => row.attribute_name = text(),
            "description" => row.description = text().unwrap_or_default(),
            "session_uuid" => row.session_uuid = text(),
            "meta" => row.meta = serde_json::value::to_raw_value(&v).unwrap_or_default(),
            "entity" => row.entity = link(db),
            "user" => row.user = link(db),
            "project" => row.project = link_of(&v).map(|(_, i)| i),
            other => {
                return Err(ApiError::invalid(format!(
                    "API {method}() EventLogEntry.{other} is not editable."
                )));
            }
        }
    }
    if row.event_type.is_empty() {
        return Err(ApiError::invalid(format!(
            "API {method}() EventLogEntry.event_type is required."
        )));
    }
    let id = db.push_event(row);
    let mut out = Map::new();
    out.insert("type".into(), "EventLogEntry".into());
    out.insert("id".into(), Value::from(id));
    let ty = db.intern("EventLogEntry");
    let names: Vec<String> = fields
        .iter()
        .map(|f| f.name.clone())
        .chain(return_fields.iter().cloned())
        .collect();
    add_return_fields(db, &ty, id, &names, &mut out);
    Ok(Value::Object(out))
}

/// `update`: returns `{type, id, <updated fields>}`. A linked field (`entity.Shot.code`)
/// updates the linked record, which logs that record's change events; the reply carries the
/// value under the dotted name. Every write is checked before any is made.
pub(crate) fn update(
    db: &mut Db,
    actor: &Actor,
    method: &str,
    ty: &str,
    id: i64,
    fields: &[FieldWrite],
    now: i64,
) -> Result<Value, ApiError> {
    let (dotted, own): (Vec<&FieldWrite>, Vec<&FieldWrite>) =
        fields.iter().partition(|write| write.name.contains('.'));
    if dotted.is_empty() {
        return update_own(db, actor, method, ty, id, fields, now);
    }
    let schema = db.schema.clone();
    let def = entity_def(&schema, method, ty)?;
    if db.get(ty, id).is_none_or(|e| e.retired) {
        return Err(missing(method, 5, ty, id));
    }
    let linked = dotted
        .into_iter()
        .map(|write| linked::resolve(db, method, def, id, write))
        .collect::<Result<Vec<_>, _>>()?;
    let own: Vec<FieldWrite> = own.into_iter().cloned().collect();
    let mut out = update_own(db, actor, method, ty, id, &own, now)?;
    for write in linked {
        let done = update_own(
            db,
            actor,
            method,
            &write.ty,
            write.id,
            std::slice::from_ref(&write.write),
            now,
        )?;
        let value = done.get(&write.write.name).cloned().unwrap_or(Value::Null);
        if let Value::Object(map) = &mut out {
            map.insert(write.path, value);
        }
    }
    Ok(out)
}

fn update_own(
    db: &mut Db,
    actor: &Actor,
    method: &str,
    ty: &str,
    id: i64,
    fields: &[FieldWrite],
    now: i64,
) -> Result<Value, ApiError> {
    let schema = db.schema.clone();
    let def = entity_def(&schema, method, ty)?;
    if ty == "EventLogEntry" {
        return Err(ApiError::crud(format!(
            "API {method}() CRUD ERROR #4: EventLogEntry records can not be updated (the event log is append-only)."
        )));
    }
    let ty_arc = db.intern(ty);
    let mut entity = match db.get(ty, id) {
        Some(e) if !e.retired => e.clone(),
        _ => return Err(missing(method, 5, ty, id)),
    };
    let mut changes: Vec<(&FieldDef, Value, Value)> = Vec::new();
    let mut out = Map::new();
    out.insert("type".into(), Value::String(ty.to_owned()));
    out.insert("id".into(), Value::from(id));
    for write in fields {
        let field = field_def(def, method, &write.name)?;
        if !field.editable {
            return Err(ApiError::invalid(format!(
                "API {method}() {ty}.{} is not editable.",
                field.name
            )));
        }
        let v = normalize(db, method, ty, field, &write.value)?;
        let old = entity
            .fields
            .get(&field.name)
            .cloned()
            .unwrap_or_else(|| empty_of(&field.data_type));
        let new = match (&field.data_type, write.mode) {
            (DataType::MultiEntity, Mode::Add) => {
                let mut items = old.as_array().cloned().unwrap_or_default();
                for item in v.as_array().into_iter().flatten() {
                    if !items.contains(item) {
                        items.push(item.clone());
                    }
                }
                Value::Array(items)
            }
            (DataType::MultiEntity, Mode::Remove) => {
                let remove = v.as_array().cloned().unwrap_or_default();
                let items = old.as_array().cloned().unwrap_or_default();
                Value::Array(items.into_iter().filter(|i| !remove.contains(i)).collect())
            }
            _ => v,
        };
        entity.fields.insert(field.name.clone(), new.clone());
        out.insert(field.name.clone(), render(db, &field.data_type, &new));
        changes.retain(|(f, _, _)| f.name != field.name);
        if old != new {
            changes.push((field, old, new));
        }
    }
    if changes.is_empty() {
        return Ok(Value::Object(out));
    }
    entity
        .fields
        .insert("updated_at".into(), Value::String(time::format_wire(now)));
    entity.fields.insert(
        "updated_by".into(),
        json!({"type": &*actor.user.ty, "id": actor.user.id}),
    );
    db.put(&ty_arc, id, entity);
    for (field, old, new) in &changes {
        if field.data_type == DataType::MultiEntity {
            let (o, n) = (
                old.as_array().cloned().unwrap_or_default(),
                new.as_array().cloned().unwrap_or_default(),
            );
            let added: Vec<Value> = n.iter().filter(|i| !o.contains(i)).cloned().collect();
            let removed: Vec<Value> = o.iter().filter(|i| !n.contains(i)).cloned().collect();
            if !added.is_empty() || !removed.is_empty() {
                db.log(
                    actor,
                    &ty_arc,
                    id,
                    now,
                    Change::Multi {
                        field,
                        added: &added,
                        removed: &removed,
                        in_create: false,
                    },
                );
            }
        } else {
            db.log(
                actor,
                &ty_arc,
                id,
                now,
                Change::Field {
                    field,
                    old,
                    new,
                    in_create: false,
                },
            );
        }
    }
    Ok(Value::Object(out))
}

/// `delete`: retires the record. `true` if retired now, `false` if it already was.
pub(crate) fn delete(
    db: &mut Db,
    actor: &Actor,
    method: &str,
    ty: &str,
    id: i64,
    now: i64,
) -> Result<bool, ApiError> {
    let schema = db.schema.clone();
    entity_def(&schema, method, ty)?;
    if ty == "EventLogEntry" {
        return Err(ApiError::crud(format!(
            "API {method}() CRUD ERROR #4: EventLogEntry records can not be deleted (the event log is append-only)."
        )));
    }
    let ty_arc = db.intern(ty);
    let mut entity = db
        .get(ty, id)
        .cloned()
        .ok_or_else(|| missing(method, 3, ty, id))?;
    if entity.retired {
        return Ok(false);
    }
    let display_name = db.display_name(ty, id).unwrap_or_default();
    entity.retired = true;
    db.put(&ty_arc, id, entity);
    db.log(
        actor,
        &ty_arc,
        id,
        now,
        Change::Retirement {
            display_name: &display_name,
        },
    );
    let date = time::format_meta(now);
    db.log(
        actor,
        &ty_arc,
        id,
        now,
        Change::RetirementDate { date: &date },
    );
    Ok(true)
}

/// `revive`: `true` if revived now, `false` if the record was not retired.
pub(crate) fn revive(
    db: &mut Db,
    actor: &Actor,
    method: &str,
    ty: &str,
    id: i64,
    now: i64,
) -> Result<bool, ApiError> {
    let schema = db.schema.clone();
    entity_def(&schema, method, ty)?;
    let ty_arc = db.intern(ty);
    let mut entity = db
        .get(ty, id)
        .cloned()
        .ok_or_else(|| missing(method, 3, ty, id))?;
    if !entity.retired {
        return Ok(false);
    }
    entity.retired = false;
    db.put(&ty_arc, id, entity);
    db.log(actor, &ty_arc, id, now, Change::Revival);
    Ok(true)
}

fn empty_of(data_type: &DataType) -> Value {
    match data_type {
        DataType::MultiEntity | DataType::TagList => json!([]),
        DataType::Checkbox => Value::Bool(false),
        _ => Value::Null,
    }
}

fn add_return_fields(
    db: &Db,
    ty: &Arc<str>,
    id: i64,
    names: &[String],
    out: &mut Map<String, Value>,
) {
    let row = if &**ty == "EventLogEntry" {
        match db.events.binary_search_by_key(&id, |e| e.id) {
            Ok(i) => Row::Event(&db.events[i]),
            Err(_) => return,
        }
    } else {
        match db.get(ty, id) {
            Some(entity) => Row::Entity { ty, id, entity },
            None => return,
        }
    };
    for name in names {
        if name == "type" || name == "id" || out.contains_key(name) {
            continue;
        }
        if let Some(v) = crate::read::output_field(db, &row, name) {
            out.insert(name.clone(), v);
        }
    }
}
