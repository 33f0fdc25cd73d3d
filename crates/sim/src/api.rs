//! The api3 JSON-RPC layer: envelope parsing, authentication and method dispatch.

use serde_json::{Value, json};

use crate::db::{Db, Link};
use crate::error::ApiError;
use crate::events::Actor;
use crate::read::{ReadRequest, read};
use crate::site::Site;
use crate::time;
use crate::write::{self, FieldWrite, Mode};

/// The `info` reply: a modern server version, so shotgun_api3 takes its current code paths.
pub(crate) fn info() -> Value {
    json!({
        "version": [8, 89, 0],
        "full_version": [8, 89, 0, 0],
        "user_authentication_method": "default",
        "s3_uploads_enabled": false,
        "s3_direct_uploads_enabled": false,
        "api_max_entities_per_page": 500,
        "sgevents_sim": true,
    })
}

/// The `method_name` of a request body, for counting and fault matching (`"<malformed>"` if none).
pub(crate) fn method_of(request: &Value) -> String {
    request
        .get("method_name")
        .and_then(Value::as_str)
        .unwrap_or("<malformed>")
        .to_owned()
}

/// Handles one api3 request body and returns the response body.
pub(crate) fn handle(site: &Site, request: Result<Value, String>) -> Vec<u8> {
    let reply = request
        .map_err(|e| ApiError::invalid(format!("Invalid JSON in the request body: {e}")))
        .and_then(|req| dispatch(site, &req));
    match reply {
        Ok(Reply::Value(v)) => serde_json::to_vec(&v).unwrap_or_default(),
        Ok(Reply::Bytes(b)) => b,
        Err(e) => serde_json::to_vec(&e.to_body()).unwrap_or_default(),
    }
}

enum Reply {
    Value(Value),
    Bytes(Vec<u8>),
}

fn results(v: Value) -> Result<Reply, ApiError> {
    Ok(Reply::Value(json!({ "results": v })))
}

fn dispatch(site: &Site, req: &Value) -> Result<Reply, ApiError> {
    let method = req
        .get("method_name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("The request has no 'method_name'; expected {\"method_name\": ..., \"params\": [...]}"))?;
    if method == "info" {
        return Ok(Reply::Value(info()));
    }
    let params = req
        .get("params")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let auth = params.first().cloned().unwrap_or(Value::Null);
    let payload = params.get(1).cloned().unwrap_or(Value::Null);
    let mut db = site.lock();
    let actor = authenticate(&db, &auth)?;
    let now = time::now_secs();
    let now_ms = time::now_millis();
    match method {
        "read" => {
            let request = ReadRequest::parse(&db, &payload, now)?;
            Ok(Reply::Bytes(read(&db, &request, now_ms)))
        }
        "summarize" => results(crate::summarize::summarize(&db, &payload, now, now_ms)?),
        "schema_read" => results(db.schema.read_json()),
        "schema_entity_read" => results(db.schema.entity_read_json()),
        "schema_field_read" => {
            let ty = payload
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let def = write::entity_def(&db.schema, method, ty)?;
            match payload.get("field_name").and_then(Value::as_str) {
                Some(name) => {
                    let f = def.field(name).ok_or_else(|| {
                        ApiError::invalid(format!("API {method}() {ty}.{name} doesn't exist."))
                    })?;
                    results(json!({ name: f.raw }))
                }
                None => results(def.fields_json()),
            }
        }
        "get_session_token" => {
            let token = format!("sim-{:x}-{:x}", now_ms, db.sessions.len() + 1);
            db.sessions.insert(
                token.clone(),
                actor
                    .sudo_actual
                    .clone()
                    .unwrap_or_else(|| actor.user.clone()),
            );
            results(json!({ "session_id": token }))
        }
        "update_project_last_accessed_by_current_user" => results(Value::Bool(true)),
        "create" | "update" | "delete" | "revive" | "batch" => {
            db.begin();
            let outcome = write_method(&mut db, &actor, method, &payload, now);
            match outcome {
                Ok(v) => {
                    db.commit(now_ms)?;
                    results(v)
                }
                Err(e) => {
                    db.rollback();
                    Err(e)
                }
            }
        }
        other => Err(ApiError::invalid(format!(
            "Unknown method '{other}': this site does not implement it"
        ))),
    }
}

