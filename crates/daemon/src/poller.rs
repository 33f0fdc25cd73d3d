//! The main loop: owns the plugin slots, fetches events from the lowest position any active
//! plugin needs, re-queries missing ids by id, feeds each plugin's queue, and rescans plugin
//! folders.

mod slots;
mod window;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sgevents_api::{Client, ClientError, RetryPolicy};
use sgevents_plugin_api::Event;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::committer::Committer;
use crate::telemetry::Telemetry;
use crate::worker::{Delivery, PluginState};
use crate::{Cursor, DispatchMode, NativePlugin, Options, PluginDir, PluginKey, Watch};
use slots::Slot;
use window::Window;

/// At most this many missing ids are re-queried per poll.
const LATE_QUERY_MAX: usize = 500;
/// How long to wait when every active plugin's queue is full.
const BLOCKED_WAIT: Duration = Duration::from_millis(20);

pub(crate) struct Poller {
    options: Arc<Options>,
    client: Client,
    committer: Committer,
    watch: Arc<Watch>,
    telemetry: Arc<Telemetry>,
    shutdown: CancellationToken,
    dirs: Vec<PluginDir>,
    natives: Vec<NativePlugin>,
    saved: BTreeMap<PluginKey, Cursor>,
    slots: Vec<Slot>,
    window: Window,
    tasks: JoinSet<()>,
    /// The site's clock: the newest `created_at` or HTTP `Date` seen.
    site_now: Timestamp,
    high_water: i64,
    failed_attempts: u32,
    /// The start position for plugins with no saved cursor, resolved once per run.
    fresh_position: Option<i64>,
    /// Whether `--start-at` still has to be applied (it applies to the plugins found at start).
    start_override_pending: bool,
}

/// What the poller is built from.
pub(crate) struct Setup {
    pub(crate) options: Arc<Options>,
    pub(crate) client: Client,
    pub(crate) committer: Committer,
    pub(crate) watch: Arc<Watch>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) dirs: Vec<PluginDir>,
    pub(crate) natives: Vec<NativePlugin>,
    pub(crate) saved: BTreeMap<PluginKey, Cursor>,
}

/// What one poll found, and so how long to wait before the next.
enum Poll {
    /// A full batch: the daemon lags, poll again at once.
    Full,
    /// Some plugin's queue was full: give workers a moment.
    Blocked,
    /// Caught up: wait `fetch_interval`.
    CaughtUp,
    /// The site failed: wait this long.
    Failed(Duration),
}

impl Poller {
    pub(crate) fn new(setup: Setup) -> Poller {
        setup
            .watch
            .update_site(|site| site.url = setup.client.endpoint().to_owned());
        Poller {
            start_override_pending: setup.options.start_at != crate::StartAt::Saved,
            options: setup.options,
            client: setup.client,
            committer: setup.committer,
            watch: setup.watch,
            telemetry: setup.telemetry,
            shutdown: setup.shutdown,
            dirs: setup.dirs,
            natives: setup.natives,
            saved: setup.saved,
            slots: Vec::new(),
            window: Window::default(),
            tasks: JoinSet::new(),
            site_now: Timestamp::UNIX_EPOCH,
            high_water: 0,
            failed_attempts: 0,
            fresh_position: None,
        }
    }

