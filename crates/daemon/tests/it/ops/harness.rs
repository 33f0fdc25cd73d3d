//! The real loop against an in-process sim, with native plugins that succeed or fail on purpose.

use std::sync::Arc;
use std::time::Duration;

use sgevents_api::{Client, ClientConfig};
use sgevents_daemon::{Deps, NativePlugin, Options, PluginFilters, PluginKey, StartAt, Watch};
use sgevents_plugin_api::{BoxFuture, CallbackSpec, Event, Failure, MatchEvents, Outcome, Plugin};
use sgevents_sim::{Sim, SimConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const SCRIPT: &str = "ops";
const KEY: &str = "ops-key";

/// A native plugin that fails (with stopOnError) on one event id.
pub(crate) struct Flaky {
    name: String,
    callbacks: Vec<CallbackSpec>,
    fail_on: Option<i64>,
}

impl Flaky {
    pub(crate) fn new(name: &str, fail_on: Option<i64>) -> Flaky {
        Flaky {
            name: name.to_owned(),
            callbacks: vec![CallbackSpec {
                name: "handle".to_owned(),
                match_events: MatchEvents::All,
                stop_on_error: true,
            }],
            fail_on,
        }
    }
}

impl Plugin for Flaky {
    fn callbacks(&self) -> &[CallbackSpec] {
        &self.callbacks
    }

    fn handle<'a>(&'a mut self, event: &'a Arc<Event>, _: &'a [usize]) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if self.fail_on != Some(event.id) {
                return Outcome::default();
            }
            Outcome {
                failures: vec![Failure {
                    callback: "handle".to_owned(),
                    message: format!("{} is failing on purpose", self.name),
                    stop: true,
                }],
            }
        })
    }
}

/// The sim with one API script.
pub(crate) async fn sim() -> Sim {
    sgevents_sim::spawn(SimConfig {
        scripts: vec![(SCRIPT.to_owned(), KEY.to_owned())],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Creates `n` shots (each write makes events).
pub(crate) fn write_shots(sim: &Sim, n: usize) {
    for index in 0..n {
        sim.create(
            SCRIPT,
            "Shot",
            serde_json::json!({ "code": format!("ops_{index:03}"), "sg_status_list": "wtg" }),
        )
        .unwrap();
    }
}

/// Fast options: short intervals, start at the first event.
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

/// A running daemon, stopped by [`Daemon::stop`].
pub(crate) struct Daemon {
    pub(crate) watch: Arc<Watch>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Daemon {
    pub(crate) fn start(
        sim: &Sim,
        store: &std::path::Path,
        options: Options,
        plugins: Vec<Flaky>,
    ) -> Daemon {
        let store = sgevents_store::Store::open(store).unwrap();
        let saved = store.load().unwrap();
        let watch = Arc::new(Watch::default());
        let native_plugins = plugins
            .into_iter()
            .map(|plugin| NativePlugin {
                key: PluginKey::new("native", plugin.name.clone()),
                plugin: Box::new(plugin),
                filters: PluginFilters::default(),
            })
            .collect();
        let deps = Deps {
            client: Client::new(ClientConfig::new(&sim.url(), SCRIPT, KEY)).unwrap(),
            store: Box::new(store),
            saved,
            plugin_dirs: Vec::new(),
            native_plugins,
            reload: Arc::new(Notify::new()),
            watch: Arc::clone(&watch),
            telemetry: Arc::new(sgevents_daemon::telemetry::Telemetry::new()),
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { sgevents_daemon::run(options, deps, shutdown).await.unwrap() }
        });
        Daemon {
            watch,
            shutdown,
            task,
        }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}
