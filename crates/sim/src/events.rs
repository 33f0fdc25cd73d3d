//! EventLogEntry generation: the rows a real site writes for each kind of change (protocols.md C).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::db::{Db, EventRow, Link};
use crate::schema::FieldDef;
use crate::value::{meta_link, meta_value, short};

/// Who performs a write, and how it is logged.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    /// The user events are attributed to (the sudo target when sudo is used).
    pub(crate) user: Link,
    /// The authenticated principal when acting through `sudo_as_login`.
    pub(crate) sudo_actual: Option<Link>,
    pub(crate) session_uuid: Option<String>,
    /// The ApiUser's "Generate Events" flag (always on for people).
    pub(crate) log_events: bool,
}

/// One change to log.
pub(crate) enum Change<'a> {
    New,
    Field {
        field: &'a FieldDef,
        old: &'a Value,
        new: &'a Value,
        in_create: bool,
    },
    Multi {
        field: &'a FieldDef,
        added: &'a [Value],
        removed: &'a [Value],
        in_create: bool,
    },
    Retirement {
        display_name: &'a str,
    },
    RetirementDate {
        date: &'a str,
    },
    Revival,
}

impl Db {
    /// Appends the event row for one change of record `ty`/`id`.
    pub(crate) fn log(
        &mut self,
        actor: &Actor,
        ty: &Arc<str>,
        id: i64,
        now: i64,
        change: Change<'_>,
    ) {
        if !actor.log_events {
            return;
        }
        let project = self.project_of(ty, id);
        let entity_name = self.display_name(ty, id).unwrap_or_default();
        let who = self
            .display_name(&actor.user.ty, actor.user.id)
            .unwrap_or_default();
        let type_display = self
            .schema
            .entity(ty)
            .map_or_else(|| ty.to_string(), |d| d.display.clone());
        let (action, attribute_name, mut meta, description) = match change {
            Change::New => (
                "New",
                None,
                json!({"type": "new_entity", "entity_type": &**ty, "entity_id": id}),
                format!("{who} created new {type_display} {entity_name}"),
            ),
            Change::Field {
                field,
                old,
                new,
                in_create,
            } => {
                let mut meta = json!({
                    "type": "attribute_change", "attribute_name": field.name, "entity_type": &**ty,
                    "entity_id": id, "field_data_type": field.data_type.as_str(),
                    "old_value": meta_value(self, &field.data_type, old),
                    "new_value": meta_value(self, &field.data_type, new),
                });
                if in_create {
                    meta["in_create"] = Value::Bool(true);
                }
                let text = |v: &Value| self.describe(&field.data_type, v);
                let description = format!(
                    "{who} changed \"{}\" from \"{}\" to \"{}\" on {type_display} {entity_name}",
                    field.display,
                    text(old),
                    text(new)
                );
                ("Change", Some(field.name.as_str()), meta, description)
            }
            Change::Multi {
                field,
                added,
                removed,
                in_create,
            } => {
                let links = |items: &[Value]| -> Vec<Value> {
                    items
                        .iter()
                        .filter_map(crate::value::link_of)
                        .map(|(t, i)| meta_link(self, t, i))
                        .collect()
                };
                let (added_meta, removed_meta) = (links(added), links(removed));
                let names = |items: &[Value]| {
                    items
                        .iter()
                        .map(|l| {
                            l.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned()
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let mut parts = Vec::new();
                if !added_meta.is_empty() {
                    parts.push(format!("added {}", names(&added_meta)));
                }
                if !removed_meta.is_empty() {
                    parts.push(format!("removed {}", names(&removed_meta)));
                }
                let description = format!(
                    "{who} changed \"{}\" on {type_display} {entity_name}: {}",
                    field.display,
                    parts.join("; ")
                );
                let mut meta = json!({
                    "type": "attribute_change", "attribute_name": field.name, "entity_type": &**ty,
                    "entity_id": id, "field_data_type": "multi_entity",
                    "added": added_meta, "removed": removed_meta,
                });
                if in_create {
                    meta["in_create"] = Value::Bool(true);
                }
                ("Change", Some(field.name.as_str()), meta, description)
            }
            Change::Retirement { display_name } => (
                "Retirement",
                None,
                json!({"type": "entity_retirement", "entity_type": &**ty, "entity_id": id, "id": id,
                       "class_name": &**ty, "display_name": display_name,
                       "retirement_date": crate::time::format_meta(now)}),
                format!("{who} retired {type_display} {display_name}"),
            ),
            Change::RetirementDate { date } => (
                "Change",
                Some("retirement_date"),
                json!({"type": "attribute_change", "attribute_name": "retirement_date", "entity_type": &**ty,
                       "entity_id": id, "field_data_type": "date_time", "old_value": null, "new_value": date}),
                format!(
                    "{who} changed \"Date Retired\" from \"\" to \"{date}\" on {type_display} {entity_name}"
                ),
            ),
            Change::Revival => (
                "Revival",
                None,
                json!({"type": "entity_revival", "entity_type": &**ty, "entity_id": id, "id": id,
                       "class_name": &**ty, "display_name": entity_name}),
                format!("{who} revived {type_display} {entity_name}"),
            ),
        };
        if let Some(actual) = &actor.sudo_actual {
            meta["sudo_actual_user"] = json!({"type": &*actual.ty, "id": actual.id,
                "name": self.display_name(&actual.ty, actual.id)});
        }
        let row = EventRow {
            id: 0,
            event_type: format!("Shotgun_{ty}_{action}").into(),
            attribute_name: attribute_name.map(Into::into),
            meta: serde_json::value::to_raw_value(&meta).unwrap_or_default(),
            entity: Some(Link { ty: ty.clone(), id }),
            user: Some(actor.user.clone()),
            project,
            session_uuid: actor.session_uuid.as_deref().map(Into::into),
            created_at: now,
            description: description.into(),
            visible_at_ms: 0,
        };
        self.push_event(row);
    }

    /// The project a record belongs to (a Project belongs to itself).
    pub(crate) fn project_of(&self, ty: &str, id: i64) -> Option<i64> {
        if ty == "Project" {
            return Some(id);
        }
        self.get(ty, id)?.fields.get("project")?.get("id")?.as_i64()
    }

    fn describe(&self, data_type: &crate::schema::DataType, value: &Value) -> String {
        match crate::value::link_of(value) {
            Some((t, i)) if *data_type == crate::schema::DataType::Entity => {
                self.display_name(t, i).unwrap_or_default()
            }
            _ if value.is_null() => String::new(),
            _ => short(value),
        }
    }
}
