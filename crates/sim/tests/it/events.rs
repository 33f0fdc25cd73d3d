//! The EventLogEntry rows each kind of write produces.

use serde_json::{Value, json};
use sgevents_sim::SimConfig;

use crate::support::{call, call_as, events_after, start};

fn by_attr<'a>(events: &'a [Value], attr: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["attribute_name"] == attr)
        .unwrap_or_else(|| panic!("no event for {attr}: {events:#?}"))
}

#[tokio::test]
async fn create_logs_new_and_in_create_changes_with_defaults() {
    let sim = start(SimConfig::default()).await;
    let before = sim.latest_event_id().unwrap_or(0);
    let shot = sim
        .create(
            "test",
            "Shot",
            json!({"code": "sh010", "project": {"type": "Project", "id": 1}}),
        )
        .unwrap();
    let id = shot["id"].as_i64().unwrap();
    assert_eq!(shot["sg_status_list"], "wtg", "server default is returned");
    let events = events_after(&sim, before).await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Shotgun_Shot_New",
            "Shotgun_Shot_Change",
            "Shotgun_Shot_Change",
            "Shotgun_Shot_Change"
        ]
    );
    assert_eq!(
        events[0]["meta"],
        json!({"type": "new_entity", "entity_type": "Shot", "entity_id": id})
    );
    assert_eq!(events[0]["attribute_name"], Value::Null);
    let status = by_attr(&events, "sg_status_list");
    assert_eq!(status["meta"]["in_create"], true);
    assert_eq!(status["meta"]["new_value"], "wtg");
    assert_eq!(status["meta"]["old_value"], Value::Null);
    assert_eq!(status["meta"]["field_data_type"], "status_list");
    let project = by_attr(&events, "project");
    assert_eq!(project["meta"]["new_value"]["name"], "Demo Project");
    for e in &events {
        assert_eq!(
            e["entity"],
            json!({"type": "Shot", "id": id, "name": "sh010"})
        );
        assert_eq!(
            e["user"],
            json!({"type": "ApiUser", "id": 1, "name": "test 1.0"})
        );
        assert_eq!(
            e["project"],
            json!({"type": "Project", "id": 1, "name": "Demo Project"})
        );
        let created = e["created_at"].as_str().unwrap();
        assert_eq!(created.len(), 20);
        assert!(
            created.ends_with('Z') && created.as_bytes()[10] == b'T',
            "{created}"
        );
        assert!(!e["description"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        sim.latest_event_id(),
        events.last().and_then(|e| e["id"].as_i64())
    );
}

#[tokio::test]
async fn update_logs_old_and_new_and_multi_entity_added_removed() {
    let sim = start(SimConfig::default()).await;
    let a1 = sim
        .create("test", "Asset", json!({"code": "hero"}))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let a2 = sim
        .create("test", "Asset", json!({"code": "tree"}))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let shot = sim
        .create(
            "test",
            "Shot",
            json!({"code": "sh010", "assets": [{"type": "Asset", "id": a1}]}),
        )
        .unwrap();
    let id = shot["id"].as_i64().unwrap();
    let before = sim.latest_event_id().unwrap();
    sim.update(
        "test",
        "Shot",
        id,
        json!({"sg_status_list": "ip", "code": "sh010"}),
    )
    .unwrap();
    let events = events_after(&sim, before).await;
    assert_eq!(
        events.len(),
        1,
        "an unchanged field logs nothing: {events:#?}"
    );
    assert_eq!(events[0]["event_type"], "Shotgun_Shot_Change");
    assert_eq!(events[0]["meta"]["old_value"], "wtg");
    assert_eq!(events[0]["meta"]["new_value"], "ip");
    assert!(events[0]["meta"].get("in_create").is_none());

    let before = sim.latest_event_id().unwrap();
    let reply = call(
        &sim,
        "update",
        json!({"type": "Shot", "id": id, "fields": [
            {"field_name": "assets", "value": [{"type": "Asset", "id": a2}], "multi_entity_update_mode": "add"}]}),
    )
    .await;
    assert_eq!(reply["results"]["assets"].as_array().unwrap().len(), 2);
    let events = events_after(&sim, before).await;
    assert_eq!(events.len(), 1);
    let meta = &events[0]["meta"];
    assert_eq!(meta["field_data_type"], "multi_entity");
    assert_eq!(meta["added"][0]["id"], a2);
    assert_eq!(meta["added"][0]["name"], "tree");
    assert_eq!(meta["removed"], json!([]));
    assert!(meta.get("old_value").is_none());

    let before = sim.latest_event_id().unwrap();
    call(
        &sim,
        "update",
        json!({"type": "Shot", "id": id, "fields": [
            {"field_name": "assets", "value": [{"type": "Asset", "id": a1}], "multi_entity_update_mode": "remove"}]}),
    )
    .await;
    let events = events_after(&sim, before).await;
    assert_eq!(events[0]["meta"]["removed"][0]["id"], a1);
    assert_eq!(events[0]["meta"]["added"], json!([]));
}

#[tokio::test]
async fn delete_and_revive_log_retirement_and_hide_the_entity() {
    let sim = start(SimConfig::default()).await;
    let before = sim.latest_event_id().unwrap_or(0);
    let id = sim.create("test", "Shot", json!({"code": "gone"})).unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(sim.delete("test", "Shot", id).unwrap());
    assert!(
        !sim.delete("test", "Shot", id).unwrap(),
        "a second delete reports false"
    );
    let events = events_after(&sim, before).await;
    let retire = events
        .iter()
        .find(|e| e["event_type"] == "Shotgun_Shot_Retirement")
        .unwrap();
    assert_eq!(retire["meta"]["type"], "entity_retirement");
    assert_eq!(retire["meta"]["display_name"], "gone");
    assert_eq!(retire["meta"]["class_name"], "Shot");
    let date = retire["meta"]["retirement_date"].as_str().unwrap();
    assert!(date.ends_with(" UTC"), "{date}");
    let change = by_attr(&events, "retirement_date");
    assert_eq!(change["meta"]["old_value"], Value::Null);
    assert_eq!(change["meta"]["new_value"], date);
    assert!(
        events.iter().all(|e| e["entity"].is_null()),
        "every row of a retired entity reads entity null"
    );

    let before = sim.latest_event_id().unwrap();
    assert!(sim.revive("test", "Shot", id).unwrap());
    let events = events_after(&sim, before).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "Shotgun_Shot_Revival");
    assert_eq!(events[0]["meta"]["type"], "entity_revival");
    assert_eq!(events[0]["entity"]["id"], id);
}

