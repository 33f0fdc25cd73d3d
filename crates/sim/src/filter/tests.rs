//! Filter evaluation: every relation of every modelled data type, on records written through
//! the real write path.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::db::{Db, Link};
use crate::events::Actor;
use crate::gaps::{GapProfile, Gaps};
use crate::read::Row;
use crate::schema::Schema;
use crate::site::writes_from_object;
use crate::{time, write};

struct Fixture {
    db: Db,
    now: i64,
}

fn actor(db: &mut Db) -> Actor {
    Actor {
        user: Link {
            ty: db.intern("HumanUser"),
            id: 1,
        },
        sudo_actual: None,
        session_uuid: None,
        log_events: true,
    }
}

impl Fixture {
    fn new() -> Self {
        let db = Db::new(
            Arc::new(Schema::builtin()),
            Gaps::new(GapProfile::default(), 1),
        );
        let now = time::parse_date_time("2026-03-18T12:00:00Z").unwrap();
        let mut f = Self { db, now };
        f.create("HumanUser", json!({"name": "Ada Lovelace", "login": "ada"}));
        f.create(
            "HumanUser",
            json!({"name": "Grace Hopper", "login": "grace"}),
        );
        f.create("Project", json!({"name": "Demo"}));
        f.create(
            "Sequence",
            json!({"code": "SEQ010", "project": {"type": "Project", "id": 1}}),
        );
        f.create(
            "Asset",
            json!({"code": "hero", "project": {"type": "Project", "id": 1}}),
        );
        f.create(
            "Asset",
            json!({"code": "tree", "project": {"type": "Project", "id": 1}}),
        );
        f.create(
            "Shot",
            json!({"code": "sh010", "sg_status_list": "ip", "sg_cut_in": 1001, "sg_frame_rate": 24.0,
                   "sg_due_date": "2026-03-18", "sg_vfx": true, "sg_sequence": {"type": "Sequence", "id": 1},
                   "assets": [{"type": "Asset", "id": 1}, {"type": "Asset", "id": 2}],
                   "project": {"type": "Project", "id": 1}, "sg_timecode_in": 3_600_000}),
        );
        f.create(
            "Shot",
            json!({"code": "SH020_comp", "sg_status_list": "fin", "sg_cut_in": 1009, "sg_frame_rate": 23.976,
                   "sg_due_date": "2026-01-05", "assets": [{"type": "Asset", "id": 2}],
                   "project": {"type": "Project", "id": 1}, "sg_timecode_in": 0}),
        );
        f.create(
            "Shot",
            json!({"code": "sh030", "project": {"type": "Project", "id": 1}}),
        );
        f
    }

    fn create(&mut self, ty: &str, fields: Value) -> i64 {
        let actor = actor(&mut self.db);
        let writes = writes_from_object(&fields).unwrap();
        let out =
            write::create(&mut self.db, &actor, "create", ty, &writes, &[], self.now).unwrap();
        out["id"].as_i64().unwrap()
    }

    /// The ids of `ty` records matching a filter.
    fn ids(&self, ty: &str, filters: Value) -> Vec<i64> {
        let filter = super::compile(&self.db.schema, "read", ty, Some(&filters), self.now).unwrap();
        let (ty_arc, table) = self.db.tables.get_key_value(ty).unwrap();
        table
            .iter()
            .map(|(id, entity)| Row::Entity {
                ty: ty_arc,
                id: *id,
                entity,
            })
            .filter(|row| filter.matches(&self.db, row))
            .map(|row| row.id())
            .collect()
    }

    fn error(&self, ty: &str, filters: Value) -> String {
        super::compile(&self.db.schema, "read", ty, Some(&filters), self.now)
            .unwrap_err()
            .message
    }
}

const NONE: Vec<i64> = Vec::new();

#[test]
fn text_relations_are_case_insensitive() {
    let f = Fixture::new();
    let check = |rel: &str, v: Value| f.ids("Shot", json!([["code", rel, v]]));
    assert_eq!(check("is", json!("SH010")), vec![1]);
    assert_eq!(check("is_not", json!("sh010")), vec![2, 3]);
    assert_eq!(check("contains", json!("COMP")), vec![2]);
    assert_eq!(check("not_contains", json!("0")), NONE);
    assert_eq!(check("starts_with", json!("sh0")), vec![1, 2, 3]);
    assert_eq!(check("ends_with", json!("30")), vec![3]);
    assert_eq!(
        f.ids("Shot", json!([["code", "in", ["sh010", "sh030"]]])),
        vec![1, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["code", "not_in", ["sh010", "sh030"]]])),
        vec![2]
    );
    assert_eq!(
        f.ids("Shot", json!([["description", "is", null]])),
        vec![1, 2, 3]
    );
}

