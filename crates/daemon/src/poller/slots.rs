//! Plugin slots: the loop's record of each plugin (state, position, backlog view, counters),
//! discovery and reload, and plugin loads as spawned tasks with a timeout.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use jiff::Timestamp;
use sgevents_plugin_api::{Event, Plugin};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::{Poller, Posted};
use crate::cursor::{Cursor, CursorRules};
use crate::discovery;
use crate::filters::PluginFilters;
use crate::watch::{PluginState, SlotView};
use crate::worker::{Control, Delivery, Reports, SlotId, Worker};
use crate::{LoadError, PluginKey};

/// Where a plugin came from.
pub(super) struct Source {
    pub(super) path: PathBuf,
    /// The mtime of the file as last loaded (or being loaded).
    pub(super) mtime: SystemTime,
    /// Its folder's index in the config.
    pub(super) dir: usize,
}

/// A plugin's own read ahead, while it is behind the window.
#[derive(Default)]
pub(super) struct Own {
    /// Events read after its position, not yet queued.
    pub(super) events: VecDeque<Arc<Event>>,
    pub(super) fetching: bool,
    /// Not before this (after a short read or a failure).
    pub(super) not_before: Option<Instant>,
}

/// The loop's record of one plugin.
pub(super) struct Slot {
    pub(super) id: SlotId,
    pub(super) key: PluginKey,
    pub(super) source: Option<Source>,
    pub(super) tx: mpsc::Sender<Delivery>,
    control: mpsc::UnboundedSender<Control>,
    /// Loading, active, failed or hung; `paused` is kept apart so a reload keeps it.
    pub(super) state: PluginState,
    pub(super) paused: bool,
    /// Bumped whenever dispatch restarts; the worker drops deliveries of older generations.
    pub(super) epoch: u64,
    load_generation: u64,
    load_task: Option<AbortHandle>,
    /// What the status page shows; the cursor is the worker's last report.
    pub(super) view: SlotView,
    pub(super) restarts_base: u64,
    /// The highest id queued to the worker in id order.
    pub(super) sent_upto: i64,
    pub(super) own: Own,
    /// Found late events waiting for room in the queue.
    pub(super) late: Vec<Arc<Event>>,
    /// The event a stopOnError failure stopped the plugin at.
    pub(super) stopped_at: Option<i64>,
}

impl Slot {
    /// Whether events are handed to the plugin now.
    pub(super) fn dispatching(&self) -> bool {
        self.state == PluginState::Active && !self.paused
    }

    /// Whether the plugin is loading to be dispatched to (not paused).
    pub(super) fn loading(&self) -> bool {
        self.state == PluginState::Loading && !self.paused
    }

    pub(super) fn has_room(&self) -> bool {
        self.tx.capacity() > 0
    }

    /// The state as operators see it.
    pub(super) fn shown_state(&self) -> PluginState {
        if self.paused && matches!(self.state, PluginState::Active | PluginState::Loading) {
            PluginState::Paused
        } else {
            self.state
        }
    }

    pub(super) fn waits_for(&self, id: i64) -> bool {
        self.view.cursor.backlog.contains_key(&id)
    }