#[tokio::test]
async fn generate_events_flag_sudo_and_session_uuid() {
    let sim = start(SimConfig::default()).await;
    let quiet = call(
        &sim,
        "read",
        json!({"type": "ApiUser", "filters": [["firstname", "is", "quiet"]]}),
    )
    .await;
    let quiet_id = quiet["results"]["entities"][0]["id"].as_i64().unwrap();
    sim.update(
        "test",
        "ApiUser",
        quiet_id,
        json!({"generate_event_log_entries": false}),
    )
    .unwrap();
    let before = sim.latest_event_id().unwrap();
    sim.create("quiet", "Shot", json!({"code": "silent"}))
        .unwrap();
    assert_eq!(
        sim.latest_event_id(),
        Some(before),
        "no events when Generate Events is off"
    );

    let auth = json!({"script_name": "test", "script_key": "key", "sudo_as_login": "ada", "session_uuid": "1234-uuid"});
    let reply = call_as(
        &sim,
        "create",
        auth,
        json!({"type": "Shot", "fields": [{"field_name": "code", "value": "sudo"}]}),
    )
    .await;
    assert_eq!(reply["results"]["code"], "sudo");
    let events = events_after(&sim, before).await;
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e["user"]["type"], "HumanUser");
        assert_eq!(e["user"]["name"], "Ada Lovelace");
        assert_eq!(e["meta"]["sudo_actual_user"]["type"], "ApiUser");
        assert_eq!(e["session_uuid"], "1234-uuid");
    }
}

#[tokio::test]
async fn batch_is_all_or_nothing() {
    let sim = start(SimConfig::default()).await;
    let before = sim.latest_event_id().unwrap_or(0);
    let reply = call(
        &sim,
        "batch",
        json!([{"request_type": "create", "type": "Shot", "fields": [{"field_name": "code", "value": "b1"}]},
               {"request_type": "update", "type": "Shot", "id": 999, "fields": [{"field_name": "code", "value": "x"}]}]),
    )
    .await;
    assert_eq!(reply["exception"], true);
    let message = reply["message"].as_str().unwrap();
    assert!(
        message.starts_with("API batch() request with index 1 failed.  All requests rolled back."),
        "{message}"
    );
    assert_eq!(sim.latest_event_id().unwrap_or(0), before);
    let shots = call(
        &sim,
        "read",
        json!({"type": "Shot", "filters": [["code", "is", "b1"]]}),
    )
    .await;
    assert_eq!(shots["results"]["entities"], json!([]));
}
