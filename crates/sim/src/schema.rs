//! The site schema: entity types, their fields and data types, from the built-in table or a dump.

mod builtin;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::error::SimError;

/// A field's data type, as `schema_read` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataType {
    Text,
    Number,
    Float,
    Currency,
    Duration,
    Percent,
    Timecode,
    Date,
    DateTime,
    Checkbox,
    List,
    StatusList,
    EntityType,
    Uuid,
    Color,
    Entity,
    MultiEntity,
    Image,
    Serializable,
    Url,
    Password,
    TagList,
    /// Any other type a dump may hold (`pivot_column`, `summary`, `calculated`, ...).
    Other(String),
}

impl DataType {
    pub(crate) fn parse(name: &str) -> Self {
        match name {
            "text" => Self::Text,
            "number" => Self::Number,
            "float" => Self::Float,
            "currency" => Self::Currency,
            "duration" => Self::Duration,
            "percent" => Self::Percent,
            "timecode" => Self::Timecode,
            "date" => Self::Date,
            "date_time" => Self::DateTime,
            "checkbox" => Self::Checkbox,
            "list" => Self::List,
            "status_list" => Self::StatusList,
            "entity_type" => Self::EntityType,
            "uuid" => Self::Uuid,
            "color" => Self::Color,
            "entity" => Self::Entity,
            "multi_entity" => Self::MultiEntity,
            "image" => Self::Image,
            "serializable" => Self::Serializable,
            "url" => Self::Url,
            "password" => Self::Password,
            "tag_list" => Self::TagList,
            other => Self::Other(other.to_owned()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Float => "float",
            Self::Currency => "currency",
            Self::Duration => "duration",
            Self::Percent => "percent",
            Self::Timecode => "timecode",
            Self::Date => "date",
            Self::DateTime => "date_time",
            Self::Checkbox => "checkbox",
            Self::List => "list",
            Self::StatusList => "status_list",
            Self::EntityType => "entity_type",
            Self::Uuid => "uuid",
            Self::Color => "color",
            Self::Entity => "entity",
            Self::MultiEntity => "multi_entity",
            Self::Image => "image",
            Self::Serializable => "serializable",
            Self::Url => "url",
            Self::Password => "password",
            Self::TagList => "tag_list",
            Self::Other(name) => name,
        }
    }

    /// Integer-valued types.
    pub(crate) fn is_integer(&self) -> bool {
        matches!(
            self,
            Self::Number | Self::Duration | Self::Percent | Self::Timecode
        )
    }
}

/// One field of an entity type.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub(crate) name: String,
    pub(crate) display: String,
    pub(crate) data_type: DataType,
    pub(crate) valid_values: Vec<String>,
    /// Allowed link targets; empty means any type.
    pub(crate) valid_types: Vec<String>,
    pub(crate) default: Value,
    pub(crate) editable: bool,
    /// The full `schema_read` definition served to clients.
    pub(crate) raw: Value,
}

/// One entity type.
#[derive(Debug, Clone)]
pub(crate) struct EntityDef {
    pub(crate) name: String,
    pub(crate) display: String,
    pub(crate) fields: BTreeMap<String, FieldDef>,
    /// The field whose value is the display name of a record (`code`, `content`, ...).
    pub(crate) name_field: Option<String>,
}

/// The whole schema.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    pub(crate) types: BTreeMap<String, EntityDef>,
}

impl Schema {
    /// The built-in default schema.
    pub(crate) fn builtin() -> Self {
        builtin::schema()
    }

