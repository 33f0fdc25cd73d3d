//! The poller of a cluster: while this node holds the lease, it reads the site with the
//! single node's gap rules ([`CursorRules`]: missing ids re-queried until the site's clock
//! passes their deadline) and publishes each event once into the stream; its position lives in
//! the shared state, written by compare-and-set at the revision it last wrote, so a deposed
//! leader's next write fails and it stops.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use sgevents_api::Client;
use sgevents_cluster::lease::{Lease, Standing};
use sgevents_cluster::state::{Shared, WriteError};
use sgevents_cluster::stream::{EventStream, Sending};
use sgevents_plugin_api::Event;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::records::{PluginRecord, PollerRecord, plugin_key, poller_key};
use crate::cursor::{Admission, CursorRules};
use crate::telemetry::Telemetry;
use crate::watch::Watch;
use crate::{Cursor, Options, PluginKey, StartAt};

/// At most this many missing ids are re-queried per read (as the single node).
const LATE_QUERY_MAX: usize = 500;

/// How many events the poller sends before it waits for the first one's confirmation.
const SEND_AHEAD: usize = 64;

/// What the leader is built from.
pub(super) struct Leader {
    pub(super) node: String,
    pub(super) lease: Lease,
    pub(super) lease_time: Duration,
    pub(super) shared: Arc<Shared>,
    pub(super) stream: EventStream,
    pub(super) client: Client,
    pub(super) options: Arc<Options>,
    /// This node's saved cursors, for the first start of the cluster.
    pub(super) saved: BTreeMap<PluginKey, Cursor>,
    /// The plugins present at start, seeded on the first start.
    pub(super) plugins: Vec<PluginKey>,
    pub(super) watch: Arc<Watch>,
    pub(super) telemetry: Arc<Telemetry>,
    /// Told who leads after each renewal.
    pub(super) leader_tx: tokio::sync::watch::Sender<Option<String>>,
}

/// One tenure as leader.
struct Tenure {
    cursor: Cursor,
    revision: u64,
    site_now: Timestamp,
    next_poll: Instant,
    next_late: Instant,
    failures: u32,
}

/// Why polling stopped.
enum Stop {
    /// Another node wrote the position: this tenure is over.
    Deposed,
}

