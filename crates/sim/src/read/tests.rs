//! Reads: the EventLogEntry fast path against the generic renderer, byte for byte, on a site
//! with retired links, scripts, odd names and hand-made event rows.

use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{ReadRequest, events, read, read_with};
use crate::db::{Db, Entity, EventRow, Link};
use crate::events::Actor;
use crate::gaps::{GapProfile, Gaps};
use crate::schema::{DataType, Schema};
use crate::site::writes_from_object;
use crate::{time, write};

const ALL: &[&str] = &[
    "id",
    "type",
    "event_type",
    "attribute_name",
    "meta",
    "entity",
    "user",
    "project",
    "session_uuid",
    "created_at",
    "description",
];

/// Lists the fast path takes: what shotgun_api3 pollers send, a subset in odd order, `type`
/// and `id` given explicitly (and late), a duplicate, and no fields at all.
const LISTS: &[&[&str]] = &[
    ALL,
    &[
        "id",
        "event_type",
        "attribute_name",
        "meta",
        "entity",
        "user",
        "project",
        "session_uuid",
        "created_at",
    ],
    &["user", "created_at", "entity", "description", "project"],
    &["session_uuid", "type", "meta", "id", "attribute_name"],
    &["entity", "entity", "id"],
    &[],
];

const NASTY: &str = "q\"uote \\back\\ <b>&</b> \u{0}\u{1}\u{1f}\u{7f} \t\n\r é Ω ☃ \u{2028} 🎬";

struct Fixture {
    db: Db,
    now: i64,
    /// The id of the first hand-made event row.
    first_hand: i64,
}

fn actor(db: &mut Db) -> Actor {
    Actor {
        user: Link {
            ty: db.intern("HumanUser"),
            id: 1,
        },
        sudo_actual: None,
        session_uuid: Some("5e55-10n".into()),
        log_events: true,
    }
}

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

impl Fixture {
    fn new() -> Self {
        let mut schema = Schema::builtin();
        // A type without a name field: links to it carry `"name": null`.
        let mut widget = schema.types["Shot"].clone();
        widget.name = "Widget".into();
        widget.name_field = None;
        schema.types.insert("Widget".into(), widget);
        let db = Db::new(Arc::new(schema), Gaps::new(GapProfile::default(), 1));
        let now = time::parse_date_time("2026-03-18T12:00:00Z").unwrap();
        let mut f = Self {
            db,
            now,
            first_hand: 0,
        };
        let ada = format!("Ada \"Countess\" Lovelace {NASTY}");
        f.create("HumanUser", json!({"name": ada, "login": "ada"}));
        f.create("HumanUser", json!({"name": "Grace", "login": "grace"}));
        f.create("Project", json!({"name": format!("Démo <{NASTY}>")}));
        f.create("Project", json!({"name": "Old"}));
        let p1 = json!({"type": "Project", "id": 1});
        f.create("Shot", json!({"code": NASTY, "project": p1}));
        f.create("Shot", json!({"code": "sh020", "project": p1}));
        f.update("Shot", 1, json!({"description": format!("new {NASTY}")}));
        f.put("ApiUser", 1, json!({"firstname": "bot", "lastname": "1.0"}));
        f.put("ApiUser", 2, json!({"firstname": "watcher \\ \"q\""}));
        f.put("ApiUser", 3, json!({"firstname": "empty", "lastname": ""}));
        f.put("ApiUser", 4, json!({"lastname": 7}));
        f.put("ApiUser", 5, json!({"firstname": "gone", "lastname": "2"}));
        f.put("Asset", 1, json!({"code": 42}));
        f.put("Asset", 2, json!({"code": null}));
        f.put("Asset", 3, json!({}));
        f.put("Asset", 4, json!({"code": {"a": "b\"c", "n": [1, 2.5]}}));
        f.put("Widget", 1, json!({"code": "ignored"}));
        f.delete("Shot", 2);
        f.delete("HumanUser", 2);
        f.delete("Project", 2);
        if let Some(api) = f.db.tables.get_mut("ApiUser") {
            api.entry(5).and_modify(|e| e.retired = true);
        }
        f.hand_events();
        f
    }

