//! Filters: compiling api3 filter trees against the schema and evaluating them on rows.

mod eval;
#[cfg(test)]
mod tests;

use jiff::{Span, civil};
use serde_json::Value;

use crate::db::Db;
use crate::error::ApiError;
use crate::read::Row;
use crate::schema::{DataType, Schema};
use crate::time;
use crate::value::link_of;

pub(crate) use eval::compare;

/// A compiled filter tree.
#[derive(Debug)]
pub(crate) enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Cond(Box<Cond>),
}

/// One condition: a (possibly dotted) path, a relation and its values.
#[derive(Debug)]
pub(crate) struct Cond {
    pub(crate) path: Path,
    rel: Rel,
    negate: bool,
    values: Vec<Value>,
    /// Inclusive bounds (wire text) for the relative date relations.
    window: Option<(String, String)>,
}

/// A field path: zero or more `field.Type` hops, then a final field.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    pub(crate) hops: Vec<(String, String)>,
    pub(crate) field: String,
    pub(crate) data_type: DataType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Is,
    In,
    LessThan,
    GreaterThan,
    Between,
    Contains,
    StartsWith,
    EndsWith,
    Window,
    TypeIs,
    NameContains,
    NameIs,
    NameStartsWith,
    NameEndsWith,
}

impl Filter {
    /// Whether a row passes.
    pub(crate) fn matches(&self, db: &Db, row: &Row<'_>) -> bool {
        match self {
            Self::All(items) => items.iter().all(|f| f.matches(db, row)),
            Self::Any(items) => items.iter().any(|f| f.matches(db, row)),
            Self::Cond(cond) => cond.matches(db, row),
        }
    }

    /// The lower bound (exclusive) an `and` tree puts on `id` through `id greater_than N`
    /// (or inclusive through `id >=`-like `between`), for the EventLogEntry fast path.
    pub(crate) fn id_lower_bound(&self) -> Option<i64> {
        let conds: Vec<&Cond> = match self {
            Self::All(items) => items
                .iter()
                .filter_map(|f| {
                    if let Self::Cond(c) = f {
                        Some(&**c)
                    } else {
                        None
                    }
                })
                .collect(),
            Self::Cond(c) => vec![&**c],
            Self::Any(_) => return None,
        };
        conds
            .iter()
            .filter(|c| c.path.hops.is_empty() && c.path.field == "id" && !c.negate)
            .filter_map(|c| match c.rel {
                Rel::GreaterThan => c.values.first().and_then(Value::as_i64),
                Rel::Between => c.values.first().and_then(Value::as_i64).map(|n| n - 1),
                Rel::Is => c.values.first().and_then(Value::as_i64).map(|n| n - 1),
                _ => None,
            })
            .max()
    }
}

/// Compiles the `filters` of a read/summarize payload for records of type `ty`.
pub(crate) fn compile(
    schema: &Schema,
    method: &str,
    ty: &str,
    filters: Option<&Value>,
    now: i64,
) -> Result<Filter, ApiError> {
    match filters {
        None | Some(Value::Null) => Ok(Filter::All(Vec::new())),
        Some(Value::Array(items)) => compile_list(schema, method, ty, items, true, now),
        Some(v @ Value::Object(_)) => compile_node(schema, method, ty, v, now),
        Some(other) => Err(ApiError::invalid(format!(
            "API {method}() filters must be an object, got {other}"
        ))),
    }
}

