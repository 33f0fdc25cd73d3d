//! The only crate that knows the site's HTTP protocol: the api3 JSON client and the event type.

pub mod client;
pub mod config;
pub mod error;
/// The EventLogEntry row, defined in `sgevents-plugin-api` so plugins need no HTTP client.
pub use sgevents_plugin_api::event;
pub mod retry;
pub mod stats;

pub use client::{Client, DEFAULT_RECORDS_PER_PAGE};
pub use config::ClientConfig;
pub use error::ClientError;
pub use event::{EVENT_FIELDS, Event, EventError, EventReader, PathStep, RowSink};
pub use retry::{RetryNotice, RetryPolicy, with_retry, with_retry_notify};
pub use stats::{ClientStats, MethodStats};
