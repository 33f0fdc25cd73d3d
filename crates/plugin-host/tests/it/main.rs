//! Integration tests of the plugin host: the real Python venv with shotgun_api3, the real
//! site emulator, real child processes.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on setup failures, like the tests themselves"
)]

mod batch;
mod dispatch;
mod fidelity;
mod forking;
mod isolation;
mod loading;
mod logs;
mod support;
