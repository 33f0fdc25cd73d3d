//! The EventLogEntry render fast path: pages of plain event fields written straight to JSON
//! bytes, byte for byte what the generic renderer (`render_path` + serde) gives.

use std::collections::BTreeMap;

use serde::ser::Error as _;
use serde_json::Value;

use crate::db::{Db, Entity, EventRow, Naming};
use crate::read::Row;
use crate::schema::DataType;
use crate::time;

/// An event field the fast path writes.
#[derive(Clone, Copy)]
enum Field {
    EventType,
    AttributeName,
    Description,
    SessionUuid,
    CreatedAt,
    Meta,
    Entity,
    User,
    Project,
}

/// The cells of one read, each with its `,"name":` prefix, in request order.
pub(super) struct Plan {
    cells: Vec<(Vec<u8>, Field)>,
}

impl Plan {
    /// `None` (use the generic renderer) unless every return field is a plain event field
    /// whose schema data type renders here exactly as `value::render` would.
    pub(super) fn new(db: &Db, return_fields: &[String]) -> Option<Self> {
        let def = db.schema.entity("EventLogEntry")?;
        let mut cells = Vec::with_capacity(return_fields.len());
        for name in return_fields {
            let field = match name.as_str() {
                // Always written first, as the generic path does.
                "type" | "id" => continue,
                "event_type" => Field::EventType,
                "attribute_name" => Field::AttributeName,
                "description" => Field::Description,
                "session_uuid" => Field::SessionUuid,
                "created_at" => Field::CreatedAt,
                "meta" => Field::Meta,
                "entity" => Field::Entity,
                "user" => Field::User,
                "project" => Field::Project,
                _ => return None,
            };
            // A field the schema lacks does not resolve, and the generic path leaves it out.
            let Some(def) = def.field(name) else {
                continue;
            };
            let plain = match field {
                Field::Meta => true,
                Field::Entity | Field::User | Field::Project => def.data_type == DataType::Entity,
                _ => !matches!(
                    def.data_type,
                    DataType::Entity | DataType::MultiEntity | DataType::Password
                ),
            };
            if !plain {
                return None;
            }
            let mut key = vec![b','];
            serde_json::to_writer(&mut key, name.as_str()).ok()?;
            key.push(b':');
            cells.push((key, field));
        }
        Some(Self { cells })
    }
}

/// The whole `{"results": {"entities": [...], "paging_info": ...}}` reply.
pub(super) fn write<'a>(
    db: &'a Db,
    plan: &Plan,
    rows: &[Row<'a>],
    paging_info: &Value,
) -> serde_json::Result<Vec<u8>> {
    let mut w = Writer {
        db,
        out: Vec::with_capacity(128 + rows.len() * (48 + 64 * plan.cells.len())),
        stamp: None,
        types: Vec::new(),
    };
    w.out.extend_from_slice(b"{\"results\":{\"entities\":[");
    for (i, row) in rows.iter().enumerate() {
        let Row::Event(e) = row else {
            return Err(serde_json::Error::custom("not an EventLogEntry row"));
        };
        if i > 0 {
            w.out.push(b',');
        }
        w.row(plan, e)?;
    }
    w.out.extend_from_slice(b"],\"paging_info\":");
    serde_json::to_writer(&mut w.out, paging_info)?;
    w.out.extend_from_slice(b"}}");
    Ok(w.out)
}

/// What naming a link to one entity type needs: its table and how its records are named.
struct Kind<'a> {
    ty: &'a str,
    table: &'a BTreeMap<i64, Entity>,
    name: Naming<'a>,
}

struct Writer<'a> {
    db: &'a Db,
    /// The link target types seen so far (a page links to a handful).
    types: Vec<Kind<'a>>,
    out: Vec<u8>,
    /// The last `created_at` written and its wire text (events come a few per second).
    stamp: Option<(i64, String)>,
}

impl<'a> Writer<'a> {
    fn row(&mut self, plan: &Plan, e: &EventRow) -> serde_json::Result<()> {
        self.out
            .extend_from_slice(b"{\"type\":\"EventLogEntry\",\"id\":");
        serde_json::to_writer(&mut self.out, &e.id)?;
        for (key, field) in &plan.cells {
            self.out.extend_from_slice(key);
            match field {
                Field::EventType => self.text(Some(&e.event_type))?,
                Field::AttributeName => self.text(e.attribute_name.as_deref())?,
                Field::Description => self.text(Some(&e.description))?,
                Field::SessionUuid => self.text(e.session_uuid.as_deref())?,
                Field::CreatedAt => self.created_at(e.created_at)?,
                Field::Meta => self.out.extend_from_slice(e.meta.get().as_bytes()),
                Field::Entity => match &e.entity {
                    Some(l) => self.link(&l.ty, l.id)?,
                    None => self.null(),
                },
                Field::User => match &e.user {
                    Some(l) => self.link(&l.ty, l.id)?,
                    None => self.null(),
                },
                Field::Project => match e.project {
                    Some(id) => self.link("Project", id)?,
                    None => self.null(),
                },
            }
        }
        self.out.push(b'}');
        Ok(())
    }

    fn null(&mut self) {
        self.out.extend_from_slice(b"null");
    }

    fn text(&mut self, s: Option<&str>) -> serde_json::Result<()> {
        match s {
            Some(s) => serde_json::to_writer(&mut self.out, s),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    fn created_at(&mut self, secs: i64) -> serde_json::Result<()> {
        let text = match &mut self.stamp {
            Some((at, text)) if *at == secs => text,
            stamp => &stamp.insert((secs, time::format_wire(secs))).1,
        };
        serde_json::to_writer(&mut self.out, text.as_str())
    }

    /// As `Db::link_json`: `{"type", "id", "name"}` for a live record, `null` otherwise.
    fn link(&mut self, ty: &str, id: i64) -> serde_json::Result<()> {
        let Some((table, naming)) = self.kind(ty) else {
            self.null();
            return Ok(());
        };
        let Some(entity) = table.get(&id).filter(|e| !e.retired) else {
            self.null();
            return Ok(());
        };
        self.out.extend_from_slice(b"{\"type\":");
        serde_json::to_writer(&mut self.out, ty)?;
        self.out.extend_from_slice(b",\"id\":");
        serde_json::to_writer(&mut self.out, &id)?;
        self.out.extend_from_slice(b",\"name\":");
        self.name(naming, entity)?;
        self.out.push(b'}');
        Ok(())
    }

    /// The table and naming rule of a type, `None` when the site has no such table.
    fn kind(&mut self, ty: &str) -> Option<(&'a BTreeMap<i64, Entity>, Naming<'a>)> {
        // Link types are interned, so the pointer test usually decides.
        if let Some(k) = self
            .types
            .iter()
            .find(|k| std::ptr::eq(k.ty, ty) || k.ty == ty)
        {
            return Some((k.table, k.name));
        }
        let db = self.db;
        let (key, table) = db.tables.get_key_value(ty)?;
        let name = db.naming(ty);
        self.types.push(Kind {
            ty: key,
            table,
            name,
        });
        Some((table, name))
    }

    /// As `Db::display_name`, without allocating when the name is a stored string.
    fn name(&mut self, naming: Naming<'_>, entity: &Entity) -> serde_json::Result<()> {
        match naming.name(entity) {
            Some(name) => serde_json::to_writer(&mut self.out, name.as_ref()),
            None => {
                self.null();
                Ok(())
            }
        }
    }
}
