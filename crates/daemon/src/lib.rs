//! The event loop: poll the site, dispatch each event to every plugin's worker, commit each
//! plugin's cursor after it acknowledges. Entry point: [`run`].

pub mod alerts;
pub mod clock;
pub mod cluster;
mod committer;
pub mod control;
pub mod control_socket;
pub mod cursor;
pub mod discovery;
pub mod filters;
pub mod logging;
mod poller;
pub mod setup;
pub mod status;
pub mod status_server;
pub mod telemetry;
pub mod watch;
mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sgevents_api::Client;
use sgevents_plugin_api::{BoxFuture, Plugin};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

pub use committer::CursorStore;
pub use cursor::{Cursor, CursorRules};
pub use filters::PluginFilters;
pub use sgevents_store::PluginKey;
pub use watch::{PluginEntry, PluginState, RunningEvent, SiteView, SlotView, Watch};

/// How events reach plugins: each plugin on its own worker (default), or upstream's order.
pub use sgevents_config::DispatchMode;

/// Where plugins start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// The saved cursor; the site's latest event when there is none (upstream's behaviour).
    #[default]
    Saved,
    /// The site's latest event, whatever was saved.
    Latest,
    /// This event id is the first one processed.
    Id(i64),
}

/// The loop's settings, already validated.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sleep between polls once caught up.
    pub fetch_interval: Duration,
    /// Events asked for per poll.
    pub max_event_batch_size: usize,
    /// Failed attempts before an ERROR and a pause of `conn_retry_sleep`.
    pub max_conn_retries: u32,
    /// The pause after `max_conn_retries` failed attempts.
    pub conn_retry_sleep: Duration,
    /// How long a missing id is waited for, on the site's clock.
    pub backlog_timeout: Duration,
    /// Concurrent (default) or upstream's sequential order.
    pub dispatch: DispatchMode,
    /// Each plugin's queue length.
    pub queue_size: usize,
    /// How long in-flight callbacks may take to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Where plugins start.
    pub start_at: StartAt,
    /// How often plugin folders are rescanned for new or changed files.
    pub scan_interval: Duration,
    /// Write upstream's `.timing` log line for each plugin run.
    pub timing_log: bool,
    /// How long loading one plugin file may take before the plugin is marked hung.
    pub load_timeout: Duration,
    /// A plugin whose oldest unhandled event is older than this makes the daemon degraded.
    pub degraded_lag: Duration,
    /// Upstream's state file, when this start imported it (for the start log).
    pub imported_from: Option<PathBuf>,
    /// The folder of the plugins' progress pages (`sgevents_store::page`); none keeps every
    /// plugin in step, saving its cursor after each event.
    pub pages: Option<PathBuf>,
}

impl Default for Options {
    /// Upstream's defaults.
    fn default() -> Options {
        Options {
            fetch_interval: Duration::from_secs(5),
            max_event_batch_size: 500,
            max_conn_retries: 5,
            conn_retry_sleep: Duration::from_secs(60),
            backlog_timeout: Duration::from_secs(300),
            dispatch: DispatchMode::Concurrent,
            queue_size: 1000,
            shutdown_grace: Duration::from_secs(30),
            start_at: StartAt::Saved,
            scan_interval: Duration::from_secs(5),
            timing_log: false,
            load_timeout: Duration::from_secs(60),
            degraded_lag: Duration::from_secs(600),
            imported_from: None,
            pages: None,
        }
    }
}

/// Loads one plugin file (for example into a Python process).
pub trait PluginLoader: Send + Sync {
    /// Loads the plugin at `path`.
    ///
    /// # Errors
    /// Why the plugin cannot run (logged on the plugin's logger); it stays inactive until its
    /// file changes.
    fn load<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<Box<dyn Plugin>, LoadError>>;
}

/// Why a plugin file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The Python host could not load it (import error, no `registerCallbacks`, bad
    /// registration, the process died).
    #[error(transparent)]
    Host(#[from] sgevents_plugin_host::LoadError),
    /// Another loader's reason.
    #[error("{0}")]
    Other(String),
}

/// A folder of plugin files.
pub struct PluginDir {
    /// The folder.
    pub path: PathBuf,
    /// Its name in the state store: the path as written in the config.
    pub collection: String,
    /// What loads its files.
    pub loader: Arc<dyn PluginLoader>,
    /// Filters for every plugin of the folder.
    pub filters: PluginFilters,
}

/// A plugin compiled into the binary.
pub struct NativePlugin {
    /// Its cursor's key.
    pub key: PluginKey,
    /// The plugin.
    pub plugin: Box<dyn Plugin>,
    /// Its filters.
    pub filters: PluginFilters,
}

