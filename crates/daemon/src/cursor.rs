//! The rules that move a plugin's cursor (the last id it finished and the ids it is still
//! waiting for): upstream's gap and backlog rules, measured on the site's clock.

use std::time::Duration;

use jiff::Timestamp;
use sgevents_plugin_api::Event;
pub use sgevents_store::Cursor;

/// A gap wider than this is not tracked id by id: it is treated as never happening. A real
/// site's gaps are tens of ids wide; a million-wide one would only exhaust memory.
const MAX_TRACKED_GAP: i64 = 10_000;

/// How an event relates to a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The next event in id order.
    InOrder,
    /// A late arrival: an id the plugin passed over and is still waiting for.
    Late,
    /// Already processed, or given up on.
    Old,
}

/// What a cursor change means for the logs (upstream's messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapNote {
    /// Ids added to the backlog.
    Backlogged(Vec<i64>),
    /// Ids that the site's clock says will never come.
    NeverHappened { first: i64, last: i64 },
}

/// The cursor rules, as methods on the persisted [`Cursor`].
pub trait CursorRules {
    /// Classifies `id` against this cursor.
    fn admit(&self, id: i64) -> Admission;
    /// Records that `event` was processed (or filtered out). For an in-order event, ids skipped
    /// between the old position and `event` become backlog entries due at
    /// `event.created_at + timeout`, unless that moment has already passed on the site's clock.
    fn advance(&mut self, event: &Event, site_now: Timestamp, timeout: Duration)
    -> Option<GapNote>;
    /// Drops backlog ids whose deadline has passed on the site's clock and returns them.
    fn expire(&mut self, site_now: Timestamp) -> Vec<i64>;
    /// The id a fresh fetch for this plugin starts after.
    fn position(&self) -> i64;
}

impl CursorRules for Cursor {
    fn admit(&self, id: i64) -> Admission {
        if self.backlog.contains_key(&id) {
            return Admission::Late;
        }
        match self.last_id {
            Some(last) if id <= last => Admission::Old,
            _ => Admission::InOrder,
        }
    }

    fn advance(
        &mut self,
        event: &Event,
        site_now: Timestamp,
        timeout: Duration,
    ) -> Option<GapNote> {
        if self.backlog.remove(&event.id).is_some() {
            return None;
        }
        let note = match self.last_id {
            Some(last) if event.id > last + 1 => {
                let (first, gap_last) = (last + 1, event.id - 1);
                let deadline = event
                    .created_at
                    .checked_add(timeout)
                    .unwrap_or(Timestamp::MAX);
                if deadline <= site_now || gap_last - first + 1 > MAX_TRACKED_GAP {
                    Some(GapNote::NeverHappened {
                        first,
                        last: gap_last,
                    })
                } else {
                    let ids: Vec<i64> = (first..=gap_last).collect();
                    self.backlog.extend(ids.iter().map(|id| (*id, deadline)));
                    Some(GapNote::Backlogged(ids))
                }
            }
            _ => None,
        };
        if self.last_id.is_none_or(|last| event.id > last) {
            self.last_id = Some(event.id);
        }
        note
    }

    fn expire(&mut self, site_now: Timestamp) -> Vec<i64> {
        let expired: Vec<i64> = self
            .backlog
            .iter()
            .filter(|(_, deadline)| **deadline <= site_now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.backlog.remove(id);
        }
        expired
    }

    fn position(&self) -> i64 {
        self.last_id.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
