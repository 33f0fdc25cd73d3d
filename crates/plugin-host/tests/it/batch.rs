//! Events shipped ahead in one message: they run only when handled (unless the process keeps
//! a progress page), and a crash during a batch costs only that child its event.

use std::sync::Arc;

use serde_json::json;
use sgevents_api::Event;
use sgevents_plugin_api::Plugin;
use sgevents_plugin_host::{HostConfig, load_plugin};

use crate::support::{Logs, config, site, test_plugin};

fn events(ids: std::ops::RangeInclusive<i64>) -> Vec<Arc<Event>> {
    ids.map(|id| {
        let raw = json!({
            "type": "EventLogEntry", "id": id, "event_type": "Shotgun_Shot_Change",
            "attribute_name": "sg_status_list", "meta": {"type": "attribute_change"},
            "entity": {"type": "Shot", "id": 1, "name": "sh010"}, "user": null,
            "project": null, "session_uuid": null, "created_at": "2026-03-01T10:20:31Z"
        });
        Arc::new(Event::from_json(raw).unwrap())
    })
    .collect()
}

fn hints(events: &[Arc<Event>]) -> Vec<(Arc<Event>, Vec<usize>)> {
    events.iter().map(|e| (Arc::clone(e), vec![0])).collect()
}

/// `(event id, pid)` of every "ran" record of `logger`, in order.
fn ran(logs: &Logs, logger: &str) -> Vec<(i64, u32)> {
    logs.matching(logger, "ran ")
        .iter()
        .map(|record| {
            let mut words = record.message.split_whitespace().skip(1);
            let id = words.next().unwrap().parse().unwrap();
            let pid = words.nth(1).unwrap().parse().unwrap();
            (id, pid)
        })
        .collect()
}

fn ledger_config(base: &HostConfig, crash_id: Option<i64>) -> HostConfig {
    let mut config = base.clone();
    if let Some(id) = crash_id {
        config
            .extra_env
            .push(("LEDGER_CRASH_ID".to_owned(), id.to_string()));
    }
    config
}

#[tokio::test]
async fn shipped_events_run_only_when_handled_and_skipped_ones_never() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let mut plugin = load_plugin(&config(&sim), &test_plugin("ledger.py"))
        .await
        .unwrap();
    let batch = events(101..=105);
    plugin.upcoming(&hints(&batch)).await;
    for event in [&batch[0], &batch[2], &batch[4]] {
        let outcome = plugin.handle(event, &[0]).await;
        assert!(outcome.failures.is_empty(), "{outcome:?}");
        // Nothing shipped runs before its own `handle`: the log so far ends at this event.
        let seen = ran(&logs, "plugin.ledger.record");
        assert_eq!(seen.last().map(|r| r.0), Some(event.id), "{seen:?}");
    }
    // An event handled without a hint (a late arrival, or the first of a batch) is shipped
    // with its `run`, whatever was shipped ahead; the hinted ones still run after it.
    let more = events(106..=108);
    plugin.upcoming(&hints(&more)).await;
    let late = events(99..=99);
    assert!(plugin.handle(&late[0], &[0]).await.failures.is_empty());
    handle_all(&mut plugin, &more).await;
    plugin.shutdown().await;
    let ids = ledger_ids(&logs);
    assert_eq!(ids, [101, 103, 105, 99, 106, 107, 108]);
}

