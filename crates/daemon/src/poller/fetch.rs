//! Reads of the site, each a spawned task that posts its result back to the loop, and the
//! rules for when to read: again at once only after a full batch, otherwise once per
//! `fetch_interval`; a plugin behind the window reads on its own only when its queue has room
//! and its previous read is used up.

use std::collections::BTreeSet;
use std::sync::Arc;

use sgevents_api::ClientError;
use sgevents_plugin_api::Event;
use tokio::time::Instant;

use super::window::WINDOW_MAX;
use super::{Poller, Posted};
use crate::DaemonError;
use crate::worker::{Delivery, SlotId};

/// At most this many missing ids are re-queried per read.
const LATE_QUERY_MAX: usize = 500;

/// Which read finished.
pub(super) enum FetchKind {
    /// The site's latest id, at start.
    Latest,
    /// New events after the window's end.
    Head { after: i64 },
    /// Nothing needs new events: the latest id only, so lag and readiness stay fresh.
    Probe,
    /// A plugin behind the window, reading on its own.
    Own {
        slot: SlotId,
        epoch: u64,
        after: i64,
    },
    /// Missing ids re-queried.
    Late,
}

/// A finished read.
pub(super) struct FetchDone {
    kind: FetchKind,
    result: Result<Fetched, ClientError>,
}

enum Fetched {
    Events(Vec<Event>),
    Latest(Option<i64>),
}

impl Poller {
    fn spawn_fetch(&mut self, kind: FetchKind) {
        let client = self.client.clone();
        let telemetry = self.telemetry.clone();
        let posted = self.posted_tx.clone();
        let limit = self.options.max_event_batch_size.max(1);
        let wanted: Vec<i64> = match &kind {
            FetchKind::Late => self.late_wanted(),
            _ => Vec::new(),
        };
        self.tasks.spawn(async move {
            let started = std::time::Instant::now();
            let result = match &kind {
                FetchKind::Latest | FetchKind::Probe => {
                    client.latest_event_id().await.map(Fetched::Latest)
                }
                FetchKind::Head { after } | FetchKind::Own { after, .. } => client
                    .events_after(*after, limit)
                    .await
                    .map(Fetched::Events),
                FetchKind::Late => client.events_by_id(&wanted).await.map(Fetched::Events),
            };
            telemetry.record_api_request("read", started.elapsed(), result.is_ok());
            let _ = posted.send(Posted::Fetched(FetchDone { kind, result }));
        });
    }

    /// Asks the site for its latest event id (at start, until it answers).
    pub(super) fn ask_latest(&mut self) {
        self.site.latest_in_flight = true;
        self.spawn_fetch(FetchKind::Latest);
    }

    /// Reads new events when some plugin has taken everything fetched so far, at once after a
    /// full batch, else once per `fetch_interval`; probes the latest id when nobody needs more.
    pub(super) fn maybe_fetch_head(&mut self) {
        if !self.site.head_due() {
            return;
        }
        // The window serves the plugins near the front; one further behind than the window
        // holds reads on its own, so the front never waits for it and it never holds the
        // window at the start of history. A plugin still loading counts from its cursor:
        // the events it is about to want stay in memory, not read again once it is in.
        let active: Vec<i64> = self
            .slots
            .iter()
            .filter(|slot| slot.dispatching() || slot.loading())
            .map(|slot| slot.sent_upto)
            .collect();
        if let Some(front) = active.iter().max() {
            let reach = front.saturating_sub(WINDOW_MAX as i64);
            if let Some(anchor) = active.iter().filter(|position| **position >= reach).min() {
                self.window.trim(*anchor);
            }
        }
        let end = self.window.end();
        let wants_more = self
            .slots
            .iter()
            .any(|slot| slot.dispatching() && slot.sent_upto >= end && slot.has_room());
        self.site.head_in_flight = true;
        if wants_more {
            self.spawn_fetch(FetchKind::Head { after: end });
        } else if Instant::now() >= self.site.next_fetch {
            self.spawn_fetch(FetchKind::Probe);
        } else {
            // Behind, but every plugin is busy: read again once one has room.
            self.site.head_in_flight = false;
        }
    }

    /// Re-queries the missing ids active plugins wait for, once per `fetch_interval`.
    pub(super) fn maybe_fetch_late(&mut self) {
        if self.site.late_in_flight || Instant::now() < self.site.next_late {
            return;
        }
        if self.late_wanted().is_empty() {
            return;
        }
        self.site.late_in_flight = true;
        self.site.next_late = Instant::now() + self.site.fetch_interval;
        self.spawn_fetch(FetchKind::Late);
    }

    fn late_wanted(&self) -> Vec<i64> {
        let site_now = self.site.site_now;
        let wanted: BTreeSet<i64> = self
            .slots
            .iter()
            .filter(|slot| slot.dispatching())
            .flat_map(|slot| slot.backlog_ids(site_now))
            .collect();
        wanted.into_iter().take(LATE_QUERY_MAX).collect()
    }

