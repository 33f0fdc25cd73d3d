//! Error types: `SimError` for the library surface and `ApiError` for api3 error replies.

use std::path::PathBuf;

/// Errors of the emulator's library surface (startup, in-process writes).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address we tried to bind.
        addr: std::net::SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// A schema file could not be read or parsed.
    #[error("schema file {path}: {message}")]
    Schema {
        /// The schema file.
        path: PathBuf,
        /// What is wrong with it and what to do.
        message: String,
    },
    /// The embedded store under `--data` failed.
    #[error("data store {path}: {message}")]
    Store {
        /// The data directory or database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A script given to the emulator is not registered.
    #[error("unknown script '{0}': register it in SimConfig::scripts (--script NAME:KEY)")]
    UnknownScript(String),
    /// A configuration value is invalid (flag syntax, out-of-range fraction, ...).
    #[error("invalid setting {setting}: {message}")]
    Config {
        /// The setting or flag.
        setting: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// An api3-level error, as the site would report it to a client.
    #[error("{0}")]
    Api(#[from] ApiError),
}

/// An api3 error reply: HTTP 200 with `{"exception": true, "message", "error_code"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (error_code {code})")]
pub struct ApiError {
    /// The api3 `error_code` (102 authentication, 103 validation, 104 CRUD).
    pub code: i64,
    /// The human-readable message, worded like a real site's.
    pub message: String,
}

impl ApiError {
    /// Authentication failure (raised by shotgun_api3 as `AuthenticationFault`).
    pub(crate) fn auth(message: impl Into<String>) -> Self {
        Self {
            code: 102,
            message: message.into(),
        }
    }

    /// Validation failure: unknown field, bad relation, wrong value type.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: 103,
            message: message.into(),
        }
    }

    /// CRUD failure: missing record, refused operation.
    pub(crate) fn crud(message: impl Into<String>) -> Self {
        Self {
            code: 104,
            message: message.into(),
        }
    }

    /// The JSON body the site sends for this error.
    pub(crate) fn to_body(&self) -> serde_json::Value {
        serde_json::json!({"exception": true, "message": self.message, "error_code": self.code})
    }
}
