//! Transient faults from the site are ridden out without losing or repeating events.

use sgevents_sim::{FaultKind, FaultRule};

use super::support::*;

fn on_reads(kind: FaultKind, rate: f64) -> FaultRule {
    FaultRule {
        kind,
        rate: Some(rate),
        count: None,
        for_ms: None,
        method: Some("read".to_owned()),
    }
}

#[tokio::test]
async fn transient_faults_are_ridden_out() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_shots(&sim, 20);
    let expected = all_event_ids(&sim).await;
    for status in [500, 502, 503, 504] {
        sim.add_fault(on_reads(FaultKind::Http { status }, 0.1))
            .unwrap();
    }
    sim.add_fault(on_reads(FaultKind::Drop, 0.1)).unwrap();
    let mut options = options();
    options.max_event_batch_size = 7;
    let ledger = Ledger::default();
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options,
        vec![Recorder::new("a", &ledger)],
    );
    wait_until("the plugin saw every event", || {
        count(&ledger, "a") >= expected.len()
    })
    .await;
    daemon.stop().await;
    assert_eq!(per_plugin(&ledger).remove("a").unwrap(), expected);
    assert!(sim.request_counts().get("read").copied().unwrap_or(0) > 0);
}

#[tokio::test]
async fn plugin_process_restarts_are_counted() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_shots(&sim, 3);
    let expected = all_event_ids(&sim).await;
    let ledger = Ledger::default();
    let mut crashy = Recorder::new("crashy", &ledger);
    crashy.restart_on = Some(expected[1]);
    let daemon = Daemon::start(&sim, &dir.path().join("state.db"), options(), vec![crashy]);
    wait_until("the plugin saw every event", || {
        count(&ledger, "crashy") >= expected.len()
    })
    .await;
    let (_, _, view) = daemon.watch.plugins().remove(0);
    assert_eq!(view.restarts, 1);
    let metrics = daemon.telemetry.encode();
    assert!(
        metrics.contains("sgevents_plugin_restarts_total{plugin=\"crashy\"} 1"),
        "{metrics}"
    );
    daemon.stop().await;
}
