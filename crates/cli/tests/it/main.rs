//! End-to-end tests of the `sgevents` binary.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod cluster;
mod control;
mod hung;
mod kill;
mod notify;
mod pages;
mod replay;
mod start;
mod support;
mod user_errors;
