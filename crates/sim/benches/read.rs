//! Benchmark: one api3 `read` of 500 EventLogEntry rows over HTTP, as a polling daemon does.

use std::time::{Duration, Instant};

use serde_json::json;

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return;
        }
    };
    runtime.block_on(run());
}

async fn run() {
    let config = sgevents_sim::SimConfig {
        scripts: vec![("bench".into(), "key".into())],
        prefill: 100_000,
        ..Default::default()
    };
    let sim = match sgevents_sim::spawn(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("cannot start the sim: {e}");
            return;
        }
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    let url = format!("{}/api3/json", sim.url());
    let latest = sim.latest_event_id().unwrap_or(0);
    let body = |start: i64| {
        json!({"method_name": "read", "params": [
            {"script_name": "bench", "script_key": "key"},
            {"type": "EventLogEntry",
             "return_fields": ["id", "event_type", "attribute_name", "meta", "entity", "user", "project", "session_uuid", "created_at"],
             "filters": {"logical_operator": "and", "conditions": [{"path": "id", "relation": "greater_than", "values": [start]}]},
             "return_only": "active", "paging": {"entities_per_page": 500, "current_page": 1},
             "sorts": [{"field_name": "id", "direction": "asc"}], "api_return_image_urls": true,
             "return_paging_info_without_counts": false}]})
    };
    let n_iter = 200u32;
    let mut times: Vec<Duration> = Vec::with_capacity(n_iter as usize);
    let mut bytes = 0usize;
    for i in 0..(n_iter + 20) {
        let start = (i64::from(i) * 997) % (latest - 600).max(1);
        let t0 = Instant::now();
        let resp = client.post(&url).json(&body(start)).send().await;
        let Ok(resp) = resp else {
            eprintln!("request failed");
            return;
        };
        let Ok(text) = resp.bytes().await else {
            eprintln!("body failed");
            return;
        };
        let elapsed = t0.elapsed();
        if i >= 20 {
            times.push(elapsed);
            bytes = text.len();
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let p95 = times[times.len() * 95 / 100];
    let mean = times.iter().sum::<Duration>() / n_iter;
    println!(
        "read 500 EventLogEntry rows over HTTP ({bytes} bytes): median {median:?}, mean {mean:?}, p95 {p95:?} ({n_iter} requests)"
    );
    sim.shutdown().await;
}