fn compile_node(
    schema: &Schema,
    method: &str,
    ty: &str,
    node: &Value,
    now: i64,
) -> Result<Filter, ApiError> {
    if let Some(conditions) = node.get("conditions") {
        let op = node
            .get("logical_operator")
            .and_then(Value::as_str)
            .unwrap_or("and");
        let all = match op {
            "and" | "all" => true,
            "or" | "any" => false,
            other => {
                return Err(ApiError::invalid(format!(
                    "API {method}() invalid logical_operator '{other}': use 'and' or 'or'"
                )));
            }
        };
        let items = conditions.as_array().ok_or_else(|| {
            ApiError::invalid(format!("API {method}() filter 'conditions' must be a list"))
        })?;
        let compiled = items
            .iter()
            .map(|c| compile_node(schema, method, ty, c, now))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if all {
            Filter::All(compiled)
        } else {
            Filter::Any(compiled)
        });
    }
    if let Some(filters) = node.get("filters") {
        let op = node
            .get("filter_operator")
            .and_then(Value::as_str)
            .unwrap_or("all");
        let items = filters.as_array().ok_or_else(|| {
            ApiError::invalid(format!("API {method}() nested 'filters' must be a list"))
        })?;
        return compile_list(schema, method, ty, items, matches!(op, "all" | "and"), now);
    }
    let path = node.get("path").and_then(Value::as_str);
    let relation = node.get("relation").and_then(Value::as_str);
    let (Some(path), Some(relation)) = (path, relation) else {
        return Err(ApiError::invalid(format!(
            "API {method}() malformed filter condition {}: expected path, relation and values",
            crate::value::short(node)
        )));
    };
    let values = match node.get("values") {
        Some(Value::Array(v)) => v.clone(),
        None | Some(Value::Null) => vec![Value::Null],
        Some(single) => vec![single.clone()],
    };
    compile_cond(schema, method, ty, path, relation, values, now).map(|c| Filter::Cond(Box::new(c)))
}

/// The Python-list form (`[[path, relation, value...], ...]`), accepted for convenience.
fn compile_list(
    schema: &Schema,
    method: &str,
    ty: &str,
    items: &[Value],
    all: bool,
    now: i64,
) -> Result<Filter, ApiError> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Array(parts) if parts.len() >= 2 => {
                let (Some(path), Some(rel)) = (parts[0].as_str(), parts[1].as_str()) else {
                    return Err(ApiError::invalid(format!(
                        "API {method}() malformed filter {item}"
                    )));
                };
                let mut values: Vec<Value> = parts[2..].to_vec();
                if let [Value::Array(inner)] = values.as_slice() {
                    values = inner.clone();
                }
                out.push(Filter::Cond(Box::new(compile_cond(
                    schema, method, ty, path, rel, values, now,
                )?)));
            }
            Value::Object(_) => out.push(compile_node(schema, method, ty, item, now)?),
            other => {
                return Err(ApiError::invalid(format!(
                    "API {method}() malformed filter {other}"
                )));
            }
        }
    }
    Ok(if all {
        Filter::All(out)
    } else {
        Filter::Any(out)
    })
}

/// Resolves a (dotted) path starting at type `ty`.
pub(crate) fn resolve_path(
    schema: &Schema,
    method: &str,
    ty: &str,
    path: &str,
) -> Result<Path, ApiError> {
    if path.starts_with("$FROM$") {
        return Err(ApiError::invalid(format!(
            "API {method}() reverse paths ({path}) are not supported by this emulator"
        )));
    }
    let parts: Vec<&str> = path.split('.').collect();
    if parts.len().is_multiple_of(2) {
        return Err(ApiError::invalid(format!(
            "API {method}() invalid path '{path}': use field or field.Type.field"
        )));
    }
    let mut current = ty.to_owned();
    let mut hops = Vec::new();
    for pair in parts[..parts.len() - 1].chunks(2) {
        let (field, target) = (pair[0], pair[1]);
        let def = schema.entity(&current).ok_or_else(|| {
            ApiError::invalid(format!("API {method}() unknown entity type '{current}'"))
        })?;
        let f = def.field(field).ok_or_else(|| {
            ApiError::invalid(format!("API {method}() {current}.{field} doesn't exist."))
        })?;
        if !matches!(f.data_type, DataType::Entity | DataType::MultiEntity) {
            return Err(ApiError::invalid(format!(
                "API {method}() {current}.{field} is not an entity field, so '{path}' cannot follow it"
            )));
        }
        if schema.entity(target).is_none() {
            return Err(ApiError::invalid(format!(
                "API {method}() unknown entity type '{target}' in path '{path}'"
            )));
        }
        hops.push((field.to_owned(), target.to_owned()));
        current = target.to_owned();
    }
    let last = parts[parts.len() - 1];
    let def = schema.entity(&current).ok_or_else(|| {
        ApiError::invalid(format!("API {method}() unknown entity type '{current}'"))
    })?;
    let f = def.field(last).ok_or_else(|| {
        ApiError::invalid(format!("API {method}() {current}.{last} doesn't exist."))
    })?;
    Ok(Path {
        hops,
        field: last.to_owned(),
        data_type: f.data_type.clone(),
    })
}

