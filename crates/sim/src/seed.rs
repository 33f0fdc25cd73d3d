//! Bootstrap records of a fresh site (people, steps, a project) and the registered scripts.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::db::{Db, Link};
use crate::error::{ApiError, SimError};
use crate::events::Actor;
use crate::schema::{DataType, EntityDef};
use crate::site::{Site, writes_from_object};
use crate::write;

const PEOPLE: &[(&str, &str, &str)] = &[
    ("Admin", "User", "admin"),
    ("Ada", "Lovelace", "ada"),
    ("Grace", "Hopper", "grace"),
    ("Alan", "Turing", "alan"),
    ("Katherine", "Johnson", "katherine"),
    ("Linus", "Pauling", "linus"),
];

const STEPS: &[(&str, &str, &str)] = &[
    ("Layout", "LAY", "Shot"),
    ("Animation", "ANM", "Shot"),
    ("FX", "FX", "Shot"),
    ("Lighting", "LGT", "Shot"),
    ("Comp", "CMP", "Shot"),
    ("Model", "MOD", "Asset"),
    ("Rig", "RIG", "Asset"),
    ("Surface", "SRF", "Asset"),
];

/// Display names of common status codes; any other code of the schema's status lists gets
/// its code as name.
const STATUS_NAMES: &[(&str, &str)] = &[
    ("wtg", "Waiting to Start"),
    ("rdy", "Ready to Start"),
    ("ip", "In Progress"),
    ("cmpt", "Complete"),
    ("fin", "Final"),
    ("hld", "On Hold"),
    ("omt", "Omit"),
    ("cbb", "Could Be Better"),
    ("rev", "Pending Review"),
    ("vwd", "Viewed"),
    ("apr", "Approved"),
    ("rej", "Rejected"),
    ("na", "N/A"),
    ("act", "Active"),
    ("dis", "Disabled"),
    ("opn", "Open"),
    ("clsd", "Closed"),
];

/// Creates the bootstrap records on an empty site (no events logged) and registers scripts.
pub(crate) fn bootstrap(site: &Arc<Site>, scripts: &[(String, String)]) -> Result<(), SimError> {
    site.transaction(|db, now| {
        let schema = db.schema.clone();
        let has = |ty: &str| schema.entity(ty).is_some();
        let empty = db.tables.get("HumanUser").is_none_or(|t| t.is_empty());
        let human = db.intern("HumanUser");
        let system = Actor {
            user: Link { ty: human, id: 1 },
            sudo_actual: None,
            session_uuid: None,
            log_events: false,
        };
        if empty
            && has("HumanUser")
            && schema
                .entity("HumanUser")
                .is_some_and(|d| d.field("login").is_some())
        {
            seed_records(db, &system, now)?;
        }
        if has("ApiUser") {
            for (name, key) in scripts {
                register_script(db, &system, name, key, now)?;
            }
        }
        Ok(())
    })
    .map_err(SimError::from)
}

fn create(db: &mut Db, actor: &Actor, ty: &str, fields: Value, now: i64) -> Result<i64, ApiError> {
    Ok(create_fitted(db, actor, ty, fields, now)?.unwrap_or(0))
}

/// Creates a record with only the fields this schema has (so seeding and activity work with
/// any loaded dump); `None` when the schema lacks the type.
pub(crate) fn create_fitted(
    db: &mut Db,
    actor: &Actor,
    ty: &str,
    fields: Value,
    now: i64,
) -> Result<Option<i64>, ApiError> {
    let Some(def) = db.schema.entity(ty) else {
        return Ok(None);
    };
    let fields = fit_fields(def, &fields);
    let created = write::create(
        db,
        actor,
        "create",
        ty,
        &writes_from_object(&Value::Object(fields))?,
        &[],
        now,
    )?;
    Ok(created.get("id").and_then(Value::as_i64))
}

