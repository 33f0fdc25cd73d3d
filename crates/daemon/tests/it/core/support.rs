//! A recording native plugin and a harness that runs the daemon against an in-process sim.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sgevents_api::{Client, ClientConfig};
use sgevents_daemon::{Deps, NativePlugin, Options, PluginFilters, PluginKey, StartAt, Watch};
use sgevents_plugin_api::{BoxFuture, CallbackSpec, Event, Failure, MatchEvents, Outcome, Plugin};
use sgevents_sim::{Sim, SimConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub(crate) const SCRIPT: &str = "daemon";
pub(crate) const KEY: &str = "daemon-key";

/// Every (plugin, event id) handled, in the order handled, across plugins.
pub(crate) type Ledger = Arc<Mutex<Vec<(String, i64)>>>;

/// A native plugin that records what it sees, and can fail or be slow on purpose.
pub(crate) struct Recorder {
    pub(crate) name: String,
    pub(crate) ledger: Ledger,
    pub(crate) callbacks: Vec<CallbackSpec>,
    /// Fail (with stopOnError) on this event id...
    pub(crate) fail_on: Option<i64>,
    /// ...this many times (then handle it).
    pub(crate) fail_times: u32,
    pub(crate) delay: Duration,
    /// Pretend the plugin's process restarted while handling this event.
    pub(crate) restart_on: Option<i64>,
    pub(crate) restarts: u64,
    /// The ids of the events [`Plugin::upcoming`] was told of, in the order told.
    pub(crate) hinted: Arc<Mutex<Vec<i64>>>,
}

impl Recorder {
    pub(crate) fn new(name: &str, ledger: &Ledger) -> Recorder {
        Recorder {
            name: name.to_owned(),
            ledger: ledger.clone(),
            callbacks: vec![CallbackSpec {
                name: "record".to_owned(),
                match_events: MatchEvents::All,
                stop_on_error: true,
            }],
            fail_on: None,
            fail_times: u32::MAX,
            delay: Duration::ZERO,
            restart_on: None,
            restarts: 0,
            hinted: Arc::default(),
        }
    }
}

impl Plugin for Recorder {
    fn callbacks(&self) -> &[CallbackSpec] {
        &self.callbacks
    }

    fn restarts(&self) -> u64 {
        self.restarts
    }

    fn upcoming<'a>(&'a mut self, events: &'a [(Arc<Event>, Vec<usize>)]) -> BoxFuture<'a, usize> {
        let mut hinted = self.hinted.lock().unwrap();
        hinted.extend(events.iter().map(|(event, _)| event.id));
        let count = events.len();
        Box::pin(async move { count })
    }

    fn handle<'a>(
        &'a mut self,
        event: &'a Arc<Event>,
        _callbacks: &'a [usize],
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if self.restart_on == Some(event.id) {
                self.restarts += 1;
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            if self.fail_on == Some(event.id) && self.fail_times > 0 {
                self.fail_times -= 1;
                return Outcome {
                    failures: vec![Failure {
                        callback: "record".to_owned(),
                        message: format!("{} is failing on purpose", self.name),
                        stop: true,
                    }],
                };
            }
            self.ledger
                .lock()
                .unwrap()
                .push((self.name.clone(), event.id));
            Outcome::default()
        })
    }
}