    /// Loads a `schema_read` JSON dump (`{Type: {field: {data_type: {value}, ...}}}`).
    pub(crate) fn load(path: &Path) -> Result<Self, SimError> {
        let err = |message: String| SimError::Schema {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let dump: Value = serde_json::from_str(&text).map_err(|e| {
            err(format!(
                "not JSON ({e}); expected the output of shotgun_api3 schema_read()"
            ))
        })?;
        Self::from_dump(&dump).map_err(err)
    }

    /// Builds a schema from a decoded `schema_read` result.
    pub(crate) fn from_dump(dump: &Value) -> Result<Self, String> {
        let Some(types) = dump.as_object() else {
            return Err("top level must be an object of entity types".to_owned());
        };
        let mut schema = Self {
            types: BTreeMap::new(),
        };
        for (type_name, fields_json) in types {
            let Some(fields_obj) = fields_json.as_object() else {
                return Err(format!(
                    "entity type {type_name}: expected an object of fields"
                ));
            };
            let mut fields = BTreeMap::new();
            for (field_name, def) in fields_obj {
                let leaf = |key: &str| def.get(key).and_then(|v| v.get("value"));
                let prop = |key: &str| {
                    def.get("properties")
                        .and_then(|p| p.get(key))
                        .and_then(|v| v.get("value"))
                };
                let Some(data_type) = leaf("data_type").and_then(Value::as_str) else {
                    return Err(format!("{type_name}.{field_name}: missing data_type.value"));
                };
                let strings = |v: Option<&Value>| -> Vec<String> {
                    v.and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                fields.insert(
                    field_name.clone(),
                    FieldDef {
                        name: field_name.clone(),
                        display: leaf("name")
                            .and_then(Value::as_str)
                            .unwrap_or(field_name)
                            .to_owned(),
                        data_type: DataType::parse(data_type),
                        valid_values: strings(prop("valid_values")),
                        valid_types: strings(prop("valid_types")),
                        default: prop("default_value").cloned().unwrap_or(Value::Null),
                        editable: leaf("editable").and_then(Value::as_bool).unwrap_or(true),
                        raw: def.clone(),
                    },
                );
            }
            let name_field = pick_name_field(type_name, &fields);
            schema.types.insert(
                type_name.clone(),
                EntityDef {
                    name: type_name.clone(),
                    display: type_name.clone(),
                    fields,
                    name_field,
                },
            );
        }
        if !schema.types.contains_key("EventLogEntry") {
            return Err(
                "the dump has no EventLogEntry type; is it a full schema_read() output?".to_owned(),
            );
        }
        Ok(schema)
    }

    pub(crate) fn entity(&self, type_name: &str) -> Option<&EntityDef> {
        self.types.get(type_name)
    }

    /// The `schema_read` result.
    pub(crate) fn read_json(&self) -> Value {
        let map = self
            .types
            .iter()
            .map(|(name, def)| (name.clone(), def.fields_json()))
            .collect::<serde_json::Map<_, _>>();
        Value::Object(map)
    }

    /// The `schema_entity_read` result.
    pub(crate) fn entity_read_json(&self) -> Value {
        let map = self
            .types
            .iter()
            .map(|(name, def)| {
                (
                    name.clone(),
                    json!({"name": {"value": def.display, "editable": false},
                           "visible": {"value": true, "editable": false}}),
                )
            })
            .collect::<serde_json::Map<_, _>>();
        Value::Object(map)
    }
}

impl EntityDef {
    pub(crate) fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.get(name)
    }

    pub(crate) fn fields_json(&self) -> Value {
        let map = self
            .fields
            .iter()
            .map(|(name, f)| (name.clone(), f.raw.clone()))
            .collect::<serde_json::Map<_, _>>();
        Value::Object(map)
    }
}

fn pick_name_field(type_name: &str, fields: &BTreeMap<String, FieldDef>) -> Option<String> {
    let preferred: &[&str] = match type_name {
        "Task" | "Reply" => &["content"],
        "Note" => &["subject"],
        "HumanUser" | "Project" | "Department" => &["name"],
        "ApiUser" => &["firstname"],
        "EventLogEntry" | "TimeLog" => &["description"],
        _ => &["code", "name", "content", "title", "subject", "description"],
    };
    preferred
        .iter()
        .find(|f| fields.contains_key(**f))
        .map(|f| (*f).to_owned())
}

/// The full `schema_read` definition of a field.
pub(crate) fn field_json(
    type_name: &str,
    display: &str,
    data_type: &DataType,
    valid: &[String],
    default: &Value,
    editable: bool,
) -> Value {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "default_value".into(),
        json!({"value": default, "editable": false}),
    );
    properties.insert(
        "summary_default".into(),
        json!({"value": if *data_type == DataType::StatusList { "status_list" } else { "none" }, "editable": true}),
    );
    match data_type {
        DataType::Entity | DataType::MultiEntity => {
            properties.insert(
                "valid_types".into(),
                json!({"value": valid, "editable": true}),
            );
        }
        DataType::List | DataType::StatusList => {
            properties.insert(
                "valid_values".into(),
                json!({"value": valid, "editable": true}),
            );
        }
        _ => {}
    }
    json!({
        "data_type": {"value": data_type.as_str(), "editable": false},
        "name": {"value": display, "editable": true},
        "description": {"value": "", "editable": true},
        "entity_type": {"value": type_name, "editable": false},
        "editable": {"value": editable, "editable": false},
        "mandatory": {"value": false, "editable": false},
        "unique": {"value": false, "editable": false},
        "visible": {"value": true, "editable": false},
        "properties": properties,
    })
}
