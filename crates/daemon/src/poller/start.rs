//! Where each plugin starts, decided once the site's latest event id is known (so nothing is
//! recorded before that): `--start-at`, the saved cursor, upstream's fallbacks, or the latest
//! event. A saved cursor that makes no sense stops the daemon instead of replaying or skipping.

use super::Poller;
use crate::cursor::{Cursor, CursorRules};
use crate::{DaemonError, PluginKey, StartAt, discovery};

impl Poller {
    /// Starts the run once the site answered with its latest id: checks the saved cursors of
    /// the plugins present, then creates and loads them.
    ///
    /// # Errors
    /// [`DaemonError::Cursor`] for a negative cursor or one above the site's latest id.
    pub(super) fn start(&mut self, latest: i64) -> Result<(), DaemonError> {
        if self.latest_at_start.is_some() {
            return Ok(());
        }
        let present = self.present_keys();
        if self.options.start_at != StartAt::Saved
            && let Some(dir) = &self.options.pages
            && let Err(err) = sgevents_store::page::remove_all(dir)
        {
            // Each plugin's page is emptied again when it starts; this only tidies.
            tracing::warn!(
                logger = "engine",
                "Could not remove the progress pages in {}: {err}",
                dir.display()
            );
        }
        if self.options.start_at == StartAt::Saved {
            for key in &present {
                if let Some(cursor) = self.saved.get(key) {
                    self.check(key, cursor, latest)?;
                }
            }
        }
        self.latest_at_start = Some(latest);
        self.start_positions = present
            .iter()
            .filter_map(|key| self.saved.get(key)?.last_id)
            .min();
        self.starting = true;
        self.rescan(false);
        let natives = std::mem::take(&mut self.natives);
        for native in natives {
            let Some(cursor) = self.cursor_for_new(&native.key) else {
                continue;
            };
            let mut slot = self.create_slot(native.key, cursor, native.filters);
            slot.install(native.plugin);
            self.slots.push(slot);
        }
        self.starting = false;
        self.sort_slots();
        self.dirty = true;
        Ok(())
    }

    fn present_keys(&self) -> Vec<PluginKey> {
        let mut keys: Vec<PluginKey> = self
            .natives
            .iter()
            .map(|native| native.key.clone())
            .collect();
        for dir in &self.dirs {
            // A folder that cannot be read is reported by the rescan.
            for file in discovery::scan(&dir.path).unwrap_or_default() {
                keys.push(PluginKey::new(dir.collection.clone(), file.name));
            }
        }
        keys
    }

    fn check(&self, key: &PluginKey, cursor: &Cursor, latest: i64) -> Result<(), DaemonError> {
        let Some(last) = cursor.last_id else {
            return Ok(());
        };
        let problem = if last < 0 {
            "which is negative"
        } else if last > latest {
            "which is above the site's latest event"
        } else {
            return Ok(());
        };
        Err(DaemonError::Cursor {
            store: self.store_location.clone(),
            plugin: key.clone(),
            cursor: last,
            latest,
            problem,
        })
    }

    /// The start position of a plugin that has no worker yet, logged with its reason; `None`
    /// (logged as an error) when its saved cursor makes no sense.
    pub(super) fn cursor_for_new(&mut self, key: &PluginKey) -> Option<Cursor> {
        let latest = self.site.high_water.max(self.latest_at_start.unwrap_or(0));
        let (cursor, reason) = self.choose(key, latest);
        if let Some(last) = cursor.last_id.filter(|last| *last < 0 || *last > latest) {
            tracing::error!(
                logger = "engine",
                "Plugin {key} is not started: its cursor {last} in {} makes no sense (the site's latest event is {latest}). Set it with `sgevents state set {} ID`.",
                self.store_location,
                key.plugin
            );
            return None;
        }
        tracing::info!(
            logger = "engine",
            "Plugin {key} starts after event {}: {reason}",
            cursor.position()
        );
        Some(cursor)
    }

    fn choose(&self, key: &PluginKey, latest: i64) -> (Cursor, String) {
        if self.starting {
            match self.options.start_at {
                StartAt::Id(id) => {
                    let reason = match &self.options.imported_from {
                        Some(file) => {
                            format!("upstream's last event id {} in {}", id - 1, file.display())
                        }
                        None => format!("--start-at {id}"),
                    };
                    return (Cursor::at(id - 1), reason);
                }
                StartAt::Latest => {
                    return (Cursor::at(latest), "--start-at latest".to_owned());
                }
                StartAt::Saved => {}
            }
        }
        if let Some(saved) = self.saved.get(key).filter(|saved| saved.last_id.is_some()) {
            let reason = match (&self.options.imported_from, self.starting) {
                (Some(file), true) => format!("imported from upstream's {}", file.display()),
                _ => "its saved cursor".to_owned(),
            };
            return (saved.clone(), reason);
        }
        let same_name = self
            .saved
            .iter()
            .filter(|(other, cursor)| other.plugin == key.plugin && cursor.last_id.is_some())
            .max_by_key(|(_, cursor)| cursor.last_id);
        if let Some((other, cursor)) = same_name {
            return (
                cursor.clone(),
                format!(
                    "no cursor of its own; the same plugin's in {}",
                    other.collection
                ),
            );
        }
        let others = if self.starting {
            self.start_positions
        } else {
            self.slots
                .iter()
                .filter_map(|slot| slot.view.cursor.last_id)
                .min()
        };
        if let Some(position) = others {
            return (
                Cursor::at(position),
                "no cursor of its own; with the other plugins".to_owned(),
            );
        }
        (
            Cursor::at(latest),
            "first start: the site's latest event".to_owned(),
        )
    }
}