    fn create(&mut self, ty: &str, fields: Value) {
        let actor = actor(&mut self.db);
        let writes = writes_from_object(&fields).unwrap();
        write::create(&mut self.db, &actor, "create", ty, &writes, &[], self.now).unwrap();
    }

    fn update(&mut self, ty: &str, id: i64, fields: Value) {
        let actor = actor(&mut self.db);
        let writes = writes_from_object(&fields).unwrap();
        write::update(&mut self.db, &actor, "update", ty, id, &writes, self.now).unwrap();
    }

    fn delete(&mut self, ty: &str, id: i64) {
        let actor = actor(&mut self.db);
        assert!(write::delete(&mut self.db, &actor, "delete", ty, id, self.now).unwrap());
    }

    /// A record stored as is, bypassing the write checks (non-string names, no lastname).
    fn put(&mut self, ty: &str, id: i64, fields: Value) {
        let ty = self.db.intern(ty);
        let fields = fields.as_object().unwrap().clone().into_iter().collect();
        self.db.put(
            &ty,
            id,
            Entity {
                fields,
                retired: false,
            },
        );
    }

    fn link(&mut self, ty: &str, id: i64) -> Option<Link> {
        Some(Link {
            ty: self.db.intern(ty),
            id,
        })
    }

    /// Event rows covering every rendering rule: retired and missing links, each ApiUser
    /// naming case, nulls, escapes, nested meta, repeated and odd timestamps.
    fn hand_events(&mut self) {
        let base = EventRow {
            id: 0,
            event_type: "Shotgun_Shot_Change".into(),
            attribute_name: Some("code".into()),
            meta: raw(
                r#"{"type": "attribute_change", "old_value": "a\"b\\c\u0001",
 "new_value": {"nested": [1, 2.5e3, null, true, {"x": "é<\/x>"}]}, "entity_id": 1}"#,
            ),
            entity: self.link("Shot", 1),
            user: self.link("ApiUser", 1),
            project: Some(1),
            session_uuid: Some("c0ffee-uuid".into()),
            created_at: self.now,
            description: format!("Script bot changed {NASTY}").into(),
            visible_at_ms: 0,
        };
        let mut rows = vec![base.clone()];
        // Retired entity, user and project.
        rows.push(EventRow {
            entity: self.link("Shot", 2),
            user: self.link("HumanUser", 2),
            project: Some(2),
            ..base.clone()
        });
        // Nothing linked, no attribute, no session, odd text and meta.
        rows.push(EventRow {
            event_type: NASTY.into(),
            attribute_name: None,
            meta: raw("null"),
            entity: None,
            user: None,
            project: None,
            session_uuid: None,
            description: "".into(),
            created_at: self.now + 1,
            ..base.clone()
        });
        let named = [
            (("Asset", 1), ("ApiUser", 2)),
            (("Asset", 2), ("ApiUser", 3)),
            (("Asset", 3), ("ApiUser", 4)),
            (("Asset", 4), ("ApiUser", 5)),
            (("Widget", 1), ("ApiUser", 99)),
            (("EventLogEntry", 1), ("HumanUser", 1)),
            (("Nope", 1), ("Shot", 1)),
        ];
        for (i, ((ety, eid), (uty, uid))) in named.into_iter().enumerate() {
            rows.push(EventRow {
                entity: self.link(ety, eid),
                user: self.link(uty, uid),
                project: Some(3 + i64::try_from(i).unwrap()),
                attribute_name: Some(NASTY.into()),
                meta: raw(&format!(r#"{{"i":{i},"s":"{i}\t"}}"#)),
                created_at: self.now + 2,
                ..base.clone()
            });
        }
        // Timestamps: the epoch, before it, and out of range (written as the epoch).
        for at in [0, -1, i64::MAX, self.now] {
            rows.push(EventRow {
                created_at: at,
                ..base.clone()
            });
        }
        // Committed late: invisible to reads for now.
        rows.push(EventRow {
            visible_at_ms: i64::MAX,
            ..base
        });
        self.first_hand = self.db.next_event_id;
        for row in rows {
            self.db.push_event(row);
        }
    }

    fn request(&self, payload: &Value) -> ReadRequest {
        ReadRequest::parse(&self.db, payload, self.now).unwrap()
    }

    /// The fast and the generic reply to one read.
    fn both(&self, payload: &Value) -> (Vec<u8>, Vec<u8>) {
        let req = self.request(payload);
        let now_ms = time::now_millis();
        (
            read_with(&self.db, &req, now_ms, true),
            read_with(&self.db, &req, now_ms, false),
        )
    }

    /// Asserts the read takes the fast path and gives the generic bytes; returns the reply.
    fn same(&self, payload: &Value) -> Value {
        let req = self.request(payload);
        assert!(
            events::Plan::new(&self.db, &req.return_fields).is_some(),
            "fast path not taken for {payload}"
        );
        let (fast, generic) = self.both(payload);
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&generic),
            "for {payload}"
        );
        assert_eq!(fast, generic);
        serde_json::from_slice(&fast).unwrap()
    }

    /// Every visible event as rendered by the fast path, ascending.
    fn all_events(&self) -> Vec<Value> {
        let reply = self.same(&poll(ALL, 0, "asc", 500, 1));
        reply["results"]["entities"].as_array().unwrap().clone()
    }
}

