//! Python log records and printed output reaching the daemon's log.

use sgevents_plugin_api::Plugin;
use sgevents_plugin_host::load_plugin;

use crate::support::{Logs, config, create_shot, dispatch, events_after, example, latest, site};

#[tokio::test]
async fn records_prints_and_raw_output_land_under_the_plugins_loggers() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh200");
    let event = events_after(&sim, before).await.remove(0);
    let mut plugin = load_plugin(&config(&sim), &example("faulty/noisy.py"))
        .await
        .unwrap();
    // Printed while registering.
    let printed = logs
        .wait_for("plugin.noisy", "noisy plugin registering")
        .await;
    assert_eq!(printed.py_level, 20);

    let outcome = dispatch(&mut plugin, &event).await.unwrap();
    assert!(outcome.failures.is_empty(), "{outcome:?}");
    let id = event.id;
    let print = logs
        .wait_for("plugin.noisy", &format!("printed for event {id}"))
        .await;
    assert_eq!((print.py_level, print.level), (20, tracing::Level::INFO));
    let stderr = logs
        .wait_for("plugin.noisy", &format!("stderr line for event {id}"))
        .await;
    assert_eq!((stderr.py_level, stderr.level), (30, tracing::Level::WARN));
    let warning = logs
        .wait_for(
            "plugin.noisy.chatter",
            &format!("warning record for event {id}"),
        )
        .await;
    assert_eq!(
        (warning.py_level, warning.level),
        (30, tracing::Level::WARN)
    );
    // Written straight to fd 1, past Python: read from the stdout pipe.
    logs.wait_for("plugin.noisy", &format!("raw fd 1 line for event {id}"))
        .await;
    // The plugin logger stays at INFO, so the DEBUG record was filtered in Python.
    assert!(
        logs.matching("plugin.noisy.chatter", "debug record")
            .is_empty()
    );
    plugin.shutdown().await;
}

#[tokio::test]
async fn the_daemon_log_level_sets_the_plugin_loggers_level() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh210");
    let event = events_after(&sim, before).await.remove(0);
    let mut config = config(&sim);
    config.log_level = 10;
    let mut plugin = load_plugin(&config, &example("faulty/noisy.py"))
        .await
        .unwrap();
    dispatch(&mut plugin, &event).await.unwrap();
    let debug = logs
        .wait_for(
            "plugin.noisy.chatter",
            &format!("debug record for event {}", event.id),
        )
        .await;
    assert_eq!((debug.py_level, debug.level), (10, tracing::Level::DEBUG));
    plugin.shutdown().await;
}
