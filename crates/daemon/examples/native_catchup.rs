//! Native no-op catch-up benchmark: the daemon library with one compiled-in plugin against an
//! in-process sim, compared with the sim's raw read rate measured in the same run.
//!
//! Run: `cargo run --release -p sgevents-daemon --example native_catchup -- [EVENTS] [PLUGINS]`
//! (defaults 100000 and 1). Prints one JSON object on stdout; `scripts/bench.sh` parses it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sgevents_api::{Client, ClientConfig};
use sgevents_daemon::{Deps, NativePlugin, Options, PluginFilters, PluginKey, StartAt, Watch};
use sgevents_plugin_api::{BoxFuture, CallbackSpec, Event, MatchEvents, Outcome, Plugin};
use sgevents_sim::SimConfig;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const SCRIPT: &str = "bench";
const KEY: &str = "bench-key";

/// A plugin that does nothing but count and remember the highest id it saw.
struct Noop {
    callbacks: Vec<CallbackSpec>,
    seen: Arc<AtomicU64>,
    highest: Arc<AtomicI64>,
    done: Arc<Notify>,
    target: i64,
}

impl Plugin for Noop {
    fn callbacks(&self) -> &[CallbackSpec] {
        &self.callbacks
    }

    fn handle<'a>(
        &'a mut self,
        event: &'a Arc<Event>,
        _callbacks: &'a [usize],
    ) -> BoxFuture<'a, Outcome> {
        self.seen.fetch_add(1, Ordering::Relaxed);
        self.highest.fetch_max(event.id, Ordering::Relaxed);
        if event.id >= self.target {
            self.done.notify_one();
        }
        Box::pin(async { Outcome::default() })
    }
}

fn arg(index: usize, default: u64) -> Result<u64, String> {
    match std::env::args().nth(index) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("argument {index} '{text}' is not a whole number")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = arg(1, 100_000)?;
    let plugins = arg(2, 1)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(events, plugins))
}

async fn bench(events: u64, plugins: u64) -> Result<(), Box<dyn std::error::Error>> {
    let prefill_started = Instant::now();
    let sim = sgevents_sim::spawn(SimConfig {
        scripts: vec![(SCRIPT.to_owned(), KEY.to_owned())],
        prefill: events,
        ..SimConfig::default()
    })
    .await?;
    let prefill_secs = prefill_started.elapsed().as_secs_f64();
    let last = sim
        .latest_event_id()
        .ok_or("the prefilled site has no events")?;
    let client = || Client::new(ClientConfig::new(&sim.url(), SCRIPT, KEY));

    // The raw read rate: every event, 500 at a time, as fast as one client can ask.
    let reader = client()?;
    let started = Instant::now();
    let (mut after, mut read) = (0, 0u64);
    loop {
        let batch = reader.events_after(after, 500).await?;
        let Some(tail) = batch.last() else { break };
        after = tail.id;
        read += batch.len() as u64;
    }
    let raw_secs = started.elapsed().as_secs_f64();

    let counts_before = sim.request_counts();
    let dir = tempfile::tempdir()?;
    let store = sgevents_store::Store::open(&dir.path().join("state.sqlite3"))?;
    let saved = store.load()?;
    let done = Arc::new(Notify::new());
    let mut counters = Vec::new();
    let mut natives = Vec::new();
    for n in 0..plugins {
        let seen = Arc::new(AtomicU64::new(0));
        let highest = Arc::new(AtomicI64::new(0));
        counters.push((seen.clone(), highest.clone()));
        natives.push(NativePlugin {
            key: PluginKey::new("native", format!("noop_{n:02}")),
            plugin: Box::new(Noop {
                callbacks: vec![CallbackSpec {
                    name: "noop".to_owned(),
                    match_events: MatchEvents::All,
                    stop_on_error: true,
                }],
                seen,
                highest,
                done: done.clone(),
                target: last,
            }),
            filters: PluginFilters::default(),
        });
    }
    let deps = Deps {
        client: client()?,
        store: Box::new(store),
        saved,
        plugin_dirs: Vec::new(),
        native_plugins: natives,
        reload: Arc::new(Notify::new()),
        watch: Arc::new(Watch::default()),
        telemetry: Arc::new(sgevents_daemon::telemetry::Telemetry::new()),
        control: sgevents_daemon::control::channel().1,
        status: None,
        tasks: Vec::new(),
        clock: Arc::new(sgevents_daemon::clock::SystemClock),
    };
    let options = Options {
        fetch_interval: Duration::from_secs(1),
        start_at: StartAt::Id(1),
        // As `sgevents run` does; SGEVENTS_BENCH_IN_STEP=1 saves the cursor after every event.
        pages: std::env::var_os("SGEVENTS_BENCH_IN_STEP")
            .is_none()
            .then(|| sgevents_store::page::pages_dir(&dir.path().join("state.sqlite3"))),
        ..Options::default()
    };
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let daemon = tokio::spawn(sgevents_daemon::run(options, deps, shutdown.clone()));
    let all_done = async {
        loop {
            if counters
                .iter()
                .all(|(_, highest)| highest.load(Ordering::Relaxed) >= last)
            {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), done.notified()).await;
        }
    };
    let timed_out = tokio::time::timeout(Duration::from_secs(600), all_done)
        .await
        .is_err();
    let catchup_secs = started.elapsed().as_secs_f64();
    let by_method: std::collections::BTreeMap<String, u64> = sim
        .request_counts()
        .into_iter()
        .map(|(method, n)| {
            let before = counts_before.get(&method).copied().unwrap_or(0);
            (method, n - before)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let requests: u64 = by_method.values().sum();
    shutdown.cancel();
    daemon.await??;
    sim.shutdown().await;
    let handled: u64 = counters
        .iter()
        .map(|(seen, _)| seen.load(Ordering::Relaxed))
        .sum();
    let report = serde_json::json!({
        "events": read,
        "plugins": plugins,
        "timed_out": timed_out,
        "prefill_secs": prefill_secs,
        "raw_read_secs": raw_secs,
        "raw_read_events_per_sec": read as f64 / raw_secs,
        "catchup_secs": catchup_secs,
        "catchup_events_per_sec": read as f64 / catchup_secs,
        "handled_per_plugin": handled / plugins.max(1),
        "api_requests": requests,
        "api_requests_by_method": by_method,
        "ratio_to_raw_read": raw_secs / catchup_secs,
    });
    println!("{report}");
    Ok(())
}