#[test]
fn number_float_and_timecode_relations() {
    let f = Fixture::new();
    assert_eq!(f.ids("Shot", json!([["sg_cut_in", "is", 1001]])), vec![1]);
    assert_eq!(
        f.ids("Shot", json!([["sg_cut_in", "is_not", 1001]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_cut_in", "less_than", 1005]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_cut_in", "greater_than", 1005]])),
        vec![2]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_cut_in", "between", 1000, 1009]])),
        vec![1, 2]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_cut_in", "not_between", 1000, 1005]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_cut_in", "in", [1009, 7]]])),
        vec![2]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_cut_in", "not_in", [1009]]])),
        vec![1, 3]
    );
    assert_eq!(f.ids("Shot", json!([["sg_cut_in", "is", null]])), vec![3]);
    assert_eq!(
        f.ids("Shot", json!([["sg_frame_rate", "greater_than", 23.99]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_frame_rate", "between", 23.0, 24.0]])),
        vec![1, 2]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_timecode_in", "greater_than", 0]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["id", "greater_than", 1]])),
        vec![2, 3]
    );
    assert!(
        f.error("Shot", json!([["sg_frame_rate", "contains", 1]]))
            .contains("doesn't support 'contains'")
    );
}

#[test]
fn date_and_date_time_relations() {
    let f = Fixture::new();
    // The fixture's "now" is 2026-03-18T12:00:00Z, a Wednesday.
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "is", "2026-03-18"]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "less_than", "2026-02-01"]])),
        vec![2]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["sg_due_date", "between", "2026-01-01", "2026-01-31"]])
        ),
        vec![2]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "in_last", 7, "DAY"]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "not_in_last", 7, "DAY"]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "in_next", 1, "WEEK"]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "not_in_next", 1, "WEEK"]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "in_calendar_day", 0]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "in_calendar_month", -2]])),
        vec![2]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "in_calendar_year", 0]])),
        vec![1, 2]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_due_date", "in_calendar_week", 0]])),
        vec![1]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["created_at", "is", "2026-03-18T12:00:00Z"]])
        ),
        vec![1, 2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["created_at", "in_last", 1, "HOUR"]])),
        vec![1, 2, 3]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["created_at", "in", ["2026-03-18T12:00:00Z"]]])
        ),
        vec![1, 2, 3]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["created_at", "greater_than", "2026-03-18T13:00:00+02:00"]])
        ),
        vec![1, 2, 3]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["created_at", "less_than", "2026-03-18T11:59:59Z"]])
        ),
        NONE
    );
    assert!(
        f.error("Shot", json!([["created_at", "in_last", 1, "FORTNIGHT"]]))
            .contains("unit")
    );
}

#[test]
fn checkbox_list_and_status_relations() {
    let f = Fixture::new();
    assert_eq!(f.ids("Shot", json!([["sg_vfx", "is", true]])), vec![1]);
    assert_eq!(
        f.ids("Shot", json!([["sg_vfx", "is_not", true]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_status_list", "is", "ip"]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_status_list", "is_not", "ip"]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_status_list", "in", ["fin", "wtg"]]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["sg_status_list", "not_in", ["fin", "wtg"]]])
        ),
        vec![1]
    );
    assert!(
        f.error("Shot", json!([["sg_status_list", "contains", "i"]]))
            .contains("'status_list' data type")
    );
    assert!(
        f.error("Shot", json!([["sg_vfx", "in", [true]]]))
            .contains("checkbox")
    );
}

#[test]
fn entity_relations() {
    let f = Fixture::new();
    let seq = json!({"type": "Sequence", "id": 1});
    assert_eq!(f.ids("Shot", json!([["sg_sequence", "is", seq]])), vec![1]);
    assert_eq!(
        f.ids("Shot", json!([["sg_sequence", "is_not", seq]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_sequence", "is", null]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["sg_sequence", "in", [seq, {"type": "Sequence", "id": 9}]]])
        ),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_sequence", "not_in", [seq]]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_sequence", "type_is", "Sequence"]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_sequence", "type_is_not", "Sequence"]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_sequence", "name_contains", "q01"]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_sequence", "name_not_contains", "q01"]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["sg_sequence", "name_is", "seq010"]])),
        vec![1]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["sg_sequence.Sequence.code", "is", "SEQ010"]])
        ),
        vec![1]
    );
    assert_eq!(
        f.ids(
            "Shot",
            json!([["project.Project.name", "starts_with", "de"]])
        ),
        vec![1, 2, 3]
    );
}