#[tokio::test]
async fn a_crash_during_a_batch_costs_only_that_child_and_its_in_flight_event() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let base = config(&sim);
    let dir = tempfile::tempdir().unwrap();
    let (crashing, steady) = (dir.path().join("crashing.py"), dir.path().join("steady.py"));
    std::fs::copy(test_plugin("ledger.py"), &crashing).unwrap();
    std::fs::copy(test_plugin("ledger.py"), &steady).unwrap();
    let mut crashing = load_plugin(&ledger_config(&base, Some(202)), &crashing)
        .await
        .unwrap();
    let mut steady = load_plugin(&ledger_config(&base, None), &steady)
        .await
        .unwrap();
    let batch = events(201..=204);
    crashing.upcoming(&hints(&batch)).await;
    steady.upcoming(&hints(&batch)).await;
    for event in &batch {
        let crashed = crashing.handle(event, &[0]).await;
        if event.id == 202 {
            assert_eq!(crashed.failures.len(), 1, "{crashed:?}");
            assert!(
                crashed.failures[0].message.contains("signal 6"),
                "{crashed:?}"
            );
            assert!(!crashed.failures[0].stop);
        } else {
            assert!(crashed.failures.is_empty(), "{crashed:?}");
        }
        assert!(steady.handle(event, &[0]).await.failures.is_empty());
    }
    assert_eq!(crashing.restarts(), 1);
    assert_eq!(steady.restarts(), 0);
    crashing.shutdown().await;
    steady.shutdown().await;
    let crashed = ran(&logs, "plugin.crashing.record");
    let ids: Vec<i64> = crashed.iter().map(|r| r.0).collect();
    assert_eq!(ids, [201, 203, 204], "only the in-flight event is lost");
    assert_ne!(crashed[0].1, crashed[1].1, "203 ran in a fresh process");
    let steady = ran(&logs, "plugin.steady.record");
    let ids: Vec<i64> = steady.iter().map(|r| r.0).collect();
    assert_eq!(ids, [201, 202, 203, 204]);
    assert!(steady.iter().all(|r| r.1 == steady[0].1), "{steady:?}");
}

/// The ids the ledger test plugin ran, in order.
fn ledger_ids(logs: &Logs) -> Vec<i64> {
    ran(logs, "plugin.ledger.record")
        .iter()
        .map(|r| r.0)
        .collect()
}

/// Handles each event with callback 0, expecting no failure.
async fn handle_all(plugin: &mut impl Plugin, events: &[Arc<Event>]) {
    for event in events {
        let outcome = plugin.handle(event, &[0]).await;
        assert!(outcome.failures.is_empty(), "{outcome:?}");
    }
}

/// The ledger test plugin loaded with `config`, keeping its progress page in `dir` (it
/// keeps none, and has none to empty, until asked).
async fn paged_ledger(
    config: &HostConfig,
    dir: &std::path::Path,
) -> (impl Plugin + use<>, std::path::PathBuf) {
    let page = dir.join("ledger.page");
    let mut plugin = load_plugin(config, &test_plugin("ledger.py"))
        .await
        .unwrap();
    assert!(!plugin.keeps_progress());
    assert!(!plugin.empty_progress().await, "no page kept yet");
    assert!(plugin.keep_progress(&page).await);
    assert!(plugin.keeps_progress());
    (plugin, page)
}

/// The ids on a progress page.
fn page_ids(page: &std::path::Path) -> Vec<i64> {
    sgevents_store::page::read(page).unwrap().ids
}

#[tokio::test]
async fn with_a_progress_page_shipped_events_run_at_once_and_each_finished_id_is_recorded() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut plugin, page) = paged_ledger(&config(&sim), dir.path()).await;
    let batch = events(301..=303);
    assert_eq!(plugin.upcoming(&hints(&batch)).await, 3);
    assert!(plugin.holds_events());
    // Only the first is handled; the others run anyway, and the page says so.
    assert!(plugin.handle(&batch[0], &[0]).await.failures.is_empty());
    logs.wait_for("plugin.ledger.record", "ran 303 ").await;
    assert_eq!(page_ids(&page), [301, 302, 303]);
    assert!(plugin.handle(&batch[1], &[0]).await.failures.is_empty());
    // Handled out of shipping order: 400 ships (and runs) after 401..403 already ran, so
    // their results come first and wait for their own `handle`.
    let later = events(401..=403);
    plugin.upcoming(&hints(&later)).await;
    logs.wait_for("plugin.ledger.record", "ran 403 ").await;
    let first = events(400..=400);
    assert!(plugin.handle(&first[0], &[0]).await.failures.is_empty());
    handle_all(&mut plugin, &later).await;
    plugin.shutdown().await;
    let ids = ledger_ids(&logs);
    assert_eq!(ids, [301, 302, 303, 401, 402, 403, 400]);
    assert_eq!(page_ids(&page), ids);
}

