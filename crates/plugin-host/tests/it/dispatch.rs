//! Dispatching events: callback arguments, state, stopOnError, matchEvents, writes.

use std::path::PathBuf;

use serde_json::{Value, json};
use sgevents_plugin_api::{Failure, Plugin};
use sgevents_plugin_host::load_plugin;

use crate::support::{
    Logs, SCRIPT, config, create_shot, dispatch, events_after, example, find_event, latest,
    set_shot_status, site, test_plugin, with_fields,
};

/// The probe plugin's reports, in order.
pub(crate) fn probe_reports(logs: &Logs) -> Vec<Value> {
    logs.matching("plugin.probe.probe", "probe ")
        .iter()
        .map(|r| serde_json::from_str(r.message.trim_start_matches("probe ")).unwrap())
        .collect()
}

/// A copy of the probe plugin in a fresh folder (so tests can edit it).
pub(crate) fn probe_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.py");
    std::fs::copy(test_plugin("probe.py"), &path).unwrap();
    (dir, path)
}

#[tokio::test]
async fn callbacks_get_their_own_connection_logger_and_the_same_args() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh010");
    let events = events_after(&sim, before).await;
    assert!(events.len() >= 2, "{events:#?}");
    let (_dir, path) = probe_copy();
    let mut plugin = load_plugin(&config(&sim), &path).await.unwrap();
    for event in &events {
        let outcome = dispatch(&mut plugin, event).await.unwrap();
        assert!(outcome.failures.is_empty(), "{outcome:?}");
    }
    let reports = probe_reports(&logs);
    assert_eq!(reports.len(), events.len());
    for (n, (report, event)) in reports.iter().zip(&events).enumerate() {
        let calls = json!(n + 1);
        assert_eq!(report["event_id"], json!(event.id));
        assert_eq!(report["global_calls"], calls, "{report}");
        assert_eq!(report["args_calls"], calls, "{report}");
        assert_eq!(report["args_same_object"], json!(true));
        assert_eq!(report["script"], json!(SCRIPT.0));
        assert_eq!(report["logger"], json!("plugin.probe.probe"));
        assert_eq!(report["module_name"], json!("probe"));
        assert_eq!(report["in_sys_modules"], json!(false));
        assert_eq!(report["plugin_dir_in_sys_path"], json!(false));
        assert_eq!(report["cwd_in_sys_path"], json!(false));
        assert_eq!(report["stdin_is_devnull"], json!(true));
        assert_eq!(report["session_uuid"], Value::Null);
    }
    plugin.shutdown().await;
}

#[tokio::test]
async fn use_session_uuid_sets_it_on_the_connection_before_each_call() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh011");
    let real = events_after(&sim, before).await.remove(0);
    let event = with_fields(
        &real,
        json!({"session_uuid": "5a1d49b0-0c69-11e0-a24c-003048d17544"}),
    );
    let (_dir, path) = probe_copy();
    let mut config = config(&sim);
    config.use_session_uuid = true;
    let mut plugin = load_plugin(&config, &path).await.unwrap();
    dispatch(&mut plugin, &event).await.unwrap();
    let reports = probe_reports(&logs);
    assert_eq!(
        reports[0]["session_uuid"],
        json!("5a1d49b0-0c69-11e0-a24c-003048d17544")
    );
    plugin.shutdown().await;
}

#[tokio::test]
async fn extra_env_reaches_the_plugin_and_notify_socket_does_not() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh012");
    let event = events_after(&sim, before).await.remove(0);
    let (_dir, path) = probe_copy();
    let mut config = config(&sim);
    config.extra_env.extend([
        ("SGEVENTS_TEST_MARK".to_owned(), "studio-mark".to_owned()),
        ("NOTIFY_SOCKET".to_owned(), "/run/systemd/notify".to_owned()),
    ]);
    let mut plugin = load_plugin(&config, &path).await.unwrap();
    dispatch(&mut plugin, &event).await.unwrap();
    let report = &probe_reports(&logs)[0];
    assert_eq!(report["mark"], json!("studio-mark"));
    assert_eq!(report["notify_socket"], Value::Null);
    plugin.shutdown().await;
}

