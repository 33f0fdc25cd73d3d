//! One task per plugin: takes events from its bounded queue in order, applies the filters,
//! runs the plugin, and commits the plugin's cursor before it takes the next event.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sgevents_plugin_api::{CallbackSpec, Event, Failure, Outcome, Plugin, matching_callbacks};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::PluginKey;
use crate::committer::Committer;
use crate::cursor::{Admission, Cursor, CursorRules, GapNote};
use crate::filters::PluginFilters;
use crate::logging::{TimingRecord, timing_record};
use crate::telemetry::Telemetry;
use crate::watch::relock;

mod batch;

use batch::Lookahead;

/// Commit progress over filtered-out events at least this often during catch-up.
const SKIPPED_COMMIT_EVERY: u32 = 1_000;

/// A message on a plugin's queue.
pub(crate) enum Delivery {
    /// An event to consider, from the poller's fetch of generation `epoch`.
    Event {
        event: Arc<Event>,
        site_now: Timestamp,
        epoch: u64,
        /// Sequential mode: told when the event is done with.
        done: Option<oneshot::Sender<()>>,
    },
    /// Nothing new: just let the backlog expire on the site's clock.
    Tick { site_now: Timestamp },
}

/// Orders from the poller that jump the queue.
pub(crate) enum Control {
    /// Use this freshly loaded plugin from now on, and accept only deliveries of `epoch`.
    Replace { plugin: Box<dyn Plugin>, epoch: u64 },
    /// The plugin's file failed to load: stop until it changes.
    Unload { epoch: u64, error: String },
}

/// A plugin's state as operators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Loading its file.
    Loading,
    /// Taking events.
    Active,
    /// Stopped by a stopOnError failure or a load error, until its file changes.
    Failed,
}

/// What the worker shares with the poller and the status page. The worker writes it; the
/// others only read.
#[derive(Debug, Clone)]
pub struct SlotView {
    /// Loading, active or failed.
    pub state: PluginState,
    /// The committed-or-committing cursor.
    pub cursor: Cursor,
    /// The callbacks and their filters.
    pub callbacks: Vec<CallbackSpec>,
    /// The last failure and when it happened.
    pub last_error: Option<(Timestamp, String)>,
    /// `created_at` of the last event handled.
    pub last_event_at: Option<Timestamp>,
    /// Events handed to the plugin.
    pub dispatched: u64,
    /// Failed callbacks.
    pub failures: u64,
    /// Plugin process restarts (crashes, timeouts).
    pub restarts: u64,
}

impl SlotView {
    pub(crate) fn new(cursor: Cursor) -> SlotView {
        SlotView {
            state: PluginState::Loading,
            cursor,
            callbacks: Vec::new(),
            last_error: None,
            last_event_at: None,
            dispatched: 0,
            failures: 0,
            restarts: 0,
        }
    }
}

/// Everything a worker owns.
pub(crate) struct Worker {
    pub(crate) key: PluginKey,
    pub(crate) cursor: Cursor,
    pub(crate) plugin: Option<Box<dyn Plugin>>,
    pub(crate) epoch: u64,
    pub(crate) filters: PluginFilters,
    pub(crate) committer: Committer,
    pub(crate) view: Arc<Mutex<SlotView>>,
    pub(crate) backlog_timeout: Duration,
    pub(crate) logger: String,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) timing_log: bool,
    /// Restarts counted before the current plugin was loaded.
    pub(crate) restarts_base: u64,
}