    /// A plugin behind the window reads a batch of its own.
    pub(super) fn fetch_own(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        slot.own.fetching = true;
        let kind = FetchKind::Own {
            slot: slot.id,
            epoch: slot.epoch,
            after: slot.sent_upto,
        };
        self.spawn_fetch(kind);
    }

    /// Takes in a finished read.
    ///
    /// # Errors
    /// [`DaemonError::Cursor`] when the site's latest id shows a saved cursor makes no sense.
    pub(super) fn fetched(&mut self, done: FetchDone) -> Result<(), DaemonError> {
        let FetchDone { kind, result } = done;
        let limit = self.options.max_event_batch_size.max(1);
        match (kind, result) {
            (FetchKind::Latest, Ok(Fetched::Latest(latest))) => {
                self.site.latest_in_flight = false;
                self.succeeded(None);
                let latest = latest.unwrap_or(0);
                self.site.high_water = self.site.high_water.max(latest);
                self.start(latest)?;
            }
            (FetchKind::Probe, Ok(Fetched::Latest(latest))) => {
                self.site.head_in_flight = false;
                self.succeeded(None);
                self.site.next_fetch = Instant::now() + self.site.fetch_interval;
                self.site.high_water = self.site.high_water.max(latest.unwrap_or(0));
            }
            (FetchKind::Head { after }, Ok(Fetched::Events(events))) => {
                self.site.head_in_flight = false;
                self.telemetry.record_poll(true);
                self.succeeded(Some(events.len() as u64));
                let full = events.len() >= limit;
                self.site.behind = full;
                self.site.next_fetch = Instant::now() + self.site.fetch_interval;
                let events = self.arrived(events);
                if after == self.window.end() {
                    self.window.extend(&events);
                }
                self.send_expiry_ticks();
            }
            (FetchKind::Own { slot, epoch, after }, Ok(Fetched::Events(events))) => {
                self.succeeded(None);
                let full = events.len() >= limit;
                let events = self.arrived(events);
                let interval = self.site.fetch_interval;
                if let Some(slot) = self.slot_mut(slot) {
                    slot.own.fetching = false;
                    if !full {
                        slot.own.not_before = Some(Instant::now() + interval);
                    }
                    if slot.epoch == epoch && slot.sent_upto == after {
                        slot.own.events = events.into();
                    }
                }
            }
            (FetchKind::Late, Ok(Fetched::Events(found))) => {
                self.site.late_in_flight = false;
                let found = self.arrived(found);
                for event in found {
                    for slot in &mut self.slots {
                        if slot.waits_for(event.id) {
                            slot.late.push(event.clone());
                        }
                    }
                }
            }
            (kind, Err(err)) => {
                let wait = self.failed(&err);
                match kind {
                    FetchKind::Latest => self.site.latest_in_flight = false,
                    FetchKind::Head { .. } | FetchKind::Probe => {
                        self.telemetry.record_poll(false);
                        self.site.head_in_flight = false;
                    }
                    FetchKind::Own { slot, .. } => {
                        if let Some(slot) = self.slot_mut(slot) {
                            slot.own.fetching = false;
                            slot.own.not_before = Some(Instant::now() + wait);
                        }
                    }
                    FetchKind::Late => self.site.late_in_flight = false,
                }
                if !matches!(kind, FetchKind::Own { .. }) {
                    // A failure ends "read again at once": the next read waits its backoff.
                    self.site.behind = false;
                    self.site.next_fetch = Instant::now() + wait;
                }
            }
            (kind, Ok(_)) => {
                // A reply of the wrong shape cannot come from `spawn_fetch`; clear the flag.
                match kind {
                    FetchKind::Latest => self.site.latest_in_flight = false,
                    FetchKind::Head { .. } | FetchKind::Probe => self.site.head_in_flight = false,
                    FetchKind::Own { slot, .. } => {
                        if let Some(slot) = self.slot_mut(slot) {
                            slot.own.fetching = false;
                        }
                    }
                    FetchKind::Late => self.site.late_in_flight = false,
                }
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// Advances the site's clock and high water from fetched events.
    fn arrived(&mut self, events: Vec<Event>) -> Vec<Arc<Event>> {
        self.telemetry.record_events_fetched(events.len() as u64);
        let events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
        let newest = events.iter().map(|event| event.created_at).max();
        for seen in [newest, self.client.server_time()].into_iter().flatten() {
            self.site.site_now = self.site.site_now.max(seen);
        }
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            tracing::debug!(
                logger = "engine",
                "Got {} events: {} to {}.",
                events.len(),
                first.id,
                last.id
            );
            self.site.high_water = self.site.high_water.max(last.id);
        }
        let (high_water, site_now) = (self.site.high_water, self.site.site_now);
        self.watch.update_site(|site| {
            site.high_water = Some(high_water);
            site.site_now = Some(site_now);
        });
        events
    }

    fn send_expiry_ticks(&mut self) {
        let site_now = self.site.site_now;
        for slot in &mut self.slots {
            if slot.has_expired_backlog(site_now) {
                let _ = slot.tx.try_send(Delivery::Tick { site_now });
            }
        }
    }
}
