//! Site load: the loop reads again at once only after a full batch, otherwise once per
//! `fetch_interval`; a plugin that is behind reads on its own at the rate it can use. Checked
//! with the sim's request counts.

use std::time::{Duration, Instant};

use sgevents_daemon::{Options, StartAt};
use sgevents_sim::{Sim, SimConfig};
use sgevents_store::{Cursor, PluginKey, Store};

use super::support::*;

const BATCH: usize = 500;
const FETCH_INTERVAL: Duration = Duration::from_secs(1);

async fn prefilled(events: u64) -> Sim {
    sgevents_sim::spawn(SimConfig {
        scripts: vec![(SCRIPT.to_owned(), KEY.to_owned())],
        prefill: events,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn reads(sim: &Sim) -> u64 {
    sim.request_counts().get("read").copied().unwrap_or(0)
}

fn load_options() -> Options {
    Options {
        fetch_interval: FETCH_INTERVAL,
        max_event_batch_size: BATCH,
        start_at: StartAt::Saved,
        ..options()
    }
}

/// The most reads allowed: a few per `fetch_interval` (new events, missing ids, the latest
/// id), plus one per full batch any plugin consumed.
fn allowed(elapsed: Duration, events_consumed: usize) -> u64 {
    let intervals = (elapsed.as_secs_f64() / FETCH_INTERVAL.as_secs_f64()).ceil() as u64 + 1;
    3 * intervals + (events_consumed / BATCH) as u64 + 2
}

#[tokio::test]
async fn a_slow_plugin_catching_up_beside_a_caught_up_one_does_not_flood_the_site() {
    let sim = prefilled(12_000).await;
    let latest = sim.latest_event_id().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = Store::open(&path).unwrap();
    store
        .save(&[
            (PluginKey::new("native", "slow"), Cursor::at(0)),
            (PluginKey::new("native", "fast"), Cursor::at(latest)),
        ])
        .unwrap();
    drop(store);
    let ledger = Ledger::default();
    let mut slow = Recorder::new("slow", &ledger);
    slow.delay = Duration::from_millis(1);
    let before = reads(&sim);
    let started = Instant::now();
    let daemon = Daemon::start(
        &sim,
        &path,
        load_options(),
        vec![slow, Recorder::new("fast", &ledger)],
    );
    write_shots(&sim, 3);
    let new_last = sim.latest_event_id().unwrap();
    wait_until("the caught-up plugin got the new events", || {
        per_plugin(&ledger)
            .get("fast")
            .is_some_and(|ids| ids.last() == Some(&new_last))
    })
    .await;
    let slow_when_fast_done = count(&ledger, "slow");
    wait_until("the slow plugin handled 3,000 events", || {
        count(&ledger, "slow") >= 3_000
    })
    .await;
    let elapsed = started.elapsed();
    let consumed = count(&ledger, "slow") + count(&ledger, "fast");
    let sent = reads(&sim) - before;
    daemon.stop().await;
    eprintln!(
        "catch-up: {sent} reads in {elapsed:?} (fetch_interval {FETCH_INTERVAL:?}, batch {BATCH}) \
         while the slow plugin handled {consumed} events; allowed {}",
        allowed(elapsed, consumed)
    );
    assert!(
        slow_when_fast_done < latest as usize,
        "the fast plugin waited for the slow one ({slow_when_fast_done} of {latest} done)"
    );
    assert!(
        sent <= allowed(elapsed, consumed),
        "{sent} reads in {elapsed:?} for {consumed} events"
    );
    let slow_ids = per_plugin(&ledger).remove("slow").unwrap();
    let expected: Vec<i64> = (1..=slow_ids.len() as i64).collect();
    assert_eq!(slow_ids, expected, "in order, nothing lost or repeated");
}

#[tokio::test]
async fn slow_and_fast_plugins_with_no_backlog_read_once_per_interval() {
    let sim = prefilled(0).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::default();
    let mut slow = Recorder::new("slow", &ledger);
    slow.delay = Duration::from_millis(200);
    let mut options = load_options();
    options.start_at = StartAt::Latest;
    let before = reads(&sim);
    let started = Instant::now();
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options,
        vec![slow, Recorder::new("fast", &ledger)],
    );
    wait_until("both plugins are loaded", || {
        daemon.watch.plugins().len() == 2
    })
    .await;
    // A steady trickle: each write makes a few events, faster than the slow plugin can go.
    for _ in 0..6 {
        write_shots(&sim, 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let last = sim.latest_event_id().unwrap();
    wait_until("the fast plugin is caught up", || {
        per_plugin(&ledger)
            .get("fast")
            .is_some_and(|ids| ids.last() == Some(&last))
    })
    .await;
    let elapsed = started.elapsed();
    let sent = reads(&sim) - before;
    let consumed = count(&ledger, "slow") + count(&ledger, "fast");
    daemon.stop().await;
    eprintln!(
        "head of line: {sent} reads in {elapsed:?} (fetch_interval {FETCH_INTERVAL:?}); allowed {}",
        allowed(elapsed, consumed)
    );
    assert!(
        sent <= allowed(elapsed, consumed),
        "{sent} reads in {elapsed:?}"
    );
}

#[tokio::test]
async fn an_outage_during_catch_up_is_retried_with_backoff_not_in_a_tight_loop() {
    let sim = prefilled(5_000).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::default();
    let mut options = options();
    options.max_event_batch_size = 50;
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options,
        vec![Recorder::new("a", &ledger)],
    );
    wait_until("the catch-up is under way", || count(&ledger, "a") >= 200).await;
    let before = reads(&sim);
    let started = Instant::now();
    sim.add_fault(sgevents_sim::FaultRule {
        kind: sgevents_sim::FaultKind::Http { status: 503 },
        rate: None,
        count: None,
        for_ms: Some(2_000),
        method: None,
    })
    .unwrap();
    wait_until("several reads failed", || {
        daemon.watch.site().consecutive_failures >= 3
    })
    .await;
    let at_outage = count(&ledger, "a");
    // Counted from the fault to the first read the site answers again: the reads of the
    // catch-up after that are not retries (a fast machine makes many in a few ms).
    wait_until("the site answers again", || {
        daemon.watch.site().consecutive_failures == 0
    })
    .await;
    let (sent, elapsed) = (reads(&sim) - before, started.elapsed());
    wait_until("the catch-up goes on after the outage", || {
        count(&ledger, "a") >= at_outage + 100
    })
    .await;
    daemon.stop().await;
    // With the test's 200 ms retry sleep and the client's own retries, a bounded pace is
    // some tens of reads a second; a tight loop is thousands.
    let allowed = 10 + (elapsed.as_secs_f64() * 40.0) as u64;
    eprintln!("outage during catch-up: {sent} reads in {elapsed:?}; allowed {allowed}");
    assert!(sent <= allowed, "{sent} reads in {elapsed:?}");
}
