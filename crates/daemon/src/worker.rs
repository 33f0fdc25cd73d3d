//! One task per plugin: takes events from its bounded queue in order, applies the filters,
//! runs the plugin, commits the plugin's cursor before it takes the next event, and reports
//! its steps to the loop by message (finished events folded, see `reports`). It shares no
//! mutable state with the loop.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sgevents_plugin_api::{Event, Failure, Outcome, Plugin, matching_callbacks};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::PluginKey;
use crate::committer::Committer;
use crate::cursor::{Admission, Cursor, CursorRules, GapNote};
use crate::filters::PluginFilters;
use crate::logging::{TimingRecord, timing_record};
use crate::telemetry::{PluginMetrics, Telemetry};

mod batch;
mod page;
mod reports;

use batch::Lookahead;
use reports::Done;
pub(crate) use reports::Reports;

/// Save the cursor at least this often during catch-up over events that were filtered out,
/// or that a plugin with a progress page finished (the page holds them meanwhile).
const COMMIT_EVERY: u32 = 1_000;
/// At rest, how long to wait before checking the page again when the plugin's process was
/// busy, times the tries so far, up to the longest wait.
const SETTLE_RETRY: Duration = Duration::from_millis(100);
const SETTLE_RETRY_MAX: Duration = Duration::from_secs(5);
/// A plugin still busy with an event after this long is reported as running it; faster
/// events are only reported done.
const STARTED_AFTER: Duration = Duration::from_millis(20);

/// The loop's name for one worker (unique for the run, never reused).
pub(crate) type SlotId = u64;

/// A message on a plugin's queue.
pub(crate) enum Delivery {
    /// An event to consider, sent during generation `epoch`.
    Event {
        event: Arc<Event>,
        site_now: Timestamp,
        epoch: u64,
    },
    /// Nothing new: just let the backlog expire on the site's clock.
    Tick { site_now: Timestamp },
}

/// Orders from the loop that jump the queue. Each starts a new generation: deliveries of older
/// ones are dropped unseen.
pub(crate) enum Control {
    /// Use this freshly loaded plugin from now on.
    Replace { plugin: Box<dyn Plugin>, epoch: u64 },
    /// Drop the plugin (its load failed or hung): take nothing until the next `Replace`.
    Unload { epoch: u64 },
    /// Start a new generation with the same plugin: after a pause, or to retry the event a
    /// stopOnError failure stopped at.
    Restart { epoch: u64 },
    /// Move the cursor past the event the plugin stopped at, then carry on.
    Skip { epoch: u64 },
}

/// What a worker tells the loop.
pub(crate) struct Report {
    pub(crate) slot: SlotId,
    pub(crate) epoch: u64,
    pub(crate) what: Progress,
}

/// One step of a worker.
pub(crate) enum Progress {
    /// The plugin started on this event.
    Started { event_id: i64, event_type: String },
    /// Event deliveries are done with (run, filtered out, too old or dropped): one or more,
    /// folded; `cursor` is the last one's.
    Done {
        cursor: Cursor,
        last_event_at: Option<Timestamp>,
        /// How many of them the plugin ran (callbacks matched).
        ran: u64,
        failures: u64,
        restarts: u64,
        last_error: Option<String>,
    },
    /// A stopOnError failure stopped the plugin at this event; the cursor stays before it.
    Stopped {
        event_id: i64,
        cursor: Cursor,
        failures: u64,
        restarts: u64,
        error: String,
    },
    /// The cursor changed without an event (backlog expiry, skip).
    Cursor(Cursor),
}

/// Everything a worker owns.
pub(crate) struct Worker {
    pub(crate) key: PluginKey,
    pub(crate) cursor: Cursor,
    pub(crate) filters: PluginFilters,
    pub(crate) committer: Committer,
    pub(crate) backlog_timeout: Duration,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) timing_log: bool,
    pub(crate) reports: Reports,
    /// The plugin's progress page, when the daemon keeps pages (not in cluster mode).
    pub(crate) page: Option<PathBuf>,
    /// The plugin starts elsewhere than its own saved cursor: its old page is emptied, not read.
    pub(crate) page_fresh: bool,
    /// The plugin's per-event series, taken on its first event (and again after a reload).
    pub(crate) metrics: Option<PluginMetrics>,
}