fn write_method(
    db: &mut Db,
    actor: &Actor,
    method: &str,
    payload: &Value,
    now: i64,
) -> Result<Value, ApiError> {
    if method == "batch" {
        let requests = payload
            .as_array()
            .ok_or_else(|| ApiError::invalid("API batch() expects a list of requests"))?;
        let mut out = Vec::with_capacity(requests.len());
        for (idx, request) in requests.iter().enumerate() {
            let kind = request
                .get("request_type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let result = match kind {
                "create" | "update" | "delete" => write_method(db, actor, kind, request, now),
                other => Err(ApiError::invalid(format!(
                    "invalid request_type '{other}': use create, update or delete"
                ))),
            };
            match result {
                Ok(v) => out.push(v),
                Err(e) => {
                    return Err(ApiError {
                        code: e.code,
                        message: format!(
                            "API batch() request with index {idx} failed.  All requests rolled back.\n{}",
                            e.message
                        ),
                    });
                }
            }
        }
        return Ok(Value::Array(out));
    }
    let ty = payload.get("type").and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid(format!(
            "API {method}() requires 'type' (an entity type name)"
        ))
    })?;
    let id = || {
        payload
            .get("id")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::invalid(format!("API {method}() requires an integer 'id'")))
    };
    match method {
        "create" => {
            let fields = field_writes(method, payload)?;
            let return_fields: Vec<String> = payload
                .get("return_fields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            write::create(db, actor, method, ty, &fields, &return_fields, now)
        }
        "update" => {
            let fields = field_writes(method, payload)?;
            write::update(db, actor, method, ty, id()?, &fields, now)
        }
        "delete" => write::delete(db, actor, method, ty, id()?, now).map(Value::Bool),
        _ => write::revive(db, actor, method, ty, id()?, now).map(Value::Bool),
    }
}

fn field_writes(method: &str, payload: &Value) -> Result<Vec<FieldWrite>, ApiError> {
    let items = match payload.get("fields") {
        Some(Value::Array(items)) => items.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "API {method}() 'fields' must be a list of {{field_name, value}}"
            )));
        }
    };
    items
        .iter()
        .map(|item| {
            let name = item
                .get("field_name")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid(format!("API {method}() each field needs 'field_name' and 'value'")))?;
            let mode = match item.get("multi_entity_update_mode").and_then(Value::as_str) {
                None | Some("set") => Mode::Set,
                Some("add") => Mode::Add,
                Some("remove") => Mode::Remove,
                Some(other) => {
                    return Err(ApiError::invalid(format!(
                        "API {method}() multi_entity_update_mode '{other}' is invalid: use set, add or remove"
                    )));
                }
            };
            Ok(FieldWrite { name: name.to_owned(), value: item.get("value").cloned().unwrap_or(Value::Null), mode })
        })
        .collect()
}

/// Resolves the auth params to an actor, honouring `sudo_as_login` and `session_uuid`.
pub(crate) fn authenticate(db: &Db, auth: &Value) -> Result<Actor, ApiError> {
    let text = |key: &str| auth.get(key).and_then(Value::as_str);
    let (user, log_events) = if let Some(name) = text("script_name") {
        let key = text("script_key").unwrap_or_default();
        let found = find_one(db, "ApiUser", |f| {
            f.get("firstname").and_then(Value::as_str) == Some(name)
                && f.get("salted_password").and_then(Value::as_str) == Some(key)
        });
        let id =
            found.ok_or_else(|| ApiError::auth(format!("Can't authenticate script '{name}'")))?;
        let flag = db
            .get("ApiUser", id)
            .and_then(|e| e.fields.get("generate_event_log_entries"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        (link(db, "ApiUser", id), flag)
    } else if let Some(login) = text("user_login") {
        let password = text("user_password").unwrap_or_default();
        let found = find_one(db, "HumanUser", |f| {
            f.get("login").and_then(Value::as_str) == Some(login)
                && f.get("password_proxy")
                    .and_then(Value::as_str)
                    .is_some_and(|p| !p.is_empty() && p == password)
        });
        let id =
            found.ok_or_else(|| ApiError::auth(format!("Can't authenticate user '{login}'")))?;
        (link(db, "HumanUser", id), true)
    } else if let Some(token) = text("session_token") {
        let user = db.sessions.get(token).cloned().ok_or_else(|| {
            ApiError::auth("Can't authenticate: the session token is invalid or expired")
        })?;
        (user, true)
    } else {
        return Err(ApiError::auth(
            "Can't authenticate: no script_name/script_key, user_login/user_password or session_token given",
        ));
    };
    let mut actor = Actor {
        user,
        sudo_actual: None,
        session_uuid: text("session_uuid").map(str::to_owned),
        log_events,
    };
    if let Some(login) = text("sudo_as_login") {
        let id = find_one(db, "HumanUser", |f| f.get("login").and_then(Value::as_str) == Some(login)).ok_or_else(|| {
            ApiError::auth(format!("The user does not have permission to 'sudo': no active HumanUser has the login '{login}'"))
        })?;
        actor.sudo_actual = Some(actor.user.clone());
        actor.user = link(db, "HumanUser", id);
        actor.log_events = true;
    }
    Ok(actor)
}

fn link(db: &Db, ty: &str, id: i64) -> Link {
    Link {
        ty: db.type_name(ty).unwrap_or_else(|| ty.into()),
        id,
    }
}

fn find_one(
    db: &Db,
    ty: &str,
    pred: impl Fn(&std::collections::BTreeMap<String, Value>) -> bool,
) -> Option<i64> {
    db.tables
        .get(ty)?
        .iter()
        .find(|(_, e)| !e.retired && pred(&e.fields))
        .map(|(id, _)| *id)
}