#[tokio::test]
async fn a_stop_while_running_ahead_runs_nothing_after_it_until_the_event_is_handled_again() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sim);
    let marker = dir.path().join("failed-once");
    config.extra_env.push((
        "LEDGER_FAIL_ONCE".to_owned(),
        format!("502:{}", marker.display()),
    ));
    let (mut plugin, page) = paged_ledger(&config, dir.path()).await;
    let batch = events(501..=504);
    assert_eq!(plugin.upcoming(&hints(&batch)).await, 4);
    assert!(plugin.handle(&batch[0], &[0]).await.failures.is_empty());
    let outcome = plugin.handle(&batch[1], &[0]).await;
    assert!(outcome.stopped().is_some(), "{outcome:?}");
    assert!(
        !plugin.holds_events(),
        "what was shipped after the stop is dropped"
    );
    // Handled again (as after `sgevents resume`): it runs now, and the rest after it.
    handle_all(&mut plugin, &batch[1..]).await;
    plugin.shutdown().await;
    let ids = ledger_ids(&logs);
    assert_eq!(ids, [501, 502, 503, 504]);
    assert_eq!(
        page_ids(&page),
        ids,
        "the failed attempt is not on the page"
    );
}

#[tokio::test]
async fn the_process_empties_the_page_it_keeps_when_asked_and_appends_from_the_start() {
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut plugin, page) = paged_ledger(&config(&sim), dir.path()).await;
    let batch = events(701..=703);
    plugin.upcoming(&hints(&batch)).await;
    handle_all(&mut plugin, &batch).await;
    assert_eq!(page_ids(&page), [701, 702, 703]);
    assert!(plugin.empty_progress().await);
    assert_eq!(page_ids(&page), Vec::<i64>::new());
    let more = events(704..=705);
    plugin.upcoming(&hints(&more)).await;
    handle_all(&mut plugin, &more).await;
    plugin.shutdown().await;
    assert_eq!(page_ids(&page), [704, 705]);
}

#[tokio::test]
async fn a_hang_while_running_ahead_is_blamed_on_the_hung_event_not_the_first_unanswered_one() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sim);
    config.callback_timeout = std::time::Duration::from_secs(2);
    config
        .extra_env
        .push(("LEDGER_HANG_ID".to_owned(), "603".to_owned()));
    let (mut plugin, page) = paged_ledger(&config, dir.path()).await;
    let batch = events(601..=606);
    assert_eq!(plugin.upcoming(&hints(&batch)).await, 6);
    // 601 and 602 finish, 603 hangs before the process says so (its `done` comes halfway
    // through the batch, after 603): the page shows 601 and 602 done, so only 603 is blamed.
    let mut failed = Vec::new();
    for event in &batch {
        let outcome = plugin.handle(event, &[0]).await;
        if !outcome.failures.is_empty() {
            assert!(
                outcome.failures[0].message.contains("no answer within 2s"),
                "{outcome:?}"
            );
            failed.push(event.id);
        }
    }
    assert_eq!(failed, [603]);
    assert_eq!(plugin.restarts(), 1);
    plugin.shutdown().await;
    assert_eq!(ledger_ids(&logs), [601, 602, 604, 605, 606]);
    assert_eq!(page_ids(&page), [601, 602, 604, 605, 606]);
}

#[tokio::test]
async fn without_run_ahead_a_process_refuses_the_page_and_waits_for_each_event() {
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sim);
    config.run_ahead = false;
    let mut plugin = load_plugin(&config, &test_plugin("ledger.py"))
        .await
        .unwrap();
    assert!(!plugin.keep_progress(&dir.path().join("p.page")).await);
    assert!(!plugin.keeps_progress());
    assert!(!dir.path().join("p.page").exists());
    plugin.shutdown().await;
}

/// Copies of the ledger test plugin, `ledger_a` and `ledger_b`, loaded into one shared
/// process (`config` says per-path), each keeping its progress page `<name>.page` in `dir`.
async fn shared_ledgers(
    config: HostConfig,
    dir: &std::path::Path,
) -> Vec<sgevents_plugin_host::PythonPlugin> {
    let host = sgevents_plugin_host::PluginHost::new(config);
    let mut plugins = Vec::new();
    for name in ["ledger_a", "ledger_b"] {
        let path = dir.join(format!("{name}.py"));
        std::fs::copy(test_plugin("ledger.py"), &path).unwrap();
        let mut plugin = host.load(&path).await.unwrap();
        assert!(
            plugin
                .keep_progress(&dir.join(format!("{name}.page")))
                .await
        );
        plugins.push(plugin);
    }
    plugins
}

