//! Reads a running daemon's `/status.json` (for `sgevents status --url`).

use std::time::Duration;

use super::StatusSnapshot;

/// Why the running daemon's status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusClientError {
    /// The URL is not usable.
    #[error(
        "--url {url:?} is not a valid http URL ({reason}); use a form such as http://127.0.0.1:9090"
    )]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// Nothing answered, or the connection broke.
    #[error("cannot reach the daemon at {url}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// The HTTP client's reason.
        #[source]
        source: reqwest::Error,
    },
    /// Something answered, but not with a status.
    #[error("{url} answered HTTP {status}; is this the sgevents status endpoint (--http)?")]
    BadStatus {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The answer was not a status snapshot.
    #[error("{url} did not return an sgevents status: {source}")]
    BadBody {
        /// The URL asked.
        url: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl StatusClientError {
    /// True when nothing answered (so the caller may fall back to the state store).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StatusClientError::Unreachable { .. })
    }
}

/// The `/status.json` address under a base URL such as `http://127.0.0.1:9090`.
pub fn status_json_url(base: &str) -> Result<String, StatusClientError> {
    let trimmed = base.trim().trim_end_matches('/');
    let has_scheme = trimmed.starts_with("http://") || trimmed.starts_with("https://");
    if !has_scheme {
        return Err(StatusClientError::BadUrl {
            url: base.to_owned(),
            reason: "it must start with http:// or https://".to_owned(),
        });
    }
    let trimmed = trimmed
        .strip_suffix("/status.json")
        .or_else(|| trimmed.strip_suffix("/status"))
        .unwrap_or(trimmed);
    Ok(format!("{trimmed}/status.json"))
}

/// Fetches the status of the daemon at `base` (its `--http` address), waiting at most `timeout`.
///
/// # Errors
/// [`StatusClientError`] when the URL is bad, nothing answers, or the answer is not a status.
pub async fn fetch(base: &str, timeout: Duration) -> Result<StatusSnapshot, StatusClientError> {
    let url = status_json_url(base)?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|source| StatusClientError::Unreachable {
            url: url.clone(),
            source,
        })?;
    let response = client
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|source| StatusClientError::Unreachable {
            url: url.clone(),
            source,
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(StatusClientError::BadStatus {
            url,
            status: status.as_u16(),
        });
    }
    let body = response
        .bytes()
        .await
        .map_err(|source| StatusClientError::Unreachable {
            url: url.clone(),
            source,
        })?;
    serde_json::from_slice(&body).map_err(|source| StatusClientError::BadBody { url, source })
}
