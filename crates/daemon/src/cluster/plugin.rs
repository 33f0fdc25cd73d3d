//! One plugin on the node that owns it: loads the plugin, takes its feed one event at a time,
//! applies the folder's filters and the callbacks' matchEvents (the feed's subject filter is
//! only a first cut), runs it, records the finished stream sequence and only then acks
//! (skipped events are recorded every 200 or every second). A long callback keeps its
//! event with `working()`. Released (the plugin moved), it finishes the event in flight,
//! hands back what its open pull still brings and stops pulling.

mod aged;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sgevents_cluster::feed::{Delivery, Feed, Types};
use sgevents_cluster::state::Shared;
use sgevents_cluster::stream::EventStream;
use sgevents_plugin_api::{CallbackSpec, Event, MatchEvents, Plugin, matching_callbacks};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::records::{PluginRecord, Stopped, claim_plugin, plugin_key, poller_key, put_plugin};
use crate::cursor::{Admission, CursorRules};
use crate::filters::PluginFilters;
use crate::telemetry::Telemetry;
use crate::watch::{PluginState, RunningEvent, SlotView};
use crate::{Cursor, PluginKey, PluginLoader};

/// Skipped events are recorded after this many at the latest (a redelivery of a skipped one
/// is only skipped again, so they need not be recorded one by one) ...
const SKIPS_PER_WRITE: u32 = 200;

/// ... and at least this often while events are skipped. An event that ran is recorded
/// before its ack, every time: a NATS server killed hard can come back with its consumers'
/// acks a little behind, and the recorded sequence makes those redeliveries skips.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// A plugin's view for the node's status page.
pub(super) struct ViewReport {
    pub(super) key: PluginKey,
    pub(super) path: PathBuf,
    pub(super) view: SlotView,
}

/// What a plugin task is built from.
pub(super) struct PluginTask {
    pub(super) key: PluginKey,
    pub(super) path: PathBuf,
    /// The file's modification time (nanoseconds), as loaded.
    pub(super) file: String,
    pub(super) node: String,
    pub(super) loader: Arc<dyn PluginLoader>,
    pub(super) filters: PluginFilters,
    pub(super) stream: EventStream,
    pub(super) shared: Arc<Shared>,
    pub(super) ack_wait: Duration,
    pub(super) telemetry: Arc<Telemetry>,
    pub(super) views: mpsc::UnboundedSender<ViewReport>,
}

struct Held {
    record: PluginRecord,
    revision: Option<u64>,
    seed: Cursor,
    /// Events skipped since the record was last written.
    unwritten: u32,
    /// When the record was last written.
    written_at: tokio::time::Instant,
    view: SlotView,
    /// A lower bound (seconds since 1970) of when the messages after `record.sequence` were
    /// stored; `None`: not known on this node yet.
    floor: Option<i64>,
    /// When an idle plugin's record is next moved up to the stream's end.
    next_mark: tokio::time::Instant,
}

