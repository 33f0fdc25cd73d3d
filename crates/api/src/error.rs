//! The client's error type, split by what the caller should do about it.

use std::time::Duration;

/// Why a call to the site failed.
///
/// No variant ever carries the script key or a proxy password.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The site rejected the credentials (api3 `error_code` 102, 106, 108 or 110, or HTTP 401/403).
    /// Retrying will not help: fix `script_name`/`script_key` or the Script's permissions.
    #[error(
        "the site rejected the script credentials during `{method}`: {message} \
         (check the script name and key, and that the Script is active)"
    )]
    Auth {
        /// The api3 method that was called.
        method: String,
        /// The site's message.
        message: String,
    },
    /// The site answered the call with an api3 error (HTTP 200 and `"exception": true`).
    #[error("the site refused `{method}` (error code {}): {message}", code.map_or_else(|| "none".to_owned(), |c| c.to_string()))]
    Api {
        /// The api3 method that was called.
        method: String,
        /// The api3 `error_code`, when the site sent one.
        code: Option<i64>,
        /// The site's message.
        message: String,
    },
    /// A fault that may go away on its own: connection refused or reset, timeout, HTTP 5xx or 429.
    #[error("transient fault during `{method}`: {reason}")]
    Transient {
        /// The api3 method that was called.
        method: String,
        /// What went wrong, for the log.
        reason: String,
        /// The HTTP status, when the site answered.
        status: Option<u16>,
        /// How long the site asked us to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The site answered with something that is not a valid api3 reply: not JSON, the wrong shape,
    /// an unexpected HTTP status, or a malformed event row.
    #[error("unexpected reply to `{method}`: {detail}")]
    BadReply {
        /// The api3 method that was called.
        method: String,
        /// What was wrong with the reply.
        detail: String,
    },
    /// The client settings are unusable.
    #[error("bad site setting `{field}`: {message}")]
    Config {
        /// The setting, named as in the config file.
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl ClientError {
    /// True when the same call may succeed if tried again later (see [`crate::with_retry`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, ClientError::Transient { .. })
    }

    /// True for credential failures, which must not be retried in a tight loop.
    pub fn is_auth(&self) -> bool {
        matches!(self, ClientError::Auth { .. })
    }

    /// The delay the site asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
