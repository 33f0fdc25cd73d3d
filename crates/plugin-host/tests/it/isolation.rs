//! Isolation: timeouts, crashes, restarts, process grouping, reload.

use std::time::Duration;

use serde_json::json;
use sgevents_plugin_api::Plugin;
use sgevents_plugin_host::{PluginHost, ProcessMode, load_plugin};

use crate::dispatch::{probe_copy, probe_reports};
use crate::support::{
    Logs, config, create_shot, dispatch, events_after, example, find_event, latest, process_gone,
    site, test_plugin, wait_until,
};

/// Reads "sleeper pid N, plugin pid M" records.
fn sleeper_pids(logs: &Logs) -> Vec<(u32, u32)> {
    logs.matching("plugin.spawns_sleeper.start_and_hang", "sleeper pid")
        .iter()
        .map(|r| {
            let numbers: Vec<u32> = r
                .message
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|s| s.parse().ok())
                .collect();
            (numbers[0], numbers[1])
        })
        .collect()
}

#[tokio::test]
async fn a_hung_callback_is_killed_with_its_process_group_and_the_plugin_restarts() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh100");
    let events = events_after(&sim, before).await;
    let mut config = config(&sim);
    config.callback_timeout = Duration::from_secs(5);
    let mut plugin = load_plugin(&config, &test_plugin("spawns_sleeper.py"))
        .await
        .unwrap();

    let outcome = dispatch(&mut plugin, &events[0]).await.unwrap();
    let [failure] = outcome.failures.as_slice() else {
        panic!("{outcome:?}");
    };
    assert_eq!(failure.callback, "start_and_hang");
    assert!(
        failure.message.contains("no answer within 5s"),
        "{failure:?}"
    );
    assert!(!failure.stop);
    let [(sleeper, first_pid)] = sleeper_pids(&logs)[..] else {
        panic!("{:#?}", logs.all());
    };
    // The grandchild went with the group.
    assert!(
        wait_until(|| process_gone(sleeper).then_some(()))
            .await
            .is_some()
    );
    // Killed with its group; on a loaded machine it may take a moment to finish dying.
    assert!(
        wait_until(|| process_gone(first_pid).then_some(()))
            .await
            .is_some()
    );
    logs.wait_for(
        "plugin.spawns_sleeper.start_and_hang",
        "no answer within 5s",
    )
    .await;

    // The next event gets a fresh process with the plugin registered again.
    let outcome = dispatch(&mut plugin, &events[1]).await.unwrap();
    assert_eq!(outcome.failures.len(), 1, "{outcome:?}");
    let pids = sleeper_pids(&logs);
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_ne!(pids[1].1, first_pid);
    assert!(
        wait_until(|| process_gone(pids[1].0).then_some(()))
            .await
            .is_some()
    );
    plugin.shutdown().await;
}

#[tokio::test]
async fn the_hanging_example_is_stopped_and_runs_again() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let shot = create_shot(&sim, "sh101");
    let before = latest(&sim);
    crate::support::set_shot_status(&sim, shot, "ip");
    crate::support::set_shot_status(&sim, shot, "hld");
    let events = events_after(&sim, before).await;
    let mut config = config(&sim);
    config.callback_timeout = Duration::from_secs(5);
    let mut plugin = load_plugin(&config, &example("faulty/hangs.py"))
        .await
        .unwrap();
    for event in &events {
        let outcome = dispatch(&mut plugin, event).await.unwrap();
        assert_eq!(outcome.failures.len(), 1, "{outcome:?}");
        assert!(!outcome.failures[0].stop);
        logs.wait_for(
            "plugin.hangs.wait_forever",
            &format!("waiting on event {} forever", event.id),
        )
        .await;
    }
    plugin.shutdown().await;
}

#[tokio::test]
async fn an_aborting_plugin_does_not_touch_the_host_or_other_plugins() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh110");
    sim.create(
        crate::support::SCRIPT.0,
        "Version",
        json!({"code": "sh110_v001"}),
    )
    .unwrap();
    let events = events_after(&sim, before).await;
    let config = config(&sim);
    let mut aborts = load_plugin(&config, &example("faulty/aborts.py"))
        .await
        .unwrap();
    let mut versions = load_plugin(&config, &example("log_new_versions.py"))
        .await
        .unwrap();

    let shot_change = events
        .iter()
        .find(|e| e.event_type == "Shotgun_Shot_Change")
        .unwrap();
    let outcome = dispatch(&mut aborts, shot_change).await.unwrap();
    let stopped = outcome.stopped().unwrap();
    assert_eq!(stopped.callback, "crash");
    assert!(stopped.message.contains("SIGABRT"), "{stopped:?}");
    // Python's crash report reaches the plugin's log through stderr.
    let report = logs.wait_for("plugin.aborts", "Fatal Python error").await;
    assert_eq!(report.py_level, 30);

    let version_new = find_event(&events, "Shotgun_Version_New", None);
    let outcome = dispatch(&mut versions, &version_new).await.unwrap();
    assert!(outcome.failures.is_empty(), "{outcome:?}");
    logs.wait_for("plugin.log_new_versions.log_version", "'sh110_v001'")
        .await;
    aborts.shutdown().await;
    versions.shutdown().await;
}

