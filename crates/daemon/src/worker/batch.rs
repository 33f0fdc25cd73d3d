//! Look-ahead over a worker's queue: the deliveries already waiting, so that the plugin can
//! be told which events come next ([`Plugin::upcoming`]; one message to a Python process
//! for many events). Only a hint: the worker still handles one event at a time, in order.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use sgevents_plugin_api::{Event, Plugin, matching_callbacks};
use tokio::sync::mpsc;

use super::Delivery;
use crate::cursor::{Admission, Cursor, CursorRules};
use crate::filters::PluginFilters;

/// The most deliveries taken off the queue ahead of the one being handled.
const LOOKAHEAD: usize = 64;
/// Take more once fewer than this many are left, so the plugin never runs dry mid-batch.
const REFILL_BELOW: usize = 16;

/// Events for [`Plugin::upcoming`], with the callbacks that match each.
pub(crate) type Hints = Vec<(Arc<Event>, Vec<usize>)>;

/// Deliveries taken off the queue but not handled yet, in queue order.
#[derive(Default)]
pub(crate) struct Lookahead {
    queued: VecDeque<Delivery>,
    /// How many of the last deliveries the plugin has not taken as hints yet.
    unoffered: usize,
}

impl Lookahead {
    /// The next delivery taken ahead, if any.
    pub(crate) fn pop(&mut self) -> Option<Delivery> {
        let delivery = self.queued.pop_front();
        self.unoffered = self.unoffered.min(self.queued.len());
        delivery
    }

    /// Counts the last `added` deliveries as still to be offered to the plugin.
    pub(crate) fn offer(&mut self, added: usize) {
        self.unoffered = (self.unoffered + added).min(self.queued.len());
    }

    /// Whether some deliveries were not offered to the plugin, or not taken by it.
    pub(crate) fn has_offers(&self) -> bool {
        self.unoffered > 0
    }

    /// Records that the plugin took the first `taken` of the hints at `positions` (their
    /// places in the queue); the rest are offered again next time.
    pub(crate) fn taken(&mut self, taken: usize, positions: &[usize]) {
        self.unoffered = match positions.get(taken) {
            Some(&position) => self.queued.len().saturating_sub(position),
            None => 0,
        };
    }

    /// Puts a delivery back at the front (a control order jumped ahead of it).
    pub(crate) fn push_front(&mut self, delivery: Delivery) {
        self.queued.push_front(delivery);
    }

    /// Adds a delivery just taken off the queue.
    pub(crate) fn push_back(&mut self, delivery: Delivery) {
        self.queued.push_back(delivery);
    }

    /// Whether nothing is taken ahead.
    pub(crate) fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// When running low, moves deliveries already waiting on `rx` here (never waits).
    /// Returns how many were added; they are the last ones.
    pub(crate) fn refill(&mut self, rx: &mut mpsc::Receiver<Delivery>) -> usize {
        if self.queued.len() >= REFILL_BELOW {
            return 0;
        }
        let mut added = 0;
        while self.queued.len() < LOOKAHEAD {
            let Ok(delivery) = rx.try_recv() else { break };
            self.queued.push_back(delivery);
            added += 1;
        }
        added
    }

    /// Of the deliveries not offered yet, the events the plugin will be handed, with the
    /// callbacks that match each: current epoch, still ahead of the cursor, not finished
    /// before (`finished`), through the filters, at least one matching callback. Also
    /// returns each one's place in the queue.
    pub(crate) fn hints(
        &self,
        epoch: u64,
        cursor: &Cursor,
        filters: &PluginFilters,
        plugin: &dyn Plugin,
        finished: &HashSet<i64>,
    ) -> (Hints, Vec<usize>) {
        let skip = self.queued.len().saturating_sub(self.unoffered);
        let mut hints = Vec::new();
        let mut positions = Vec::new();
        for (position, delivery) in self.queued.iter().enumerate().skip(skip) {
            let Delivery::Event {
                event, epoch: at, ..
            } = delivery
            else {
                continue;
            };
            if *at != epoch
                || cursor.admit(event.id) == Admission::Old
                || finished.contains(&event.id)
                || !filters.accepts(event)
            {
                continue;
            }
            let matching = matching_callbacks(plugin.callbacks(), event);
            if !matching.is_empty() {
                hints.push((Arc::clone(event), matching));
                positions.push(position);
            }
        }
        (hints, positions)
    }
}