/// A worker's changing state while it runs.
struct Running {
    plugin: Option<Box<dyn Plugin>>,
    epoch: u64,
    /// The event a stopOnError failure stopped at (the plugin takes nothing until restarted).
    stopped_at: Option<(Arc<Event>, Timestamp)>,
    logger: String,
    /// The progress page opened by the worker itself, for a plugin that keeps none of its own
    /// (a native plugin, or a process that runs in step): the worker appends each finished id.
    own_page: Option<page::Writer>,
    /// Events done since the cursor was last saved.
    uncommitted: u32,
    /// Ids a progress page says the plugin finished, which the cursor may not show yet.
    finished: HashSet<i64>,
    /// The cursor was saved at rest and the page not yet checked against it: how many
    /// times in a row the plugin's process was busy ([`Worker::settle`] tries again).
    page_unchecked: Option<u32>,
}

impl Worker {
    /// Runs until shutdown or until the loop drops the queue. An event being handled when
    /// shutdown comes is finished first.
    pub(crate) async fn run(
        mut self,
        mut deliveries: mpsc::Receiver<Delivery>,
        mut control: mpsc::UnboundedReceiver<Control>,
        shutdown: CancellationToken,
    ) {
        let mut running = Running {
            plugin: None,
            epoch: 0,
            stopped_at: None,
            logger: format!("plugin.{}", self.key.plugin),
            own_page: None,
            uncommitted: 0,
            finished: HashSet::new(),
            page_unchecked: None,
        };
        let mut ahead = Lookahead::default();
        loop {
            if deliveries.is_empty() && ahead.is_empty() {
                self.settle(&mut running).await;
            }
            let delivery = match ahead.pop() {
                Some(delivery) => {
                    // Taken ahead: shutdown and control orders still come first.
                    if shutdown.is_cancelled() {
                        break;
                    }
                    if let Ok(order) = control.try_recv() {
                        ahead.push_front(delivery);
                        self.handle_control(&mut running, order).await;
                        continue;
                    }
                    delivery
                }
                None => {
                    if deliveries.is_empty() {
                        // About to wait: the loop hears of everything done so far.
                        self.reports.flush();
                    }
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(settle_retry(running.page_unchecked.unwrap_or(0))), if running.page_unchecked.is_some() => continue,
                        order = control.recv() => match order {
                            Some(order) => {
                                self.handle_control(&mut running, order).await;
                                continue;
                            }
                            None => break,
                        },
                        delivery = deliveries.recv() => match delivery {
                            None => break,
                            Some(delivery) => {
                                // Through the look-ahead, so the plugin hears of it first.
                                ahead.push_back(delivery);
                                self.hint_ahead(&mut running, &mut ahead, &mut deliveries, 1)
                                    .await;
                                continue;
                            }
                        },
                    }
                }
            };
            match delivery {
                Delivery::Tick { site_now } => self.expire(&running, site_now),
                Delivery::Event {
                    event,
                    site_now,
                    epoch,
                } => {
                    if epoch == running.epoch && running.stopped_at.is_none() {
                        self.hint_ahead(&mut running, &mut ahead, &mut deliveries, 0)
                            .await;
                    }
                    self.take(&mut running, event, site_now, epoch).await;
                }
            }
        }
        self.reports.flush();
        if running.uncommitted > 0 {
            commit_until_durable(&self.committer, &self.key, &self.cursor).await;
        }
        if let Some(mut plugin) = running.plugin.take() {
            plugin.shutdown().await;
        }
    }

    /// At rest (nothing queued or taken ahead): saves the cursor if events went unsaved, and
    /// empties the progress page once the saved cursor covers it.
    async fn settle(&mut self, running: &mut Running) {
        if running.uncommitted > 0 {
            running.uncommitted = 0;
            let paged = running.own_page.is_some()
                || running.plugin.as_ref().is_some_and(|p| p.keeps_progress());
            if !paged {
                self.committer.commit_later(&self.key, &self.cursor);
                return;
            }
            commit_until_durable(&self.committer, &self.key, &self.cursor).await;
            running.page_unchecked = Some(0);
        }
        let Some(tries) = running.page_unchecked else {
            return;
        };
        if running.plugin.as_ref().is_some_and(|p| p.holds_events()) {
            // Still running what it was shipped (or its shared process is busy): again
            // shortly, then less and less often.
            running.page_unchecked = Some(tries.saturating_add(1));
            return;
        }
        running.page_unchecked = None;
        if let Some(path) = &self.page
            && page::covered(path, &self.cursor, &mut running.finished, &running.logger)
        {
            // A process that keeps the page empties it (it may have it mapped); else, or
            // when it could not, the file is emptied here.
            let emptied = match running.plugin.as_mut() {
                Some(plugin) if plugin.keeps_progress() => plugin.empty_progress().await,
                _ => false,
            };
            // The worker's own page is mapped: emptied through its writer.
            if !emptied && !page::Writer::empty(&mut running.own_page, &running.logger) {
                page::empty(path, &running.logger);
            }
        }
    }

    /// Takes what waits on the queue into `ahead` and tells the plugin which of those
    /// events (and of the last `fresh` ones already there) it will be handed
    /// ([`Plugin::upcoming`]), in queue order.
    async fn hint_ahead(
        &mut self,
        running: &mut Running,
        ahead: &mut Lookahead,
        deliveries: &mut mpsc::Receiver<Delivery>,
        fresh: usize,
    ) {
        let added = ahead.refill(deliveries) + fresh;
        let Some(plugin) = running.plugin.as_mut() else {
            return;
        };
        if running.stopped_at.is_some() {
            return;
        }
        if added > 0 {
            ahead.offer(added);
        }
        if !ahead.has_offers() {
            return;
        }
        // Hints the plugin would turn down are not built (it holds enough for now).
        let room = plugin.room();
        if room == 0 {
            return;
        }
        let (hints, positions) = ahead.hints(
            running.epoch,
            &self.cursor,
            &self.filters,
            plugin.as_ref(),
            &running.finished,
            room,
        );
        let taken = if hints.is_empty() {
            0
        } else {
            plugin.upcoming(&hints).await
        };
        ahead.taken(taken, &positions);
    }

    fn report(&mut self, epoch: u64, what: Progress) {
        self.reports.send(epoch, what);
    }

    async fn handle_control(&mut self, running: &mut Running, order: Control) {
        self.reports.flush();
        if running.uncommitted > 0 {
            running.uncommitted = 0;
            commit_until_durable(&self.committer, &self.key, &self.cursor).await;
        }
        match order {
            Control::Replace { mut plugin, epoch } => {
                // The series may have been dropped with the old plugin: take them anew.
                self.metrics = None;
                if let Some(mut old) = running.plugin.take() {
                    old.shutdown().await;
                }
                running.own_page = None;
                if let Some(path) = &self.page {
                    // What the old process finished ahead counts as done for the new one.
                    let fresh = std::mem::take(&mut self.page_fresh);
                    page::take_up(path, fresh, &mut running.finished, &running.logger);
                    if page::prepare(path, &running.logger) && !plugin.keep_progress(path).await {
                        running.own_page = page::Writer::open(path, &running.logger);
                    }
                }
                running.plugin = Some(plugin);
                running.stopped_at = None;
                running.epoch = epoch;
            }
            Control::Unload { epoch } => {
                if let Some(mut old) = running.plugin.take() {
                    old.shutdown().await;
                }
                running.own_page = None;
                if let Some(path) = &self.page {
                    let fresh = std::mem::take(&mut self.page_fresh);
                    page::take_up(path, fresh, &mut running.finished, &running.logger);
                }
                running.stopped_at = None;
                running.epoch = epoch;
            }
            Control::Restart { epoch } => {
                running.stopped_at = None;
                running.epoch = epoch;
            }
            Control::Skip { epoch } => {
                running.epoch = epoch;
                if let Some((event, site_now)) = running.stopped_at.take() {
                    self.advance(
                        &running.logger,
                        &event,
                        site_now,
                        self.cursor.admit(event.id),
                    );
                    commit_until_durable(&self.committer, &self.key, &self.cursor).await;
                    self.report(epoch, Progress::Cursor(self.cursor.clone()));
                }
            }
        }
    }

    async fn take(
        &mut self,
        running: &mut Running,
        event: Arc<Event>,
        site_now: Timestamp,
        epoch: u64,
    ) {
        let current = epoch == running.epoch && running.stopped_at.is_none();
        let handled = match running.plugin.as_mut() {
            Some(_) if current && self.finished_before(&mut running.finished, &event) => {
                tracing::debug!(
                    logger = %running.logger,
                    "Event {} was finished before (the progress page says so); not run again.",
                    event.id
                );
                let admission = self.cursor.admit(event.id);
                self.advance(&running.logger, &event, site_now, admission);
                Handled::Skipped
            }
            Some(plugin) if current => {
                let handled = self
                    .handle_event(
                        plugin.as_mut(),
                        &mut running.own_page,
                        &running.logger,
                        &event,
                        site_now,
                        epoch,
                    )
                    .await;
                if let Handled::Stopped = handled {
                    running.stopped_at = Some((event.clone(), site_now));
                }
                handled
            }
            _ => Handled::Dropped,
        };
        let unsaved = match &handled {
            Handled::Skipped => true,
            Handled::Processed(summary) => !summary.saved,
            _ => false,
        };
        if unsaved {
            running.uncommitted += 1;
            if running.uncommitted >= COMMIT_EVERY {
                self.committer.commit_later(&self.key, &self.cursor);
                running.uncommitted = 0;
            }
        }
        if handled != Handled::Stopped {
            let seen = handled != Handled::Dropped;
            let (ran, failures, restarts, last_error, reported) = match handled {
                Handled::Processed(summary) => (
                    true,
                    summary.failures,
                    summary.restarts,
                    summary.last_error,
                    summary.reported,
                ),
                _ => (false, 0, 0, None, false),
            };
            self.reports.done(
                epoch,
                Done {
                    cursor: self.cursor.clone(),
                    last_event_at: seen.then_some(event.created_at),
                    ran,
                    failures,
                    restarts,
                    last_error,
                },
            );
            if reported {
                self.reports.flush();
            }
        }
    }

    async fn handle_event(
        &mut self,
        plugin: &mut dyn Plugin,
        own_page: &mut Option<page::Writer>,
        logger: &str,
        event: &Arc<Event>,
        site_now: Timestamp,
        epoch: u64,
    ) -> Handled {
        let admission = self.cursor.admit(event.id);
        if admission == Admission::Old {
            tracing::debug!(
                logger = %logger,
                "Event {} is too old. Last event processed was ({}).",
                event.id,
                self.cursor.position()
            );
            return Handled::Old;
        }
        self.expire_quietly(logger, site_now);
        let matching = if self.filters.accepts(event) {
            matching_callbacks(plugin.callbacks(), event)
        } else {
            Vec::new()
        };
        if matching.is_empty() {
            self.advance(logger, event, site_now, admission);
            return Handled::Skipped;
        }
        let names: Vec<String> = if self.timing_log {
            matching
                .iter()
                .filter_map(|idx| plugin.callbacks().get(*idx).map(|spec| spec.name.clone()))
                .collect()
        } else {
            Vec::new()
        };
        // The wall-clock start only feeds the timing log: not read otherwise.
        let started = self.timing_log.then(Timestamp::now);
        let clock = Instant::now();
        let (outcome, reported) = {
            let run = run_plugin(plugin, event, &matching);
            tokio::pin!(run);
            // Polled once first: an event the plugin process already ran ahead is answered
            // at once, and then no timer is registered and dropped for it.
            match std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await {
                Poll::Ready(outcome) => (outcome, false),
                Poll::Pending => tokio::select! {
                    biased;
                    outcome = &mut run => (outcome, false),
                    () = tokio::time::sleep(STARTED_AFTER) => {
                        self.report(
                            epoch,
                            Progress::Started {
                                event_id: event.id,
                                event_type: event.event_type.clone(),
                            },
                        );
                        (run.await, true)
                    }
                },
            }
        };
        let elapsed = clock.elapsed();
        let restarts = plugin.restarts();
        let (telemetry, plugin_name) = (&self.telemetry, &self.key.plugin);
        self.metrics
            .get_or_insert_with(|| telemetry.plugin_metrics(plugin_name))
            .record(elapsed, outcome.failures.len() as u64);
        if let Some(started) = started {
            self.write_timing(event, &names, &outcome, started, elapsed);
        }
        let last_error = outcome.failures.last().map(|failure| {
            format!(
                "event {}: {}: {}",
                event.id, failure.callback, failure.message
            )
        });
        let failures = outcome.failures.len() as u64;
        if let Some(failure) = outcome.stopped() {
            tracing::error!(
                logger = %logger,
                "Plugin stopped at event {} by callback {}: {}. It resumes at this event once its file changes (or `sgevents resume`).",
                event.id,
                failure.callback,
                failure.message
            );
            self.telemetry.record_deactivation(&self.key.plugin);
            self.report(
                epoch,
                Progress::Stopped {
                    event_id: event.id,
                    cursor: self.cursor.clone(),
                    failures,
                    restarts,
                    error: last_error.unwrap_or_default(),
                },
            );
            return Handled::Stopped;
        }
        self.advance(logger, event, site_now, admission);
        // On a progress page (the plugin's, or the worker's own) the cursor is saved later.
        let on_page = plugin.keeps_progress() || page::record(own_page, event.id, logger);
        let saved = !on_page;
        if saved {
            commit_until_durable(&self.committer, &self.key, &self.cursor).await;
        }
        Handled::Processed(Summary {
            failures,
            restarts,
            last_error,
            reported,
            saved,
        })
    }

    /// Whether a progress page said the plugin finished `event` (which then counts as done).
    fn finished_before(&self, finished: &mut HashSet<i64>, event: &Event) -> bool {
        !finished.is_empty()
            && self.cursor.admit(event.id) != Admission::Old
            && finished.remove(&event.id)
    }

    fn advance(&mut self, logger: &str, event: &Event, site_now: Timestamp, admission: Admission) {
        match self.cursor.advance(event, site_now, self.backlog_timeout) {
            Some(GapNote::Backlogged(ids)) => {
                for id in ids {
                    tracing::info!(logger = %logger, "Adding event id {id} to backlog.");
                }
            }
            Some(GapNote::NeverHappened { first, last }) if first == last => {
                tracing::info!(logger = %logger, "Event {first} never happened - ignoring.");
            }
            Some(GapNote::NeverHappened { first, last }) => {
                tracing::info!(logger = %logger, "Events {first}-{last} never happened - ignoring.");
            }
            None => {}
        }
        if admission == Admission::Late {
            tracing::info!(logger = %logger, "Processed id {} from backlog.", event.id);
        }
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

    /// Expires the backlog on a tick from the loop, and says so.
    fn expire(&mut self, running: &Running, site_now: Timestamp) {
        if self.expire_quietly(&running.logger, site_now) {
            self.committer.commit_later(&self.key, &self.cursor);
            self.report(running.epoch, Progress::Cursor(self.cursor.clone()));
        }
    }

    fn expire_quietly(&mut self, logger: &str, site_now: Timestamp) -> bool {
        let expired = self.cursor.expire(site_now);
        for id in &expired {
            tracing::warn!(logger = %logger, "Timeout elapsed on backlog event id {id}.");
        }
        !expired.is_empty()
    }
}

