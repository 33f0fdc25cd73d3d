//! The loop: one `select!` over a closed [`Input`] enum. It alone owns each plugin's position,
//! state and backlog view, the window of fetched events and the site's clock; fetches and
//! plugin loads run as spawned tasks that post their result back, and workers report progress
//! by message.

mod dispatch;
mod fetch;
mod operator;
mod progress;
mod site;
mod slots;
mod start;
mod window;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sgevents_api::Client;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::committer::Committer;
use crate::control::{Inbox, Request};
use crate::telemetry::Telemetry;
use crate::worker::{Report, SlotId};
use crate::{Cursor, DaemonError, NativePlugin, Options, PluginDir, PluginKey, Watch};
use fetch::FetchDone;
use site::Site;
use slots::{LoadDone, Slot};
use window::Window;

/// The loop goes round at least this often, so its heartbeat and snapshot stay fresh.
const MAX_IDLE: Duration = Duration::from_millis(250);

/// Everything that can happen to the loop.
enum Input {
    /// Time to look at deadlines (fetch interval, scan interval, retries).
    Tick,
    /// A spawned read of the site finished.
    Fetched(FetchDone),
    /// A spawned plugin load finished, failed or timed out.
    Loaded(LoadDone),
    /// A worker's progress.
    Progress(Report),
    /// A worker's task ended.
    WorkerExit(SlotId, Option<String>),
    /// Rescan and reload every plugin (SIGHUP).
    Reload,
    /// An operator's request.
    Operator(Request),
    /// Stop.
    Shutdown,
}

/// What a spawned task posts back.
enum Posted {
    Fetched(FetchDone),
    Loaded(LoadDone),
}

pub(crate) struct Poller {
    options: Arc<Options>,
    client: Client,
    committer: Committer,
    /// Where the cursors live, for messages.
    store_location: String,
    watch: Arc<Watch>,
    telemetry: Arc<Telemetry>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    dirs: Vec<PluginDir>,
    natives: Vec<NativePlugin>,
    saved: std::collections::BTreeMap<PluginKey, Cursor>,
    slots: Vec<Slot>,
    next_slot: SlotId,
    window: Window,
    site: Site,
    /// Spawned fetches and loads post here.
    posted_tx: mpsc::UnboundedSender<Posted>,
    posted_rx: mpsc::UnboundedReceiver<Posted>,
    reports_tx: mpsc::UnboundedSender<Report>,
    reports_rx: mpsc::UnboundedReceiver<Report>,
    /// Fetch and load tasks, aborted at shutdown.
    tasks: JoinSet<()>,
    workers: JoinSet<SlotId>,
    worker_tasks: HashMap<tokio::task::Id, SlotId>,
    /// The site's latest event id when the run started; `None` until the site answered.
    latest_at_start: Option<i64>,
    next_scan: Instant,
    /// True while the plugins present at start are created (`--start-at` applies to them).
    starting: bool,
    /// The lowest saved position among the plugins present at start ("with the others").
    start_positions: Option<i64>,
    /// Sequential mode: the one delivery in flight.
    sequential_busy: Option<SlotId>,
    /// The published plugin list is out of date (plugins came, went or changed state).
    dirty: bool,
    /// Plugins whose published entry is out of date (progress only).
    changed: Vec<SlotId>,
}

/// What the loop is built from.
pub(crate) struct Setup {
    pub(crate) options: Arc<Options>,
    pub(crate) client: Client,
    pub(crate) committer: Committer,
    pub(crate) store_location: String,
    pub(crate) watch: Arc<Watch>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) dirs: Vec<PluginDir>,
    pub(crate) natives: Vec<NativePlugin>,
    pub(crate) saved: std::collections::BTreeMap<PluginKey, Cursor>,
}

impl Poller {
    pub(crate) fn new(setup: Setup) -> Poller {
        setup.watch.update_site(|site| {
            site.url = setup.client.endpoint().to_owned();
            site.degraded_lag = Some(setup.options.degraded_lag);
        });
        let (posted_tx, posted_rx) = mpsc::unbounded_channel();
        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        Poller {
            site: Site::new(&setup.options),
            options: setup.options,
            client: setup.client,
            committer: setup.committer,
            store_location: setup.store_location,
            watch: setup.watch,
            telemetry: setup.telemetry,
            clock: setup.clock,
            shutdown: setup.shutdown,
            dirs: setup.dirs,
            natives: setup.natives,
            saved: setup.saved,
            slots: Vec::new(),
            next_slot: 1,
            window: Window::default(),
            posted_tx,
            posted_rx,
            reports_tx,
            reports_rx,
            tasks: JoinSet::new(),
            workers: JoinSet::new(),
            worker_tasks: HashMap::new(),
            latest_at_start: None,
            next_scan: Instant::now(),
            starting: false,
            start_positions: None,
            sequential_busy: None,
            dirty: true,
            changed: Vec::new(),
        }
    }

