//! Plugin slots: creating a worker per plugin, choosing its start position, and loading,
//! reloading and dropping plugins as their files come, change and go.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use sgevents_plugin_api::Plugin;
use tokio::sync::mpsc;

use super::Poller;
use crate::cursor::{Cursor, CursorRules};
use crate::discovery;
use crate::filters::PluginFilters;
use crate::watch::{PluginEntry, relock};
use crate::worker::{Control, Delivery, PluginState, SlotView, Worker};
use crate::{PluginKey, StartAt};

/// The poller's handle on one plugin.
pub(super) struct Slot {
    pub(super) key: PluginKey,
    /// Where the plugin came from: a file (with the mtime loaded) or the binary.
    source: Option<(PathBuf, SystemTime, usize)>,
    pub(super) tx: mpsc::Sender<Delivery>,
    control: mpsc::UnboundedSender<Control>,
    view: Arc<Mutex<SlotView>>,
    /// Bumped on every (re)load; the worker ignores deliveries of older epochs.
    pub(super) epoch: u64,
    /// The highest id queued to the worker in id order.
    pub(super) sent_upto: i64,
    /// The queue was full during this poll.
    pub(super) blocked: bool,
}

impl Slot {
    pub(super) fn state(&self) -> PluginState {
        relock(&self.view).state
    }

    pub(super) fn waits_for(&self, id: i64) -> bool {
        relock(&self.view).cursor.backlog.contains_key(&id)
    }

    pub(super) fn backlog_ids(&self, site_now: Timestamp) -> Vec<i64> {
        let view = relock(&self.view);
        view.cursor
            .backlog
            .iter()
            .filter(|(_, deadline)| **deadline > site_now)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(super) fn has_expired_backlog(&self, site_now: Timestamp) -> bool {
        relock(&self.view)
            .cursor
            .backlog
            .values()
            .any(|deadline| *deadline <= site_now)
    }

    /// Sends a new plugin (or a load failure) to the worker and restarts delivery from the
    /// worker's committed position.
    fn replace(&mut self, loaded: Result<Box<dyn Plugin>, String>) {
        self.epoch += 1;
        let epoch = self.epoch;
        {
            let mut view = relock(&self.view);
            self.sent_upto = view.cursor.position();
            view.state = PluginState::Loading;
        }
        let order = match loaded {
            Ok(plugin) => Control::Replace { plugin, epoch },
            Err(error) => Control::Unload { epoch, error },
        };
        let _ = self.control.send(order);
    }
}

impl Poller {
    /// Loads every plugin found at start, then the native ones.
    pub(super) async fn load_all(&mut self) {
        self.rescan(false).await;
        let natives = std::mem::take(&mut self.natives);
        for native in natives {
            let mut slot = self.spawn_slot(native.key, None, native.filters).await;
            slot.replace(Ok(native.plugin));
            self.slots.push(slot);
        }
        self.start_override_pending = false;
        self.publish();
    }

