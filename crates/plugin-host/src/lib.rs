//! Runs upstream shotgunEvents Python plugins, each in its own child process.
//!
//! A [`PluginHost`] starts Python runner processes and loads plugin files into them; each
//! loaded file becomes a [`PythonPlugin`], which the daemon drives through the
//! [`sgevents_plugin_api::Plugin`] trait. The daemon filters events with matchEvents in
//! Rust, so only matching events cross the pipe. The wire protocol is in
//! `docs/plugin-protocol.md` and [`protocol`].

mod error;
mod forkserver;
mod host;
mod lines;
pub mod logs;
mod plugin;
pub mod process;
pub mod protocol;
mod runner;
mod wire;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::LoadError;
pub use host::PluginHost;
pub use plugin::{Emails, PythonPlugin};
pub use wire::PickledEvents;

/// The per-callback timeout when the configuration does not set one.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(300);

/// How plugin files share processes: one per plugin file (the default), or one for all plugins
/// loaded through one [`PluginHost`] (one host per plugin path).
pub use sgevents_config::ProcessMode;

/// Everything the host needs to start plugin processes.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// The Python interpreter (a venv's, rez's or conda's `python`).
    pub python: PathBuf,
    /// The site URL handed to `shotgun_api3.Shotgun`.
    pub site_url: String,
    /// `http_proxy` for `shotgun_api3.Shotgun`.
    pub proxy: Option<String>,
    /// Call `sg.set_session_uuid(event['session_uuid'])` before each callback.
    pub use_session_uuid: bool,
    /// How long one callback (or one plugin load) may run before its process group is killed.
    pub callback_timeout: Duration,
    /// The level of the `plugin.<name>` loggers (`daemon.logging`, Python's numeric levels).
    pub log_level: u8,
    /// How plugin files share processes.
    pub process: ProcessMode,
    /// Extra environment variables for the plugin processes.
    pub extra_env: Vec<(String, String)>,
    /// A one-plugin process given a progress page (`Plugin::keep_progress`) runs the events
    /// shipped ahead to it without waiting for the daemon's go for each one, and records each
    /// finished id on the page, so after a daemon crash still at most the one in-flight event
    /// runs again. On by default; off, every process waits for each event's go.
    pub run_ahead: bool,
    /// Fork plugin processes from one Python process per interpreter and environment that
    /// has imported shotgun_api3 once (faster start-up, shared pages). On by default; off,
    /// each plugin process is a fresh interpreter.
    pub fork_server: bool,
}

/// The most events shipped to a plugin process ahead of the one it is running.
pub const MAX_AHEAD_EVENTS: usize = 64;
/// The most bytes of events shipped to a plugin process ahead of the one it is running.
pub const MAX_AHEAD_BYTES: usize = 1 << 20;

impl HostConfig {
    /// Settings with upstream's defaults: INFO logging, no proxy, no session uuid,
    /// [`DEFAULT_CALLBACK_TIMEOUT`], one process per plugin.
    pub fn new(python: impl Into<PathBuf>, site_url: impl Into<String>) -> HostConfig {
        HostConfig {
            python: python.into(),
            site_url: site_url.into(),
            proxy: None,
            use_session_uuid: false,
            callback_timeout: DEFAULT_CALLBACK_TIMEOUT,
            log_level: 20,
            process: ProcessMode::PerPlugin,
            extra_env: Vec::new(),
            run_ahead: true,
            fork_server: true,
        }
    }
}

/// Loads one plugin file into a process of its own (whatever `config.process` says; use a
/// [`PluginHost`] to group plugins of a path).
///
/// # Errors
/// See [`PluginHost::load`].
pub async fn load_plugin(config: &HostConfig, path: &Path) -> Result<PythonPlugin, LoadError> {
    let config = HostConfig {
        process: ProcessMode::PerPlugin,
        ..config.clone()
    };
    PluginHost::new(config).load(path).await
}

/// Starts, in the background, the fork server that plugins loaded with `config` will be
/// forked from, so that it has imported shotgun_api3 by the time the first plugin loads.
/// Needs a tokio runtime. Does nothing without `fork_server`; a server that cannot start is
/// reported by the first load.
pub fn warm_up(config: &HostConfig) {
    runner::warm_up(config);
}

/// [`check_interpreter`] for the plugins of a daemon that will use `config`: with a fork
/// server, its hello answers (the server the plugins fork from, started now if
/// [`warm_up`] has not), so no Python process starts only to be asked; without one, or
/// when it cannot start, a runner is started and asked, which also says what is wrong.
///
/// # Errors
/// As [`check_interpreter`].
pub async fn check_plugin_interpreter(config: &HostConfig) -> Result<String, LoadError> {
    match runner::fork_server_python(config).await {
        Some(version) => Ok(version),
        None => check_interpreter(&config.python).await,
    }
}

/// Starts `python` with the runner and returns its Python version when it can run plugins.
///
/// # Errors
/// [`LoadError::Interpreter`] when it cannot be started, [`LoadError::MissingShotgunApi`]
/// when it lacks shotgun_api3 (naming `<python> -m pip install shotgun-api3`), and
/// [`LoadError::Runner`] when it does not speak the protocol.
pub async fn check_interpreter(python: &Path) -> Result<String, LoadError> {
    let config = HostConfig {
        callback_timeout: Duration::from_secs(60),
        // A one-off: a fork server would outlive it for nothing.
        fork_server: false,
        ..HostConfig::new(python, "")
    };
    let runner = runner::Runner::start(&config, "engine").await?;
    let version = runner.hello.python.clone();
    runner.close(Duration::from_secs(5)).await;
    Ok(version)
}
