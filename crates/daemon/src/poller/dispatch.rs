//! Feeding each plugin's queue: found late events first, then in-order events from the plugin's
//! own read (while it is behind the window) or from the window. Concurrent mode fills every
//! queue; sequential mode (upstream's order) keeps one event in flight across all plugins.

use std::sync::Arc;

use sgevents_plugin_api::Event;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use super::Poller;
use crate::DispatchMode;
use crate::worker::{Delivery, SlotId};

/// Where the next event for a plugin comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    Late,
    Own,
    Window,
}

impl Poller {
    /// Feeds every plugin's queue, or only `only`'s.
    pub(super) fn feed(&mut self, only: Option<SlotId>) {
        if self.options.dispatch == DispatchMode::Sequential {
            self.feed_sequential();
            return;
        }
        for idx in 0..self.slots.len() {
            if only.is_some_and(|id| id != self.slots[idx].id) {
                continue;
            }
            while let Some((event, from)) = self.next_for(idx) {
                if !self.send(idx, event, from) {
                    break;
                }
            }
        }
    }

    /// Upstream's order: the lowest id any plugin needs goes to the first plugin (in dispatch
    /// order) that needs it, and nothing else is handed out until that plugin is done with it.
    fn feed_sequential(&mut self) {
        if self.sequential_busy.is_some() {
            return;
        }
        let mut best: Option<(usize, Arc<Event>, From)> = None;
        for idx in 0..self.slots.len() {
            if let Some((event, from)) = self.next_for(idx) {
                let better = best
                    .as_ref()
                    .is_none_or(|(_, chosen, _)| event.id < chosen.id);
                if better {
                    best = Some((idx, event, from));
                }
            }
        }
        if let Some((idx, event, from)) = best
            && self.send(idx, event, from)
        {
            self.sequential_busy = Some(self.slots[idx].id);
        }
    }

    /// The next event plugin `idx` should get, if any is at hand; starts the plugin's own read
    /// when it is behind the window, its last read is used up and its queue has room.
    fn next_for(&mut self, idx: usize) -> Option<(Arc<Event>, From)> {
        let window_after = self.window.after();
        let slot = &mut self.slots[idx];
        if !slot.dispatching() {
            return None;
        }
        while let Some(event) = slot.late.last() {
            if slot.view.cursor.backlog.contains_key(&event.id) {
                return Some((event.clone(), From::Late));
            }
            slot.late.pop();
        }
        if slot.sent_upto < window_after {
            while slot
                .own
                .events
                .front()
                .is_some_and(|event| event.id <= slot.sent_upto)
            {
                slot.own.events.pop_front();
            }
            if let Some(event) = slot.own.events.front() {
                return Some((event.clone(), From::Own));
            }
            let rested = slot.own.not_before.is_none_or(|at| Instant::now() >= at);
            if !slot.own.fetching && rested && slot.has_room() {
                slot.own.not_before = None;
                self.fetch_own(idx);
            }
            return None;
        }
        slot.own.events.clear();
        let position = slot.sent_upto;
        self.window
            .after_position(position)
            .next()
            .map(|event| (event.clone(), From::Window))
    }

    /// Queues `event` to plugin `idx`; false when its queue is full (or its worker gone).
    fn send(&mut self, idx: usize, event: Arc<Event>, from: From) -> bool {
        let site_now = self.site.site_now;
        let slot = &mut self.slots[idx];
        let id = event.id;
        let delivery = Delivery::Event {
            event,
            site_now,
            epoch: slot.epoch,
        };
        match slot.tx.try_send(delivery) {
            Ok(()) => {
                match from {
                    From::Late => {
                        slot.late.pop();
                    }
                    From::Own => {
                        slot.own.events.pop_front();
                        slot.sent_upto = id;
                    }
                    From::Window => slot.sent_upto = id,
                }
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => false,
        }
    }
}
