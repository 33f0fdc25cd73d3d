//! The in-memory site database: records per entity type, the EventLogEntry table, id counters
//! and per-call transactions (undo journal, gap decisions, write-through persistence).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::gaps::{Fate, Gaps};
use crate::persist::Persist;
use crate::schema::Schema;

/// How links name the records of a type: an ApiUser by `firstname lastname`, others by
/// their type's name field; a type without one has no name.
#[derive(Clone, Copy)]
pub(crate) enum Naming<'a> {
    Script,
    Field(&'a str),
    None,
}

impl Naming<'_> {
    /// The name of `entity`, borrowed when it is a stored string.
    pub(crate) fn name<'e>(self, entity: &'e Entity) -> Option<Cow<'e, str>> {
        let text = |field: &str| entity.fields.get(field).and_then(Value::as_str);
        match self {
            Naming::Script => {
                let first = text("firstname").unwrap_or("");
                Some(match text("lastname") {
                    Some(last) if !last.is_empty() => Cow::Owned(format!("{first} {last}")),
                    _ => Cow::Borrowed(first),
                })
            }
            Naming::Field(field) => Some(match entity.fields.get(field) {
                Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
                Some(Value::Null) | None => Cow::Borrowed(""),
                Some(other) => Cow::Owned(other.to_string()),
            }),
            Naming::None => None,
        }
    }
}

/// A link to a record: entity type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Link {
    pub(crate) ty: Arc<str>,
    pub(crate) id: i64,
}

/// One record. Entity-valued fields are stored as `{"type", "id"}` objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Entity {
    pub(crate) fields: BTreeMap<String, Value>,
    pub(crate) retired: bool,
}

/// One EventLogEntry row.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) id: i64,
    pub(crate) event_type: Box<str>,
    pub(crate) attribute_name: Option<Box<str>>,
    pub(crate) meta: Box<RawValue>,
    pub(crate) entity: Option<Link>,
    pub(crate) user: Option<Link>,
    pub(crate) project: Option<i64>,
    pub(crate) session_uuid: Option<Box<str>>,
    pub(crate) created_at: i64,
    pub(crate) description: Box<str>,
    /// Wall-clock milliseconds from which reads see the row (late commits); 0 = always.
    pub(crate) visible_at_ms: i64,
}

impl EventRow {
    pub(crate) fn is_visible(&self, now_ms: i64) -> bool {
        self.visible_at_ms <= now_ms
    }
}

enum Undo {
    Entity {
        ty: Arc<str>,
        id: i64,
        prev: Option<Entity>,
    },
    NextId {
        ty: Arc<str>,
        prev: Option<i64>,
    },
}

struct Tx {
    undo: Vec<Undo>,
    events_len: usize,
    next_event_id: i64,
    touched: BTreeSet<(Arc<str>, i64)>,
}

/// The database. All access goes through one mutex in [`crate::Sim`].
pub(crate) struct Db {
    pub(crate) schema: Arc<Schema>,
    names: HashMap<String, Arc<str>>,
    pub(crate) tables: HashMap<Arc<str>, BTreeMap<i64, Entity>>,
    pub(crate) next_ids: HashMap<Arc<str>, i64>,
    pub(crate) events: Vec<EventRow>,
    pub(crate) next_event_id: i64,
    tx: Option<Tx>,
    pub(crate) gaps: Gaps,
    pub(crate) persist: Option<Persist>,
    /// Session tokens handed out by `get_session_token`.
    pub(crate) sessions: HashMap<String, Link>,
}

impl Db {
    pub(crate) fn new(schema: Arc<Schema>, gaps: Gaps) -> Self {
        let mut db = Self {
            names: HashMap::new(),
            tables: HashMap::new(),
            next_ids: HashMap::new(),
            events: Vec::new(),
            next_event_id: 1,
            tx: None,
            gaps,
            persist: None,
            sessions: HashMap::new(),
            schema: schema.clone(),
        };
        for name in schema.types.keys() {
            let ty = db.intern(name);
            db.tables.insert(ty, BTreeMap::new());
        }
        db
    }

