//! A worker's reports to the loop. Finished events are folded into one `Done` report, sent
//! when the worker is about to wait for work, every [`DONE_EVERY`] events (fewer with a small
//! queue), and before any other report, so the loop sees every step in order but wakes once
//! per batch during catch-up instead of once per event.

use jiff::Timestamp;
use tokio::sync::mpsc;

use super::{Progress, Report, SlotId};
use crate::cursor::Cursor;

/// The most finished events folded into one report.
const DONE_EVERY: usize = 64;

/// One finished event, as [`Reports::done`] takes it.
pub(crate) struct Done {
    pub(crate) cursor: Cursor,
    pub(crate) last_event_at: Option<Timestamp>,
    pub(crate) ran: bool,
    pub(crate) failures: u64,
    pub(crate) restarts: u64,
    pub(crate) last_error: Option<String>,
}

/// The sending side of a worker's reports, with the finished events not sent yet.
pub(crate) struct Reports {
    slot: SlotId,
    tx: mpsc::UnboundedSender<Report>,
    /// Send the folded `Done` once it holds this many events.
    every: usize,
    pending: Option<Pending>,
}

struct Pending {
    epoch: u64,
    events: usize,
    what: Progress,
}

impl Reports {
    /// Reports of worker `slot`, whose queue holds at most `queue_size` deliveries: the loop
    /// refills the queue only on a report, so a batch must leave room to refill in time.
    pub(crate) fn new(
        slot: SlotId,
        tx: mpsc::UnboundedSender<Report>,
        queue_size: usize,
    ) -> Reports {
        Reports {
            slot,
            tx,
            every: DONE_EVERY.min(queue_size / 2).max(1),
            pending: None,
        }
    }

    /// Sends `what` now, after the finished events folded so far.
    pub(crate) fn send(&mut self, epoch: u64, what: Progress) {
        self.flush();
        self.send_now(epoch, what);
    }

    /// Folds one finished event into the pending `Done`; sends it when it is full or belongs
    /// to another generation.
    pub(crate) fn done(&mut self, epoch: u64, done: Done) {
        if self.pending.as_ref().is_some_and(|p| p.epoch != epoch) {
            self.flush();
        }
        let ran = u64::from(done.ran);
        let pending = match self.pending.take() {
            Some(mut pending) => {
                if let Progress::Done {
                    cursor,
                    last_event_at,
                    ran: total,
                    failures,
                    restarts,
                    last_error,
                } = &mut pending.what
                {
                    *cursor = done.cursor;
                    if done.last_event_at.is_some() {
                        *last_event_at = done.last_event_at;
                    }
                    *total += ran;
                    *failures += done.failures;
                    *restarts = (*restarts).max(done.restarts);
                    if done.last_error.is_some() {
                        *last_error = done.last_error;
                    }
                }
                pending.events += 1;
                pending
            }
            None => Pending {
                epoch,
                events: 1,
                what: Progress::Done {
                    cursor: done.cursor,
                    last_event_at: done.last_event_at,
                    ran,
                    failures: done.failures,
                    restarts: done.restarts,
                    last_error: done.last_error,
                },
            },
        };
        if pending.events >= self.every {
            self.send_now(pending.epoch, pending.what);
        } else {
            self.pending = Some(pending);
        }
    }

    /// Sends the folded `Done`, if any.
    pub(crate) fn flush(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.send_now(pending.epoch, pending.what);
        }
    }

    fn send_now(&self, epoch: u64, what: Progress) {
        // The loop has gone only at shutdown; nothing is left to tell then.
        let _ = self.tx.send(Report {
            slot: self.slot,
            epoch,
            what,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(ran: bool, failures: u64, error: Option<&str>) -> Done {
        Done {
            cursor: Cursor::default(),
            last_event_at: None,
            ran,
            failures,
            restarts: 0,
            last_error: error.map(str::to_owned),
        }
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Report>) -> Vec<(u64, u64, u64)> {
        let mut got = Vec::new();
        while let Ok(report) = rx.try_recv() {
            match report.what {
                Progress::Done { ran, failures, .. } => got.push((report.epoch, ran, failures)),
                _ => got.push((report.epoch, u64::MAX, u64::MAX)),
            }
        }
        got
    }

    #[test]
    fn folds_done_events_until_flushed_or_full() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut reports = Reports::new(1, tx, 6);
        reports.done(0, done(true, 0, None));
        reports.done(0, done(false, 0, None));
        assert!(drain(&mut rx).is_empty());
        reports.done(0, done(true, 2, Some("boom")));
        assert_eq!(
            drain(&mut rx),
            [(0, 2, 2)],
            "three events fill a batch of 6 / 2"
        );
        reports.done(0, done(true, 0, None));
        reports.flush();
        reports.flush();
        assert_eq!(drain(&mut rx), [(0, 1, 0)]);
    }

    #[test]
    fn other_reports_and_generations_go_out_in_order() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut reports = Reports::new(1, tx, 1000);
        reports.done(0, done(true, 0, None));
        reports.done(1, done(true, 0, None));
        reports.send(1, Progress::Cursor(Cursor::default()));
        assert_eq!(
            drain(&mut rx),
            [(0, 1, 0), (1, 1, 0), (1, u64::MAX, u64::MAX)]
        );
    }
}