impl PluginTask {
    /// Runs until `release`: then the event in flight is finished first.
    pub(super) async fn run(self, release: CancellationToken) {
        let logger = format!("plugin.{}", self.key.plugin);
        let mut view = SlotView::new(Cursor::default());
        view.node = Some(self.node.clone());
        self.show(&view);
        let mut plugin = match self.loader.load(&self.path).await {
            Ok(plugin) => plugin,
            Err(err) => {
                tracing::error!(logger = %logger, "Could not load {}: {err}", self.path.display());
                view.state = PluginState::Failed;
                view.last_error = Some((Timestamp::now(), err.to_string()));
                self.show(&view);
                release.cancelled().await;
                return;
            }
        };
        view.callbacks = Arc::new(plugin.callbacks().to_vec());
        let types = feed_types(plugin.callbacks());
        let Some(mut feed) = self.open_feed(&types, &release).await else {
            plugin.shutdown().await;
            return;
        };
        let Some(mut held) = self.hold(view, &release).await else {
            plugin.shutdown().await;
            return;
        };
        tracing::info!(
            logger = "engine",
            "Plugin {} runs on this node ({})",
            self.key,
            self.node
        );
        held.view.state = PluginState::Active;
        self.show(&held.view);
        while !release.is_cancelled() {
            if self.held_back(&mut held, &release).await {
                feed.close().await;
                continue;
            }
            let next = tokio::select! {
                () = release.cancelled() => break,
                next = feed.next(Duration::from_secs(1)) => next,
            };
            match next {
                Ok(Some(delivery)) => {
                    self.take(plugin.as_mut(), &logger, &mut feed, &mut held, delivery)
                        .await;
                }
                Ok(None) => {
                    self.flush(&mut held).await;
                    self.refresh(&mut held).await;
                    self.mark_idle(&feed, &mut held).await;
                }
                Err(err) => {
                    tracing::warn!(logger = "engine", plugin = %self.key, "{err}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        self.flush(&mut held).await;
        feed.close().await;
        plugin.shutdown().await;
    }

    fn show(&self, view: &SlotView) {
        let _ = self.views.send(ViewReport {
            key: self.key.clone(),
            path: self.path.clone(),
            view: view.clone(),
        });
    }

    async fn open_feed(&self, types: &Types, release: &CancellationToken) -> Option<Feed> {
        loop {
            match Feed::open(&self.stream, &self.key.to_string(), types, self.ack_wait).await {
                Ok(feed) => return Some(feed),
                Err(err) => tracing::warn!(logger = "engine", plugin = %self.key, "{err}"),
            }
            tokio::select! {
                () = release.cancelled() => return None,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Reads the plugin's record, creating it for a plugin new to the cluster: it starts after
    /// the poller's position, as a new plugin on one node starts at the site's latest event.
    async fn hold(&self, view: SlotView, release: &CancellationToken) -> Option<Held> {
        let name = plugin_key(&self.key);
        loop {
            let attempt = async {
                if let Some(read) = self.shared.read::<PluginRecord>(&name).await? {
                    return Ok::<_, sgevents_cluster::ClusterError>(Some((
                        read.value,
                        Some(read.revision),
                    )));
                }
                let poller = self
                    .shared
                    .read::<super::records::PollerRecord>(&poller_key())
                    .await?;
                Ok(poller.map(|poller| {
                    let seed = Cursor::at(Cursor::from(poller.value.cursor).position());
                    (PluginRecord::seeded(&seed), None)
                }))
            };
            match attempt.await {
                Ok(Some((mut record, mut revision))) => {
                    record.node = Some(self.node.clone());
                    match claim_plugin(&self.shared, &self.key, &mut record, &mut revision).await {
                        Ok(()) => {
                            let seed = Cursor::from(record.seed.clone());
                            let mut view = view;
                            view.cursor = Cursor {
                                last_id: record.last_id,
                                backlog: Default::default(),
                            };
                            return Some(Held {
                                record,
                                revision,
                                seed,
                                unwritten: 0,
                                written_at: tokio::time::Instant::now(),
                                view,
                                floor: None,
                                next_mark: tokio::time::Instant::now() + aged::MARK_EVERY,
                            });
                        }
                        Err(err) => tracing::warn!(logger = "engine", plugin = %self.key, "{err}"),
                    }
                }
                Ok(None) => {} // No poller yet: the cluster's first leader has not started.
                Err(err) => tracing::warn!(logger = "engine", plugin = %self.key, "{err}"),
            }
            tokio::select! {
                () = release.cancelled() => return None,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// True while a stopOnError stop (its file unchanged) or an operator's pause holds: the
    /// plugin pulls nothing, and its shared record is read again every second for a resume,
    /// skip or unpause from any node.
    async fn held_back(&self, held: &mut Held, release: &CancellationToken) -> bool {
        if let Some(stopped) = held.record.stopped.clone()
            && stopped.file != self.file
        {
            tracing::info!(
                logger = "engine",
                "Plugin {} file changed: it resumes at event {}",
                self.key,
                stopped.event_id
            );
            held.record.stopped = None;
            if let Err(err) = put_plugin(
                &self.shared,
                &self.key,
                &mut held.record,
                &mut held.revision,
            )
            .await
            {
                tracing::warn!(logger = "engine", plugin = %self.key, "{err}");
            }
        }
        let state = if held.record.stopped.is_some() {
            PluginState::Failed
        } else if held.record.paused {
            PluginState::Paused
        } else {
            if held.view.state != PluginState::Active {
                tracing::info!(
                    logger = "engine",
                    "Plugin {} takes events again on this node",
                    self.key
                );
                held.view.state = PluginState::Active;
                self.show(&held.view);
            }
            return false;
        };
        if held.view.state != state {
            if state == PluginState::Paused {
                tracing::info!(
                    logger = "engine",
                    "Plugin {} is paused by an operator: it takes no events until unpaused",
                    self.key
                );
            }
            held.view.state = state;
            self.show(&held.view);
        }
        tokio::select! {
            () = release.cancelled() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        self.refresh(held).await;
        true
    }

    async fn take(
        &self,
        plugin: &mut dyn Plugin,
        logger: &str,
        feed: &mut Feed,
        held: &mut Held,
        delivery: Delivery,
    ) {
        if delivery.sequence <= held.record.sequence {
            // Finished before (by a node that died before its ack reached the server).
            self.ack(delivery).await;
            return;
        }
        self.check_aged(held, &delivery).await;
        let event = std::str::from_utf8(&delivery.row)
            .map_err(|err| err.to_string())
            .and_then(|text| Event::from_text(text).map_err(|err| err.to_string()));
        let event = match event {
            Ok(event) => Arc::new(event),
            Err(err) => {
                tracing::error!(logger = "engine", plugin = %self.key, "Event {} in the stream is unreadable ({err}); skipped", delivery.id);
                self.skip(held, delivery).await;
                return;
            }
        };
        let matching =
            if held.seed.admit(event.id) == Admission::Old || !self.filters.accepts(&event) {
                Vec::new()
            } else {
                matching_callbacks(plugin.callbacks(), &event)
            };
        if matching.is_empty() {
            self.skip(held, delivery).await;
            return;
        }
        if delivery.delivered > 1 {
            tracing::info!(logger = %logger, "Event {} is handed out again (delivery {})", event.id, delivery.delivered);
        }
        held.view.running = Some(RunningEvent {
            id: event.id,
            event_type: event.event_type.clone(),
            since: Timestamp::now(),
        });
        self.show(&held.view);
        let clock = std::time::Instant::now();
        let outcome = {
            let handle = crate::worker::run_plugin(plugin, &event, &matching);
            tokio::pin!(handle);
            let mut ticker = tokio::time::interval(self.ack_wait / 3);
            ticker.tick().await;
            loop {
                tokio::select! {
                    outcome = &mut handle => break outcome,
                    _ = ticker.tick() => {
                        if let Err(err) = delivery.working().await {
                            tracing::warn!(logger = "engine", plugin = %self.key, "{err}");
                        }
                    }
                }
            }
        };
        self.telemetry.record_dispatched(&self.key.plugin);
        self.telemetry.record_callback(
            &self.key.plugin,
            clock.elapsed(),
            outcome.failures.len() as u64,
        );
        held.view.running = None;
        held.view.dispatched += 1;
        held.view.failures += outcome.failures.len() as u64;
        if let Some(failure) = outcome.failures.last() {
            held.view.last_error = Some((
                Timestamp::now(),
                format!(
                    "event {}: {}: {}",
                    event.id, failure.callback, failure.message
                ),
            ));
        }
        if let Some(failure) = outcome.stopped() {
            tracing::error!(
                logger = %logger,
                "Plugin stopped at event {} by callback {}: {}. It resumes at this event once its file changes (or `sgevents plugin resume`).",
                event.id, failure.callback, failure.message
            );
            self.telemetry.record_deactivation(&self.key.plugin);
            held.record.stopped = Some(Stopped {
                event_id: event.id,
                sequence: delivery.sequence,
                file: self.file.clone(),
                error: failure.message.clone(),
            });
            self.write(held).await;
            // The open pull would get the event straight back.
            feed.close().await;
            if let Err(err) = delivery.retry().await {
                tracing::warn!(logger = "engine", plugin = %self.key, "{err}");
            }
            held.view.state = PluginState::Failed;
            self.show(&held.view);
            return;
        }
        held.record.sequence = delivery.sequence;
        held.record.last_id = held.record.last_id.max(Some(event.id));
        held.view.last_event_at = Some(event.created_at);
        self.write(held).await;
        self.ack(delivery).await;
        held.view.cursor.last_id = held.record.last_id;
        self.show(&held.view);
    }

    async fn skip(&self, held: &mut Held, delivery: Delivery) {
        held.record.sequence = delivery.sequence;
        held.record.last_id = held.record.last_id.max(Some(delivery.id));
        held.unwritten += 1;
        if held.unwritten >= SKIPS_PER_WRITE || held.written_at.elapsed() >= WRITE_EVERY {
            self.flush(held).await;
        }
        self.ack(delivery).await;
    }

    async fn flush(&self, held: &mut Held) {
        if held.unwritten > 0 {
            self.write(held).await;
            held.view.cursor.last_id = held.record.last_id;
            self.show(&held.view);
        }
    }

    /// Records the plugin's standing, retrying until NATS takes it: acking without it could
    /// repeat more than the one event in flight.
    async fn write(&self, held: &mut Held) {
        held.unwritten = 0;
        held.written_at = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        while let Err(err) = put_plugin(
            &self.shared,
            &self.key,
            &mut held.record,
            &mut held.revision,
        )
        .await
        {
            tracing::error!(logger = "engine", plugin = %self.key, "Could not record the plugin's position: {err}; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        // An operator's `state set` arrives as a conflict whose seed was taken over.
        held.seed = Cursor::from(held.record.seed.clone());
    }

    /// While idle, takes in an operator's change of the seed, the stop or the pause (a skip
    /// raises the recorded sequence past the failed event), and writes this node's name back
    /// when another node's is there.
    async fn refresh(&self, held: &mut Held) {
        let Ok(Some(read)) = self
            .shared
            .read::<PluginRecord>(&plugin_key(&self.key))
            .await
        else {
            return;
        };
        if Some(read.revision) != held.revision {
            held.record.seed = read.value.seed;
            held.record.stopped = read.value.stopped;
            held.record.paused = read.value.paused;
            held.record.sequence = held.record.sequence.max(read.value.sequence);
            held.record.last_id = held.record.last_id.max(read.value.last_id);
            held.revision = Some(read.revision);
            held.seed = Cursor::from(held.record.seed.clone());
        }
        // The node it moved from wrote last, finishing its event, or claimed it for a
        // moment while the nodes saw different members: say who runs it now. Checked also
        // when the record is this node's own last write, since a write that is not a claim
        // keeps the node the record names.
        if read.value.node.as_deref() != Some(self.node.as_str()) {
            held.record.node = Some(self.node.clone());
            if let Err(err) = claim_plugin(
                &self.shared,
                &self.key,
                &mut held.record,
                &mut held.revision,
            )
            .await
            {
                tracing::warn!(logger = "engine", plugin = %self.key, "{err}");
            }
        }
    }

    async fn ack(&self, delivery: Delivery) {
        if let Err(err) = delivery.done().await {
            // The event comes back after ack_wait; its recorded sequence makes that a skip.
            tracing::warn!(logger = "engine", plugin = %self.key, "{err}");
        }
    }
}

/// The event types the plugin's feed asks the server for: every type when a callback takes
/// all of them.
fn feed_types(callbacks: &[CallbackSpec]) -> Types {
    let mut types = Vec::new();
    for spec in callbacks {
        match &spec.match_events {
            MatchEvents::All => return Types::All,
            MatchEvents::Types(map) => {
                if map.contains_key("*") {
                    return Types::All;
                }
                types.extend(map.keys().cloned());
            }
        }
    }
    Types::Only(types)
}
