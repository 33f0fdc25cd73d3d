//! `summarize`: aggregates (count, sum, min, max, ...) over filtered records, with grouping.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::db::Db;
use crate::error::ApiError;
use crate::filter::{self, Path, compare};
use crate::read::Row;
use crate::schema::DataType;
use crate::value::{link_of, render};

struct Summary {
    field: String,
    path: Path,
    kind: String,
}

struct Grouping {
    path: Path,
    kind: String,
    desc: bool,
}

/// Runs a `summarize` payload.
pub(crate) fn summarize(
    db: &Db,
    payload: &Value,
    now_s: i64,
    now_ms: i64,
) -> Result<Value, ApiError> {
    let ty = payload
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("API summarize() requires 'type'"))?;
    crate::write::entity_def(&db.schema, "summarize", ty)?;
    let filter = filter::compile(&db.schema, "summarize", ty, payload.get("filters"), now_s)?;
    let mut summaries = Vec::new();
    for s in payload
        .get("summaries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = s
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid("API summarize() each summary needs 'field'"))?;
        let kind = s
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("record_count");
        if !matches!(
            kind,
            "record_count"
                | "count"
                | "sum"
                | "maximum"
                | "minimum"
                | "average"
                | "earliest"
                | "latest"
                | "checked"
                | "unchecked"
        ) {
            return Err(ApiError::invalid(format!(
                "API summarize() summary type '{kind}' is not supported by this emulator"
            )));
        }
        let path = filter::resolve_path(&db.schema, "summarize", ty, field)?;
        summaries.push(Summary {
            field: field.to_owned(),
            path,
            kind: kind.to_owned(),
        });
    }
    let mut groupings = Vec::new();
    for g in payload
        .get("grouping")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = g
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid("API summarize() each grouping needs 'field'"))?;
        let kind = g.get("type").and_then(Value::as_str).unwrap_or("exact");
        if !matches!(
            kind,
            "exact"
                | "entitytype"
                | "firstletter"
                | "tens"
                | "hundreds"
                | "thousands"
                | "tensofthousands"
                | "hundredsofthousands"
                | "millions"
                | "day"
                | "week"
                | "month"
                | "quarter"
                | "year"
        ) {
            return Err(ApiError::invalid(format!(
                "API summarize() grouping type '{kind}' is not supported by this emulator"
            )));
        }
        let path = filter::resolve_path(&db.schema, "summarize", ty, field)?;
        let desc = g.get("direction").and_then(Value::as_str) == Some("desc");
        groupings.push(Grouping {
            path,
            kind: kind.to_owned(),
            desc,
        });
    }
    let rows: Vec<Row<'_>> = if ty == "EventLogEntry" {
        db.events
            .iter()
            .filter(|e| e.is_visible(now_ms))
            .map(Row::Event)
            .filter(|r| filter.matches(db, r))
            .collect()
    } else {
        match db.tables.get_key_value(ty) {
            Some((ty_arc, table)) => table
                .iter()
                .filter(|(_, e)| !e.retired)
                .map(|(id, entity)| Row::Entity {
                    ty: ty_arc,
                    id: *id,
                    entity,
                })
                .filter(|r| filter.matches(db, r))
                .collect(),
            None => Vec::new(),
        }
    };
    let mut out = Map::new();
    out.insert("summaries".into(), aggregate(db, &summaries, &rows));
    out.insert(
        "groups".into(),
        Value::Array(group(db, &summaries, &groupings, &rows)),
    );
    Ok(Value::Object(out))
}