impl Worker {
    /// Runs until shutdown or until the poller drops the queue. An event being handled when
    /// shutdown comes is finished first.
    pub(crate) async fn run(
        mut self,
        mut deliveries: mpsc::Receiver<Delivery>,
        mut control: mpsc::UnboundedReceiver<Control>,
        shutdown: CancellationToken,
    ) {
        let mut skipped_uncommitted = 0_u32;
        let mut ahead = Lookahead::default();
        loop {
            if skipped_uncommitted > 0 && deliveries.is_empty() && ahead.is_empty() {
                self.committer.commit_later(&self.key, &self.cursor);
                skipped_uncommitted = 0;
            }
            let delivery = match ahead.pop() {
                Some(delivery) => {
                    // Taken ahead: shutdown and control orders still come first.
                    if shutdown.is_cancelled() {
                        break;
                    }
                    if let Ok(order) = control.try_recv() {
                        ahead.push_front(delivery);
                        self.handle_control(order).await;
                        continue;
                    }
                    Some(delivery)
                }
                None => tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    Some(order) = control.recv() => {
                        self.handle_control(order).await;
                        continue;
                    }
                    delivery = deliveries.recv() => match delivery {
                        None => break,
                        Some(delivery) => {
                            // Through the look-ahead, so the plugin hears of it first.
                            ahead.push_back(delivery);
                            self.hint_ahead(&mut ahead, &mut deliveries, 1).await;
                            continue;
                        }
                    },
                },
            };
            match delivery {
                None => break,
                Some(Delivery::Tick { site_now }) => self.expire(site_now),
                Some(Delivery::Event {
                    event,
                    site_now,
                    epoch,
                    done,
                }) => {
                    let current = epoch == self.epoch && self.plugin.is_some();
                    if current {
                        self.hint_ahead(&mut ahead, &mut deliveries, 0).await;
                    }
                    if current && self.handle_event(&event, site_now).await == Handled::Skipped {
                        skipped_uncommitted += 1;
                        if skipped_uncommitted >= SKIPPED_COMMIT_EVERY {
                            self.committer.commit_later(&self.key, &self.cursor);
                            skipped_uncommitted = 0;
                        }
                    }
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
            }
        }
        if skipped_uncommitted > 0 {
            commit_until_durable(&self.committer, &self.key, &self.cursor).await;
        }
        if let Some(mut plugin) = self.plugin.take() {
            plugin.shutdown().await;
        }
    }

    /// Takes what waits on the queue into `ahead` and tells the plugin which of those
    /// events (and of the last `fresh` ones already there) it will be handed
    /// ([`Plugin::upcoming`]), in queue order.
    async fn hint_ahead(
        &mut self,
        ahead: &mut Lookahead,
        deliveries: &mut mpsc::Receiver<Delivery>,
        fresh: usize,
    ) {
        let added = ahead.refill(deliveries) + fresh;
        let Some(plugin) = self.plugin.as_mut() else {
            return;
        };
        if added == 0 {
            return;
        }
        let hints = ahead.hints(
            added,
            self.epoch,
            &self.cursor,
            &self.filters,
            plugin.as_ref(),
        );
        if !hints.is_empty() {
            plugin.upcoming(&hints).await;
        }
    }

    async fn handle_control(&mut self, order: Control) {
        if let Some(mut old) = self.plugin.take() {
            old.shutdown().await;
        }
        let mut view = relock(&self.view);
        match order {
            Control::Replace { plugin, epoch } => {
                self.epoch = epoch;
                self.restarts_base = view.restarts;
                view.callbacks = plugin.callbacks().to_vec();
                view.state = PluginState::Active;
                self.plugin = Some(plugin);
            }
            Control::Unload { epoch, error } => {
                self.epoch = epoch;
                view.callbacks.clear();
                view.state = PluginState::Failed;
                view.last_error = Some((Timestamp::now(), error));
            }
        }
    }

    async fn handle_event(&mut self, event: &Arc<Event>, site_now: Timestamp) -> Handled {
        let admission = self.cursor.admit(event.id);
        if admission == Admission::Old {
            tracing::debug!(
                logger = %self.logger,
                "Event {} is too old. Last event processed was ({}).",
                event.id,
                self.cursor.position()
            );
            return Handled::Old;
        }
        self.expire(site_now);
        let Some(plugin) = self.plugin.as_mut() else {
            return Handled::Old;
        };
        let matching = if self.filters.accepts(event) {
            matching_callbacks(plugin.callbacks(), event)
        } else {
            Vec::new()
        };
        if matching.is_empty() {
            self.advance(event, site_now, admission);
            return Handled::Skipped;
        }
        let names: Vec<String> = matching
            .iter()
            .filter_map(|idx| plugin.callbacks().get(*idx).map(|spec| spec.name.clone()))
            .collect();
        let (started, clock) = (Timestamp::now(), Instant::now());
        let outcome = run_plugin(plugin.as_mut(), event, &matching).await;
        let elapsed = clock.elapsed();
        let restarts = plugin.restarts();
        let stopped = outcome.stopped().cloned();
        self.record_restarts(restarts);
        self.record(event, &outcome, elapsed);
        if self.timing_log {
            self.write_timing(event, &names, &outcome, started, elapsed);
        }
        if let Some(failure) = stopped {
            tracing::error!(
                logger = %self.logger,
                "Plugin stopped at event {} by callback {}: {}. It resumes at this event once its file changes.",
                event.id,
                failure.callback,
                failure.message
            );
            if let Some(mut plugin) = self.plugin.take() {
                plugin.shutdown().await;
            }
            relock(&self.view).state = PluginState::Failed;
            self.telemetry.record_deactivation(&self.key.plugin);
            return Handled::Stopped;
        }
        self.advance(event, site_now, admission);
        commit_until_durable(&self.committer, &self.key, &self.cursor).await;
        Handled::Processed
    }