/// How long to wait before the next check of the page at rest, after `tries` found the
/// plugin's process busy.
fn settle_retry(tries: u32) -> Duration {
    (SETTLE_RETRY * tries.max(1)).min(SETTLE_RETRY_MAX)
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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Summary {
    failures: u64,
    restarts: u64,
    last_error: Option<String>,
    /// The loop was told the plugin is running this event, so its end goes out at once.
    reported: bool,
    /// The cursor was saved after it (without a progress page).
    saved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Handled {
    /// Not the current generation, or no plugin.
    Dropped,
    Old,
    Skipped,
    Processed(Summary),
    Stopped,
}

/// Runs the plugin, turning a panic in a native plugin into a failure of its first callback.
pub(crate) async fn run_plugin(
    plugin: &mut dyn Plugin,
    event: &Arc<Event>,
    matching: &[usize],
) -> Outcome {
    use futures_util::FutureExt;

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
            // Looked up only now: a name per event would be cloned for nothing.
            let (callback, stop) = matching
                .first()
                .and_then(|index| plugin.callbacks().get(*index))
                .map_or_else(
                    || ("?".to_owned(), true),
                    |spec| (spec.name.clone(), spec.stop_on_error),
                );
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sgevents_plugin_api::{BoxFuture, CallbackSpec, MatchEvents};

    use super::*;

    /// Panics in `handle`, as a buggy native plugin might.
    struct Panics(Vec<CallbackSpec>);

    impl Plugin for Panics {
        fn callbacks(&self) -> &[CallbackSpec] {
            &self.0
        }

        fn handle<'a>(
            &'a mut self,
            event: &'a Arc<Event>,
            _: &'a [usize],
        ) -> BoxFuture<'a, Outcome> {
            Box::pin(async move { panic!("no frames on event {}", event.id) })
        }
    }

    #[tokio::test]
    async fn a_panicking_plugin_fails_at_its_first_matching_callback_with_the_message() {
        let spec = |name: &str, stop_on_error| CallbackSpec {
            name: name.to_owned(),
            match_events: MatchEvents::All,
            stop_on_error,
        };
        let mut plugin = Panics(vec![spec("first", true), spec("second", false)]);
        let row = json!({"id": 7, "event_type": "X", "created_at": "2026-11-22T10:00:00Z"});
        let event = Arc::new(Event::from_json(row).unwrap());
        let outcome = run_plugin(&mut plugin, &event, &[1]).await;
        assert_eq!(
            outcome.failures,
            [Failure {
                callback: "second".to_owned(),
                message: "panicked: no frames on event 7".to_owned(),
                stop: false,
            }]
        );
    }
}
