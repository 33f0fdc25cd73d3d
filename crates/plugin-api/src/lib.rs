//! The plugin contract: events, upstream's matchEvents filter, and the native `Plugin` trait.
//! It depends on no HTTP client: a native plugin author needs only this crate.
//!
//! Python plugins (through `sgevents-plugin-host`) and native Rust plugins implement the same
//! [`Plugin`] trait, so the daemon dispatches to both the same way.

pub mod event;
mod match_events;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

pub use event::{EVENT_FIELDS, Event, EventError, EventReader, PathStep, RowSink};
pub use match_events::{MatchEvents, MatchEventsError};

/// A boxed future, so that [`Plugin`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One registered callback of a plugin, as `reg.registerCallback` declared it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackSpec {
    /// The callback's name: the function name, or `<Class>_<hex id>` for callable instances.
    pub name: String,
    /// Which events the callback wants.
    pub match_events: MatchEvents,
    /// Whether a failure deactivates the whole plugin until its file changes.
    pub stop_on_error: bool,
}

/// What happened when a plugin handled one event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Callbacks that failed, in the order they ran.
    pub failures: Vec<Failure>,
}

/// One failed callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The callback's name.
    pub callback: String,
    /// A one-line reason (exception, timeout, crash).
    pub message: String,
    /// True when the callback had stopOnError set: the plugin is now inactive and the
    /// event must not be acknowledged.
    pub stop: bool,
}

impl Outcome {
    /// The failure that stopped the plugin, if any.
    pub fn stopped(&self) -> Option<&Failure> {
        self.failures.iter().find(|failure| failure.stop)
    }
}

/// A plugin: one upstream plugin file, or a native plugin compiled into the binary.
///
/// The daemon calls [`Plugin::handle`] with events in id order (late arrivals excepted), one
/// at a time, and only with the callbacks whose [`MatchEvents`] accept the event.
/// Implementations must not panic; the daemon still catches panics at this boundary and
/// reports them as failures.
pub trait Plugin: Send + 'static {
    /// The callbacks the plugin registered, in registration order.
    fn callbacks(&self) -> &[CallbackSpec];

    /// Runs the given callbacks (indexes into [`Plugin::callbacks`], ascending) on one event.
    fn handle<'a>(
        &'a mut self,
        event: &'a Arc<Event>,
        callbacks: &'a [usize],
    ) -> BoxFuture<'a, Outcome>;

    /// A hint: these events, with the callbacks that match each, are likely the next ones
    /// handed to [`Plugin::handle`], in this order. A plugin may prepare them (a Python
    /// plugin ships them to its process in one message). Without a progress page (see
    /// [`Plugin::keep_progress`]) it must not run an event before `handle` is called for it,
    /// so that the cursor rule holds: after a crash at most the one in-flight event runs
    /// again. Returns how many of the events, from the first, it took; the rest may be
    /// offered again. Events hinted but never handled are dropped. The default takes all
    /// and does nothing with them.
    fn upcoming<'a>(&'a mut self, events: &'a [(Arc<Event>, Vec<usize>)]) -> BoxFuture<'a, usize> {
        let count = events.len();
        Box::pin(async move { count })
    }

    /// About how many more events [`Plugin::upcoming`] would take now, so that the daemon
    /// builds no hints only to see them turned down; `usize::MAX` when the plugin cannot
    /// tell (then it is offered every hint, and takes what it takes). The default is 0: a
    /// plugin that keeps the default `upcoming` does nothing with hints, so none are built
    /// for it. A plugin that overrides `upcoming` overrides this too.
    fn room(&self) -> usize {
        0
    }

    /// Asks the plugin to keep a progress page: a file, at `page`, to which it appends the
    /// id of each event it finishes (one decimal id and a newline), before it reports the
    /// event done. A plugin that does may run the events [`Plugin::upcoming`] hinted without
    /// waiting for `handle`, and the daemon may save its cursor less often: after a crash
    /// the ids on the page count as finished, so at most the one in-flight event runs again.
    /// Returns whether it keeps the page. The default keeps none.
    fn keep_progress<'a>(&'a mut self, page: &'a Path) -> BoxFuture<'a, bool> {
        let _ = page;
        Box::pin(async { false })
    }

    /// Whether the progress page is still kept (writing it can fail; the plugin then waits
    /// for `handle` again, and the daemon must save the cursor after every event).
    fn keeps_progress(&self) -> bool {
        false
    }

    /// Empties the progress page the plugin keeps (the daemon's cursor covers every id on
    /// it, and the plugin holds nothing hinted). A plugin that keeps a page may hold it in a
    /// way only it can empty safely (the Python runner maps the file into memory); returns
    /// whether it did. The default, for a plugin that keeps none, is false: the daemon then
    /// empties the file itself.
    fn empty_progress(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }

    /// Whether the plugin holds hinted events it was not handed yet, which it may be running
    /// (so its progress page may still grow).
    fn holds_events(&self) -> bool {
        false
    }

    /// How many times the plugin's process has been restarted (after a crash or a timeout).
    /// Native plugins have no process: the default is 0.
    fn restarts(&self) -> u64 {
        0
    }

    /// Lets the plugin finish and release its resources. Called once, before it is dropped.
    fn shutdown(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The indexes of the callbacks of `callbacks` that accept `event`, ascending.
pub fn matching_callbacks(callbacks: &[CallbackSpec], event: &Event) -> Vec<usize> {
    callbacks
        .iter()
        .enumerate()
        .filter(|(_, spec)| {
            spec.match_events
                .matches(&event.event_type, event.attribute_name.as_deref())
        })
        .map(|(idx, _)| idx)
        .collect()
}

#[cfg(test)]
mod tests {
    /// The `[dependencies]` table of this crate's manifest.
    fn dependencies() -> &'static str {
        let manifest = include_str!("../Cargo.toml");
        let after = manifest.split("[dependencies]").nth(1).unwrap_or("");
        after.split("\n[").next().unwrap_or("")
    }

    #[test]
    fn the_plugin_contract_depends_on_no_http_client() {
        let dependencies = dependencies();
        assert!(dependencies.contains("serde"), "{dependencies}");
        for heavy in ["sgevents-api", "reqwest", "hyper", "tokio"] {
            assert!(!dependencies.contains(heavy), "{heavy} in {dependencies}");
        }
    }
}
