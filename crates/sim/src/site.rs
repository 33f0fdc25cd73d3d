//! The shared site state behind every request: the database, request counters and faults.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};

use crate::db::{Db, Link};
use crate::error::{ApiError, SimError};
use crate::events::Actor;
use crate::faults::Faults;
use crate::gaps::Gaps;
use crate::persist::Persist;
use crate::schema::Schema;
use crate::write::{FieldWrite, Mode};
use crate::{SimConfig, time};

/// Everything one running site owns.
pub(crate) struct Site {
    db: Mutex<Db>,
    counts: Mutex<BTreeMap<String, u64>>,
    pub(crate) faults: Mutex<Faults>,
}

impl Site {
    /// Builds the site: schema, stored data, registered scripts and bootstrap records.
    pub(crate) fn open(config: &SimConfig) -> Result<Arc<Self>, SimError> {
        config.gaps.validate()?;
        let schema = match &config.schema {
            Some(path) => Schema::load(path)?,
            None => Schema::builtin(),
        };
        let mut db = Db::new(Arc::new(schema), Gaps::new(config.gaps, config.seed));
        if let Some(dir) = &config.data_dir {
            let (persist, loaded) = Persist::open(dir)?;
            for (ty, id, entity) in loaded.entities {
                let ty = db.intern(&ty);
                db.tables.entry(ty).or_default().insert(id, entity);
            }
            for mut row in loaded.events {
                if let Some(l) = row.entity.as_mut() {
                    l.ty = db.intern(&l.ty);
                }
                if let Some(l) = row.user.as_mut() {
                    l.ty = db.intern(&l.ty);
                }
                db.events.push(row);
            }
            for (name, value) in loaded.counters {
                if name == "EventLogEntry" {
                    db.next_event_id = value;
                } else {
                    let ty = db.intern(&name);
                    db.next_ids.insert(ty, value);
                }
            }
            db.next_event_id = db
                .next_event_id
                .max(db.events.last().map_or(1, |e| e.id + 1));
            db.persist = Some(persist);
        }
        let mut faults = Faults::new(config.seed);
        for rule in &config.faults {
            rule.validate()?;
            faults.add(rule.clone());
        }
        let site = Arc::new(Self {
            db: Mutex::new(db),
            counts: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(faults),
        });
        crate::seed::bootstrap(&site, &config.scripts)?;
        Ok(site)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn count(&self, method: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(method.to_owned()).or_default() += 1;
    }

    pub(crate) fn counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn reset_counts(&self) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The actor for an in-process write as the named script.
    pub(crate) fn script_actor(&self, db: &Db, script: &str) -> Result<Actor, SimError> {
        let (id, entity) = db
            .tables
            .get("ApiUser")
            .and_then(|t| {
                t.iter().find(|(_, e)| {
                    !e.retired && e.fields.get("firstname").and_then(Value::as_str) == Some(script)
                })
            })
            .ok_or_else(|| SimError::UnknownScript(script.to_owned()))?;
        Ok(Actor {
            user: Link {
                ty: db.type_name("ApiUser").unwrap_or_else(|| "ApiUser".into()),
                id: *id,
            },
            sudo_actual: None,
            session_uuid: None,
            log_events: entity
                .fields
                .get("generate_event_log_entries")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// Runs `f` in one transaction, committing on success and rolling back on error.
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Db, i64) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut db = self.lock();
        db.begin();
        match f(&mut db, time::now_secs()) {
            Ok(v) => {
                db.commit(time::now_millis())?;
                Ok(v)
            }
            Err(e) => {
                db.rollback();
                Err(e)
            }
        }
    }
}

/// Field writes from a JSON object `{field: value}`.
pub(crate) fn writes_from_object(fields: &Value) -> Result<Vec<FieldWrite>, ApiError> {
    let empty = Map::new();
    let obj = match fields {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => {
            return Err(ApiError::invalid(format!(
                "fields must be a JSON object, got {other}"
            )));
        }
    };
    Ok(obj
        .iter()
        .map(|(k, v)| FieldWrite {
            name: k.clone(),
            value: v.clone(),
            mode: Mode::Set,
        })
        .collect())
}