#[test]
fn multi_entity_relations() {
    let f = Fixture::new();
    let hero = json!({"type": "Asset", "id": 1});
    let tree = json!({"type": "Asset", "id": 2});
    assert_eq!(f.ids("Shot", json!([["assets", "is", hero]])), vec![1]);
    assert_eq!(
        f.ids("Shot", json!([["assets", "is_not", hero]])),
        vec![2, 3]
    );
    assert_eq!(f.ids("Shot", json!([["assets", "is", null]])), vec![3]);
    assert_eq!(
        f.ids("Shot", json!([["assets", "in", [hero, tree]]])),
        vec![1, 2]
    );
    assert_eq!(
        f.ids("Shot", json!([["assets", "not_in", [tree]]])),
        vec![3]
    );
    assert_eq!(
        f.ids("Shot", json!([["assets", "type_is", "Asset"]])),
        vec![1, 2]
    );
    assert_eq!(
        f.ids("Shot", json!([["assets", "type_is_not", "Asset"]])),
        vec![3]
    );
    assert_eq!(
        f.ids("Shot", json!([["assets", "name_contains", "ER"]])),
        vec![1]
    );
    assert_eq!(
        f.ids("Shot", json!([["assets", "name_not_contains", "er"]])),
        vec![2, 3]
    );
    assert_eq!(
        f.ids("Shot", json!([["assets", "name_is", "tree"]])),
        vec![1, 2]
    );
    assert_eq!(
        f.ids("Shot", json!([["assets.Asset.code", "is", "hero"]])),
        vec![1]
    );
}

#[test]
fn logical_operators_nest() {
    let f = Fixture::new();
    let wire = json!({"logical_operator": "or", "conditions": [
        {"path": "code", "relation": "is", "values": ["sh030"]},
        {"logical_operator": "and", "conditions": [
            {"path": "sg_status_list", "relation": "is", "values": ["ip"]},
            {"path": "sg_cut_in", "relation": "less_than", "values": [2000]}]}]});
    assert_eq!(f.ids("Shot", wire), vec![1, 3]);
    let nested = json!([{"filter_operator": "any", "filters": [["code", "is", "sh010"], ["code", "is", "sh030"]]},
                         ["sg_status_list", "is", "ip"]]);
    assert_eq!(f.ids("Shot", nested), vec![1]);
    assert_eq!(
        f.ids("Shot", json!({"logical_operator": "and", "conditions": []})),
        vec![1, 2, 3]
    );
}

#[test]
fn bad_filters_get_api_errors() {
    let f = Fixture::new();
    assert_eq!(
        f.error("Shot", json!([["foo", "is", 1]])),
        "API read() Shot.foo doesn't exist."
    );
    assert_eq!(
        f.error("Shot", json!([["code", "xyz", 1]])),
        "API read() Shot.code's 'text' data type doesn't support 'xyz' 'relation'"
    );
    assert!(
        f.error("Shot", json!([["sg_metadata", "is", null]]))
            .contains("cannot be used in a filter")
    );
    assert!(
        f.error("Shot", json!([["sg_cut_in", "between", 1]]))
            .contains("two values")
    );
    assert!(
        f.error("Shot", json!([["sg_sequence.Nope.code", "is", "x"]]))
            .contains("Nope")
    );
    assert!(
        f.error("Shot", json!({"logical_operator": "xor", "conditions": []}))
            .contains("xor")
    );
}

#[test]
fn retired_link_targets_no_longer_match() {
    let mut f = Fixture::new();
    let actor = actor(&mut f.db);
    let now = f.now;
    write::delete(&mut f.db, &actor, "delete", "Sequence", 1, now).unwrap();
    assert_eq!(
        f.ids(
            "Shot",
            json!([["sg_sequence", "is", {"type": "Sequence", "id": 1}]])
        ),
        NONE
    );
}