fn compile_cond(
    schema: &Schema,
    method: &str,
    ty: &str,
    path_text: &str,
    relation: &str,
    values: Vec<Value>,
    now: i64,
) -> Result<Cond, ApiError> {
    let path = resolve_path(schema, method, ty, path_text)?;
    let dt = &path.data_type;
    let owner = path.hops.last().map_or(ty, |(_, t)| t.as_str());
    let unsupported = || {
        ApiError::invalid(format!(
            "API {method}() {owner}.{}'s '{}' data type doesn't support '{relation}' 'relation'",
            path.field,
            dt.as_str()
        ))
    };
    if matches!(
        dt,
        DataType::Serializable | DataType::Password | DataType::Url | DataType::Other(_)
    ) {
        return Err(ApiError::invalid(format!(
            "API {method}() {owner}.{}'s '{}' data type cannot be used in a filter.",
            path.field,
            dt.as_str()
        )));
    }
    let (rel, negate) = match relation {
        "is" => (Rel::Is, false),
        "is_not" => (Rel::Is, true),
        "in" => (Rel::In, false),
        "not_in" => (Rel::In, true),
        "less_than" => (Rel::LessThan, false),
        "greater_than" => (Rel::GreaterThan, false),
        "between" => (Rel::Between, false),
        "not_between" => (Rel::Between, true),
        "contains" => (Rel::Contains, false),
        "not_contains" => (Rel::Contains, true),
        "starts_with" => (Rel::StartsWith, false),
        "ends_with" => (Rel::EndsWith, false),
        "in_last" | "in_next" | "in_calendar_day" | "in_calendar_week" | "in_calendar_month"
        | "in_calendar_year" => (Rel::Window, false),
        "not_in_last" | "not_in_next" => (Rel::Window, true),
        "type_is" => (Rel::TypeIs, false),
        "type_is_not" => (Rel::TypeIs, true),
        "name_contains" => (Rel::NameContains, false),
        "name_not_contains" => (Rel::NameContains, true),
        "name_is" => (Rel::NameIs, false),
        "name_starts_with" => (Rel::NameStartsWith, false),
        "name_ends_with" => (Rel::NameEndsWith, false),
        _ => return Err(unsupported()),
    };
    let allowed = match dt {
        DataType::Text | DataType::Color | DataType::TagList => {
            matches!(
                rel,
                Rel::Is | Rel::In | Rel::Contains | Rel::StartsWith | Rel::EndsWith
            )
        }
        DataType::Number | DataType::Currency => matches!(
            rel,
            Rel::Is | Rel::In | Rel::LessThan | Rel::GreaterThan | Rel::Between
        ),
        DataType::Float | DataType::Duration | DataType::Percent | DataType::Timecode => {
            matches!(rel, Rel::Is | Rel::In | Rel::LessThan | Rel::GreaterThan)
                || (rel == Rel::Between && !negate)
        }
        DataType::Date | DataType::DateTime => {
            matches!(
                rel,
                Rel::Is | Rel::In | Rel::LessThan | Rel::GreaterThan | Rel::Between | Rel::Window
            )
        }
        DataType::Checkbox => rel == Rel::Is,
        DataType::List | DataType::StatusList | DataType::EntityType | DataType::Uuid => {
            matches!(rel, Rel::Is | Rel::In)
        }
        DataType::Entity | DataType::MultiEntity => matches!(
            rel,
            Rel::Is
                | Rel::In
                | Rel::TypeIs
                | Rel::NameContains
                | Rel::NameIs
                | Rel::NameStartsWith
                | Rel::NameEndsWith
        ),
        DataType::Image => rel == Rel::Is,
        _ => false,
    };
    if !allowed {
        return Err(unsupported());
    }
    let bad_values = |expected: &str| {
        ApiError::invalid(format!(
            "API {method}() filter on {owner}.{} with relation '{relation}' expects {expected}, got {}",
            path.field,
            Value::Array(values.clone())
        ))
    };
    let arity_ok = match rel {
        Rel::Between => values.len() == 2,
        Rel::Window if relation.starts_with("in_calendar") => values.len() == 1,
        Rel::Window => values.len() == 2,
        Rel::In => true,
        _ => values.len() == 1,
    };
    if !arity_ok {
        return Err(bad_values(match rel {
            Rel::Between => "two values",
            Rel::Window if relation.starts_with("in_calendar") => "one integer offset",
            Rel::Window => "[count, 'HOUR'|'DAY'|'WEEK'|'MONTH'|'YEAR']",
            _ => "one value",
        }));
    }
    let mut window = None;
    let mut values = values.clone();
    if rel == Rel::Window {
        let bounds = window_bounds(relation, &values, now)
            .ok_or_else(|| bad_values("a count and a unit (HOUR, DAY, WEEK, MONTH, YEAR)"))?;
        window = Some(match dt {
            DataType::Date => (
                time::utc_date(bounds.0).to_string(),
                time::utc_date(bounds.1).to_string(),
            ),
            _ => (time::format_wire(bounds.0), time::format_wire(bounds.1)),
        });
    } else if *dt == DataType::DateTime {
        for v in &mut values {
            if let Some(s) = v.as_str() {
                let secs =
                    time::parse_date_time(s).ok_or_else(|| bad_values("date_time values"))?;
                *v = Value::String(time::format_wire(secs));
            }
        }
    } else if matches!(rel, Rel::Is | Rel::In)
        && matches!(dt, DataType::Entity | DataType::MultiEntity)
    {
        for v in &values {
            if !v.is_null() && link_of(v).is_none() {
                return Err(bad_values("entity dictionaries with 'type' and 'id'"));
            }
        }
    }
    Ok(Cond {
        path,
        rel,
        negate,
        values,
        window,
    })
}

