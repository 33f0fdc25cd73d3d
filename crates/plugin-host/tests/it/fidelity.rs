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
        assert_eq!(report["same_order"], json!(true), "{report}");
        assert_eq!(report["compared"], json!(fields), "{report}");
        assert_eq!(
            report["created_at"],
            json!({"type": "datetime", "aware": true}),
            "{report}"
        );
    }
    plugin.shutdown().await;
}

#[tokio::test]
async fn datetimes_inside_meta_and_escaped_brackets_convert_like_shotgun_api3() {
    raw_event_converts_like_shotgun_api3(None).await;
}

#[tokio::test]
async fn datetimes_around_a_dst_change_convert_like_shotgun_api3() {
    raw_event_converts_like_shotgun_api3(Some("America/New_York")).await;
}

/// The raw row through our encoding and runner against shotgun_api3's own conversion of
/// the same row, in the plugin process's local zone (`tz`, else the machine's).
async fn raw_event_converts_like_shotgun_api3(tz: Option<&str>) {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let raw = json!({
        "type": "EventLogEntry", "id": 987_654, "event_type": "Studio_Review_Approved",
        "attribute_name": "notes &lt;draft&gt;",
        "meta": {
            "type": "custom", "approved_at": "2026-03-01T10:20:30Z",
            "history": [{"at": "2026-02-28T23:59:59Z", "by": {"type": "HumanUser", "id": 4}}],
            "not_a_date": "2026-03-01 10:20:30 UTC", "almost": "2026-13-01T10:20:30Z",
            "dst": ["2026-03-08T06:59:59Z", "2026-03-08T07:00:00Z", "2026-11-01T05:59:59Z",
                    "2026-11-01T06:00:00Z", "2026-07-01T12:00:00z", "1899-12-31T23:59:59Z",
                    "1000-06-01T00:00:00Z", "2024-02-29T12:00:00Z", "2025-02-29T12:00:00Z"],
            "short": "2026-03-01T10:20:3Z", "empty": {}, "none": null, "count": 3, "ratio": 1.5,
            "text": "a &lt; b", "nothing": [], "caf\u{e9} \"quoted\" \\ key": "Zo\u{eb} \u{1f3ac}",
            "big": 18_446_744_073_709_551_615_u64, "negative": -7, "tiny": 1e-300
        },
        "entity": {"type": "Shot", "id": 5, "name": "sh&lt;010"},
        "user": {"type": "ApiUser", "id": 2, "name": "review bot 1.0"},
        "project": {"type": "Project", "id": 70, "name": "Demo"},
        "session_uuid": "&lt;uuid", "created_at": "2026-03-01T10:20:31Z"
    });
    // As a site's Python writes it: everything past ASCII escaped, so keys and strings
    // reach the encoder both as they are and unescaped.
    let text = ascii_only(&raw.to_string());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("raw.json"), &text).unwrap();
    let event = std::sync::Arc::new(sgevents_api::Event::from_text(&text).unwrap());
    assert_eq!(event.raw(), raw.as_object().unwrap());
    let plugins = test_plugin("");
    let mut config = config(&sim);
    config.extra_env.extend([
        (
            "SGEVENTS_TEST_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("PYTHONPATH".to_owned(), plugins.display().to_string()),
    ]);
    if let Some(tz) = tz {
        config.extra_env.push(("TZ".to_owned(), tz.to_owned()));
    }
    let mut plugin = load_plugin(&config, &test_plugin("fidelity_raw.py"))
        .await
        .unwrap();
    let outcome = dispatch(&mut plugin, &event).await.unwrap();
    assert!(outcome.failures.is_empty(), "{outcome:?}");
    let record = logs
        .wait_for("plugin.fidelity_raw.compare_raw", "fidelity_raw ")
        .await;
    let report: Value =
        serde_json::from_str(record.message.trim_start_matches("fidelity_raw ")).unwrap();
    assert_eq!(report["got"], report["want"]);
    assert_eq!(report["equal"], json!(true), "{report}");
    assert_eq!(report["same_shape"], json!(true), "{report}");
    assert_eq!(report["same_order"], json!(true), "{report}");
    // Spot checks: converted in meta, at any depth; escapes undone only at the top level.
    assert_eq!(report["got"]["meta"]["approved_at"][0], json!("datetime"));
    assert_eq!(
        report["got"]["meta"]["history"][0]["at"][0],
        json!("datetime")
    );
    assert_eq!(report["got"]["meta"]["not_a_date"][0], json!("str"));
    assert_eq!(report["got"]["meta"]["dst"][0][0], json!("datetime"));
    assert_eq!(report["got"]["meta"]["dst"][8][0], json!("str"));
    assert_eq!(report["got"]["meta"]["almost"][0], json!("str"));
    assert_eq!(
        report["got"]["attribute_name"][1],
        json!("notes <draft&gt;")
    );
    assert_eq!(report["got"]["meta"]["text"][1], json!("a &lt; b"));
    plugin.shutdown().await;
}

/// JSON text with every character past ASCII written as `\uXXXX` (pairs past the BMP), as
/// Python's `json.dumps` writes it by default.
fn ascii_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0_u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}
