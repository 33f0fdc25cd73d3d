//! The built-in default schema: the entity types and fields studio plugins usually touch.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{DataType, EntityDef, FieldDef, Schema, field_json, pick_name_field};

/// One type per block. `=Type Display Name|flags` starts a block (flag `p`: project-scoped);
/// each further line is `field|data_type|Display Name|valid values or types (comma list)|default`
/// with an optional sixth column `r` for a field clients cannot write. The built-in fields
/// (names not starting with `sg_`) are those of a default site; `sg_` fields are the custom
/// fields studios typically add, which the demo and the activity generator use.
const TABLE: &str = include_str!("builtin_table.txt");

/// Fields every type has (EventLogEntry has only `id`, `created_at` and `image` of these).
const COMMON: &str = r"
id|number|Id||
created_at|date_time|Date Created||
updated_at|date_time|Date Updated||
created_by|entity|Created by|HumanUser,ApiUser|
updated_by|entity|Updated by|HumanUser,ApiUser|
image|image|Thumbnail||
tag_list|tag_list|Tags||
cached_display_name|text|Cached Display Name||
";

const READ_ONLY: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "cached_display_name",
];

pub(super) fn schema() -> Schema {
    let mut types: BTreeMap<String, EntityDef> = BTreeMap::new();
    let mut current: Option<EntityDef> = None;
    let mut project_scoped = false;
    for line in TABLE.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(header) = line.strip_prefix('=') {
            if let Some(def) = current.take() {
                types.insert(def.name.clone(), finish(def, project_scoped));
            }
            let (head, flags) = header.split_once('|').unwrap_or((header, ""));
            let (name, display) = head.split_once(' ').unwrap_or((head, head));
            project_scoped = flags.contains('p');
            current = Some(EntityDef {
                name: name.to_owned(),
                display: display.to_owned(),
                fields: BTreeMap::new(),
                name_field: None,
            });
        } else if let Some(def) = current.as_mut() {
            add_field(def, line);
        }
    }
    if let Some(def) = current.take() {
        types.insert(def.name.clone(), finish(def, project_scoped));
    }
    Schema { types }
}

fn finish(mut def: EntityDef, project_scoped: bool) -> EntityDef {
    let is_events = def.name == "EventLogEntry";
    for line in COMMON.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let name = line.split('|').next().unwrap_or_default();
        if is_events && !matches!(name, "id" | "created_at" | "image") {
            continue;
        }
        add_field(&mut def, line);
    }
    if project_scoped {
        add_field(&mut def, "project|entity|Project|Project|");
    }
    def.name_field = pick_name_field(&def.name, &def.fields);
    def
}

fn add_field(def: &mut EntityDef, line: &str) {
    let mut parts = line.split('|');
    let name = parts.next().unwrap_or_default().to_owned();
    let data_type = DataType::parse(parts.next().unwrap_or("text"));
    let display = parts.next().unwrap_or(&name).to_owned();
    let valid: Vec<String> = parts
        .next()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let default = match (parts.next().unwrap_or_default(), &data_type) {
        ("", DataType::Checkbox) => Value::Bool(false),
        ("", _) => Value::Null,
        (text, _) => Value::String(text.to_owned()),
    };
    let read_only_flag = parts.next() == Some("r");
    let editable =
        !read_only_flag && !READ_ONLY.contains(&name.as_str()) && def.name != "EventLogEntry";
    let raw = field_json(&def.name, &display, &data_type, &valid, &default, editable);
    let (valid_values, valid_types) = match data_type {
        DataType::Entity | DataType::MultiEntity => (Vec::new(), valid),
        _ => (valid, Vec::new()),
    };
    def.fields.insert(
        name.clone(),
        FieldDef {
            name,
            display,
            data_type,
            valid_values,
            valid_types,
            default,
            editable,
            raw,
        },
    );
}
