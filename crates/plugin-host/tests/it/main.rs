//! Integration tests of the plugin host: the real Python venv with shotgun_api3, the real
//! site emulator, real child processes.

mod dispatch;
mod fidelity;
mod isolation;
mod loading;
mod logs;
mod support;
