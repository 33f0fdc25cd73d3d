//! The event loop: poll the site, dispatch each event to every plugin's worker, commit each
//! plugin's cursor after it acknowledges. Entry point: [`run`].

pub mod alerts;
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
use tokio_util::sync::CancellationToken;

pub use committer::CursorStore;
pub use cursor::{Cursor, CursorRules};
pub use filters::PluginFilters;
pub use sgevents_store::PluginKey;
pub use watch::{PluginEntry, SiteView, Watch};
pub use worker::{PluginState, SlotView};

/// How events reach plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DispatchMode {
    /// Each plugin on its own worker: a slow plugin delays only itself.
    #[default]
    Concurrent,
    /// Upstream's order: each event goes to every plugin in turn before the next event.
    Sequential,
}

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
        }
    }
}

/// Loads one plugin file (for example into a Python process).
pub trait PluginLoader: Send + Sync {
    /// Loads the plugin at `path`.
    ///
    /// # Errors
    /// A message for the log saying why the plugin cannot run; it stays inactive until its
    /// file changes.
    fn load<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<Box<dyn Plugin>, String>>;
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
}

/// Why the daemon could not run at all. Per-event and per-plugin problems are logged and
/// counted, never returned; everything that can fail at start-up is checked by
/// [`setup`] before `run` is called, so today nothing makes `run` fail.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {}

/// Runs the daemon until `shutdown` is cancelled: then it stops fetching, lets in-flight
/// callbacks finish within the grace period, persists every cursor and returns.
///
/// # Errors
/// Only for problems that prevent running at all; see [`DaemonError`].
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
    } = deps;
    let committer = committer::Committer::new(store);
    let poller = poller::Poller::new(poller::Setup {
        options: Arc::new(options),
        client,
        committer,
        watch,
        telemetry,
        shutdown,
        dirs: plugin_dirs,
        natives: native_plugins,
        saved,
    });
    poller.run(reload).await;
    Ok(())
}