#[tokio::test]
async fn after_a_crash_the_next_callback_runs_in_a_fresh_process() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh120");
    let events = events_after(&sim, before).await;
    let marker_dir = tempfile::tempdir().unwrap();
    let mut config = config(&sim);
    config.extra_env.push((
        "SGEVENTS_TEST_DIR".to_owned(),
        marker_dir.path().display().to_string(),
    ));
    let mut plugin = load_plugin(&config, &test_plugin("unlucky.py"))
        .await
        .unwrap();

    let outcome = dispatch(&mut plugin, &events[0]).await.unwrap();
    let [failure] = outcome.failures.as_slice() else {
        panic!("{outcome:?}");
    };
    assert_eq!(failure.callback, "maybe_abort");
    assert!(
        failure.message.contains("killed by signal 6"),
        "{failure:?}"
    );
    assert!(!failure.stop);
    logs.wait_for(
        "plugin.unlucky.after_abort",
        &format!("after_abort ran on event {}", events[0].id),
    )
    .await;

    let outcome = dispatch(&mut plugin, &events[1]).await.unwrap();
    assert!(outcome.failures.is_empty(), "{outcome:?}");
    logs.wait_for("plugin.unlucky.maybe_abort", "maybe_abort survived")
        .await;
    plugin.shutdown().await;
}

#[tokio::test]
async fn per_plugin_processes_by_default_and_one_per_path_on_request() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh130");
    let event = events_after(&sim, before).await.remove(0);
    let (dir, path_a) = probe_copy();
    let path_b = dir.path().join("probe_b.py");
    std::fs::copy(&path_a, &path_b).unwrap();

    let pid_of = |logger: &str| {
        let record = logs.matching(logger, "probe ").pop().unwrap();
        let report: serde_json::Value =
            serde_json::from_str(record.message.trim_start_matches("probe ")).unwrap();
        (
            report["pid"].as_u64().unwrap(),
            report["pgid"].as_u64().unwrap(),
        )
    };

    // Default: a process (and process group) each.
    let mut a = load_plugin(&config(&sim), &path_a).await.unwrap();
    let mut b = load_plugin(&config(&sim), &path_b).await.unwrap();
    dispatch(&mut a, &event).await.unwrap();
    dispatch(&mut b, &event).await.unwrap();
    let (pid_a, pgid_a) = pid_of("plugin.probe.probe");
    let (pid_b, _) = pid_of("plugin.probe_b.probe");
    assert_ne!(pid_a, pid_b);
    assert_eq!(pid_a, pgid_a, "each plugin process leads its own group");
    a.shutdown().await;
    b.shutdown().await;
    let gone = |pid: u64| process_gone(u32::try_from(pid).unwrap()).then_some(());
    assert!(wait_until(|| gone(pid_a)).await.is_some());
    assert!(wait_until(|| gone(pid_b)).await.is_some());

    // Per path: one process for both.
    let mut config = config(&sim);
    config.process = ProcessMode::PerPath;
    let host = PluginHost::new(config);
    let mut a = host.load(&path_a).await.unwrap();
    let mut b = host.load(&path_b).await.unwrap();
    dispatch(&mut a, &event).await.unwrap();
    dispatch(&mut b, &event).await.unwrap();
    let (shared_a, _) = pid_of("plugin.probe.probe");
    let (shared_b, _) = pid_of("plugin.probe_b.probe");
    assert_eq!(shared_a, shared_b);
    // Shutting one down keeps the process for the other.
    a.shutdown().await;
    let outcome = dispatch(&mut b, &event).await.unwrap();
    assert!(outcome.failures.is_empty(), "{outcome:?}");
    assert_eq!(pid_of("plugin.probe_b.probe").0, shared_b);
    b.shutdown().await;
    assert!(wait_until(|| gone(shared_b)).await.is_some());
}

#[tokio::test]
async fn reload_starts_fresh_code_in_a_fresh_process_and_drains_the_old_one() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh140");
    let events = events_after(&sim, before).await;
    let (_dir, path) = probe_copy();
    let config = config(&sim);
    let mut old = load_plugin(&config, &path).await.unwrap();
    dispatch(&mut old, &events[0]).await.unwrap();
    dispatch(&mut old, &events[1]).await.unwrap();
    let first = probe_reports(&logs);
    assert_eq!(first[1]["global_calls"], json!(2));

    let source = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, source.replace("VERSION = 1", "VERSION = 2")).unwrap();
    let mut new = load_plugin(&config, &path).await.unwrap();
    old.shutdown().await;
    let old_pid = u32::try_from(first[0]["pid"].as_u64().unwrap()).unwrap();
    assert!(
        wait_until(|| process_gone(old_pid).then_some(()))
            .await
            .is_some()
    );

    dispatch(&mut new, &events[0]).await.unwrap();
    let report = probe_reports(&logs).pop().unwrap();
    assert_eq!(report["version"], json!(2));
    assert_eq!(report["global_calls"], json!(1), "module globals reset");
    assert_eq!(
        report["args_calls"],
        json!(1),
        "registerCallbacks ran again"
    );
    assert_ne!(report["pid"], first[0]["pid"]);
    new.shutdown().await;
}

#[tokio::test]
async fn a_per_path_reload_loads_fresh_code_into_the_shared_process() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh150");
    let event = events_after(&sim, before).await.remove(0);
    let (_dir, path) = probe_copy();
    let mut config = config(&sim);
    config.process = ProcessMode::PerPath;
    let host = PluginHost::new(config);
    let mut old = host.load(&path).await.unwrap();
    dispatch(&mut old, &event).await.unwrap();
    dispatch(&mut old, &event).await.unwrap();

    let source = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, source.replace("VERSION = 1", "VERSION = 2")).unwrap();
    let mut new = host.load(&path).await.unwrap();
    old.shutdown().await;
    dispatch(&mut new, &event).await.unwrap();
    let reports = probe_reports(&logs);
    let last = reports.last().unwrap();
    assert_eq!(last["version"], json!(2));
    assert_eq!(last["global_calls"], json!(1));
    assert_eq!(last["pid"], reports[0]["pid"]);
    new.shutdown().await;
}