#[tokio::test]
async fn layout_final_readies_waiting_tasks_and_its_writes_make_new_events() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let shot = create_shot(&sim, "sh020");
    let shot_link = json!({"type": "Shot", "id": shot});
    let mut task_ids = Vec::new();
    for content in ["Layout", "Animation", "Lighting"] {
        let task = sim
            .create(
                SCRIPT.0,
                "Task",
                json!({"content": content, "entity": shot_link}),
            )
            .unwrap();
        task_ids.push(task["id"].as_i64().unwrap());
    }
    let before = latest(&sim);
    sim.update(
        SCRIPT.0,
        "Task",
        task_ids[0],
        json!({"sg_status_list": "fin"}),
    )
    .unwrap();
    let events = events_after(&sim, before).await;
    let mut plugin = load_plugin(&config(&sim), &example("layout_final_readies_tasks.py"))
        .await
        .unwrap();
    let mut dispatched = 0;
    for event in &events {
        if let Some(outcome) = dispatch(&mut plugin, event).await {
            dispatched += 1;
            assert!(outcome.failures.is_empty(), "{outcome:?}");
        }
    }
    assert_eq!(dispatched, 1, "only the status change matches: {events:#?}");
    logs.wait_for(
        "plugin.layout_final_readies_tasks.ready_downstream_tasks",
        "'Animation'",
    )
    .await;

    let after = events_after(&sim, before).await;
    for &task in &task_ids[1..] {
        let change = after
            .iter()
            .find(|e| {
                e.event_type == "Shotgun_Task_Change"
                    && e.attribute_name.as_deref() == Some("sg_status_list")
                    && e.raw()["entity"]["id"] == json!(task)
            })
            .unwrap_or_else(|| panic!("no status event for task {task}: {after:#?}"));
        assert_eq!(change.raw()["meta"]["new_value"], json!("rdy"));
        assert_eq!(change.raw()["user"]["type"], json!("ApiUser"));
    }
    plugin.shutdown().await;
}

#[tokio::test]
async fn match_events_keep_other_events_away_and_globals_keep_counting() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh030");
    for code in ["sh030_comp_v001", "sh030_comp_v002"] {
        sim.create(SCRIPT.0, "Version", json!({"code": code}))
            .unwrap();
    }
    let events = events_after(&sim, before).await;
    let mut plugin = load_plugin(&config(&sim), &example("log_new_versions.py"))
        .await
        .unwrap();
    let mut handled = Vec::new();
    for event in &events {
        if dispatch(&mut plugin, event).await.is_some() {
            handled.push(event.event_type.clone());
        }
    }
    assert_eq!(handled, ["Shotgun_Version_New", "Shotgun_Version_New"]);
    let logger = "plugin.log_new_versions.log_version";
    logs.wait_for(logger, "'sh030_comp_v001'").await;
    logs.wait_for(logger, "2 new versions since this plugin loaded")
        .await;
    // The plugin set its logger to DEBUG, so its debug record is forwarded too.
    let debug = logs.wait_for(logger, "Full event:").await;
    assert_eq!(debug.py_level, 10);
    // print() lands in the plugin's log.
    logs.wait_for("plugin.log_new_versions", "new version sh030_comp_v002")
        .await;
    plugin.shutdown().await;
}

#[tokio::test]
async fn a_class_callback_keeps_state_in_args_and_warns() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let shot = create_shot(&sim, "sh040");
    let before = latest(&sim);
    set_shot_status(&sim, shot, "hld");
    set_shot_status(&sim, shot, "ip");
    let events = events_after(&sim, before).await;
    let mut plugin = load_plugin(&config(&sim), &example("shots_on_hold.py"))
        .await
        .unwrap();
    let logger = format!("plugin.shots_on_hold.{}", plugin.callbacks()[0].name);
    for event in &events {
        if let Some(outcome) = dispatch(&mut plugin, event).await {
            assert!(outcome.failures.is_empty(), "{outcome:?}");
        }
    }
    let warning = logs.wait_for(&logger, "sh040 was put on hold").await;
    assert_eq!(warning.py_level, 30);
    assert_eq!(warning.level, tracing::Level::WARN);
    assert!(warning.message.contains("1 shot(s) on hold now"));
    logs.wait_for(
        &logger,
        "sh040 is off hold (now 'ip'); 0 shot(s) on hold now",
    )
    .await;
    plugin.shutdown().await;
}

