//! Gaps, faults, persistence and request counting over the wire.

use serde_json::json;
use sgevents_sim::{Delay, FaultKind, FaultRule, GapProfile, SimConfig};

use crate::support::{call, events_after, start};

#[tokio::test]
async fn late_rows_stay_invisible_until_their_commit_time() {
    let sim = start(SimConfig::default()).await;
    let before = sim.latest_event_id().unwrap_or(0);
    sim.set_gap_profile(GapProfile {
        late: 1.0,
        never: 0.0,
        delay: Delay::Fixed { ms: 400 },
    })
    .unwrap();
    sim.create("test", "Shot", json!({"code": "late"})).unwrap();
    sim.set_gap_profile(GapProfile::default()).unwrap();
    sim.create("test", "Shot", json!({"code": "now"})).unwrap();
    let visible = events_after(&sim, before).await;
    let ids: Vec<i64> = visible.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        ids.first().unwrap() - before > 1,
        "the late transaction leaves a gap: {ids:?}"
    );
    let mut waited = 0;
    while events_after(&sim, before).await.len() <= visible.len() {
        assert!(
            waited < 500,
            "timed out waiting for the late rows to commit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
    }
    let all = events_after(&sim, before).await;
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(
        ids,
        ((before + 1)..=(before + ids.len() as i64)).collect::<Vec<_>>(),
        "the gap closed"
    );
}

#[tokio::test]
async fn never_committed_rows_leave_permanent_gaps() {
    let sim = start(SimConfig::default()).await;
    let next = sim.next_event_id();
    sim.set_gap_profile(GapProfile {
        late: 0.0,
        never: 1.0,
        delay: Delay::Fixed { ms: 0 },
    })
    .unwrap();
    sim.create("test", "Shot", json!({"code": "lost"})).unwrap();
    assert!(sim.next_event_id() > next, "ids were consumed");
    assert_eq!(
        events_after(&sim, next - 1).await,
        Vec::<serde_json::Value>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_fire_for_the_next_n_requests_and_counts_are_kept() {
    let sim = start(SimConfig::default()).await;
    sim.add_fault(FaultRule {
        kind: FaultKind::Http { status: 502 },
        rate: None,
        count: Some(1),
        for_ms: None,
        method: Some("read".into()),
    })
    .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = json!({"method_name": "read", "params": [{"script_name": "test", "script_key": "key"}, {"type": "Shot"}]});
    let url = format!("{}/api3/json", sim.url());
    let first = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 502);
    let second = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(second.status().as_u16(), 200);
    sim.add_fault(FaultRule {
        kind: FaultKind::Exception {
            error_code: 104,
            message: "boom".into(),
        },
        rate: Some(1.0),
        count: Some(1),
        for_ms: None,
        method: None,
    })
    .unwrap();
    let reply = call(&sim, "read", json!({"type": "Shot"})).await;
    assert_eq!(
        reply,
        json!({"exception": true, "message": "boom", "error_code": 104})
    );
    let counts = sim.request_counts();
    assert_eq!(counts.get("read"), Some(&3));
    let stats: serde_json::Value = client
        .get(format!("{}/admin/stats", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"]["read"], 3);
    assert_eq!(stats["faults_injected"], 2);
}

#[tokio::test]
async fn a_data_dir_keeps_entities_events_and_counters_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        data_dir: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let sim = start(config.clone()).await;
    let id = sim.create("test", "Shot", json!({"code": "kept"})).unwrap()["id"]
        .as_i64()
        .unwrap();
    let latest = sim.latest_event_id().unwrap();
    sim.shutdown().await;

    let sim = start(config).await;
    let shots = call(
        &sim,
        "read",
        json!({"type": "Shot", "return_fields": ["code"], "filters": [["id", "is", id]]}),
    )
    .await;
    assert_eq!(shots["results"]["entities"][0]["code"], "kept");
    assert_eq!(sim.latest_event_id(), Some(latest));
    let next = sim
        .create("test", "Shot", json!({"code": "after"}))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(next, id + 1, "id counters survive");
    assert!(sim.latest_event_id().unwrap() > latest);
    let people = call(&sim, "read", json!({"type": "HumanUser"})).await;
    assert_eq!(
        people["results"]["entities"].as_array().unwrap().len(),
        6,
        "bootstrap records are not duplicated"
    );
}

#[tokio::test]
async fn prefill_writes_dense_history() {
    let sim = start(SimConfig {
        prefill: 5_000,
        ..Default::default()
    })
    .await;
    let latest = sim.latest_event_id().unwrap();
    assert!(latest >= 5_000, "{latest}");
    let mut seen = 0;
    let mut after = 0;
    loop {
        let page = events_after(&sim, after).await;
        let Some(last) = page.last() else { break };
        for (i, e) in page.iter().enumerate() {
            assert_eq!(
                e["id"].as_i64().unwrap(),
                after + 1 + i as i64,
                "prefilled ids are dense"
            );
        }
        after = last["id"].as_i64().unwrap();
        seen += page.len();
    }
    assert_eq!(seen as i64, latest);
}
