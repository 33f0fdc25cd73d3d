//! `PythonPlugin`: one loaded plugin file, implementing the daemon's `Plugin` trait.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sgevents_plugin_api::{BoxFuture, CallbackSpec, Event, Outcome, Plugin};

use crate::host::{Loaded, Shared};

/// Where a plugin's error alerts go, as `reg.setEmails(...)` chose.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Emails {
    /// `setEmails` not called, or `setEmails(True)`: the configured recipients.
    #[default]
    Default,
    /// `setEmails(False)`: no emails for this plugin.
    Disabled,
    /// `setEmails('a@x', 'b@y')`: these addresses instead of the configured ones.
    To(Vec<String>),
}

/// One upstream-style Python plugin file, loaded into a child process.
pub struct PythonPlugin {
    name: String,
    path: PathBuf,
    slot: u32,
    callbacks: Vec<CallbackSpec>,
    emails: Emails,
    shared: Arc<Shared>,
    /// Whether the process keeps a progress page (set by the host).
    paged: Arc<AtomicBool>,
    /// How many events `upcoming` would take now (published by the host).
    room: Arc<AtomicUsize>,
    shut_down: bool,
}

impl PythonPlugin {
    pub(crate) fn new(name: String, path: PathBuf, loaded: Loaded, shared: Arc<Shared>) -> Self {
        PythonPlugin {
            name,
            path,
            slot: loaded.slot,
            callbacks: loaded.callbacks,
            emails: loaded.emails,
            shared,
            paged: loaded.paged,
            room: loaded.room,
            shut_down: false,
        }
    }

    /// The plugin name: the file stem, as upstream names it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The absolute path of the plugin file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where this plugin's error alerts go.
    pub fn emails(&self) -> &Emails {
        &self.emails
    }
}

impl Plugin for PythonPlugin {
    fn restarts(&self) -> u64 {
        self.shared.restarts()
    }

    fn callbacks(&self) -> &[CallbackSpec] {
        &self.callbacks
    }

    fn handle<'a>(
        &'a mut self,
        event: &'a Arc<Event>,
        callbacks: &'a [usize],
    ) -> BoxFuture<'a, Outcome> {
        // Most events a process runs ahead are done by the time the daemon hands them over:
        // those are answered here, without building the waiting call.
        if self.shared.try_settle(self.slot, event.id, callbacks) {
            return Box::pin(std::future::ready(Outcome::default()));
        }
        Box::pin(self.shared.handle(self.slot, event, callbacks))
    }

    fn upcoming<'a>(&'a mut self, events: &'a [(Arc<Event>, Vec<usize>)]) -> BoxFuture<'a, usize> {
        Box::pin(self.shared.upcoming(self.slot, events))
    }

    fn room(&self) -> usize {
        self.room.load(Ordering::Relaxed)
    }

    fn keep_progress<'a>(&'a mut self, page: &'a Path) -> BoxFuture<'a, bool> {
        Box::pin(self.shared.keep_progress(self.slot, page))
    }

    fn empty_progress(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(self.shared.empty_page(self.slot))
    }

    fn keeps_progress(&self) -> bool {
        self.paged.load(Ordering::Relaxed)
    }

    fn holds_events(&self) -> bool {
        self.shared.holds_events(self.slot)
    }

    fn shutdown(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            if !self.shut_down {
                self.shut_down = true;
                self.shared.unload(self.slot).await;
            }
        })
    }
}

impl Drop for PythonPlugin {
    fn drop(&mut self) {
        if !self.shut_down {
            self.shared.forget(self.slot);
        }
    }
}

impl std::fmt::Debug for PythonPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonPlugin")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("callbacks", &self.callbacks)
            .field("emails", &self.emails)
            .finish_non_exhaustive()
    }
}
