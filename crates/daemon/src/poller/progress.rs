//! Workers' progress reports, worker exits, and publishing the snapshot the status page reads.

use super::Poller;
use super::slots::Slot;
use crate::watch::{PluginEntry, PluginState, RunningEvent};
use crate::worker::{Progress, Report, SlotId};

impl Poller {
    /// Takes in a worker's progress report.
    pub(super) fn progress(&mut self, report: Report) {
        if self.sequential_busy == Some(report.slot)
            && matches!(
                report.what,
                Progress::Done { .. } | Progress::Stopped { .. }
            )
        {
            self.sequential_busy = None;
        }
        let telemetry = self.telemetry.clone();
        let now = self.clock.now();
        let Some(slot) = self.slots.iter_mut().find(|slot| slot.id == report.slot) else {
            return;
        };
        let state_before = slot.state;
        let view = &mut slot.view;
        match report.what {
            Progress::Started {
                event_id,
                event_type,
            } => {
                view.running = Some(RunningEvent {
                    id: event_id,
                    event_type,
                    since: now,
                });
            }
            Progress::Done {
                cursor,
                last_event_at,
                ran,
                failures,
                restarts,
                last_error,
                ..
            } => {
                view.cursor = cursor;
                if last_event_at.is_some() {
                    view.last_event_at = last_event_at;
                }
                view.running = None;
                if ran > 0 {
                    view.dispatched += ran;
                    view.failures += failures;
                    if let Some(error) = last_error {
                        view.last_error = Some((now, error));
                    }
                    slot.count_restarts(restarts, &telemetry);
                }
            }
            Progress::Stopped {
                event_id,
                cursor,
                failures,
                restarts,
                error,
            } => {
                view.cursor = cursor;
                view.running = None;
                view.dispatched += 1;
                view.failures += failures;
                view.last_error = Some((now, error));
                slot.count_restarts(restarts, &telemetry);
                if report.epoch == slot.epoch {
                    slot.state = PluginState::Failed;
                    slot.stopped_at = Some(event_id);
                }
            }
            Progress::Cursor(cursor) => view.cursor = cursor,
        }
        if slot.state == state_before {
            self.changed.push(report.slot);
        } else {
            self.dirty = true;
        }
    }

    /// A worker's task ended before shutdown: the plugin stops; its file's next change (or a
    /// rescan after removal) starts a new worker at its last cursor.
    pub(super) fn worker_exit(&mut self, id: SlotId, error: Option<String>) {
        if self.sequential_busy == Some(id) {
            self.sequential_busy = None;
        }
        let Some(idx) = self.slots.iter().position(|slot| slot.id == id) else {
            return;
        };
        let slot = self.slots.remove(idx);
        tracing::error!(
            logger = "engine",
            "The worker of plugin {} stopped: {}. The plugin is started again at the next scan.",
            slot.key,
            error.as_deref().unwrap_or("it ended")
        );
        self.saved
            .insert(slot.key.clone(), slot.view.cursor.clone());
        self.dirty = true;
    }

    /// Publishes the snapshot the status page and tests read: the whole list when plugins
    /// came, went or changed state, else only the entries of plugins that made progress.
    pub(super) fn publish(&mut self) {
        if self.dirty {
            let entries = self.slots.iter().map(Slot::entry).collect();
            self.watch.set_plugins(entries);
        } else {
            for id in std::mem::take(&mut self.changed) {
                if let Some(idx) = self.slots.iter().position(|slot| slot.id == id) {
                    self.watch.set_plugin(idx, self.slots[idx].entry());
                }
            }
        }
        self.dirty = false;
        self.changed.clear();
    }
}

impl Slot {
    /// The published copy of this plugin.
    fn entry(&self) -> PluginEntry {
        let mut view = self.view.clone();
        view.state = self.shown_state();
        PluginEntry {
            key: self.key.clone(),
            path: self.source.as_ref().map(|source| source.path.clone()),
            view,
        }
    }

    /// The plugin reports its own restarts, from 0 after each load; the total carries on.
    fn count_restarts(&mut self, restarts: u64, telemetry: &crate::telemetry::Telemetry) {
        let total = self.restarts_base + restarts;
        for _ in self.view.restarts..total {
            telemetry.record_restart(&self.key.plugin);
        }
        self.view.restarts = self.view.restarts.max(total);
    }
}