    pub(super) fn backlog_ids(&self, site_now: Timestamp) -> Vec<i64> {
        self.view
            .cursor
            .backlog
            .iter()
            .filter(|(_, deadline)| **deadline > site_now)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(super) fn has_expired_backlog(&self, site_now: Timestamp) -> bool {
        self.view
            .cursor
            .backlog
            .values()
            .any(|deadline| *deadline <= site_now)
    }

    /// Starts a new generation of dispatch from the plugin's reported cursor.
    pub(super) fn restart_dispatch(&mut self) -> u64 {
        self.epoch += 1;
        self.sent_upto = self.view.cursor.position();
        self.own = Own::default();
        self.epoch
    }

    pub(super) fn order(&self, order: Control) {
        // The worker is gone only at shutdown or after it died (reported as its exit).
        let _ = self.control.send(order);
    }
}

/// How a load ended.
pub(super) enum LoadResult {
    Done(Result<Box<dyn Plugin>, LoadError>),
    TimedOut,
}

/// A finished (or timed-out) load.
pub(super) struct LoadDone {
    slot: SlotId,
    generation: u64,
    result: LoadResult,
}

impl Poller {
    pub(super) fn slot_mut(&mut self, id: SlotId) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|slot| slot.id == id)
    }

    /// Rescans the plugin folders: loads new files, reloads changed ones (`force`: all of
    /// them), and drops plugins whose file is gone.
    pub(super) fn rescan(&mut self, force: bool) {
        self.next_scan = Instant::now() + self.options.scan_interval;
        for dir_idx in 0..self.dirs.len() {
            let files = match discovery::scan(&self.dirs[dir_idx].path) {
                Ok(files) => files,
                Err(err) => {
                    tracing::error!(
                        logger = "engine",
                        "Could not read the plugin folder {}: {err}. Keeping the plugins already loaded from it.",
                        self.dirs[dir_idx].path.display()
                    );
                    continue;
                }
            };
            let collection = self.dirs[dir_idx].collection.clone();
            let present: Vec<String> = files.iter().map(|file| file.name.clone()).collect();
            for file in files {
                let key = PluginKey::new(collection.clone(), file.name.clone());
                let existing = self.slots.iter().position(|slot| slot.key == key);
                let changed = match existing.and_then(|idx| self.slots[idx].source.as_ref()) {
                    Some(source) => force || file.mtime > source.mtime,
                    None => true,
                };
                if !changed {
                    continue;
                }
                crate::logging::open_plugin_log(&file.name);
                let idx = match existing {
                    Some(idx) => idx,
                    None => {
                        let Some(cursor) = self.cursor_for_new(&key) else {
                            continue;
                        };
                        let filters = self.dirs[dir_idx].filters.clone();
                        let slot = self.create_slot(key, cursor, filters);
                        self.slots.push(slot);
                        self.slots.len() - 1
                    }
                };
                self.slots[idx].source = Some(Source {
                    path: file.path,
                    mtime: file.mtime,
                    dir: dir_idx,
                });
                self.start_load(idx);
            }
            let mut kept = Vec::with_capacity(self.slots.len());
            for slot in std::mem::take(&mut self.slots) {
                let gone = slot.key.collection == collection
                    && slot.source.is_some()
                    && !present.contains(&slot.key.plugin);
                if gone {
                    tracing::info!(
                        logger = "engine",
                        "Plugin {} was removed; its cursor is kept",
                        slot.key
                    );
                    if let Some(task) = &slot.load_task {
                        task.abort();
                    }
                    self.saved
                        .insert(slot.key.clone(), slot.view.cursor.clone());
                } else {
                    kept.push(slot);
                }
            }
            self.slots = kept;
        }
        self.sort_slots();
        self.dirty = true;
    }

    /// Dispatch order as upstream: folders in config order, files by name, natives last.
    pub(super) fn sort_slots(&mut self) {
        self.slots.sort_by(|a, b| {
            let order = |slot: &Slot| slot.source.as_ref().map_or(usize::MAX, |source| source.dir);
            order(a)
                .cmp(&order(b))
                .then_with(|| a.key.plugin.cmp(&b.key.plugin))
        });
    }

    /// Creates a worker for a plugin at `cursor`, and records that start position.
    pub(super) fn create_slot(
        &mut self,
        key: PluginKey,
        cursor: Cursor,
        filters: PluginFilters,
    ) -> Slot {
        let id = self.next_slot;
        self.next_slot += 1;
        let (tx, rx) = mpsc::channel(self.options.queue_size.max(1));
        let (control, control_rx) = mpsc::unbounded_channel();
        let worker = Worker {
            key: key.clone(),
            cursor: cursor.clone(),
            filters,
            committer: self.committer.clone(),
            backlog_timeout: self.options.backlog_timeout,
            telemetry: self.telemetry.clone(),
            timing_log: self.options.timing_log,
            reports: Reports::new(id, self.reports_tx.clone(), self.options.queue_size.max(1)),
            page: self
                .options
                .pages
                .as_ref()
                .map(|dir| sgevents_store::page::page_file(dir, &key)),
            // A page only tells of events after the plugin's own saved cursor.
            page_fresh: self.saved.get(&key) != Some(&cursor),
            metrics: None,
        };
        self.committer.commit_later(&key, &cursor);
        let shutdown = self.shutdown.clone();
        let task = self.workers.spawn(async move {
            worker.run(rx, control_rx, shutdown).await;
            id
        });
        self.worker_tasks.insert(task.id(), id);
        Slot {
            id,
            key,
            source: None,
            tx,
            control,
            state: PluginState::Loading,
            paused: false,
            epoch: 0,
            load_generation: 0,
            load_task: None,
            sent_upto: cursor.position(),
            view: SlotView::new(cursor),
            restarts_base: 0,
            own: Own::default(),
            late: Vec::new(),
            stopped_at: None,
        }
    }

    /// Loads the slot's file in a task of its own, with `load_timeout`; a load still running
    /// for an older version of the file is abandoned.
    fn start_load(&mut self, idx: usize) {
        let load_timeout = self.options.load_timeout;
        let posted = self.posted_tx.clone();
        let slot = &mut self.slots[idx];
        let Some(source) = &slot.source else { return };
        let loader = self.dirs[source.dir].loader.clone();
        let path = source.path.clone();
        slot.load_generation += 1;
        if let Some(task) = slot.load_task.take() {
            task.abort();
        }
        slot.state = PluginState::Loading;
        let (id, generation) = (slot.id, slot.load_generation);
        let handle = self.tasks.spawn(async move {
            let result = match tokio::time::timeout(load_timeout, loader.load(&path)).await {
                Ok(loaded) => LoadResult::Done(loaded),
                Err(_) => LoadResult::TimedOut,
            };
            let _ = posted.send(Posted::Loaded(LoadDone {
                slot: id,
                generation,
                result,
            }));
        });
        self.slots[idx].load_task = Some(handle);
    }

    /// Hands a loaded plugin to its worker, or records why it cannot run.
    pub(super) fn loaded(&mut self, done: LoadDone) {
        let load_timeout = self.options.load_timeout;
        let telemetry = self.telemetry.clone();
        let Some(slot) = self.slot_mut(done.slot) else {
            return;
        };
        if slot.load_generation != done.generation {
            return;
        }
        slot.load_task = None;
        let path = slot
            .source
            .as_ref()
            .map(|source| source.path.display().to_string())
            .unwrap_or_default();
        let logger = format!("plugin.{}", slot.key.plugin);
        let reload = slot.view.dispatched > 0 || !slot.view.callbacks.is_empty();
        match done.result {
            LoadResult::Done(Ok(plugin)) => {
                tracing::info!(
                    logger = "engine",
                    "{} plugin {} from {path}",
                    if reload { "Reloaded" } else { "Loaded" },
                    slot.key.plugin
                );
                slot.install(plugin);
                // Events it wants may already be on the site: read them now rather than
                // after the fetch interval the start-up probe set (one read per load).
                if slot.sent_upto < self.site.high_water {
                    self.site.behind = true;
                }
            }
            LoadResult::Done(Err(err)) => {
                log_load_error(&logger, &path, &err);
                slot.unload(PluginState::Failed, err.to_string());
                telemetry.record_deactivation(&slot.key.plugin);
            }
            LoadResult::TimedOut => {
                let message = format!(
                    "loading {path} took longer than {load_timeout:?} (`load_timeout`); the plugin is marked hung and loaded again when its file changes"
                );
                tracing::error!(logger = %logger, "{message}");
                slot.unload(PluginState::Hung, message);
                telemetry.record_deactivation(&slot.key.plugin);
            }
        }
        self.dirty = true;
    }
}