#[tokio::test]
async fn a_shared_process_gets_each_row_once_and_every_plugin_every_event_past_the_kept_rows() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sim);
    config.process = sgevents_plugin_host::ProcessMode::PerPath;
    config.callback_timeout = std::time::Duration::from_secs(5); // a lost row fails fast
    let mut plugins = shared_ledgers(config, dir.path()).await;
    // First fewer events than the process keeps rows for: b gets each by id only. Then more:
    // a's first rows are gone by the time b takes them, so those come again in full.
    for ids in [1000..=1229, 1230..=1529] {
        let batch = events(ids);
        for plugin in &mut plugins {
            for chunk in batch.chunks(50) {
                plugin.upcoming(&hints(chunk)).await;
                handle_all(plugin, chunk).await;
            }
        }
    }
    let expected: Vec<i64> = (1000..=1529).collect();
    for (mut plugin, name) in plugins.into_iter().zip(["ledger_a", "ledger_b"]) {
        plugin.shutdown().await;
        let ids: Vec<i64> = ran(&logs, &format!("plugin.{name}.record"))
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ids, expected, "{name}");
        assert_eq!(page_ids(&dir.path().join(format!("{name}.page"))), expected);
    }
}

#[tokio::test]
async fn a_failure_run_ahead_in_a_shared_process_is_reported_though_later_events_are_counted_done()
{
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sim);
    config.process = sgevents_plugin_host::ProcessMode::PerPath;
    config
        .extra_env
        .push(("LEDGER_FAIL_ID".to_owned(), "602:ledger_a".to_owned()));
    let mut plugins = shared_ledgers(config, dir.path()).await;
    let batch = events(601..=604);
    for plugin in &mut plugins {
        assert_eq!(plugin.upcoming(&hints(&batch)).await, 4);
    }
    // b runs after a in the one process. Handling b's events reads everything a said first:
    // its failure on 602, then its `done` for all four, which counts 602 as well.
    logs.wait_for("plugin.ledger_b.record", "ran 604 ").await;
    handle_all(&mut plugins[1], &batch).await;
    let mut failed = Vec::new();
    for event in &batch {
        let outcome = plugins[0].handle(event, &[0]).await;
        assert!(outcome.stopped().is_none(), "{outcome:?}");
        failed.extend(outcome.failures.into_iter().map(|f| (event.id, f.message)));
    }
    for mut plugin in plugins {
        plugin.shutdown().await;
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, 602);
    assert!(failed[0].1.contains("failing 602 always"), "{failed:?}");
    let ids: Vec<i64> = ran(&logs, "plugin.ledger_a.record")
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ids, [601, 603, 604]);
}

#[tokio::test]
async fn the_room_a_process_reports_is_what_it_takes_and_none_while_it_holds_over_half() {
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut plugin, _page) = paged_ledger(&config(&sim), dir.path()).await;
    let room = plugin.room();
    assert!((1..usize::MAX).contains(&room), "room {room}");
    let batch = events(701..=(700 + room as i64 + 10));
    assert_eq!(plugin.upcoming(&hints(&batch)).await, room);
    // It holds its whole limit: nothing more is taken until it is down to half.
    assert_eq!(plugin.room(), 0);
    assert_eq!(plugin.upcoming(&hints(&batch[room..])).await, 0);
    for event in &batch[..room] {
        let outcome = plugin.handle(event, &[0]).await;
        assert!(outcome.failures.is_empty(), "{outcome:?}");
    }
    // It holds nothing now: it takes what it says (its limit follows how fast it ran them).
    let now = plugin.room();
    assert!((1..usize::MAX).contains(&now), "room {now}");
    let more = events(901..=1100);
    assert_eq!(plugin.upcoming(&hints(&more)).await, now);
    assert_eq!(plugin.room(), 0);
    plugin.shutdown().await;
}