impl Leader {
    /// Renews (or tries to take) the lease a third of `lease` apart and polls while holding it.
    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        let renew_every = Lease::renew_every(self.lease_time);
        let mut tenure: Option<Tenure> = None;
        let mut next_renew = Instant::now();
        loop {
            let wake = tenure
                .as_ref()
                .map_or(next_renew, |t| t.next_poll.min(next_renew));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
            if Instant::now() >= next_renew {
                next_renew = Instant::now() + renew_every;
                self.renew(&mut tenure).await;
                continue;
            }
            if let Some(current) = tenure.as_mut()
                && Instant::now() >= current.next_poll
                && let Err(Stop::Deposed) = self.poll(current, next_renew).await
            {
                tracing::warn!(
                    logger = "engine",
                    "Another node took over polling; this node stops polling"
                );
                tenure = None;
            }
        }
        if tenure.is_some()
            && let Err(err) = self.lease.release().await
        {
            tracing::warn!(logger = "engine", "{err}; the lease lapses on its own");
        }
    }

    async fn renew(&mut self, tenure: &mut Option<Tenure>) {
        match self.lease.renew().await {
            Ok(Standing::Leader { term }) => {
                let _ = self.leader_tx.send(Some(self.node.clone()));
                if tenure.is_none() {
                    match self.take_over().await {
                        Ok(taken) => {
                            tracing::info!(
                                logger = "engine",
                                "This node ({}) polls the site now (term {term}), after event {}",
                                self.node,
                                taken.cursor.position()
                            );
                            *tenure = Some(taken);
                        }
                        Err(err) => {
                            tracing::warn!(logger = "engine", "Could not take over polling: {err}");
                            let _ = self.lease.release().await;
                        }
                    }
                }
            }
            Ok(Standing::Follower { holder }) => {
                let _ = self.leader_tx.send(holder);
                if tenure.take().is_some() {
                    tracing::warn!(
                        logger = "engine",
                        "This node lost the lease; it stops polling"
                    );
                }
            }
            Err(err) => {
                if tenure.take().is_some() {
                    tracing::warn!(
                        logger = "engine",
                        "{err}; this node stops polling until NATS answers"
                    );
                }
            }
        }
    }

    /// Reads the position the last leader left (or seeds it on the cluster's first start) and
    /// writes it back, so the previous leader's next write fails.
    async fn take_over(&self) -> Result<Tenure, String> {
        let read = self
            .shared
            .read::<PollerRecord>(&poller_key())
            .await
            .map_err(|err| err.to_string())?;
        let (cursor, revision) = match read {
            Some(read) => (Cursor::from(read.value.cursor), Some(read.revision)),
            None => (self.seed().await?, None),
        };
        let record = PollerRecord {
            cursor: (&cursor).into(),
            leader: self.node.clone(),
        };
        let revision = self
            .shared
            .write(&poller_key(), &record, revision)
            .await
            .map_err(|err| err.to_string())?;
        let now = Instant::now();
        Ok(Tenure {
            cursor,
            revision,
            site_now: Timestamp::UNIX_EPOCH,
            next_poll: now,
            next_late: now,
            failures: 0,
        })
    }

    /// The first start of the cluster: each plugin starts where this node's store (or
    /// upstream's state file) has it, else at the site's latest event, as on a single node;
    /// the poller starts at the lowest of them.
    async fn seed(&self) -> Result<Cursor, String> {
        let latest = self
            .client
            .latest_event_id()
            .await
            .map_err(|err| format!("the site's latest event: {err}"))?
            .unwrap_or(0);
        let mut lowest: Option<Cursor> = None;
        for key in &self.plugins {
            let seed = match self.options.start_at {
                StartAt::Latest => Cursor::at(latest),
                StartAt::Id(id) => Cursor::at(id - 1),
                StartAt::Saved => self
                    .saved
                    .get(key)
                    .filter(|cursor| cursor.last_id.is_some())
                    .cloned()
                    .unwrap_or_else(|| Cursor::at(latest)),
            };
            match self
                .shared
                .write(&plugin_key(key), &PluginRecord::seeded(&seed), None)
                .await
            {
                Ok(_) | Err(WriteError::Conflict(_)) => {}
                Err(err) => return Err(err.to_string()),
            }
            tracing::info!(
                logger = "engine",
                "Plugin {key} starts after event {}",
                seed.position()
            );
            lowest = Some(match lowest {
                None => seed,
                Some(mut low) => {
                    if seed.position() < low.position() {
                        let backlog = std::mem::take(&mut low.backlog);
                        low = seed;
                        low.backlog.extend(backlog);
                    } else {
                        low.backlog.extend(seed.backlog);
                    }
                    low
                }
            });
        }
        let mut cursor = lowest.unwrap_or_else(|| Cursor::at(latest));
        let position = cursor.position();
        cursor.backlog.retain(|id, _| *id < position);
        Ok(cursor)
    }

    /// One read of new events (and of missing ids, once per `fetch_interval`), published in
    /// order; then the position is written. Publishing stops at `renew_by` (after one event at
    /// least; the rest is read again right after the renewal): a long batch must not let the
    /// lease lapse, or two nodes take it in turns, each deposed before it finishes a batch.
    async fn poll(&self, tenure: &mut Tenure, renew_by: Instant) -> Result<(), Stop> {
        let limit = self.options.max_event_batch_size.max(1);
        let started = std::time::Instant::now();
        let read = self
            .client
            .events_after(tenure.cursor.position(), limit)
            .await;
        self.telemetry
            .record_api_request("read", started.elapsed(), read.is_ok());
        self.telemetry.record_poll(read.is_ok());
        let events = match read {
            Ok(events) => events,
            Err(err) => {
                tenure.failures = tenure.failures.saturating_add(1);
                let wait = if tenure.failures >= self.options.max_conn_retries.max(1) {
                    tenure.failures = 0;
                    tracing::error!(
                        logger = "engine",
                        "Unable to reach the site: {err}. Sleeping {:?}",
                        self.options.conn_retry_sleep
                    );
                    self.options.conn_retry_sleep
                } else {
                    tracing::warn!(logger = "engine", "Could not read the site: {err}");
                    self.options.fetch_interval
                };
                tenure.next_poll = Instant::now() + wait;
                return Ok(());
            }
        };
        tenure.failures = 0;
        let full = events.len() >= limit;
        let late = self.read_late(tenure).await;
        let newest = events
            .iter()
            .chain(&late)
            .map(|event| event.created_at)
            .max();
        for seen in [newest, self.client.server_time()].into_iter().flatten() {
            tenure.site_now = tenure.site_now.max(seen);
        }
        self.telemetry
            .record_events_fetched((events.len() + late.len()) as u64);
        let mut published_all = true;
        let mut cut_short = false;
        let mut published = 0usize;
        // Sent, confirmation still to come: the cursor moves past an event once it is confirmed
        // (in order), so a failure publishes it and the ones after it again on the next read.
        let mut sent: VecDeque<(&Event, Sending)> = VecDeque::new();
        for event in late.iter().chain(&events) {
            if tenure.cursor.admit(event.id) == Admission::Old {
                continue;
            }
            // At least one event per read, so a slow site read still makes progress.
            if published > 0 && Instant::now() >= renew_by {
                cut_short = true;
                break;
            }
            published += 1;
            match self.send(event).await {
                Ok(sending) => sent.push_back((event, sending)),
                Err(err) => {
                    tracing::warn!(
                        logger = "engine",
                        "{err}; publishing again on the next read"
                    );
                    published_all = false;
                    break;
                }
            }
            if sent.len() >= SEND_AHEAD
                && let Some((event, sending)) = sent.pop_front()
                && !self.confirmed(tenure, event, sending).await
            {
                published_all = false;
                break;
            }
        }
        while published_all && let Some((event, sending)) = sent.pop_front() {
            published_all = self.confirmed(tenure, event, sending).await;
        }
        for id in tenure.cursor.expire(tenure.site_now) {
            tracing::warn!(
                logger = "engine",
                "Timeout elapsed on backlog event id {id}."
            );
        }
        let high_water = tenure.cursor.position();
        let site_now = tenure.site_now;
        self.watch.update_site(|site| {
            site.high_water = Some(high_water);
            site.site_now = Some(site_now);
            site.last_poll_ok = Some(Timestamp::now());
            site.last_poll_events = Some(events.len() as u64);
        });
        let record = PollerRecord {
            cursor: (&tenure.cursor).into(),
            leader: self.node.clone(),
        };
        match self
            .shared
            .write(&poller_key(), &record, Some(tenure.revision))
            .await
        {
            Ok(next) => tenure.revision = next,
            Err(WriteError::Conflict(_)) => return Err(Stop::Deposed),
            Err(err) => {
                // The position is written again after the next read; events published twice
                // are dropped by the stream.
                tracing::warn!(
                    logger = "engine",
                    "Could not save the poller's position: {err}"
                );
            }
        }
        tenure.next_poll = if cut_short || (full && published_all) {
            Instant::now()
        } else {
            Instant::now() + self.options.fetch_interval
        };
        Ok(())
    }

    /// The missing ids the site now has, once per `fetch_interval`.
    async fn read_late(&self, tenure: &mut Tenure) -> Vec<Event> {
        if tenure.cursor.backlog.is_empty() || Instant::now() < tenure.next_late {
            return Vec::new();
        }
        tenure.next_late = Instant::now() + self.options.fetch_interval;
        let ids: Vec<i64> = tenure
            .cursor
            .backlog
            .keys()
            .copied()
            .take(LATE_QUERY_MAX)
            .collect();
        let started = std::time::Instant::now();
        let read = self.client.events_by_id(&ids).await;
        self.telemetry
            .record_api_request("read", started.elapsed(), read.is_ok());
        match read {
            Ok(found) => {
                for event in &found {
                    tracing::info!(logger = "engine", "Poller: late event {} arrived", event.id);
                }
                found
            }
            Err(err) => {
                tracing::warn!(logger = "engine", "Could not re-query missing ids: {err}");
                Vec::new()
            }
        }
    }

    async fn send(&self, event: &Event) -> Result<Sending, String> {
        let row = Bytes::copy_from_slice(event.text().as_bytes());
        self.stream
            .send(event.id, &event.event_type, row)
            .await
            .map_err(|err| err.to_string())
    }

    /// Waits for an event's confirmation and moves the cursor past it; false when the server
    /// did not confirm (it is published again on the next read).
    async fn confirmed(&self, tenure: &mut Tenure, event: &Event, sending: Sending) -> bool {
        if let Err(err) = sending.confirmed().await {
            tracing::warn!(
                logger = "engine",
                "{err}; publishing again on the next read"
            );
            return false;
        }
        if let Some(note) =
            tenure
                .cursor
                .advance(event, tenure.site_now, self.options.backlog_timeout)
        {
            tracing::info!(logger = "engine", "Poller: {note:?}");
        }
        true
    }
}
