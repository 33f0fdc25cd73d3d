//! Integration tests of the site client against the in-process sim and tiny fake servers.

#![allow(
    clippy::unwrap_used,
    reason = "helpers of tests fail the test by panicking"
)]

mod fake;
mod faults;
mod proxy;
mod reads;
mod support;