    pub(crate) async fn run(mut self, reload: Arc<Notify>) {
        tracing::info!(
            logger = "engine",
            "Starting sgevents {}",
            env!("CARGO_PKG_VERSION")
        );
        self.load_all().await;
        let mut next_scan = Instant::now() + self.options.scan_interval;
        while !self.shutdown.is_cancelled() {
            self.watch
                .update_site(|site| site.heartbeat = Some(Timestamp::now()));
            let wait = match self.poll_once().await {
                Poll::Full => Duration::ZERO,
                Poll::Blocked => BLOCKED_WAIT,
                Poll::CaughtUp => self.options.fetch_interval,
                Poll::Failed(wait) => wait,
            };
            let mut force_reload = false;
            if !wait.is_zero() {
                tokio::select! {
                    () = self.shutdown.cancelled() => break,
                    () = reload.notified() => force_reload = true,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            if force_reload || Instant::now() >= next_scan {
                if force_reload {
                    tracing::info!(logger = "engine", "Reloading every plugin (SIGHUP)");
                }
                self.rescan(force_reload).await;
                next_scan = Instant::now() + self.options.scan_interval;
            }
        }
        self.stop().await;
    }

    /// One round: hand out what the window holds, fetch for plugins behind it, fetch new
    /// events when a plugin has taken everything, and re-query missing ids.
    async fn poll_once(&mut self) -> Poll {
        for slot in &mut self.slots {
            slot.blocked = false;
        }
        let active: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].state() == PluginState::Active)
            .collect();
        let Some(slowest) = active.iter().map(|&i| self.slots[i].sent_upto).min() else {
            return Poll::CaughtUp;
        };
        self.window.trim(slowest);
        let mut full = false;
        // Plugins behind the window (reloaded, or far slower than the rest) read on their own.
        let laggard = active
            .iter()
            .map(|&i| self.slots[i].sent_upto)
            .filter(|position| *position < self.window.after())
            .min();
        if let Some(position) = laggard {
            match self.fetch_after(position).await {
                Ok((events, batch_full)) => {
                    full |= batch_full;
                    for event in &events {
                        self.deliver(event, Some(position)).await;
                    }
                }
                Err(poll) => return poll,
            }
        }
        self.hand_out_window().await;
        let end = self.window.end();
        let wants_more = active.iter().any(|&i| {
            let slot = &self.slots[i];
            !slot.blocked && slot.sent_upto >= end && slot.tx.capacity() > 0
        });
        if wants_more {
            match self.fetch_after(end).await {
                Ok((events, batch_full)) => {
                    full |= batch_full;
                    self.window.extend(&events);
                    let after = self.window.after();
                    for event in &events {
                        self.deliver(event, Some(after)).await;
                    }
                }
                Err(poll) => return poll,
            }
        }
        self.fetch_late().await;
        self.send_expiry_ticks();
        self.watch.update_site(|site| {
            site.high_water = Some(self.high_water);
            site.site_now = Some(self.site_now);
        });
        if full {
            Poll::Full
        } else if self.slots.iter().any(|slot| slot.blocked) {
            Poll::Blocked
        } else {
            Poll::CaughtUp
        }
    }

    /// Reads up to a batch of events after `after`; on failure, what the loop should do.
    async fn fetch_after(&mut self, after: i64) -> Result<(Vec<Arc<Event>>, bool), Poll> {
        let limit = self.options.max_event_batch_size.max(1);
        let started = Instant::now();
        let fetched = self.client.events_after(after, limit).await;
        self.telemetry
            .record_api_request("read", started.elapsed(), fetched.is_ok());
        self.telemetry.record_poll(fetched.is_ok());
        let events = fetched.map_err(|err| self.failed(err))?;
        self.poll_succeeded();
        self.telemetry.record_events_fetched(events.len() as u64);
        let full = events.len() >= limit;
        let events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
        self.observe_clock(&events);
        if let Some(last) = events.last() {
            tracing::debug!(
                logger = "engine",
                "Got {} events: {} to {}.",
                events.len(),
                events[0].id,
                last.id
            );
            self.high_water = self.high_water.max(last.id);
        }
        Ok((events, full))
    }

    /// Hands each plugin the window's events it has not had yet, until its queue is full.
    async fn hand_out_window(&mut self) {
        let after = self.window.after();
        if self.options.dispatch == DispatchMode::Sequential {
            let events: Vec<Arc<Event>> = self.window.after_position(after).cloned().collect();
            for event in &events {
                self.deliver(event, Some(after)).await;
            }
            return;
        }
        for slot in &mut self.slots {
            if slot.state() != PluginState::Active || slot.sent_upto < after {
                continue;
            }
            for event in self.window.after_position(slot.sent_upto) {
                let delivery = Delivery::Event {
                    event: event.clone(),
                    site_now: self.site_now,
                    epoch: slot.epoch,
                    done: None,
                };
                if slot.tx.try_send(delivery).is_err() {
                    slot.blocked = true;
                    break;
                }
                slot.sent_upto = event.id;
            }
        }
    }

    /// Re-queries ids that active plugins are waiting for; found ones go only to the plugins
    /// that passed over them.
    async fn fetch_late(&mut self) {
        let wanted: BTreeSet<i64> = self
            .slots
            .iter()
            .filter(|slot| slot.state() == PluginState::Active)
            .flat_map(|slot| slot.backlog_ids(self.site_now))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let ids: Vec<i64> = wanted.into_iter().take(LATE_QUERY_MAX).collect();
        let started = Instant::now();
        let found = self.client.events_by_id(&ids).await;
        self.telemetry
            .record_api_request("read", started.elapsed(), found.is_ok());
        match found {
            Ok(found) => {
                let found: Vec<Arc<Event>> = found.into_iter().map(Arc::new).collect();
                self.observe_clock(&found);
                for event in &found {
                    self.deliver(event, None).await;
                }
            }
            Err(err) => {
                tracing::warn!(logger = "engine", error = %err, "Could not re-query {} missing event ids", ids.len());
            }
        }
    }