fn poll(fields: &[&str], after: i64, direction: &str, per_page: usize, page: usize) -> Value {
    json!({"type": "EventLogEntry", "return_fields": fields,
           "filters": {"logical_operator": "and", "conditions": [
               {"path": "id", "relation": "greater_than", "values": [after]}]},
           "return_only": "active",
           "paging": {"entities_per_page": per_page, "current_page": page},
           "sorts": [{"field_name": "id", "direction": direction}]})
}

#[test]
fn fast_path_matches_generic_for_every_list_sort_and_page() {
    let f = Fixture::new();
    let total = f.all_events().len();
    assert!(total > 20, "only {total} events");
    let (mut with_next, mut without_next) = (0, 0);
    for fields in LISTS {
        for direction in ["asc", "desc"] {
            for after in [0, 5] {
                for (per_page, page) in [(500, 1), (4, 1), (4, 2), (4, 100), (7, 3)] {
                    let reply = f.same(&poll(fields, after, direction, per_page, page));
                    let info = &reply["results"]["paging_info"];
                    match info["has_next_page"].as_bool() {
                        Some(true) => with_next += 1,
                        Some(false) => without_next += 1,
                        None => panic!("no has_next_page in {info}"),
                    }
                }
            }
        }
    }
    assert!(with_next > 0 && without_next > 0);
}

#[test]
fn fast_path_matches_generic_with_counts_other_sorts_and_filters() {
    let f = Fixture::new();
    let mut payload = poll(ALL, 2, "desc", 5, 2);
    payload["return_paging_info"] = json!(true);
    let reply = f.same(&payload);
    assert!(reply["results"]["paging_info"]["entity_count"].is_number());
    payload["sorts"] = json!([{"field_name": "created_at", "direction": "desc"}]);
    f.same(&payload);
    payload["sorts"] = json!([]);
    payload["filters"] = json!([["event_type", "is", "Shotgun_Shot_Change"]]);
    f.same(&payload);
    payload["return_only"] = json!("retired");
    f.same(&payload);
    f.same(&json!({"type": "EventLogEntry"}));
}