fn aggregate(db: &Db, summaries: &[Summary], rows: &[Row<'_>]) -> Value {
    let mut out = Map::new();
    for s in summaries {
        let values: Vec<Value> = rows
            .iter()
            .map(|r| {
                s.path
                    .fetch(db, r)
                    .into_iter()
                    .next()
                    .unwrap_or(Value::Null)
            })
            .collect();
        let present = || values.iter().filter(|v| !is_empty(v));
        let v = match s.kind.as_str() {
            "record_count" => Value::from(rows.len()),
            "count" => Value::from(present().count()),
            "checked" => Value::from(values.iter().filter(|v| v.as_bool() == Some(true)).count()),
            "unchecked" => Value::from(values.iter().filter(|v| v.as_bool() != Some(true)).count()),
            "sum" | "average" => {
                let nums: Vec<f64> = present().filter_map(Value::as_f64).collect();
                let sum: f64 = nums.iter().sum();
                let result = if s.kind == "sum" {
                    sum
                } else if nums.is_empty() {
                    return_null(&mut out, &s.field);
                    continue;
                } else {
                    sum / nums.len() as f64
                };
                if result.fract() == 0.0 && s.path.data_type.is_integer() {
                    Value::from(result as i64)
                } else {
                    Value::from(result)
                }
            }
            _ => {
                let want_max = matches!(s.kind.as_str(), "maximum" | "latest");
                let best = present().fold(None::<&Value>, |best, v| match best {
                    None => Some(v),
                    Some(b) => {
                        let ord = compare(v, b);
                        let better = if want_max {
                            ord == Some(std::cmp::Ordering::Greater)
                        } else {
                            ord == Some(std::cmp::Ordering::Less)
                        };
                        Some(if better { v } else { b })
                    }
                });
                best.cloned().unwrap_or(Value::Null)
            }
        };
        out.insert(s.field.clone(), v);
    }
    Value::Object(out)
}

fn return_null(out: &mut Map<String, Value>, field: &str) {
    out.insert(field.to_owned(), Value::Null);
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn group(db: &Db, summaries: &[Summary], groupings: &[Grouping], rows: &[Row<'_>]) -> Vec<Value> {
    let Some((g, rest)) = groupings.split_first() else {
        return Vec::new();
    };
    let mut buckets: BTreeMap<String, (Value, Vec<Row<'_>>)> = BTreeMap::new();
    for row in rows {
        let v = g
            .path
            .fetch(db, row)
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        let (name, value) = bucket(db, g, &v);
        buckets
            .entry(name)
            .or_insert_with(|| (value, Vec::new()))
            .1
            .push(row.clone());
    }
    let mut out: Vec<Value> = buckets
        .into_iter()
        .map(|(name, (value, members))| {
            let mut item = json!({"group_name": name, "group_value": value, "summaries": aggregate(db, summaries, &members)});
            if !rest.is_empty() {
                item["groups"] = Value::Array(group(db, summaries, rest, &members));
            }
            item
        })
        .collect();
    if g.desc {
        out.reverse();
    }
    out
}

/// The group name and value of one record's grouping field.
fn bucket(db: &Db, g: &Grouping, v: &Value) -> (String, Value) {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match g.kind.as_str() {
        "entitytype" => match link_of(v) {
            Some((t, _)) => (t.to_owned(), Value::String(t.to_owned())),
            None => (String::new(), Value::Null),
        },
        "firstletter" => {
            let letter = text(v)
                .chars()
                .next()
                .map(|c| c.to_uppercase().to_string())
                .unwrap_or_default();
            (letter.clone(), Value::String(letter))
        }
        "tens"
        | "hundreds"
        | "thousands"
        | "tensofthousands"
        | "hundredsofthousands"
        | "millions" => {
            let step: i64 = match g.kind.as_str() {
                "tens" => 10,
                "hundreds" => 100,
                "thousands" => 1_000,
                "tensofthousands" => 10_000,
                "hundredsofthousands" => 100_000,
                _ => 1_000_000,
            };
            match v.as_f64() {
                Some(n) => {
                    let lo = (n as i64).div_euclid(step) * step;
                    (format!("{lo} - {}", lo + step - 1), Value::from(lo))
                }
                None => (String::new(), Value::Null),
            }
        }
        "day" | "week" | "month" | "quarter" | "year" => {
            let date = text(v).get(..10).and_then(crate::time::parse_date);
            match date {
                Some(d) => {
                    let name = match g.kind.as_str() {
                        "day" => d.to_string(),
                        "week" => {
                            let monday = d
                                .checked_sub(
                                    jiff::Span::new()
                                        .days(i64::from(d.weekday().to_monday_zero_offset())),
                                )
                                .unwrap_or(d);
                            monday.to_string()
                        }
                        "month" => format!("{:04}-{:02}", d.year(), d.month()),
                        "quarter" => format!("{:04} Q{}", d.year(), (d.month() - 1) / 3 + 1),
                        _ => format!("{:04}", d.year()),
                    };
                    (name.clone(), Value::String(name))
                }
                None => (String::new(), Value::Null),
            }
        }
        _ => match (&g.path.data_type, link_of(v)) {
            (DataType::Entity, Some((t, i))) => {
                let mut value = render(db, &DataType::Entity, v);
                if value.is_object() {
                    value["valid"] = Value::String("valid".into());
                }
                (db.display_name(t, i).unwrap_or_default(), value)
            }
            _ => (text(v), render(db, &g.path.data_type, v)),
        },
    }
}