    fn advance(&mut self, event: &Event, site_now: Timestamp, admission: Admission) {
        match self.cursor.advance(event, site_now, self.backlog_timeout) {
            Some(GapNote::Backlogged(ids)) => {
                for id in ids {
                    tracing::info!(logger = %self.logger, "Adding event id {id} to backlog.");
                }
            }
            Some(GapNote::NeverHappened { first, last }) if first == last => {
                tracing::info!(logger = %self.logger, "Event {first} never happened - ignoring.");
            }
            Some(GapNote::NeverHappened { first, last }) => {
                tracing::info!(logger = %self.logger, "Events {first}-{last} never happened - ignoring.");
            }
            None => {}
        }
        if admission == Admission::Late {
            tracing::info!(logger = %self.logger, "Processed id {} from backlog.", event.id);
        }
        let mut view = relock(&self.view);
        view.cursor.clone_from(&self.cursor);
        view.last_event_at = Some(event.created_at);
    }

    fn record(&self, event: &Event, outcome: &Outcome, elapsed: Duration) {
        self.telemetry.record_dispatched(&self.key.plugin);
        self.telemetry
            .record_callback(&self.key.plugin, elapsed, outcome.failures.len() as u64);
        let mut view = relock(&self.view);
        view.dispatched += 1;
        view.failures += outcome.failures.len() as u64;
        if let Some(failure) = outcome.failures.last() {
            view.last_error = Some((
                Timestamp::now(),
                format!(
                    "event {}: {}: {}",
                    event.id, failure.callback, failure.message
                ),
            ));
        }
    }

    /// Counts the process restarts the plugin reports; its own counter starts again at 0
    /// when the plugin is reloaded, so the total carries on from `restarts_base`.
    fn record_restarts(&self, restarts: u64) {
        let mut view = relock(&self.view);
        let total = self.restarts_base + restarts;
        for _ in view.restarts..total {
            self.telemetry.record_restart(&self.key.plugin);
        }
        view.restarts = view.restarts.max(total);
    }

    /// Upstream's `.timing` line for each callback that ran. The plugin reports one duration
    /// for the event, so callbacks that ran together share it.
    fn write_timing(
        &self,
        event: &Event,
        names: &[String],
        outcome: &Outcome,
        start: Timestamp,
        elapsed: Duration,
    ) {
        let end = start.checked_add(elapsed).unwrap_or(start);
        for name in names {
            timing_record(&TimingRecord {
                event_id: event.id,
                created_at: event.created_at,
                callback: format!("{}.{name}", self.key.plugin),
                start,
                end,
                error: outcome
                    .failures
                    .iter()
                    .any(|failure| &failure.callback == name),
            });
        }
    }

    fn expire(&mut self, site_now: Timestamp) {
        let expired = self.cursor.expire(site_now);
        if expired.is_empty() {
            return;
        }
        for id in &expired {
            tracing::warn!(logger = %self.logger, "Timeout elapsed on backlog event id {id}.");
        }
        relock(&self.view).cursor.clone_from(&self.cursor);
        self.committer.commit_later(&self.key, &self.cursor);
    }
}

/// Commits the cursor, retrying until the store takes it: moving on without a durable cursor
/// could repeat more than the one in-flight event after a crash. (A free function, so the
/// future does not borrow the plugin, which need not be `Sync`.)
async fn commit_until_durable(committer: &Committer, key: &PluginKey, cursor: &Cursor) {
    let mut delay = Duration::from_millis(100);
    while let Err(err) = committer.commit(key, cursor).await {
        tracing::error!(logger = "engine", plugin = %key, error = %err, "Could not save the plugin's cursor; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    Old,
    Skipped,
    Processed,
    Stopped,
}

/// Runs the plugin, turning a panic in a native plugin into a failure of its first callback.
async fn run_plugin(plugin: &mut dyn Plugin, event: &Arc<Event>, matching: &[usize]) -> Outcome {
    use futures_util::FutureExt;

    let first = plugin
        .callbacks()
        .get(matching[0])
        .map(|spec| (spec.name.clone(), spec.stop_on_error));
    let result = AssertUnwindSafe(plugin.handle(event, matching))
        .catch_unwind()
        .await;
    match result {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            let (callback, stop) = first.unwrap_or_else(|| ("?".to_owned(), true));
            Outcome {
                failures: vec![Failure {
                    callback,
                    message: format!("panicked: {message}"),
                    stop,
                }],
            }
        }
    }
}