    /// Runs until shutdown.
    ///
    /// # Errors
    /// [`DaemonError::Cursor`] when a saved cursor makes no sense against the site.
    pub(crate) async fn run(
        mut self,
        reload: Arc<Notify>,
        mut inbox: Inbox,
    ) -> Result<(), DaemonError> {
        tracing::info!(
            logger = "engine",
            "Starting sgevents {}",
            env!("CARGO_PKG_VERSION")
        );
        self.ask_latest();
        let shutdown = self.shutdown.clone();
        loop {
            let now = self.clock.now();
            self.watch.update_site(|site| site.heartbeat = Some(now));
            let wake = self.next_wake();
            let input = tokio::select! {
                biased;
                () = shutdown.cancelled() => Input::Shutdown,
                () = tokio::time::sleep_until(wake) => Input::Tick,
                Some(request) = inbox.0.recv() => Input::Operator(request),
                () = reload.notified() => Input::Reload,
                Some(posted) = self.posted_rx.recv() => match posted {
                    Posted::Fetched(done) => Input::Fetched(done),
                    Posted::Loaded(done) => Input::Loaded(done),
                },
                Some(report) = self.reports_rx.recv() => Input::Progress(report),
                Some(exit) = self.workers.join_next_with_id() => match exit {
                    Ok((_, slot)) => Input::WorkerExit(slot, None),
                    Err(err) => Input::WorkerExit(
                        self.worker_tasks.get(&err.id()).copied().unwrap_or_default(),
                        Some(err.to_string()),
                    ),
                },
            };
            // Worker progress can only let that plugin take more (and the front read more).
            let only = match &input {
                Input::Progress(report) => Some(report.slot),
                _ => None,
            };
            match input {
                Input::Shutdown => break,
                Input::Tick => self.tick(),
                Input::Operator(request) => self.operator(request),
                Input::Reload => {
                    if self.latest_at_start.is_some() {
                        tracing::info!(logger = "engine", "Reloading every plugin (SIGHUP)");
                        self.rescan(true);
                    }
                }
                Input::Fetched(done) => self.fetched(done)?,
                Input::Loaded(done) => self.loaded(done),
                Input::Progress(report) => self.progress(report),
                Input::WorkerExit(slot, error) => self.worker_exit(slot, error),
            }
            self.pump(only);
            self.publish();
        }
        self.stop().await;
        Ok(())
    }

    /// When the loop must look at its deadlines next.
    fn next_wake(&self) -> Instant {
        let mut wake = Instant::now() + MAX_IDLE;
        if let Some(at) = self.site.next_due() {
            wake = wake.min(at);
        }
        if self.latest_at_start.is_some() {
            wake = wake.min(self.next_scan);
        }
        wake
    }

    fn tick(&mut self) {
        if self.latest_at_start.is_some() && Instant::now() >= self.next_scan {
            self.rescan(false);
        }
        self.publish();
    }

    /// Starts what is due: the next read of new events, re-queries of missing ids, and feeding
    /// every plugin's queue from the window or its own reads.
    fn pump(&mut self, only: Option<SlotId>) {
        if self.latest_at_start.is_none() {
            if self.site.latest_due() {
                self.ask_latest();
            }
            return;
        }
        self.feed(only);
        self.maybe_fetch_head();
        self.maybe_fetch_late();
    }

    /// Stops: no more fetches or loads; in-flight callbacks get `shutdown_grace`, then the
    /// plugins still running are named and stopped.
    async fn stop(&mut self) {
        self.tasks.abort_all();
        let names: HashMap<SlotId, String> = self
            .slots
            .iter()
            .map(|slot| (slot.id, slot.key.to_string()))
            .collect();
        // Dropping the queues lets idle workers end at once.
        self.slots.clear();
        let grace = self.options.shutdown_grace;
        let mut finished = Vec::new();
        let drained = tokio::time::timeout(grace, async {
            while let Some(exit) = self.workers.join_next().await {
                if let Ok(slot) = exit {
                    finished.push(slot);
                }
            }
        })
        .await;
        if drained.is_err() {
            let abandoned: Vec<&str> = names
                .iter()
                .filter(|(slot, _)| !finished.contains(slot))
                .map(|(_, name)| name.as_str())
                .collect();
            tracing::warn!(
                logger = "engine",
                "Plugins still running after {grace:?}, stopped without finishing their event: {}",
                abandoned.join(", ")
            );
            self.workers.shutdown().await;
        }
        self.tasks.shutdown().await;
        self.watch.set_plugins(Vec::new());
    }
}
