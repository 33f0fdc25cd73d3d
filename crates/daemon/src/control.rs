//! Operator requests to the running loop (resume, skip, pause, unpause a plugin): the
//! messages the control socket hands in and the loop answers.

use tokio::sync::{mpsc, oneshot};

/// What an operator asks of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A plugin stopped by a stopOnError failure runs again, retrying the failed event.
    Resume,
    /// A plugin stopped by a stopOnError failure moves past the failed event and runs again.
    Skip,
    /// Dispatch to the plugin stops (its cursor stays) until `Unpause`.
    Pause,
    /// A paused plugin takes events again from its cursor.
    Unpause,
}

impl Action {
    /// The verb as operators type it.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Resume => "resume",
            Action::Skip => "skip",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
        }
    }
}

/// One request, with where the answer goes.
#[derive(Debug)]
pub struct Request {
    /// The plugin's name (its file name without `.py`), as `sgevents status` lists it.
    pub plugin: String,
    /// The plugin's folder as written in the config, when the name alone is ambiguous.
    pub collection: Option<String>,
    /// What to do.
    pub action: Action,
    /// Who asked: the peer's uid on the control socket, for the log.
    pub uid: u32,
    /// The loop's answer.
    pub reply: oneshot::Sender<Reply>,
}

/// The loop's answer: a one-line account of what it did, or why it did nothing.
pub type Reply = Result<String, Refusal>;

/// Why the loop did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum Refusal {
    /// No plugin of that name (in that folder).
    #[error("no plugin named `{0}`; `sgevents status` lists them")]
    UnknownPlugin(String),
    /// The name is in several folders.
    #[error("plugin `{0}` is in several folders; name the folder too")]
    Ambiguous(String),
    /// The action does not apply to the plugin's state (for example `skip` on an active plugin).
    #[error("plugin `{plugin}` is {state}: nothing to {verb}")]
    NotApplicable {
        /// The plugin.
        plugin: String,
        /// Its state, as the status page shows it.
        state: String,
        /// The action's verb.
        verb: String,
    },
    /// The action cannot be done this way; the text says what to do instead.
    #[error("{0}")]
    Cannot(String),
}

/// The loop's end of the channel.
#[derive(Debug)]
pub struct Inbox(pub mpsc::Receiver<Request>);

/// A channel for operator requests; the loop owns the [`Inbox`].
pub fn channel() -> (mpsc::Sender<Request>, Inbox) {
    let (tx, rx) = mpsc::channel(16);
    (tx, Inbox(rx))
}