    /// Rescans the plugin folders: loads new files, reloads changed ones (`force`: all of
    /// them), and drops plugins whose file is gone.
    pub(super) async fn rescan(&mut self, force: bool) {
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
                let key = PluginKey {
                    collection: collection.clone(),
                    plugin: file.name.clone(),
                };
                let existing = self.slots.iter().position(|slot| slot.key == key);
                let changed = match existing.and_then(|idx| self.slots[idx].source.as_ref()) {
                    Some((_, mtime, _)) => force || file.mtime > *mtime,
                    None => true,
                };
                if !changed {
                    continue;
                }
                crate::logging::open_plugin_log(&file.name);
                let loader = self.dirs[dir_idx].loader.clone();
                let loaded = loader.load(&file.path).await;
                if let Err(err) = &loaded {
                    tracing::error!(logger = %format!("plugin.{}", file.name), "Could not load the plugin at {}: {err}", file.path.display());
                } else if existing.is_some() {
                    tracing::info!(
                        logger = "engine",
                        "Reloaded plugin {} from {}",
                        file.name,
                        file.path.display()
                    );
                } else {
                    tracing::info!(
                        logger = "engine",
                        "Loaded plugin {} from {}",
                        file.name,
                        file.path.display()
                    );
                }
                let idx = match existing {
                    Some(idx) => idx,
                    None => {
                        let filters = self.dirs[dir_idx].filters.clone();
                        let slot = self.spawn_slot(key, Some(file.path.clone()), filters).await;
                        self.slots.push(slot);
                        self.slots.len() - 1
                    }
                };
                let slot = &mut self.slots[idx];
                slot.source = Some((file.path, file.mtime, dir_idx));
                slot.replace(loaded);
            }
            self.slots.retain(|slot| {
                let gone = slot.key.collection == collection
                    && slot.source.is_some()
                    && !present.contains(&slot.key.plugin);
                if gone {
                    tracing::info!(
                        logger = "engine",
                        "Plugin {} was removed; its cursor is kept",
                        slot.key
                    );
                }
                !gone
            });
        }
        // Dispatch order as upstream: folders in config order, files by name, natives last.
        self.slots.sort_by(|a, b| {
            let order = |slot: &Slot| slot.source.as_ref().map_or(usize::MAX, |source| source.2);
            order(a)
                .cmp(&order(b))
                .then_with(|| a.key.plugin.cmp(&b.key.plugin))
        });
        self.publish();
    }

    /// Creates a worker for a plugin, positioned at its saved cursor (or a fresh start).
    async fn spawn_slot(
        &mut self,
        key: PluginKey,
        path: Option<PathBuf>,
        filters: PluginFilters,
    ) -> Slot {
        let cursor = self.start_cursor(&key).await;
        let view = Arc::new(Mutex::new(SlotView::new(cursor.clone())));
        let (tx, rx) = mpsc::channel(self.options.queue_size.max(1));
        let (control, control_rx) = mpsc::unbounded_channel();
        let worker = Worker {
            logger: format!("plugin.{}", key.plugin),
            key: key.clone(),
            cursor: cursor.clone(),
            plugin: None,
            epoch: 0,
            filters,
            committer: self.committer.clone(),
            view: view.clone(),
            backlog_timeout: self.options.backlog_timeout,
            telemetry: self.telemetry.clone(),
            timing_log: self.options.timing_log,
            restarts_base: 0,
        };
        self.committer.commit_later(&key, &cursor);
        self.tasks
            .spawn(worker.run(rx, control_rx, self.shutdown.clone()));
        Slot {
            key,
            source: path.map(|path| (path, SystemTime::UNIX_EPOCH, 0)),
            tx,
            control,
            view,
            epoch: 0,
            sent_upto: cursor.position(),
            blocked: false,
        }
    }

    /// The saved cursor; else upstream's fallback to a same-named plugin of another folder
    /// (PR #39); else the site's latest event. `--start-at` overrides all of it at start.
    async fn start_cursor(&mut self, key: &PluginKey) -> Cursor {
        if self.start_override_pending {
            match self.options.start_at {
                StartAt::Id(id) => {
                    return Cursor {
                        last_id: Some(id - 1),
                        backlog: Default::default(),
                    };
                }
                StartAt::Latest => return self.fresh_cursor().await,
                StartAt::Saved => {}
            }
        }
        if let Some(saved) = self.saved.get(key) {
            return saved.clone();
        }
        let same_name = self
            .saved
            .iter()
            .filter(|(other, _)| other.plugin == key.plugin)
            .max_by_key(|(_, cursor)| cursor.last_id)
            .map(|(_, cursor)| cursor.clone());
        match same_name {
            Some(cursor) => cursor,
            None => self.fresh_cursor().await,
        }
    }

    /// A cursor at the site's latest event, asked for once per run and retried until the
    /// site answers (or shutdown).
    async fn fresh_cursor(&mut self) -> Cursor {
        if self.fresh_position.is_none() {
            let mut delay = Duration::from_millis(250);
            loop {
                match self.client.latest_event_id().await {
                    Ok(latest) => {
                        self.fresh_position = Some(latest.unwrap_or(0));
                        break;
                    }
                    Err(err) => {
                        tracing::warn!(logger = "engine", error = %err, "Could not ask the site for its latest event; retrying in {delay:?}");
                        tokio::select! {
                            () = self.shutdown.cancelled() => break,
                            () = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2)
                            .min(self.options.conn_retry_sleep.max(Duration::from_secs(1)));
                    }
                }
            }
        }
        let position = self.fresh_position.unwrap_or(0);
        Cursor {
            last_id: (position > 0).then_some(position),
            backlog: Default::default(),
        }
    }

    fn publish(&self) {
        let entries = self
            .slots
            .iter()
            .map(|slot| PluginEntry {
                key: slot.key.clone(),
                path: slot.source.as_ref().map(|source| source.0.clone()),
                view: slot.view.clone(),
            })
            .collect();
        self.watch.set_plugins(entries);
    }
}
