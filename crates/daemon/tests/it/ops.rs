//! Operator-facing parts against real peers: SMTP (aiosmtpd), HTTP, and headless Chromium.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod alerts;
mod bad_day;
mod browser;
mod e2e;
mod harness;
mod server;
mod support;
