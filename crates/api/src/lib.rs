//! The only crate that knows the site's HTTP protocol: the api3 JSON client and the event type.

pub mod event;

pub use event::{EVENT_FIELDS, Event, EventError};
