//! Integration tests of the state store: SQLite behaviour, pinned formats, legacy import.

#![allow(
    clippy::unwrap_used,
    reason = "helpers of tests fail the test by panicking"
)]

mod crash;
mod fixtures;
mod legacy;
mod store;
mod support;
