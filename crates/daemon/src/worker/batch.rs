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
    /// places in the queue, and where [`Lookahead::hints`] stopped when it stopped early);
    /// the rest are offered again next time.
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
    /// before (`finished`), through the filters, at least one matching callback; at most
    /// `room` of them. Also returns each one's place in the queue, and after those, when it
    /// stopped at `room`, the place it stopped at (the first one not looked at).
    pub(crate) fn hints(
        &self,
        epoch: u64,
        cursor: &Cursor,
        filters: &PluginFilters,
        plugin: &dyn Plugin,
        finished: &HashSet<i64>,
        room: usize,
    ) -> (Hints, Vec<usize>) {
        let skip = self.queued.len().saturating_sub(self.unoffered);
        let mut hints = Vec::new();
        let mut positions = Vec::new();
        for (position, delivery) in self.queued.iter().enumerate().skip(skip) {
            if hints.len() >= room {
                positions.push(position);
                break;
            }
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

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use serde_json::json;
    use sgevents_plugin_api::{BoxFuture, CallbackSpec, MatchEvents, Outcome};

    use super::*;

    struct TakesAll(Vec<CallbackSpec>);

    impl Plugin for TakesAll {
        fn callbacks(&self) -> &[CallbackSpec] {
            &self.0
        }

        fn handle<'a>(&'a mut self, _: &'a Arc<Event>, _: &'a [usize]) -> BoxFuture<'a, Outcome> {
            Box::pin(async { Outcome::default() })
        }
    }

    fn queued(ids: std::ops::RangeInclusive<i64>) -> Lookahead {
        let mut ahead = Lookahead::default();
        let count = ids.clone().count();
        for id in ids {
            let row = json!({"id": id, "event_type": "X", "created_at": "2026-11-22T10:00:00Z"});
            let event = Arc::new(Event::from_json(row).unwrap());
            ahead.push_back(Delivery::Event {
                event,
                site_now: Timestamp::UNIX_EPOCH,
                epoch: 0,
            });
        }
        ahead.offer(count);
        ahead
    }

    fn hinted(ahead: &Lookahead, room: usize) -> (Vec<i64>, Vec<usize>) {
        let plugin = TakesAll(vec![CallbackSpec {
            name: "all".to_owned(),
            match_events: MatchEvents::All,
            stop_on_error: true,
        }]);
        let cursor = Cursor::at(0);
        let (hints, positions) = ahead.hints(
            0,
            &cursor,
            &PluginFilters::default(),
            &plugin,
            &HashSet::new(),
            room,
        );
        (hints.iter().map(|(event, _)| event.id).collect(), positions)
    }

    #[test]
    fn hints_stop_at_the_plugins_room_and_the_rest_are_offered_next_time() {
        let mut ahead = queued(1..=10);
        let (ids, positions) = hinted(&ahead, 4);
        assert_eq!(ids, [1, 2, 3, 4]);
        // The place it stopped at comes after the hints' own places.
        assert_eq!(positions, [0, 1, 2, 3, 4]);
        ahead.taken(4, &positions);
        assert!(ahead.has_offers());
        let (ids, positions) = hinted(&ahead, usize::MAX);
        assert_eq!(ids, [5, 6, 7, 8, 9, 10]);
        ahead.taken(ids.len(), &positions);
        assert!(!ahead.has_offers());
    }

    #[test]
    fn hints_the_plugin_turns_down_in_part_are_offered_again_from_the_first_not_taken() {
        let mut ahead = queued(1..=6);
        let (ids, positions) = hinted(&ahead, 5);
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        ahead.taken(2, &positions);
        let (ids, _) = hinted(&ahead, usize::MAX);
        assert_eq!(ids, [3, 4, 5, 6]);
    }
}
