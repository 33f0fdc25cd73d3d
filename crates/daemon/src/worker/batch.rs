//! Look-ahead over a worker's queue: the deliveries already waiting, so that the plugin can
//! be told which events come next ([`Plugin::upcoming`]; one message to a Python process
//! for many events). Only a hint: the worker still handles and commits one event at a time.

use std::collections::VecDeque;
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

/// Deliveries taken off the queue but not handled yet, in queue order.
#[derive(Default)]
pub(crate) struct Lookahead {
    queued: VecDeque<Delivery>,
}

impl Lookahead {
    /// The next delivery taken ahead, if any.
    pub(crate) fn pop(&mut self) -> Option<Delivery> {
        self.queued.pop_front()
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

    /// Of the last `added` deliveries, the events the plugin will be handed, with the
    /// callbacks that match each: current epoch, still ahead of the cursor, through the
    /// filters, at least one matching callback.
    pub(crate) fn hints(
        &self,
        added: usize,
        epoch: u64,
        cursor: &Cursor,
        filters: &PluginFilters,
        plugin: &dyn Plugin,
    ) -> Vec<(Arc<Event>, Vec<usize>)> {
        let skip = self.queued.len().saturating_sub(added);
        self.queued
            .iter()
            .skip(skip)
            .filter_map(|delivery| match delivery {
                Delivery::Event {
                    event, epoch: at, ..
                } if *at == epoch
                    && cursor.admit(event.id) != Admission::Old
                    && filters.accepts(event) =>
                {
                    let matching = matching_callbacks(plugin.callbacks(), event);
                    (!matching.is_empty()).then(|| (Arc::clone(event), matching))
                }
                _ => None,
            })
            .collect()
    }
}