    /// Hands `event` to every slot that needs it. An in-order event of a batch fetched after
    /// `batch_after` goes only to slots whose queue reaches that far, so a slot never sees a
    /// hole that is not on the site; a late event (`None`) goes to the slots waiting for it.
    async fn deliver(&mut self, event: &Arc<Event>, batch_after: Option<i64>) {
        let sequential = self.options.dispatch == DispatchMode::Sequential;
        for idx in 0..self.slots.len() {
            let slot = &mut self.slots[idx];
            if slot.blocked || slot.state() != PluginState::Active {
                continue;
            }
            let wanted = match batch_after {
                Some(after) => event.id > slot.sent_upto && slot.sent_upto >= after,
                None => slot.waits_for(event.id),
            };
            if !wanted {
                continue;
            }
            let (done_tx, done_rx) = if sequential {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            } else {
                (None, None)
            };
            let delivery = Delivery::Event {
                event: event.clone(),
                site_now: self.site_now,
                epoch: slot.epoch,
                done: done_tx,
            };
            match slot.tx.try_send(delivery) {
                Ok(()) => {
                    if batch_after.is_some() {
                        slot.sent_upto = event.id;
                    }
                }
                Err(TrySendError::Full(_)) => slot.blocked = true,
                Err(TrySendError::Closed(_)) => {
                    tracing::error!(logger = "engine", plugin = %slot.key, "The plugin's worker has stopped");
                    slot.blocked = true;
                }
            }
            if let Some(done_rx) = done_rx {
                tokio::select! {
                    _ = done_rx => {}
                    () = self.shutdown.cancelled() => return,
                }
            }
        }
    }

    fn send_expiry_ticks(&mut self) {
        for slot in &mut self.slots {
            if slot.has_expired_backlog(self.site_now) {
                let _ = slot.tx.try_send(Delivery::Tick {
                    site_now: self.site_now,
                });
            }
        }
    }

    fn observe_clock(&mut self, events: &[Arc<Event>]) {
        let newest = events.iter().map(|event| event.created_at).max();
        let server = self.client.server_time();
        for seen in [newest, server].into_iter().flatten() {
            self.site_now = self.site_now.max(seen);
        }
    }

    fn poll_succeeded(&mut self) {
        self.failed_attempts = 0;
        self.watch
            .update_site(|site| site.last_poll_ok = Some(Timestamp::now()));
    }

    /// Upstream's connection semantics: warnings for the first failed attempts, then an ERROR
    /// and a pause of `conn_retry_sleep`; backoff with jitter in between. Auth failures never spin.
    fn failed(&mut self, err: ClientError) -> Poll {
        let message = err.to_string();
        self.watch
            .update_site(|site| site.last_error = Some((Timestamp::now(), message.clone())));
        let max = self.options.max_conn_retries.max(1);
        if err.is_auth() {
            tracing::error!(
                logger = "engine",
                "The site refused the daemon's credentials: {message}. Check [shotgun] name and key; retrying in {:?}.",
                self.options.conn_retry_sleep
            );
            return Poll::Failed(self.options.conn_retry_sleep);
        }
        self.failed_attempts += 1;
        if self.failed_attempts >= max {
            tracing::error!(
                logger = "engine",
                "Unable to reach the site after {max} attempts: {message}. Sleeping {:?}.",
                self.options.conn_retry_sleep
            );
            self.failed_attempts = 0;
            return Poll::Failed(self.options.conn_retry_sleep);
        }
        let policy = RetryPolicy {
            max_attempts: max,
            base_delay: Duration::from_millis(250),
            max_delay: self.options.conn_retry_sleep,
        };
        let delay = policy.delay(self.failed_attempts, &err);
        tracing::warn!(
            logger = "engine",
            "Site request failed (attempt {} of {max}): {message}. Retrying in {delay:?}.",
            self.failed_attempts
        );
        Poll::Failed(delay)
    }

    /// Stops fetching, lets workers finish their in-flight event within the grace period, and
    /// drops everything else; cursors are committed by the workers as they stop.
    async fn stop(mut self) {
        tracing::info!(
            logger = "engine",
            "Shutting down: waiting up to {:?} for in-flight callbacks",
            self.options.shutdown_grace
        );
        self.slots.clear();
        let grace = self.options.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                logger = "engine",
                "Some plugins did not finish within {grace:?}; stopping them"
            );
            self.tasks.shutdown().await;
        }
        self.watch.set_plugins(Vec::new());
    }
}
