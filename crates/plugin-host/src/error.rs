//! Why a plugin could not be loaded: upstream's deactivation cases plus our process failures.

use std::path::PathBuf;

use crate::logs::{CRITICAL, ERROR, emit};

/// Why a plugin (or its interpreter) could not be used. Each variant names the file or the
/// interpreter and, where the fix is not the plugin's code, what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The interpreter could not be started.
    #[error(
        "Could not start the plugin interpreter {}: {source}. Point the plugin path's \
         `python` setting at an existing Python 3 interpreter",
        python.display()
    )]
    Interpreter {
        /// The interpreter path.
        python: PathBuf,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// The interpreter runs but cannot import shotgun_api3.
    #[error(
        "The plugin interpreter {python} cannot import shotgun_api3 ({reason}). Install it \
         with `{python} -m pip install shotgun-api3`",
        python = python.display()
    )]
    MissingShotgunApi {
        /// The interpreter path.
        python: PathBuf,
        /// The import error.
        reason: String,
    },
    /// The interpreter started but did not speak the plugin protocol.
    #[error(
        "The plugin interpreter {} did not start the sgevents runner: {reason}. Check that \
         it is Python 3.7 or newer",
        python.display()
    )]
    Runner {
        /// The interpreter path.
        python: PathBuf,
        /// What went wrong (no hello, wrong protocol version, early exit).
        reason: String,
    },
    /// Importing the plugin file failed (upstream: ERROR on `plugin.<name>`).
    #[error("{message}\n\n{traceback}")]
    Import {
        /// The plugin file.
        path: PathBuf,
        /// Upstream's message, naming the file.
        message: String,
        /// The Python traceback.
        traceback: String,
    },
    /// The module has no callable `registerCallbacks` (upstream: CRITICAL on `engine`).
    #[error("{message}")]
    NoRegisterCallbacks {
        /// The plugin file.
        path: PathBuf,
        /// Upstream's message, naming the file.
        message: String,
    },
    /// `registerCallbacks` raised (upstream: CRITICAL on `engine`).
    #[error("{message}\n\n{traceback}")]
    RegisterFailed {
        /// The plugin file.
        path: PathBuf,
        /// Upstream's message, naming the file.
        message: String,
        /// The Python traceback.
        traceback: String,
    },
    /// `registerCallback` got a non-callable; upstream raises TypeError inside
    /// `registerCallbacks` and logs it like [`LoadError::RegisterFailed`].
    #[error("{message}\n\n{traceback}")]
    NotCallable {
        /// The plugin file.
        path: PathBuf,
        /// Upstream's message, naming the file.
        message: String,
        /// The Python traceback.
        traceback: String,
    },
    /// A callback's `matchEvents` has the wrong shape. Upstream crashes at dispatch time;
    /// we refuse the plugin at load.
    #[error("Callback {callback} in plugin at {} has a bad matchEvents: {reason}", path.display())]
    BadMatchEvents {
        /// The plugin file.
        path: PathBuf,
        /// The callback's name.
        callback: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin's process died or hung while loading it.
    #[error("The process loading the plugin at {} failed: {reason}", path.display())]
    Crashed {
        /// The plugin file.
        path: PathBuf,
        /// How it ended (signal, exit status, timeout).
        reason: String,
    },
    /// The plugin path is not a readable `.py` file.
    #[error("The plugin path {} is not a file: {reason}", path.display())]
    BadPath {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl LoadError {
    /// The Python logger upstream used for this failure, given the plugin's name.
    pub fn logger(&self, plugin_name: &str) -> String {
        match self {
            LoadError::Import { .. } => format!("plugin.{plugin_name}"),
            _ => "engine".to_owned(),
        }
    }

    /// The Python level upstream used for this failure (40 ERROR or 50 CRITICAL).
    pub fn py_level(&self) -> i64 {
        match self {
            LoadError::Import { .. } => ERROR,
            _ => CRITICAL,
        }
    }

    /// Logs the failure the way upstream does: upstream's logger name and level, with the
    /// `logger` / `py_level` fields of the Python log convention.
    pub fn emit(&self, plugin_name: &str) {
        emit(
            &self.logger(plugin_name),
            self.py_level(),
            &self.to_string(),
        );
    }
}
