//! The event a plugin receives equals what shotgun_api3's find returns for that row.

use serde_json::{Value, json};
use sgevents_plugin_api::Plugin;
use sgevents_plugin_host::load_plugin;

use crate::support::{
    Logs, SCRIPT, config, create_shot, dispatch, events_after, latest, set_shot_status, site,
    test_plugin,
};

#[tokio::test]
async fn every_field_matches_shotgun_api3_find() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    let shot = create_shot(&sim, "sh300 &lt;final&gt;");
    set_shot_status(&sim, shot, "ip");
    sim.create(
        SCRIPT.0,
        "Task",
        json!({"content": "Comp", "entity": {"type": "Shot", "id": shot}}),
    )
    .unwrap();
    sim.delete(SCRIPT.0, "Shot", shot).unwrap();
    let events = events_after(&sim, before).await;
    assert!(events.len() >= 5, "{events:#?}");
    let mut plugin = load_plugin(&config(&sim), &test_plugin("fidelity.py"))
        .await
        .unwrap();
    for event in &events {
        let outcome = dispatch(&mut plugin, event).await.unwrap();
        assert!(outcome.failures.is_empty(), "{outcome:?}");
    }
    let reports: Vec<Value> = logs
        .matching("plugin.fidelity.compare", "fidelity ")
        .iter()
        .map(|r| serde_json::from_str(r.message.trim_start_matches("fidelity ")).unwrap())
        .collect();
    assert_eq!(reports.len(), events.len());
    let fields = [
        "attribute_name",
        "created_at",
        "entity",
        "event_type",
        "id",
        "meta",
        "project",
        "session_uuid",
        "type",
        "user",
    ];
    for (report, event) in reports.iter().zip(&events) {
        assert_eq!(report["id"], json!(event.id));
        assert_eq!(report["found"], json!(1), "{report}");
        assert_eq!(report["mismatches"], json!([]), "{report}");
        assert_eq!(report["compared"], json!(fields), "{report}");
        assert_eq!(
            report["created_at"],
            json!({"type": "datetime", "aware": true}),
            "{report}"
        );
    }
    plugin.shutdown().await;
}