/// Inclusive epoch-second bounds of a relative date relation.
fn window_bounds(relation: &str, values: &[Value], now: i64) -> Option<(i64, i64)> {
    let today = time::utc_date(now);
    if let Some(unit) = relation.strip_prefix("in_calendar_") {
        let k = values.first()?.as_i64()?;
        let (start, step) = match unit {
            "day" => (today, Span::new().days(1)),
            "week" => (
                today
                    .checked_sub(
                        Span::new().days(i64::from(today.weekday().to_monday_zero_offset())),
                    )
                    .ok()?,
                Span::new().weeks(1),
            ),
            "month" => (today.first_of_month(), Span::new().months(1)),
            "year" => (today.first_of_year(), Span::new().years(1)),
            _ => return None,
        };
        let lo = shift(start, step, k)?;
        let hi = shift(start, step, k + 1)?;
        return Some((time::date_start(lo), time::date_start(hi) - 1));
    }
    let n = values.first()?.as_i64()?;
    let unit = values.get(1)?.as_str()?.to_ascii_uppercase();
    let span = match unit.trim_end_matches('S') {
        "HOUR" => Span::new().hours(n),
        "DAY" => Span::new().days(n),
        "WEEK" => Span::new().weeks(n),
        "MONTH" => Span::new().months(n),
        "YEAR" => Span::new().years(n),
        _ => return None,
    };
    let zoned = jiff::Timestamp::from_second(now)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC);
    if relation.ends_with("in_last") {
        Some((zoned.checked_sub(span).ok()?.timestamp().as_second(), now))
    } else {
        Some((now, zoned.checked_add(span).ok()?.timestamp().as_second()))
    }
}

fn shift(date: civil::Date, step: Span, k: i64) -> Option<civil::Date> {
    let mut d = date;
    let n = k.unsigned_abs();
    for _ in 0..n.min(10_000) {
        d = if k >= 0 {
            d.checked_add(step).ok()?
        } else {
            d.checked_sub(step).ok()?
        };
    }
    Some(d)
}
