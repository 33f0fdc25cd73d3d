//! Filter evaluation: matching compiled conditions against stored values.

use std::cmp::Ordering;

use serde_json::Value;

use super::{Cond, Path, Rel};
use crate::db::Db;
use crate::read::Row;
use crate::schema::DataType;
use crate::value::link_of;

impl Cond {
    pub(super) fn matches(&self, db: &Db, row: &Row<'_>) -> bool {
        let found = self.path.fetch(db, row);
        let hit = found.iter().any(|v| self.test(db, v));
        hit != self.negate
    }

    fn test(&self, db: &Db, v: &Value) -> bool {
        let dt = &self.path.data_type;
        let first = self.values.first().unwrap_or(&Value::Null);
        match self.rel {
            Rel::Is => equals(db, dt, v, first),
            Rel::In => self.values.iter().any(|want| equals(db, dt, v, want)),
            Rel::LessThan => compare(v, first) == Some(Ordering::Less),
            Rel::GreaterThan => compare(v, first) == Some(Ordering::Greater),
            Rel::Between => {
                let hi = self.values.get(1).unwrap_or(&Value::Null);
                matches!(compare(v, first), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(compare(v, hi), Some(Ordering::Less | Ordering::Equal))
            }
            Rel::Contains | Rel::StartsWith | Rel::EndsWith => {
                let (Some(have), Some(want)) = (text_of(v), first.as_str()) else {
                    return false;
                };
                let (have, want) = (have.to_lowercase(), want.to_lowercase());
                match self.rel {
                    Rel::Contains => have.contains(&want),
                    Rel::StartsWith => have.starts_with(&want),
                    _ => have.ends_with(&want),
                }
            }
            Rel::Window => match (&self.window, v.as_str()) {
                (Some((lo, hi)), Some(s)) => s >= lo.as_str() && s <= hi.as_str(),
                _ => false,
            },
            Rel::TypeIs => links(v).iter().any(|(t, _)| Some(*t) == first.as_str()),
            Rel::NameContains | Rel::NameIs | Rel::NameStartsWith | Rel::NameEndsWith => {
                let Some(want) = first.as_str().map(str::to_lowercase) else {
                    return false;
                };
                links(v).iter().any(|(t, i)| {
                    let name = db.display_name(t, *i).unwrap_or_default().to_lowercase();
                    match self.rel {
                        Rel::NameContains => name.contains(&want),
                        Rel::NameIs => name == want,
                        Rel::NameStartsWith => name.starts_with(&want),
                        _ => name.ends_with(&want),
                    }
                })
            }
        }
    }
}

impl Path {
    /// The stored values this path reaches from a row (`[null]` when a link is empty).
    pub(crate) fn fetch(&self, db: &Db, row: &Row<'_>) -> Vec<Value> {
        if self.hops.is_empty() {
            return vec![row.raw(db, &self.field)];
        }
        let mut rows: Vec<Row<'_>> = vec![row.clone()];
        for (field, target) in &self.hops {
            let mut next = Vec::new();
            for r in &rows {
                for (t, i) in links(&r.raw(db, field)) {
                    if t == target
                        && let Some(found) = Row::lookup(db, t, i)
                    {
                        next.push(found);
                    }
                }
            }
            rows = next;
        }
        if rows.is_empty() {
            return vec![Value::Null];
        }
        rows.iter().map(|r| r.raw(db, &self.field)).collect()
    }
}

/// The links in an entity or multi-entity value (live ones only).
fn links(v: &Value) -> Vec<(&str, i64)> {
    match v {
        Value::Array(items) => items.iter().filter_map(link_of).collect(),
        other => link_of(other).into_iter().collect(),
    }
}

fn text_of(v: &Value) -> Option<&str> {
    v.as_str()
}

fn equals(db: &Db, dt: &DataType, have: &Value, want: &Value) -> bool {
    match dt {
        DataType::Entity => match (link_of(have), link_of(want)) {
            (Some((ht, hi)), Some((wt, wi))) => {
                ht == wt && hi == wi && db.get(ht, hi).is_some_and(|e| !e.retired)
            }
            (None, None) => want.is_null(),
            _ => false,
        },
        DataType::MultiEntity => {
            let have = links(have);
            match link_of(want) {
                Some(w) => have.contains(&w),
                None => want.is_null() && have.is_empty(),
            }
        }
        DataType::Text | DataType::Color | DataType::TagList => match (have, want) {
            (Value::String(h), Value::String(w)) => h.to_lowercase() == w.to_lowercase(),
            (Value::Array(h), Value::String(w)) => h.iter().any(|t| t.as_str() == Some(w.as_str())),
            (Value::Null, Value::Null) => true,
            (Value::String(h), Value::Null) => h.is_empty(),
            _ => false,
        },
        DataType::Checkbox => have.as_bool().unwrap_or(false) == want.as_bool().unwrap_or(false),
        _ => match (have, want) {
            (Value::Null, Value::Null) => true,
            (Value::Number(_), Value::Number(_)) => compare(have, want) == Some(Ordering::Equal),
            _ => have == want,
        },
    }
}

/// Orders two scalar values of the same kind; `None` when either is null or they differ in kind.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}