/// Everything [`run`] needs that tests must control.
pub struct Deps {
    /// The site.
    pub client: Client,
    /// Where cursors are written.
    pub store: Box<dyn CursorStore>,
    /// The cursors saved by an earlier run (or imported from upstream's state file).
    pub saved: BTreeMap<PluginKey, Cursor>,
    /// Plugin folders, in config order.
    pub plugin_dirs: Vec<PluginDir>,
    /// Native plugins, dispatched after the folders' plugins.
    pub native_plugins: Vec<NativePlugin>,
    /// Notified to rescan and reload every plugin (SIGHUP).
    pub reload: Arc<Notify>,
    /// Shared view of the loop for the status page and tests.
    pub watch: Arc<Watch>,
    /// Prometheus metrics the loop records into.
    pub telemetry: Arc<telemetry::Telemetry>,
    /// Operator requests (resume, skip, pause, unpause) from the control socket.
    pub control: control::Inbox,
    /// The status endpoint `run` serves (`None`: off).
    pub status: Option<StatusEndpoint>,
    /// The wall clock (heartbeats, poll and error times).
    pub clock: Arc<dyn clock::Clock>,
    /// Other long-lived tasks started before `run` (the alert mailer): one that ends before
    /// shutdown fails `run`.
    pub tasks: Vec<(String, JoinHandle<()>)>,
}

/// Where `run` serves `/status`, `/metrics`, `/healthz` and `/readyz`.
pub struct StatusEndpoint {
    /// The bound listener.
    pub listener: tokio::net::TcpListener,
    /// How fresh the loop's signs of life must be.
    pub policy: status::HealthPolicy,
    /// The page's charts and action buttons.
    pub page: status_server::PageOptions,
}

/// Why the daemon stopped. Per-event and per-plugin problems are logged and counted, never
/// returned.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A saved cursor makes no sense against the site: running would replay or skip events.
    #[error(
        "{store} has cursor {cursor} for plugin {plugin}, {problem}: the site's latest event is {latest}. The daemon never replays or skips on its own: set the cursor with `sgevents state set {plugin} ID`, or start with `--start-at ID` or `--start-at latest`."
    )]
    Cursor {
        /// The state database.
        store: String,
        /// The plugin.
        plugin: PluginKey,
        /// Its saved last id.
        cursor: i64,
        /// The site's latest event id.
        latest: i64,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Cluster mode cannot reach NATS or open its stream and buckets.
    #[error(
        "cluster: {0}. Check [cluster] nats_url and that the NATS servers (2.10 or newer, JetStream on) run."
    )]
    Cluster(String),
    /// A long-lived task of the daemon (the status server, the alerts) ended.
    #[error("the daemon's {task} stopped: {reason}")]
    Task {
        /// Which task.
        task: String,
        /// Why.
        reason: String,
    },
}

/// Runs the daemon until `shutdown` is cancelled: then it stops fetching, lets in-flight
/// callbacks finish within the grace period, persists every cursor and returns.
///
/// # Errors
/// See [`DaemonError`]: a saved cursor that makes no sense, or a long-lived task that died.
pub async fn run(
    options: Options,
    deps: Deps,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let Deps {
        client,
        store,
        saved,
        plugin_dirs,
        native_plugins,
        reload,
        watch,
        telemetry,
        control,
        status,
        tasks,
        clock,
    } = deps;
    let mut watched: JoinSet<(String, String)> = JoinSet::new();
    if let Some(endpoint) = status {
        let source = Arc::new(status::WatchStatus::new(watch.clone()));
        let served = status_server::serve_with(
            endpoint.listener,
            source,
            telemetry.clone(),
            endpoint.policy,
            endpoint.page,
            shutdown.clone(),
        );
        watched.spawn(async move {
            let reason = match served.await {
                Ok(()) => "it ended".to_owned(),
                Err(err) => err.to_string(),
            };
            ("status endpoint".to_owned(), reason)
        });
    }
    for (name, handle) in tasks {
        watched.spawn(async move {
            let reason = match handle.await {
                Ok(()) => "it ended".to_owned(),
                Err(err) => err.to_string(),
            };
            (name, reason)
        });
    }
    let store_location = store.location();
    let committer = committer::Committer::new(store);
    // The loop stops on shutdown, or when a watched task dies.
    let loop_stop = shutdown.child_token();
    let poller = poller::Poller::new(poller::Setup {
        options: Arc::new(options),
        client,
        committer,
        store_location,
        watch,
        telemetry,
        clock,
        shutdown: loop_stop.clone(),
        dirs: plugin_dirs,
        natives: native_plugins,
        saved,
    });
    let running = poller.run(reload, control);
    tokio::pin!(running);
    let died = tokio::select! {
        result = &mut running => return result,
        Some(Ok((task, reason))) = watched.join_next(), if !shutdown.is_cancelled() => (task, reason),
    };
    let (task, reason) = died;
    if shutdown.is_cancelled() {
        // The status endpoint ends at shutdown too.
        return running.await;
    }
    tracing::error!(
        logger = "engine",
        "The daemon's {task} stopped ({reason}); stopping"
    );
    loop_stop.cancel();
    running.await?;
    Err(DaemonError::Task { task, reason })
}
