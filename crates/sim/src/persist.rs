//! Write-through SQLite store behind `--data DIR`: entities, events and id counters.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::db::{Entity, EventRow, Link};
use crate::error::SimError;

/// Everything loaded back at start.
#[derive(Default)]
pub(crate) struct Loaded {
    pub(crate) entities: Vec<(String, i64, Entity)>,
    pub(crate) events: Vec<EventRow>,
    pub(crate) counters: Vec<(String, i64)>,
}

/// The open database.
pub(crate) struct Persist {
    conn: Connection,
    path: PathBuf,
}

impl Persist {
    /// Opens (creating) `DIR/site.sqlite3` and loads its content.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Loaded), SimError> {
        let path = dir.join("site.sqlite3");
        let err = |message: String| SimError::Store {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create the directory: {e}")))?;
        let conn = Connection::open(&path).map_err(|e| err(format!("cannot open: {e}")))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS entities (type TEXT NOT NULL, id INTEGER NOT NULL,
                 retired INTEGER NOT NULL, fields TEXT NOT NULL, PRIMARY KEY (type, id));
             CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, event_type TEXT NOT NULL,
                 attribute_name TEXT, meta TEXT NOT NULL, entity_type TEXT, entity_id INTEGER,
                 user_type TEXT, user_id INTEGER, project_id INTEGER, session_uuid TEXT,
                 created_at INTEGER NOT NULL, description TEXT NOT NULL, visible_at_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )
        .map_err(|e| err(format!("cannot initialise (is it a sgevents sim store?): {e}")))?;
        let loaded = load(&conn).map_err(|e| err(format!("cannot load: {e}")))?;
        Ok((Self { conn, path }, loaded))
    }

    /// Writes one committed transaction.
    pub(crate) fn write(
        &mut self,
        entities: &[(&str, i64, &Entity)],
        events: &[EventRow],
        counters: &[(&str, i64)],
    ) -> Result<(), SimError> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| SimError::Store {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut put_entity = tx
                .prepare_cached("INSERT OR REPLACE INTO entities (type, id, retired, fields) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for (ty, id, entity) in entities {
                let fields = serde_json::to_string(&entity.fields).unwrap_or_else(|_| "{}".into());
                put_entity
                    .execute(params![ty, id, entity.retired, fields])
                    .map_err(err)?;
            }
            let mut put_event = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO events (id, event_type, attribute_name, meta, entity_type, entity_id,
                     user_type, user_id, project_id, session_uuid, created_at, description, visible_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(err)?;
            for e in events {
                put_event
                    .execute(params![
                        e.id,
                        &*e.event_type,
                        e.attribute_name.as_deref(),
                        e.meta.get(),
                        e.entity.as_ref().map(|l| l.ty.to_string()),
                        e.entity.as_ref().map(|l| l.id),
                        e.user.as_ref().map(|l| l.ty.to_string()),
                        e.user.as_ref().map(|l| l.id),
                        e.project,
                        e.session_uuid.as_deref(),
                        e.created_at,
                        &*e.description,
                        e.visible_at_ms,
                    ])
                    .map_err(err)?;
            }
            let mut put_counter = tx
                .prepare_cached("INSERT OR REPLACE INTO counters (name, value) VALUES (?1, ?2)")
                .map_err(err)?;
            for (name, value) in counters {
                put_counter.execute(params![name, value]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}

fn load(conn: &Connection) -> rusqlite::Result<Loaded> {
    let mut loaded = Loaded::default();
    let mut stmt = conn.prepare("SELECT type, id, retired, fields FROM entities")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    for row in rows {
        let (ty, id, retired, fields) = row?;
        let fields = serde_json::from_str::<serde_json::Map<String, Value>>(&fields)
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
        loaded.entities.push((ty, id, Entity { fields, retired }));
    }
    let mut stmt = conn.prepare(
        "SELECT id, event_type, attribute_name, meta, entity_type, entity_id, user_type, user_id,
         project_id, session_uuid, created_at, description, visible_at_ms FROM events ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        let meta: String = r.get(3)?;
        let meta = RawValue::from_string(meta).unwrap_or_default();
        let link = |ty: Option<String>, id: Option<i64>| match (ty, id) {
            (Some(ty), Some(id)) => Some(Link { ty: ty.into(), id }),
            _ => None,
        };
        let entity = link(r.get(4)?, r.get(5)?);
        let user = link(r.get(6)?, r.get(7)?);
        Ok(EventRow {
            id: r.get(0)?,
            event_type: r.get::<_, String>(1)?.into(),
            attribute_name: r.get::<_, Option<String>>(2)?.map(Into::into),
            meta,
            entity,
            user,
            project: r.get(8)?,
            session_uuid: r.get::<_, Option<String>>(9)?.map(Into::into),
            created_at: r.get(10)?,
            description: r.get::<_, String>(11)?.into(),
            visible_at_ms: r.get(12)?,
        })
    })?;
    for row in rows {
        loaded.events.push(row?);
    }
    let mut stmt = conn.prepare("SELECT name, value FROM counters")?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        loaded.counters.push(row?);
    }
    Ok(loaded)
}
