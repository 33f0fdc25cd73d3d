//! Operator requests through the loop's inbox: resume and skip a plugin stopped by
//! stopOnError, pause and unpause one; each logged with the uid, counted, and answered.

use sgevents_daemon::PluginState;
use sgevents_daemon::control::{Action, Refusal, Reply, Request};

use super::support::*;

async fn ask(daemon: &Daemon, plugin: &str, action: Action) -> Reply {
    let (reply, answer) = tokio::sync::oneshot::channel();
    daemon
        .control
        .send(Request {
            plugin: plugin.to_owned(),
            collection: None,
            action,
            uid: 4242,
            reply,
        })
        .await
        .unwrap();
    answer.await.unwrap()
}

fn view(daemon: &Daemon, plugin: &str) -> sgevents_daemon::SlotView {
    daemon
        .watch
        .plugins()
        .into_iter()
        .find(|(key, _, _)| key.plugin == plugin)
        .map(|(_, _, view)| view)
        .unwrap()
}

fn state(daemon: &Daemon, plugin: &str) -> PluginState {
    view(daemon, plugin).state
}

/// A site with events, a plugin that stops on the third, and a bystander.
async fn stopped_plugin(
    fail_times: u32,
) -> (
    sgevents_sim::Sim,
    tempfile::TempDir,
    Ledger,
    Daemon,
    Vec<i64>,
) {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_shots(&sim, 3);
    let expected = all_event_ids(&sim).await;
    let ledger = Ledger::default();
    let mut stopper = Recorder::new("stopper", &ledger);
    stopper.fail_on = Some(expected[2]);
    stopper.fail_times = fail_times;
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options(),
        vec![stopper, Recorder::new("other", &ledger)],
    );
    wait_until("the plugin stopped", || {
        daemon.watch.plugins().len() == 2 && state(&daemon, "stopper") == PluginState::Failed
    })
    .await;
    (sim, dir, ledger, daemon, expected)
}

#[tokio::test]
async fn resume_retries_the_failed_event_without_a_file_change() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let (_sim, _dir, ledger, daemon, expected) = stopped_plugin(1).await;
    assert_eq!(
        per_plugin(&ledger).remove("stopper").unwrap(),
        expected[..2]
    );
    // Only a stopped plugin can be resumed or skipped.
    let refused = ask(&daemon, "other", Action::Skip).await.unwrap_err();
    assert!(
        matches!(refused, Refusal::NotApplicable { .. }),
        "{refused:?}"
    );
    let unknown = ask(&daemon, "nobody", Action::Resume).await.unwrap_err();
    assert_eq!(unknown, Refusal::UnknownPlugin("nobody".to_owned()));

    let reply = ask(&daemon, "stopper", Action::Resume).await.unwrap();
    assert!(reply.contains(&expected[2].to_string()), "{reply}");
    wait_until("the plugin caught up", || {
        count(&ledger, "stopper") >= expected.len()
    })
    .await;
    assert_eq!(per_plugin(&ledger).remove("stopper").unwrap(), expected);
    assert_eq!(state(&daemon, "stopper"), PluginState::Active);
    daemon.stop().await;
    assert!(
        logs.text()
            .contains("Operator (uid 4242) resumed plugin native/stopper"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn skip_moves_past_the_failed_event_and_resumes() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let (sim, _dir, ledger, daemon, expected) = stopped_plugin(u32::MAX).await;
    let failed = expected[2];
    ask(&daemon, "stopper", Action::Skip).await.unwrap();
    write_shots(&sim, 1);
    let all = all_event_ids(&sim).await;
    wait_until("the plugin caught up", || {
        view(&daemon, "stopper").cursor.last_id == all.last().copied()
    })
    .await;
    let wanted: Vec<i64> = all.iter().copied().filter(|id| *id != failed).collect();
    assert_eq!(per_plugin(&ledger).remove("stopper").unwrap(), wanted);
    assert_eq!(state(&daemon, "stopper"), PluginState::Active);
    daemon.stop().await;
    let text = logs.text();
    assert!(
        text.contains(&format!(
            "Operator (uid 4242) skipped event {failed} of plugin native/stopper"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn pause_stops_dispatch_with_the_cursor_kept_and_unpause_carries_on() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_shots(&sim, 2);
    let before = all_event_ids(&sim).await;
    let ledger = Ledger::default();
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options(),
        vec![
            Recorder::new("paused", &ledger),
            Recorder::new("other", &ledger),
        ],
    );
    wait_until("both caught up", || {
        count(&ledger, "paused") >= before.len() && count(&ledger, "other") >= before.len()
    })
    .await;
    ask(&daemon, "paused", Action::Pause).await.unwrap();
    wait_until("the snapshot shows paused", || {
        state(&daemon, "paused") == PluginState::Paused
    })
    .await;
    let refused = ask(&daemon, "paused", Action::Pause).await.unwrap_err();
    assert!(
        matches!(refused, Refusal::NotApplicable { .. }),
        "{refused:?}"
    );
    write_shots(&sim, 2);
    let after = all_event_ids(&sim).await;
    wait_until("the other plugin got the new events", || {
        count(&ledger, "other") >= after.len()
    })
    .await;
    assert_eq!(
        count(&ledger, "paused"),
        before.len(),
        "a paused plugin takes nothing"
    );
    assert_eq!(
        view(&daemon, "paused").cursor.last_id,
        before.last().copied()
    );

    ask(&daemon, "paused", Action::Unpause).await.unwrap();
    wait_until("the unpaused plugin caught up", || {
        count(&ledger, "paused") >= after.len()
    })
    .await;
    assert_eq!(per_plugin(&ledger).remove("paused").unwrap(), after);
    assert_eq!(state(&daemon, "paused"), PluginState::Active);
    daemon.stop().await;
    let text = logs.text();
    assert!(
        text.contains("Operator (uid 4242) paused plugin native/paused"),
        "{text}"
    );
    assert!(
        text.contains("Operator (uid 4242) unpaused plugin native/paused"),
        "{text}"
    );
}