fn seed_records(db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
    let mut users = Vec::new();
    for (first, last, login) in PEOPLE {
        let id = create(
            db,
            actor,
            "HumanUser",
            json!({"name": format!("{first} {last}"), "firstname": first, "lastname": last, "login": login,
                   "email": format!("{login}@studio.example"), "sg_status_list": "act"}),
            now,
        )?;
        users.push(json!({"type": "HumanUser", "id": id}));
    }
    for (name, code) in [
        ("Animation", "ANM"),
        ("Lighting", "LGT"),
        ("Compositing", "CMP"),
        ("Modeling", "MOD"),
    ] {
        create(
            db,
            actor,
            "Department",
            json!({"name": name, "code": code}),
            now,
        )?;
    }
    create(
        db,
        actor,
        "Group",
        json!({"code": "Artists", "users": users[1..].to_vec()}),
        now,
    )?;
    create(
        db,
        actor,
        "Group",
        json!({"code": "Supervisors", "users": users[..2].to_vec()}),
        now,
    )?;
    for (idx, (name, short, entity_type)) in STEPS.iter().enumerate() {
        create(
            db,
            actor,
            "Step",
            json!({"code": name, "short_name": short, "entity_type": entity_type, "list_order": idx + 1}),
            now,
        )?;
    }
    for name in [
        "Maya Scene",
        "Nuke Script",
        "Alembic Cache",
        "Image Sequence",
    ] {
        create(db, actor, "PublishedFileType", json!({"code": name}), now)?;
    }
    seed_statuses(db, actor, now)?;
    create(
        db,
        actor,
        "Project",
        json!({"name": "Demo Project", "tank_name": "demo", "sg_status": "Active", "sg_type": "Feature", "users": users}),
        now,
    )?;
    Ok(())
}

/// One `Status` record per code the schema's status lists use, as a site has.
fn seed_statuses(db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
    let mut codes: Vec<String> = db
        .schema
        .types
        .values()
        .flat_map(|def| def.fields.values())
        .filter(|field| field.data_type == DataType::StatusList)
        .flat_map(|field| field.valid_values.iter().cloned())
        .collect();
    codes.sort();
    codes.dedup();
    for code in codes {
        let name = STATUS_NAMES
            .iter()
            .find(|(known, _)| *known == code)
            .map_or(code.as_str(), |(_, name)| name);
        // `code` is read-only on real sites (set when a status is defined), so set it directly.
        let Some(id) = create_fitted(db, actor, "Status", json!({"name": name}), now)? else {
            return Ok(());
        };
        let ty = db.intern("Status");
        if let Some(mut entity) = db.get("Status", id).cloned() {
            entity.fields.insert("code".into(), Value::String(code));
            db.put(&ty, id, entity);
        }
    }
    Ok(())
}

fn register_script(
    db: &mut Db,
    actor: &Actor,
    name: &str,
    key: &str,
    now: i64,
) -> Result<(), ApiError> {
    let existing = db
        .tables
        .get("ApiUser")
        .and_then(|t| {
            t.iter().find(|(_, e)| {
                !e.retired && e.fields.get("firstname").and_then(Value::as_str) == Some(name)
            })
        })
        .map(|(id, _)| *id);
    let id = match existing {
        Some(id) => id,
        None => create(
            db,
            actor,
            "ApiUser",
            json!({"firstname": name, "lastname": "1.0", "generate_event_log_entries": true,
                   "description": "registered with sgevents sim --script"}),
            now,
        )?,
    };
    // The key is not editable through the API on real sites, so set it directly.
    let ty = db.intern("ApiUser");
    if let Some(mut entity) = db.get("ApiUser", id).cloned() {
        entity
            .fields
            .insert("salted_password".into(), Value::String(key.to_owned()));
        if existing.is_none() {
            entity
                .fields
                .insert("generate_event_log_entries".into(), Value::Bool(true));
        }
        db.put(&ty, id, entity);
    }
    Ok(())
}

/// Keeps only the fields a type has and list values its schema allows, so generated records
/// fit any loaded schema dump.
pub(crate) fn fit_fields(def: &EntityDef, fields: &Value) -> serde_json::Map<String, Value> {
    let Some(map) = fields.as_object() else {
        return serde_json::Map::new();
    };
    map.iter()
        .filter(|(k, v)| {
            let Some(field) = def.field(k) else {
                return false;
            };
            match field.data_type {
                DataType::List | DataType::StatusList if !field.valid_values.is_empty() => v
                    .as_str()
                    .is_some_and(|s| field.valid_values.iter().any(|valid| valid == s)),
                _ => !v.is_null(),
            }
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
