//! Integration tests of the daemon crate, one module per area.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

pub(crate) mod core;
mod ops;