impl Slot {
    /// Gives the worker a freshly loaded plugin and restarts dispatch from the cursor.
    pub(super) fn install(&mut self, plugin: Box<dyn Plugin>) {
        self.view.callbacks = Arc::new(plugin.callbacks().to_vec());
        self.restarts_base = self.view.restarts;
        self.state = PluginState::Active;
        self.stopped_at = None;
        let epoch = self.restart_dispatch();
        self.order(Control::Replace { plugin, epoch });
    }

    fn unload(&mut self, state: PluginState, error: String) {
        self.view.callbacks = Arc::new(Vec::new());
        self.view.last_error = Some((Timestamp::now(), error));
        self.state = state;
        self.stopped_at = None;
        let epoch = self.restart_dispatch();
        self.order(Control::Unload { epoch });
    }
}

/// Logs a failed load as upstream does: a failed import on the plugin's logger at ERROR; a
/// missing or failing `registerCallbacks` on the engine logger at CRITICAL.
fn log_load_error(logger: &str, path: &str, err: &LoadError) {
    use sgevents_plugin_host::LoadError as Host;
    match err {
        LoadError::Host(Host::Import { .. }) => tracing::error!(logger = %logger, "{err}"),
        LoadError::Host(
            Host::NoRegisterCallbacks { .. }
            | Host::RegisterFailed { .. }
            | Host::NotCallable { .. },
        ) => tracing::error!(logger = "engine", critical = true, "{err}"),
        _ => tracing::error!(logger = %logger, "Could not load the plugin at {path}: {err}"),
    }
}
