//! The JSON-lines messages between the host and a plugin runner (docs/plugin-protocol.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version this host speaks; the runner announces its own in `hello`.
pub const PROTOCOL_VERSION: u32 = 4;

/// The longest line the host accepts from a runner, in bytes. Longer lines are dropped
/// with a warning.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// A message from the host to the runner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostMessage<'a> {
    /// Site settings; sent once, right after `hello`.
    Configure {
        /// The protocol version the host will speak.
        protocol: u32,
        /// The site's base URL, for `shotgun_api3.Shotgun`.
        site_url: &'a str,
        /// `http_proxy` for `shotgun_api3.Shotgun`, if any.
        proxy: Option<&'a str>,
        /// Whether to call `sg.set_session_uuid(event['session_uuid'])` before each callback.
        use_session_uuid: bool,
        /// The level of the `plugin.<name>` loggers (Python's numeric levels).
        log_level: u8,
    },
    /// Load one plugin file under a slot number chosen by the host.
    Load {
        /// The host's handle for this plugin in this process.
        slot: u32,
        /// The plugin name (the file stem).
        name: &'a str,
        /// The absolute path of the plugin file.
        path: &'a str,
    },
    /// Forget a plugin (its file was reloaded or removed).
    Unload {
        /// The plugin's slot.
        slot: u32,
    },
    /// Run callbacks on an event shipped earlier with `events`; answered by one `result`
    /// per callback.
    Run {
        /// The plugin's slot.
        slot: u32,
        /// The event's id.
        id: i64,
        /// The callbacks' indexes in registration order, ascending.
        callbacks: &'a [usize],
    },
    /// From now on run the slot's shipped events as they arrive, appending the id of each
    /// finished one to the progress page at `path`; answered by `paged`.
    Page {
        /// The plugin's slot.
        slot: u32,
        /// The page file (created when missing, only ever appended to by the child).
        path: &'a str,
    },
    /// Empty the slot's progress page (answered with `paged`).
    EmptyPage {
        /// The plugin's slot.
        slot: u32,
    },
    /// Run shipped events again after a stopOnError failure stopped the slot.
    Resume {
        /// The plugin's slot.
        slot: u32,
    },
    /// Finish and exit.
    Shutdown,
}

/// A message from the runner to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChildMessage {
    /// The first message of every runner.
    Hello {
        /// The runner's protocol version.
        protocol: u32,
        /// The runner's process id.
        #[serde(default)]
        pid: Option<u32>,
        /// The Python version, such as `3.11.7`.
        #[serde(default)]
        python: Option<String>,
        /// `sys.executable`.
        #[serde(default)]
        executable: Option<String>,
        /// `shotgun_api3.__version__`, or null when it cannot be imported.
        #[serde(default)]
        shotgun_api3: Option<String>,
        /// Why the runner cannot work (for example the shotgun_api3 import error).
        #[serde(default)]
        error: Option<String>,
    },
    /// A plugin loaded and registered its callbacks.
    Loaded {
        /// The plugin's slot.
        slot: u32,
        /// The callbacks, in registration order.
        callbacks: Vec<CallbackInfo>,
        /// What `reg.setEmails` chose.
        #[serde(default)]
        emails: EmailsInfo,
    },
    /// A plugin could not be loaded.
    LoadFailed {
        /// The plugin's slot.
        slot: u32,
        /// Which upstream failure case this is.
        kind: LoadFailureKind,
        /// Upstream's log message, naming the file.
        message: String,
        /// The Python traceback, when there is one.
        #[serde(default)]
        detail: String,
    },
    /// The answer for one callback of a `run` (or of a run-ahead event).
    Result {
        /// The plugin's slot.
        slot: u32,
        /// The event's id.
        id: i64,
        /// The callback's index.
        callback: usize,
        /// Whether the callback returned normally.
        ok: bool,
        /// A one-line reason when it raised.
        #[serde(default)]
        error: Option<String>,
    },
    /// With a progress page: how many entries of `events` messages the slot has taken since
    /// the process loaded it (or since its last `resume`), every one of them finished. It
    /// stands for the successful result of each entry's last callback, which is not sent.
    Done {
        /// The plugin's slot.
        slot: u32,
        /// Entries taken so far, counted as the host counts the entries it ships.
        entries: u64,
    },
    /// The answer to `unload`: the slot is gone, after everything shipped to it ran.
    Unloaded {
        /// The plugin's slot.
        slot: u32,
    },
    /// The answer to `page`; sent unasked, with `ok: false`, when writing the page failed
    /// (the slot then waits for `run` again).
    Paged {
        /// The plugin's slot.
        slot: u32,
        /// Whether the slot keeps a progress page now.
        ok: bool,
        /// Why not.
        #[serde(default)]
        error: Option<String>,
    },
    /// A Python log record, or a line the plugin printed.
    Log {
        /// The Python logger name, such as `plugin.foo.bar`.
        logger: String,
        /// Python's numeric level.
        level: i64,
        /// The formatted message, with the traceback when the record had one.
        message: String,
    },
}

/// One callback as the runner reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackInfo {
    /// The function name, or `<Class>_<hex id>`.
    pub name: String,
    /// `matchEvents`, as JSON (tuples and sets became lists).
    #[serde(default)]
    pub match_events: Value,
    /// `bool(stopOnError)`.
    pub stop_on_error: bool,
}

/// What `reg.setEmails` chose, on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailsInfo {
    /// Not called, or `setEmails(True)`.
    #[default]
    Default,
    /// `setEmails(False)`.
    Disabled,
    /// `setEmails('a@x', 'b@y')`.
    To {
        /// The addresses.
        addresses: Vec<String>,
    },
}

/// Upstream's cases for deactivating a plugin at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadFailureKind {
    /// The file could not be imported.
    Import,
    /// The module has no callable `registerCallbacks`.
    NoRegister,
    /// `registerCallbacks` raised.
    RegisterRaised,
    /// `registerCallback` got something that is not callable.
    NotCallable,
    /// A `matchEvents` could not be encoded.
    BadMatchEvents,
}

impl HostMessage<'_> {
    /// The message as one JSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        // Serialising these types cannot fail: every key is a string and every value is
        // plain data. Fall back to an empty object rather than panic.
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        line.push(b'\n');
        line
    }
}

pub(crate) mod short;

#[cfg(test)]
mod tests;