    /// The shared name of an entity type (cheap to clone into links).
    pub(crate) fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(ty) = self.names.get(name) {
            return ty.clone();
        }
        let ty: Arc<str> = Arc::from(name);
        self.names.insert(name.to_owned(), ty.clone());
        ty
    }

    pub(crate) fn type_name(&self, name: &str) -> Option<Arc<str>> {
        self.names.get(name).cloned()
    }

    pub(crate) fn get(&self, ty: &str, id: i64) -> Option<&Entity> {
        self.tables.get(ty).and_then(|t| t.get(&id))
    }

    /// Replaces (or inserts) a record, journaling the previous state.
    pub(crate) fn put(&mut self, ty: &Arc<str>, id: i64, entity: Entity) {
        let table = self.tables.entry(ty.clone()).or_default();
        let prev = table.insert(id, entity);
        if let Some(tx) = self.tx.as_mut() {
            tx.undo.push(Undo::Entity {
                ty: ty.clone(),
                id,
                prev,
            });
            tx.touched.insert((ty.clone(), id));
        }
    }

    /// Allocates the next record id of a type.
    pub(crate) fn alloc_id(&mut self, ty: &Arc<str>) -> i64 {
        let prev = self.next_ids.get(ty).copied();
        let id = prev.unwrap_or(1);
        self.next_ids.insert(ty.clone(), id + 1);
        if let Some(tx) = self.tx.as_mut() {
            tx.undo.push(Undo::NextId {
                ty: ty.clone(),
                prev,
            });
        }
        id
    }

    /// Appends an event row, allocating its id from the global sequence.
    pub(crate) fn push_event(&mut self, mut row: EventRow) -> i64 {
        row.id = self.next_event_id;
        self.next_event_id += 1;
        let id = row.id;
        self.events.push(row);
        id
    }

    /// The display name of a record, from its type's identifier field.
    pub(crate) fn display_name(&self, ty: &str, id: i64) -> Option<String> {
        let entity = self.get(ty, id)?;
        self.naming(ty).name(entity).map(Cow::into_owned)
    }

    /// How links name the records of `ty` (what [`Db::display_name`] applies).
    pub(crate) fn naming(&self, ty: &str) -> Naming<'_> {
        if ty == "ApiUser" {
            return Naming::Script;
        }
        match self.schema.entity(ty).and_then(|d| d.name_field.as_deref()) {
            Some(field) => Naming::Field(field),
            None => Naming::None,
        }
    }

    /// `{"type", "id", "name"}` for a live record, `null` for a retired or missing one.
    pub(crate) fn link_json(&self, ty: &str, id: i64) -> Value {
        match self.get(ty, id) {
            Some(e) if !e.retired => {
                json!({"type": ty, "id": id, "name": self.display_name(ty, id)})
            }
            _ => Value::Null,
        }
    }

    /// The highest event id reads can see now.
    pub(crate) fn latest_visible_event(&self, now_ms: i64) -> Option<i64> {
        self.events
            .iter()
            .rev()
            .find(|e| e.is_visible(now_ms))
            .map(|e| e.id)
    }

    pub(crate) fn begin(&mut self) {
        self.tx = Some(Tx {
            undo: Vec::new(),
            events_len: self.events.len(),
            next_event_id: self.next_event_id,
            touched: BTreeSet::new(),
        });
    }

    /// Undoes everything since `begin`.
    pub(crate) fn rollback(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        for undo in tx.undo.into_iter().rev() {
            match undo {
                Undo::Entity { ty, id, prev } => {
                    let table = self.tables.entry(ty).or_default();
                    match prev {
                        Some(entity) => table.insert(id, entity),
                        None => table.remove(&id),
                    };
                }
                Undo::NextId { ty, prev } => {
                    match prev {
                        Some(n) => self.next_ids.insert(ty, n),
                        None => self.next_ids.remove(&ty),
                    };
                }
            }
        }
        self.events.truncate(tx.events_len);
        self.next_event_id = tx.next_event_id;
    }

    /// Makes everything since `begin` permanent: decides when the new event rows become
    /// visible (gap profile) and writes the changes through to the store.
    pub(crate) fn commit(&mut self, now_ms: i64) -> Result<(), ApiError> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        if self.events.len() > tx.events_len {
            match self.gaps.decide() {
                Fate::Now => {}
                Fate::Late(delay_ms) => {
                    for row in &mut self.events[tx.events_len..] {
                        row.visible_at_ms = now_ms + delay_ms;
                    }
                }
                Fate::Never => self.events.truncate(tx.events_len),
            }
        }
        if let Some(persist) = self.persist.as_mut() {
            let entities: Vec<(&str, i64, &Entity)> = tx
                .touched
                .iter()
                .filter_map(|(ty, id)| {
                    self.tables
                        .get(ty)
                        .and_then(|t| t.get(id))
                        .map(|e| (&**ty, *id, e))
                })
                .collect();
            let counters: Vec<(&str, i64)> = tx
                .touched
                .iter()
                .map(|(ty, _)| (&**ty, self.next_ids.get(ty).copied().unwrap_or(1)))
                .chain(std::iter::once(("EventLogEntry", self.next_event_id)))
                .collect();
            let events = &self.events[tx.events_len.min(self.events.len())..];
            persist.write(&entities, events, &counters).map_err(|e| {
                tracing::error!(error = %e, "Writing to the data store failed");
                ApiError::crud(format!("the site's data store failed: {e}"))
            })?;
        }
        Ok(())
    }
}
