//! `run` owns the daemon's long-lived tasks: one that dies stops the loop and fails `run`;
//! shutdown waits only for in-flight callbacks and names the plugins it abandons.

use std::sync::Arc;

use sgevents_daemon::{DaemonError, Deps, NativePlugin, PluginFilters, PluginKey, Watch};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::support::*;

#[tokio::test]
async fn a_long_lived_task_that_dies_fails_run() {
    let sim = sim().await;
    write_shots(&sim, 2);
    let dir = tempfile::tempdir().unwrap();
    let store = sgevents_store::Store::open(&dir.path().join("state.db")).unwrap();
    let ledger = Ledger::default();
    let (die, dies) = tokio::sync::oneshot::channel::<()>();
    let mailer = tokio::spawn(async move {
        let _ = dies.await;
    });
    let watch = Arc::new(Watch::default());
    let deps = Deps {
        client: client(&sim),
        saved: store.load().unwrap(),
        store: Box::new(store),
        plugin_dirs: Vec::new(),
        native_plugins: vec![NativePlugin {
            key: PluginKey::new("native", "a"),
            plugin: Box::new(Recorder::new("a", &ledger)),
            filters: PluginFilters::default(),
        }],
        reload: Arc::new(Notify::new()),
        watch: watch.clone(),
        telemetry: Arc::new(sgevents_daemon::telemetry::Telemetry::new()),
        control: sgevents_daemon::control::channel().1,
        status: None,
        tasks: vec![("alert mailer".to_owned(), mailer)],
        clock: Arc::new(sgevents_daemon::clock::SystemClock),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sgevents_daemon::run(options(), deps, shutdown.clone()));
    wait_until("the plugin runs", || count(&ledger, "a") > 0).await;
    die.send(()).unwrap();
    let result = task.await.unwrap();
    match result {
        Err(DaemonError::Task { task, .. }) => assert_eq!(task, "alert mailer"),
        other => panic!("run must fail when a task dies, got {other:?}"),
    }
    assert!(!shutdown.is_cancelled(), "run stopped on its own");
}

#[tokio::test]
async fn shutdown_waits_only_for_in_flight_callbacks_and_names_the_plugins_it_abandons() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let sim = sim().await;
    write_shots(&sim, 1);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::default();
    let mut stuck = Recorder::new("stuck", &ledger);
    stuck.delay = std::time::Duration::from_secs(3600);
    let mut options = options();
    options.shutdown_grace = std::time::Duration::from_millis(200);
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options,
        vec![stuck, Recorder::new("quick", &ledger)],
    );
    wait_until("the stuck plugin is running an event", || {
        daemon
            .watch
            .plugins()
            .iter()
            .any(|(key, _, view)| key.plugin == "stuck" && view.running.is_some())
    })
    .await;
    daemon.stop().await;
    let text = logs.text();
    assert!(
        text.contains("stopped without finishing their event: native/stuck"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|line| line.contains("stopped without finishing"))
        .unwrap();
    assert!(
        !line.contains("quick"),
        "an idle plugin is not abandoned: {line}"
    );
}
