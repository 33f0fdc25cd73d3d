//! Integration tests of the site emulator: in-process writes, HTTP api3 reads, events, gaps,
//! faults and persistence.

// Test helpers outside #[test] functions may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod events;
mod support;
mod wire;
