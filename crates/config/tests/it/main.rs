//! Integration tests of the config crate: real files in temp dirs, both formats.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod fixtures;
mod malformed;
mod round_trip;
mod typos_and_files;
mod upstream;
