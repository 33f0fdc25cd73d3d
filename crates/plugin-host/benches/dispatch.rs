//! Dispatch throughput to Python no-op plugins (1 and 10 plugins) and the per-event cost of
//! the pipe round trip. Run: `cargo bench -p sgevents-plugin-host --bench dispatch`.
//!
//! Uses the workspace venv (or `SGEVENTS_PYTHON`) and an in-process site emulator, which
//! the no-op plugins contact only when they register.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark binary: setup failures should stop it loudly"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sgevents_api::Event;
use sgevents_plugin_api::Plugin;
use sgevents_plugin_host::{HostConfig, PythonPlugin, load_plugin};
use sgevents_sim::SimConfig;

const SCRIPT: (&str, &str) = ("sgevents_bench", "bench-key");
const NOOP: &str = "import os\n\n\ndef registerCallbacks(reg):\n    reg.registerCallback(\n        os.environ['SGEVENTS_EXAMPLE_SCRIPT'], os.environ['SGEVENTS_EXAMPLE_KEY'], noop\n    )\n\n\ndef noop(sg, logger, event, args):\n    pass\n";

fn python() -> PathBuf {
    std::env::var_os("SGEVENTS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"))
}

fn events(n: usize) -> Vec<Arc<Event>> {
    (0..n)
        .map(|i| {
            let raw = json!({
                "type": "EventLogEntry", "id": 1_000 + i, "event_type": "Shotgun_Shot_Change",
                "attribute_name": "sg_status_list",
                "meta": {"type": "attribute_change", "attribute_name": "sg_status_list",
                         "entity_type": "Shot", "entity_id": 42, "field_data_type": "status_list",
                         "old_value": "wtg", "new_value": "ip"},
                "entity": {"type": "Shot", "id": 42, "name": "sh010"},
                "user": {"type": "HumanUser", "id": 7, "name": "Ana Lima"},
                "project": {"type": "Project", "id": 70, "name": "Demo"},
                "session_uuid": Value::Null, "created_at": "2026-03-01T10:20:31Z"
            });
            Arc::new(Event::from_json(raw).unwrap())
        })
        .collect()
}

async fn load(config: &HostConfig, dir: &std::path::Path, n: usize) -> Vec<PythonPlugin> {
    let mut plugins = Vec::new();
    for i in 0..n {
        let path = dir.join(format!("noop_{i:02}.py"));
        std::fs::write(&path, NOOP).unwrap();
        let mut plugin = load_plugin(config, &path).await.unwrap();
        if config.run_ahead {
            // As the daemon does: a progress page lets the process run ahead.
            plugin
                .keep_progress(&dir.join(format!("noop_{i:02}.page")))
                .await;
        }
        plugins.push(plugin);
    }
    plugins
}

/// Each plugin handles every event in its own task, as the daemon's plugin workers do,
/// hinting the next events ahead ([`Plugin::upcoming`]) in batches of up to 64, as the
/// worker's look-ahead does during catch-up.
async fn run(plugins: Vec<PythonPlugin>, events: &[Arc<Event>]) -> (Duration, Vec<Duration>) {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut plugin in plugins {
        let events = events.to_vec();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(events.len());
            let mut hinted = 0;
            for (i, event) in events.iter().enumerate() {
                if hinted < i + 16 {
                    let end = (i + 64).min(events.len());
                    let hints: Vec<_> = events[hinted.max(i)..end]
                        .iter()
                        .map(|e| (Arc::clone(e), vec![0]))
                        .collect();
                    plugin.upcoming(&hints).await;
                    hinted = end;
                }
                let started = Instant::now();
                let outcome = plugin.handle(event, &[0]).await;
                latencies.push(started.elapsed());
                assert!(outcome.failures.is_empty(), "{outcome:?}");
            }
            plugin.shutdown().await;
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.unwrap());
    }
    (start.elapsed(), latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sim = sgevents_sim::spawn(SimConfig {
        scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut config = HostConfig::new(python(), sim.url());
    // The daemon's default: processes keep a progress page and run ahead.
    config.run_ahead = std::env::var_os("SGEVENTS_BENCH_IN_STEP").is_none();
    config.fork_server = std::env::var_os("SGEVENTS_BENCH_NO_FORK_SERVER").is_none();
    config.extra_env = vec![
        ("SGEVENTS_EXAMPLE_SCRIPT".to_owned(), SCRIPT.0.to_owned()),
        ("SGEVENTS_EXAMPLE_KEY".to_owned(), SCRIPT.1.to_owned()),
    ];
    let n_events: usize = std::env::var("SGEVENTS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let events = events(n_events);
    let dir = tempfile::tempdir().unwrap();

    // Start-up: 10 fresh plugins in a fresh host (the fork server starts too) until each
    // has run its first callback.
    let started = Instant::now();
    let mut fresh = load(&config, dir.path(), 10).await;
    for plugin in &mut fresh {
        assert!(plugin.handle(&events[0], &[0]).await.failures.is_empty());
    }
    let startup = started.elapsed();
    for mut plugin in fresh {
        plugin.shutdown().await;
    }

    // Warm up one process so imports and first-call costs are not measured.
    let warm = load(&config, dir.path(), 1).await;
    run(warm, &events[..200.min(n_events)]).await;

    println!(
        "dispatch to Python no-op plugins, {n_events} events per plugin{}",
        if config.run_ahead {
            ""
        } else {
            ", in step (SGEVENTS_BENCH_IN_STEP)"
        }
    );
    for n_plugins in [1, 10] {
        let plugins = load(&config, dir.path(), n_plugins).await;
        let (elapsed, mut latencies) = run(plugins, &events).await;
        latencies.sort();
        let deliveries = (n_events * n_plugins) as f64;
        let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
        println!(
            "{n_plugins:>2} plugin(s): {:>8.0} events/s per plugin, {:>8.0} deliveries/s total; \
             handle() latency mean {:>6.1} us, p50 {:>6.1} us, p99 {:>6.1} us",
            n_events as f64 / elapsed.as_secs_f64(),
            deliveries / elapsed.as_secs_f64(),
            mean.as_secs_f64() * 1e6,
            percentile(&latencies, 0.5).as_secs_f64() * 1e6,
            percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        );
    }
    println!(
        "start-up: 10 fresh plugins loaded and their first callback done in {:.0} ms{}",
        startup.as_secs_f64() * 1e3,
        if config.fork_server {
            " (fork server)"
        } else {
            " (one interpreter each)"
        }
    );
    println!(
        "per-event pipe overhead = the 1-plugin handle() latency: the run message (events \
         shipped ahead in batches), decode in Python, the no-op call, the result message"
    );
    sim.shutdown().await;
}
