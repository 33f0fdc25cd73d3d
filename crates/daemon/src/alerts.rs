//! Email alerts: ERROR and CRITICAL records become mails, sent off the event loop, rate limited per logger.
//!
//! The pieces:
//! - [`Alerts::spawn`] starts one background task that owns the SMTP transport and returns an
//!   [`AlertSender`]. [`AlertSender::send`] never waits: alerts go through a bounded queue, and
//!   when that queue is full the alert is counted as dropped (the next mail says how many).
//! - A per-logger rate limit lets `max_per_window` mails through per `digest_window`; the rest
//!   of a burst is held and folded into one digest mail at the end of the window.
//! - When the SMTP server cannot be reached the failure is logged (at WARN, so it does not
//!   feed back into alerts) and the mail is retried with exponential backoff; never fatal.
//! - [`AlertLayer`] is a `tracing_subscriber::Layer` that turns ERROR-level tracing events into
//!   alerts, with per-plugin recipients from [`PluginRecipients`] (upstream's `setEmails`).

mod config;
mod layer;
mod limiter;
mod message;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{EmailConfig, RetryPolicy};
pub use layer::{AlertLayer, PluginRecipients, Recipients};
pub use message::{Alert, AlertLevel};

/// How many alerts may wait for the mail task before new ones are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 1024;

/// Why the alert task could not start: the `[emails]` settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// An address in `from` or `to` is not a valid mailbox.
    #[error(
        "[emails] {field}: {value:?} is not a valid email address ({source}); use a form such as ops@example.com"
    )]
    BadAddress {
        /// The setting that holds the address (`from` or `to`).
        field: &'static str,
        /// The address as given.
        value: String,
        /// The parser's reason.
        #[source]
        source: lettre::address::AddressError,
    },
    /// A required setting is empty.
    #[error("[emails] {field} is empty; set it, or turn email alerts off")]
    Missing {
        /// The empty setting.
        field: &'static str,
    },
    /// The SMTP transport could not be built (for example, a bad server name for TLS).
    #[error("[emails] server {server:?}: cannot set up the SMTP transport: {source}")]
    Transport {
        /// The configured server.
        server: String,
        /// lettre's reason.
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

/// The entry point: starts the mail task.
#[derive(Debug)]
pub struct Alerts;

impl Alerts {
    /// Validates `config` and starts the mail task on the current tokio runtime.
    ///
    /// The task ends when every [`AlertSender`] is dropped or [`AlertSender::close`] is called;
    /// before it ends it sends what it holds (digests included), trying each mail once more.
    ///
    /// # Errors
    /// [`AlertsError`] when an address is invalid, a required field is empty, or the
    /// transport cannot be built.
    pub fn spawn(config: EmailConfig) -> Result<(AlertSender, JoinHandle<()>), AlertsError> {
        let valid = config.validate()?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let close = CancellationToken::new();
        let task = worker::Worker::new(valid, rx, Arc::clone(&dropped), close.clone())?;
        let handle = tokio::spawn(task.run());
        Ok((AlertSender { tx, dropped, close }, handle))
    }
}

/// A cheap, cloneable handle that queues alerts for the mail task.
#[derive(Debug, Clone)]
pub struct AlertSender {
    tx: mpsc::Sender<Alert>,
    dropped: Arc<AtomicU64>,
    close: CancellationToken,
}

impl AlertSender {
    /// Queues one alert. Never blocks and never waits for SMTP: when the queue is full (or the
    /// task has ended) the alert is dropped and counted.
    pub fn send(&self, alert: Alert) {
        if self.tx.try_send(alert).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many alerts were dropped so far because the queue was full or closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Asks the mail task to flush what it holds and stop, even while senders remain (the
    /// tracing layer keeps one for the life of the process). Await the task's `JoinHandle`
    /// to know when it is done.
    pub fn close(&self) {
        self.close.cancel();
    }
}
