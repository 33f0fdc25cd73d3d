//! Shared helpers: starting a sim, calling api3 over HTTP, polling with a timeout.

use serde_json::{Value, json};
use sgevents_sim::{Sim, SimConfig};

pub(crate) async fn start(config: SimConfig) -> Sim {
    let mut config = config;
    if config.scripts.is_empty() {
        config.scripts = vec![
            ("test".into(), "key".into()),
            ("quiet".into(), "key2".into()),
        ];
    }
    sgevents_sim::spawn(config).await.expect("sim starts")
}

/// One api3 call as the `test` script; returns the decoded body.
pub(crate) async fn call(sim: &Sim, method: &str, payload: Value) -> Value {
    call_as(
        sim,
        method,
        json!({"script_name": "test", "script_key": "key"}),
        payload,
    )
    .await
}

pub(crate) async fn call_as(sim: &Sim, method: &str, auth: Value, payload: Value) -> Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = json!({"method_name": method, "params": [auth, payload]});
    let resp = client
        .post(format!("{}/api3/json", sim.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

/// Events with id > `after`, ascending.
pub(crate) async fn events_after(sim: &Sim, after: i64) -> Vec<Value> {
    let body = call(
        sim,
        "read",
        json!({"type": "EventLogEntry",
               "return_fields": ["id", "event_type", "attribute_name", "meta", "entity", "user", "project", "session_uuid", "created_at", "description"],
               "filters": {"logical_operator": "and", "conditions": [{"path": "id", "relation": "greater_than", "values": [after]}]},
               "paging": {"entities_per_page": 500, "current_page": 1},
               "sorts": [{"field_name": "id", "direction": "asc"}]}),
    )
    .await;
    body["results"]["entities"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
