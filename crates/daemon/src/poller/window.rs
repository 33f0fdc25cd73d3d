//! The window: events fetched in id order and not yet handed to every active plugin, so a
//! plugin whose queue was full gets them later from memory instead of the site reading them
//! again.

use std::collections::VecDeque;
use std::sync::Arc;

use sgevents_plugin_api::Event;

/// At most this many events are kept; a plugin further behind the fastest one falls out of the
/// window and catches up with fetches of its own.
pub(super) const WINDOW_MAX: usize = 5_000;

/// A run of events with no holes other than the site's own: every visible event with an id in
/// `(after, end]` is in it, in id order.
#[derive(Debug, Default)]
pub(super) struct Window {
    events: VecDeque<Arc<Event>>,
    after: i64,
}

impl Window {
    /// The id the window starts after.
    pub(super) fn after(&self) -> i64 {
        self.after
    }

    /// The last id the window covers.
    pub(super) fn end(&self) -> i64 {
        self.events.back().map_or(self.after, |event| event.id)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.events.len()
    }

    /// Drops the events every active plugin has been handed (`slowest` is the lowest position
    /// among them) and keeps at most [`WINDOW_MAX`]. An empty window restarts at `slowest`.
    pub(super) fn trim(&mut self, slowest: i64) {
        while let Some(front) = self.events.front() {
            if front.id > slowest && self.events.len() <= WINDOW_MAX {
                break;
            }
            self.after = front.id;
            self.events.pop_front();
        }
        if self.events.is_empty() {
            self.after = slowest;
        }
    }

    /// Appends a batch fetched after [`Window::end`].
    pub(super) fn extend(&mut self, events: &[Arc<Event>]) {
        self.events.extend(events.iter().cloned());
    }

    /// The events after `position`, in id order.
    pub(super) fn after_position(&self, position: i64) -> impl Iterator<Item = &Arc<Event>> {
        let start = self.events.partition_point(|event| event.id <= position);
        self.events.range(start..)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn events(ids: &[i64]) -> Vec<Arc<Event>> {
        ids.iter()
            .map(|id| {
                Arc::new(
                    Event::from_json(
                        json!({"id": id, "event_type": "X", "created_at": "2026-11-22T10:00:00Z"}),
                    )
                    .unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn keeps_what_the_slowest_plugin_still_needs() {
        let mut window = Window::default();
        window.trim(10);
        assert_eq!((window.after(), window.end()), (10, 10));
        window.extend(&events(&[11, 12, 14, 15]));
        window.trim(12);
        assert_eq!((window.after(), window.end()), (12, 15));
        let ids: Vec<i64> = window.after_position(13).map(|event| event.id).collect();
        assert_eq!(ids, [14, 15]);
        window.trim(15);
        assert_eq!((window.after(), window.len()), (15, 0));
    }

    #[test]
    fn drops_the_oldest_beyond_its_size() {
        let mut window = Window::default();
        window.trim(0);
        let ids: Vec<i64> = (1..=(WINDOW_MAX as i64 + 5)).collect();
        window.extend(&events(&ids));
        window.trim(0);
        assert_eq!(window.len(), WINDOW_MAX);
        assert_eq!(window.after(), 5);
    }
}
