//! Field values: checking and normalising what clients write, rendering what reads return.

use serde_json::{Value, json};

use crate::db::Db;
use crate::error::ApiError;
use crate::schema::{DataType, FieldDef};
use crate::time;

/// Checks a value written to `type_name.field` and returns its stored form.
/// `method` names the api3 call for the error message (`create`, `update`, ...).
pub(crate) fn normalize(
    db: &Db,
    method: &str,
    type_name: &str,
    field: &FieldDef,
    value: &Value,
) -> Result<Value, ApiError> {
    let wrong = |expected: &str| {
        ApiError::invalid(format!(
            "API {method}() {type_name}.{} is of type {} and expects {expected}, got {}",
            field.name,
            field.data_type.as_str(),
            short(value)
        ))
    };
    if value.is_null() {
        return Ok(match field.data_type {
            DataType::MultiEntity | DataType::TagList => json!([]),
            DataType::Checkbox => Value::Bool(false),
            _ => Value::Null,
        });
    }
    match &field.data_type {
        DataType::Text
        | DataType::Color
        | DataType::Uuid
        | DataType::Password
        | DataType::Image => value
            .as_str()
            .map(|_| value.clone())
            .ok_or_else(|| wrong("a string")),
        DataType::EntityType => {
            let s = value.as_str().ok_or_else(|| wrong("an entity type name"))?;
            if db.schema.entity(s).is_none() {
                return Err(wrong("an entity type name of this site"));
            }
            Ok(value.clone())
        }
        DataType::List | DataType::StatusList => {
            let s = value.as_str().ok_or_else(|| wrong("a string"))?;
            if !field.valid_values.is_empty() && !field.valid_values.iter().any(|v| v == s) {
                return Err(ApiError::invalid(format!(
                    "API {method}() {type_name}.{} value '{s}' is not a valid value. Valid values are: {}",
                    field.name,
                    field.valid_values.join(", ")
                )));
            }
            Ok(value.clone())
        }
        DataType::Number | DataType::Duration | DataType::Percent | DataType::Timecode => {
            let n = value
                .as_i64()
                .or_else(|| {
                    value
                        .as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| wrong("an integer"))?;
            if i32::try_from(n).is_err() {
                return Err(wrong("an integer within the signed 32-bit range"));
            }
            Ok(Value::from(n))
        }
        DataType::Float | DataType::Currency => value
            .as_f64()
            .map(Value::from)
            .ok_or_else(|| wrong("a number")),
        DataType::Checkbox => value
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| wrong("a boolean")),
        DataType::Date => {
            let s = value
                .as_str()
                .ok_or_else(|| wrong("a date string YYYY-MM-DD"))?;
            time::parse_date(s).ok_or_else(|| wrong("a date string YYYY-MM-DD"))?;
            Ok(value.clone())
        }
        DataType::DateTime => {
            let s = value
                .as_str()
                .ok_or_else(|| wrong("a date_time string YYYY-MM-DDTHH:MM:SSZ"))?;
            let secs = time::parse_date_time(s)
                .ok_or_else(|| wrong("a date_time string YYYY-MM-DDTHH:MM:SSZ"))?;
            Ok(Value::String(time::format_wire(secs)))
        }
        DataType::Entity => link(db, method, type_name, field, value),
        DataType::MultiEntity => {
            let items = value
                .as_array()
                .ok_or_else(|| wrong("a list of entity dictionaries"))?;
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for item in items {
                let l = link(db, method, type_name, field, item)?;
                if !out.contains(&l) {
                    out.push(l);
                }
            }
            Ok(Value::Array(out))
        }
        DataType::TagList => {
            let items = value.as_array().ok_or_else(|| wrong("a list"))?;
            Ok(Value::Array(items.clone()))
        }
        DataType::Url => {
            if value.is_object() || value.is_string() {
                Ok(value.clone())
            } else {
                Err(wrong("a url dictionary"))
            }
        }
        DataType::Serializable | DataType::Other(_) => Ok(value.clone()),
    }
}

/// Checks an entity dictionary and returns the stored `{"type", "id"}` form.
fn link(
    db: &Db,
    method: &str,
    type_name: &str,
    field: &FieldDef,
    value: &Value,
) -> Result<Value, ApiError> {
    let (Some(ty), Some(id)) = (
        value.get("type").and_then(Value::as_str),
        value.get("id").and_then(Value::as_i64),
    ) else {
        return Err(ApiError::invalid(format!(
            "API {method}() {type_name}.{} expects entity dictionaries with 'type' and 'id' keys, got {}",
            field.name,
            short(value)
        )));
    };
    if !field.valid_types.is_empty() && !field.valid_types.iter().any(|t| t == ty) {
        return Err(ApiError::invalid(format!(
            "API {method}() {type_name}.{} does not accept entities of type {ty}. Valid types are: {}",
            field.name,
            field.valid_types.join(", ")
        )));
    }
    match db.get(ty, id) {
        Some(e) if !e.retired => Ok(json!({"type": ty, "id": id})),
        _ => Err(ApiError::crud(format!(
            "API {method}() CRUD ERROR #6: {type_name}.{}: Entity of type [{ty}] with id={id} does not exist.",
            field.name
        ))),
    }
}

/// The wire form of a stored value: links gain `name`; links to retired records drop out.
pub(crate) fn render(db: &Db, data_type: &DataType, value: &Value) -> Value {
    match data_type {
        DataType::Entity => match link_of(value) {
            Some((ty, id)) => db.link_json(ty, id),
            None => Value::Null,
        },
        DataType::MultiEntity => Value::Array(
            value
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(link_of)
                        .map(|(ty, id)| db.link_json(ty, id))
                        .filter(|v| !v.is_null())
                        .collect()
                })
                .unwrap_or_default(),
        ),
        DataType::Password if !value.is_null() => Value::String("*******".into()),
        _ => value.clone(),
    }
}

/// The `(type, id)` of a stored link.
pub(crate) fn link_of(value: &Value) -> Option<(&str, i64)> {
    Some((value.get("type")?.as_str()?, value.get("id")?.as_i64()?))
}

/// A value as it appears in an event's `meta` (date_times as `... UTC`, links with names).
pub(crate) fn meta_value(db: &Db, data_type: &DataType, value: &Value) -> Value {
    match data_type {
        DataType::DateTime => match value.as_str().and_then(time::parse_date_time) {
            Some(secs) => Value::String(time::format_meta(secs)),
            None => Value::Null,
        },
        DataType::Entity => match link_of(value) {
            Some((ty, id)) => meta_link(db, ty, id),
            None => Value::Null,
        },
        _ => value.clone(),
    }
}

/// A link as event `meta` carries it.
pub(crate) fn meta_link(db: &Db, ty: &str, id: i64) -> Value {
    let mut link = json!({"type": ty, "id": id, "name": db.display_name(ty, id), "valid": "valid"});
    if let Some(status) = db
        .get(ty, id)
        .and_then(|e| e.fields.get("sg_status_list"))
        .filter(|s| !s.is_null())
    {
        link["status"] = status.clone();
    }
    link
}

/// A short text for a value in a description or error message.
pub(crate) fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}