pub(crate) async fn sim() -> Sim {
    sgevents_sim::spawn(SimConfig {
        scripts: vec![(SCRIPT.to_owned(), KEY.to_owned())],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

pub(crate) fn client(sim: &Sim) -> Client {
    Client::new(ClientConfig::new(&sim.url(), SCRIPT, KEY)).unwrap()
}

/// Fast options for tests: short intervals, start at the first event.
pub(crate) fn options() -> Options {
    Options {
        fetch_interval: Duration::from_millis(50),
        conn_retry_sleep: Duration::from_millis(200),
        scan_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        start_at: StartAt::Id(1),
        ..Options::default()
    }
}

/// A running daemon with its own store, stopped by [`Daemon::stop`].
pub(crate) struct Daemon {
    pub(crate) watch: Arc<Watch>,
    pub(crate) telemetry: Arc<sgevents_daemon::telemetry::Telemetry>,
    /// Operator requests, as the control socket sends them.
    pub(crate) control: tokio::sync::mpsc::Sender<sgevents_daemon::control::Request>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Daemon {
    pub(crate) fn start(
        sim: &Sim,
        store_path: &std::path::Path,
        options: Options,
        plugins: Vec<Recorder>,
    ) -> Daemon {
        let plugins = plugins
            .into_iter()
            .map(|plugin| (plugin.name.clone(), Box::new(plugin) as Box<dyn Plugin>))
            .collect();
        Daemon::start_with(sim, store_path, options, plugins)
    }

    /// [`Daemon::start`] with any native plugins, each under its name.
    pub(crate) fn start_with(
        sim: &Sim,
        store_path: &std::path::Path,
        options: Options,
        plugins: Vec<(String, Box<dyn Plugin>)>,
    ) -> Daemon {
        let store = sgevents_store::Store::open(store_path).unwrap();
        let saved = store.load().unwrap();
        let watch = Arc::new(Watch::default());
        let telemetry = Arc::new(sgevents_daemon::telemetry::Telemetry::new());
        let native_plugins = plugins
            .into_iter()
            .map(|(name, plugin)| NativePlugin {
                key: PluginKey::new("native", name),
                plugin,
                filters: PluginFilters::default(),
            })
            .collect();
        let (control, inbox) = sgevents_daemon::control::channel();
        let deps = Deps {
            client: client(sim),
            store: Box::new(store),
            saved,
            plugin_dirs: Vec::new(),
            native_plugins,
            reload: Arc::new(Notify::new()),
            watch: watch.clone(),
            telemetry: telemetry.clone(),
            control: inbox,
            status: None,
            tasks: Vec::new(),
            clock: Arc::new(sgevents_daemon::clock::SystemClock),
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { sgevents_daemon::run(options, deps, shutdown).await.unwrap() }
        });
        Daemon {
            watch,
            telemetry,
            control,
            shutdown,
            task,
        }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }

    /// Drops the daemon mid-flight, as a crash would: no shutdown, nothing saved on the way out.
    pub(crate) async fn crash(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Waits until `done` holds, failing the test after 30 s.
pub(crate) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates `n` shots (each write makes several events).
pub(crate) fn write_shots(sim: &Sim, n: usize) {
    for i in 0..n {
        sim.create(
            SCRIPT,
            "Shot",
            json!({"code": format!("sh{i:04}"), "sg_status_list": "wtg"}),
        )
        .unwrap();
    }
}

/// Every visible event id on the site.
pub(crate) async fn all_event_ids(sim: &Sim) -> Vec<i64> {
    let client = client(sim);
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let events = client.events_after(after, 500).await.unwrap();
        let Some(last) = events.last() else { break };
        after = last.id;
        ids.extend(events.iter().map(|event| event.id));
    }
    ids
}

/// The ids each plugin handled, in the order it handled them.
pub(crate) fn per_plugin(ledger: &Ledger) -> BTreeMap<String, Vec<i64>> {
    let mut map: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (plugin, id) in ledger.lock().unwrap().iter() {
        map.entry(plugin.clone()).or_default().push(*id);
    }
    map
}

pub(crate) fn count(ledger: &Ledger, plugin: &str) -> usize {
    ledger
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, _)| name == plugin)
        .count()
}

/// Collects the formatted log lines of everything that runs on this thread (tests use the
/// current-thread runtime, so that includes the daemon's tasks).
#[derive(Clone, Default)]
pub(crate) struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the capture for this thread until the guard drops.
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        let capture = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || capture.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