#[tokio::test]
async fn stop_on_error_true_skips_the_remaining_callbacks() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh050");
    let event = events_after(&sim, before).await.remove(0);
    let mut plugin = load_plugin(&config(&sim), &example("faulty/raises_stop.py"))
        .await
        .unwrap();
    let outcome = dispatch(&mut plugin, &event).await.unwrap();
    assert_eq!(
        outcome.failures,
        [Failure {
            callback: "check_frame_range".to_owned(),
            message: "KeyError: 'sg_cut_out'".to_owned(),
            stop: true,
        }]
    );
    assert_eq!(
        outcome.stopped().map(|f| f.callback.as_str()),
        Some("check_frame_range")
    );
    let critical = logs
        .wait_for(
            "plugin.raises_stop.check_frame_range",
            "An error occured processing an event.",
        )
        .await;
    assert_eq!(critical.py_level, 50);
    assert!(
        critical
            .message
            .contains("Traceback (most recent call last)")
    );
    assert!(
        critical.message.contains("raises_stop.py"),
        "{}",
        critical.message
    );
    assert!(
        critical
            .message
            .contains("Local variables at outer most frame in plugin:"),
        "{}",
        critical.message
    );
    assert!(
        critical.message.contains("'shot_cut_in': 1001"),
        "{}",
        critical.message
    );
    // Logs arrive before the result, so a run of the second callback would show by now.
    assert!(
        logs.matching("plugin.raises_stop.never_reached", "")
            .is_empty()
    );
    plugin.shutdown().await;
}

#[tokio::test]
async fn stop_on_error_false_goes_on_with_the_next_callback() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh060");
    let event = events_after(&sim, before).await.remove(0);
    let mut plugin = load_plugin(&config(&sim), &example("faulty/raises_continue.py"))
        .await
        .unwrap();
    let outcome = dispatch(&mut plugin, &event).await.unwrap();
    assert_eq!(outcome.failures.len(), 1, "{outcome:?}");
    assert_eq!(outcome.failures[0].callback, "flaky_lookup");
    assert!(!outcome.failures[0].stop);
    assert!(outcome.stopped().is_none());
    logs.wait_for(
        "plugin.raises_continue.still_runs",
        &format!("still_runs handled event {}", event.id),
    )
    .await;
    plugin.shutdown().await;
}

#[tokio::test]
async fn a_wrong_callback_signature_is_a_failure_not_a_crash() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh070");
    let events = events_after(&sim, before).await;
    let mut plugin = load_plugin(&config(&sim), &example("faulty/wrong_signature.py"))
        .await
        .unwrap();
    let outcome = dispatch(&mut plugin, &events[0]).await.unwrap();
    let [failure] = outcome.failures.as_slice() else {
        panic!("{outcome:?}");
    };
    assert!(
        failure.message.starts_with("TypeError: two_args()"),
        "{failure:?}"
    );
    assert!(failure.stop);
    let critical = logs
        .wait_for("plugin.wrong_signature.two_args", "An error occured")
        .await;
    assert!(
        critical
            .message
            .contains("(none: the exception was raised while calling")
    );
    // The process is fine: the next event runs (and fails) the same way.
    let again = dispatch(&mut plugin, &events[1]).await.unwrap();
    assert_eq!(again.failures.len(), 1);
    plugin.shutdown().await;
}

#[tokio::test]
async fn the_star_key_and_two_callbacks_run_in_order_on_every_event() {
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh080");
    let events = events_after(&sim, before).await;
    let event = find_event(&events, "Shotgun_Shot_New", None);
    let mut plugin = load_plugin(&config(&sim), &example("activity_tally.py"))
        .await
        .unwrap();
    let indexes = sgevents_plugin_api::matching_callbacks(plugin.callbacks(), &event);
    assert_eq!(indexes, [0, 1]);
    let outcome = plugin.handle(&event, &indexes).await;
    assert!(outcome.failures.is_empty(), "{outcome:?}");
    plugin.shutdown().await;
}