#[test]
fn fast_path_renders_links_names_and_nulls() {
    let f = Fixture::new();
    let rows = f.all_events();
    let hand: Vec<&Value> = rows
        .iter()
        .filter(|r| r["id"].as_i64().is_some_and(|id| id >= f.first_hand))
        .collect();
    let first = hand[0];
    assert_eq!(
        first["entity"],
        json!({"type": "Shot", "id": 1, "name": NASTY})
    );
    assert_eq!(
        first["user"],
        json!({"type": "ApiUser", "id": 1, "name": "bot 1.0"})
    );
    assert_eq!(
        first["project"],
        json!({"type": "Project", "id": 1, "name": format!("Démo <{NASTY}>")})
    );
    assert_eq!(first["created_at"], json!("2026-03-18T12:00:00Z"));
    assert_eq!(first["meta"]["new_value"]["nested"][4]["x"], json!("é</x>"));
    // Retired entity, user and project are all null.
    assert_eq!(
        (&hand[1]["entity"], &hand[1]["user"], &hand[1]["project"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(hand[2]["event_type"], json!(NASTY));
    assert_eq!(
        (&hand[2]["entity"], &hand[2]["user"], &hand[2]["project"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(
        (&hand[2]["attribute_name"], &hand[2]["session_uuid"]),
        (&Value::Null, &Value::Null)
    );
    let names: Vec<(&Value, &Value)> = hand[3..10]
        .iter()
        .map(|r| (&r["entity"]["name"], &r["user"]["name"]))
        .collect();
    let ada = format!("Ada \"Countess\" Lovelace {NASTY}");
    assert_eq!(
        names,
        [
            (&json!("42"), &json!("watcher \\ \"q\"")),
            (&json!(""), &json!("empty")),
            (&json!(""), &json!("")),
            (&json!(r#"{"a":"b\"c","n":[1,2.5]}"#), &Value::Null),
            (&Value::Null, &Value::Null),
            (&Value::Null, &json!(ada)),
            (&Value::Null, &json!(NASTY)),
        ]
    );
    // The Widget link has a null name; the EventLogEntry and unknown-type links are null.
    assert_eq!(
        hand[7]["entity"],
        json!({"type": "Widget", "id": 1, "name": null})
    );
    assert!(hand[8]["entity"].is_null() && hand[9]["entity"].is_null());
    let stamps: Vec<&Value> = hand[10..14].iter().map(|r| &r["created_at"]).collect();
    assert_eq!(
        stamps,
        [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "2026-03-18T12:00:00Z"
        ]
    );
    // The late row is not served.
    assert_eq!(hand.len(), 14);
    // Project 3 onwards do not exist.
    assert!(hand[3]["project"].is_null());
}

#[test]
fn fast_path_writes_meta_and_nulls_as_stored() {
    let f = Fixture::new();
    let (fast, _) = f.both(&poll(
        &["meta", "attribute_name", "session_uuid"],
        0,
        "asc",
        500,
        1,
    ));
    let text = String::from_utf8(fast).unwrap();
    assert!(text.contains(
        r#""meta":{"type": "attribute_change", "old_value": "a\"b\\c\u0001",
 "new_value": {"nested": [1, 2.5e3, null, true, {"x": "é<\/x>"}]}, "entity_id": 1}"#
    ));
    assert!(text.contains(r#""meta":null,"attribute_name":null,"session_uuid":null}"#));
    assert!(text.contains(r#""session_uuid":"c0ffee-uuid""#));
    assert!(text.contains(r#"\u0000\u0001\u001f"#));
}

#[test]
fn fast_path_keeps_request_order_and_writes_type_and_id_once() {
    let f = Fixture::new();
    let (fast, _) = f.both(&poll(&["user", "id", "type", "entity"], 0, "asc", 1, 1));
    let text = String::from_utf8(fast).unwrap();
    assert!(
        text.starts_with(r#"{"results":{"entities":[{"type":"EventLogEntry","id":1,"user":"#),
        "{text}"
    );
    assert_eq!(text.matches(r#""type":"EventLogEntry""#).count(), 1);
    assert!(text.ends_with(
        r#"],"paging_info":{"current_page":1,"entities_per_page":1,"has_next_page":true}}}"#
    ));
    assert!(text.find(r#""user":"#) < text.find(r#""entity":"#));
}

#[test]
fn byte_comparison_catches_reordered_keys() {
    let f = Fixture::new();
    let (swapped, _) = f.both(&poll(&["user", "entity"], 0, "asc", 500, 1));
    let (_, generic) = f.both(&poll(&["entity", "user"], 0, "asc", 500, 1));
    assert_ne!(swapped, generic);
    // The same documents as values: only the bytes tell the key order apart.
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
    assert_eq!(parse(&swapped), parse(&generic));
}

#[test]
fn other_fields_take_the_generic_path() {
    let f = Fixture::new();
    for fields in [
        &["entity.Shot.code"][..],
        &["event_type", "entity.Shot.code"],
        &["id", "image"],
        &["cached_display_name", "meta"],
        &["filmstrip_image"],
        &["no_such_field"],
    ] {
        let req = f.request(&poll(fields, 0, "asc", 500, 1));
        assert!(
            events::Plan::new(&f.db, &req.return_fields).is_none(),
            "{fields:?}"
        );
        let (fast, generic) = f.both(&poll(fields, 0, "asc", 500, 1));
        assert_eq!(fast, generic);
    }
    let req = f.request(&poll(&["event_type", "entity.Shot.code"], 0, "asc", 500, 1));
    let reply: Value = serde_json::from_slice(&read(&f.db, &req, time::now_millis())).unwrap();
    let codes: Vec<&Value> = reply["results"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["entity.Shot.code"])
        .collect();
    assert!(codes.contains(&&json!(NASTY)), "{codes:?}");
    assert!(codes.contains(&&Value::Null));
}

#[test]
fn schema_types_the_fast_path_does_not_render_take_the_generic_path() {
    let mut f = Fixture::new();
    let mut schema = (*f.db.schema).clone();
    let events = schema.types.get_mut("EventLogEntry").unwrap();
    events.fields.remove("session_uuid");
    f.db.schema = Arc::new(schema.clone());
    // A field the schema lacks is left out by both paths.
    let reply = f.same(&poll(ALL, 0, "asc", 500, 1));
    assert!(
        reply["results"]["entities"][0]
            .get("session_uuid")
            .is_none()
    );
    for (field, data_type) in [
        ("description", DataType::Password),
        ("attribute_name", DataType::Entity),
        ("user", DataType::MultiEntity),
        ("project", DataType::Text),
    ] {
        let mut changed = schema.clone();
        let events = changed.types.get_mut("EventLogEntry").unwrap();
        events.fields.get_mut(field).unwrap().data_type = data_type;
        f.db.schema = Arc::new(changed);
        let req = f.request(&poll(ALL, 0, "asc", 500, 1));
        assert!(events::Plan::new(&f.db, &req.return_fields).is_none());
        let (fast, generic) = f.both(&poll(ALL, 0, "asc", 500, 1));
        assert_eq!(fast, generic);
    }
}

#[test]
fn fast_path_matches_generic_on_generated_activity() {
    let config = crate::SimConfig {
        scripts: vec![("bench".into(), "key".into())],
        ..Default::default()
    };
    let site = crate::site::Site::open(&config).unwrap();
    crate::activity::prefill(&site, 3000, 7).unwrap();
    let db = site.lock();
    let now_ms = time::now_millis();
    let mut rows = 0;
    for page in 1..=7 {
        let req = ReadRequest::parse(&db, &poll(ALL, 0, "asc", 500, page), 0).unwrap();
        let fast = read_with(&db, &req, now_ms, true);
        assert_eq!(fast, read_with(&db, &req, now_ms, false), "page {page}");
        let reply: Value = serde_json::from_slice(&fast).unwrap();
        rows += reply["results"]["entities"].as_array().unwrap().len();
    }
    assert!(rows >= 3000, "{rows} rows");
}
