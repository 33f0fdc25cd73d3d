//! One api3 round trip: envelope, HTTP status, content type, JSON decoding and error bodies.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, DATE, HeaderMap, RETRY_AFTER};
use serde_json::{Value, json};

use super::{Client, is_truthy, lock};
use crate::ClientError;

/// The longest piece of an unexpected body quoted in an error message.
const SNIPPET_CHARS: usize = 200;

impl Client {
    /// Posts `{"method_name", "params"}` once and maps the reply.
    pub(super) async fn rpc(&self, method: &str, params: Vec<Value>) -> Result<Value, ClientError> {
        self.rpc_with(method, params, decode).await
    }

    /// As [`Client::rpc`], the body (method, headers, bytes) read by `decoder`; [`decode`]
    /// reads the whole `results`.
    pub(super) async fn rpc_with<T>(
        &self,
        method: &str,
        params: Vec<Value>,
        decoder: impl FnOnce(&str, &HeaderMap, &[u8]) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let started = Instant::now();
        let result = self.rpc_once(method, params, decoder).await;
        let latency = started.elapsed();
        lock(&self.inner.stats).record(method, latency, result.is_err());
        if let Err(err) = &result {
            tracing::debug!(method, error = %err, "Site call failed");
        }
        result
    }

    async fn rpc_once<T>(
        &self,
        method: &str,
        params: Vec<Value>,
        decoder: impl FnOnce(&str, &HeaderMap, &[u8]) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let envelope = json!({"method_name": method, "params": params});
        let body = serde_json::to_vec(&envelope).map_err(|err| ClientError::Config {
            field: "payload",
            message: format!("cannot encode the `{method}` request: {err}"),
        })?;
        let response = self
            .inner
            .http
            .post(self.inner.endpoint.clone())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|err| transient(method, describe(&err), None, None))?;
        let status = response.status();
        let headers = response.headers().clone();
        self.note_server_time(&headers);
        let bytes = response
            .bytes()
            .await
            .map_err(|err| transient(method, describe(&err), Some(status.as_u16()), None))?;
        if !status.is_success() {
            return Err(status_error(method, status, &headers, &bytes));
        }
        decoder(method, &headers, &bytes)
    }

    fn note_server_time(&self, headers: &HeaderMap) {
        let parsed = headers
            .get(DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| {
                jiff::fmt::rfc2822::DateTimeParser::new()
                    .parse_timestamp(text)
                    .ok()
            });
        if let Some(time) = parsed {
            *lock(&self.inner.server_time) = Some(time);
        }
    }
}

/// The reply's `results` (or the whole reply when it has none), or the error it holds.
pub(super) fn decode(
    method: &str,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Value, ClientError> {
    let bad = |detail: String| ClientError::BadReply {
        method: method.to_owned(),
        detail,
    };
    let text = body_text(method, headers, bytes)?;
    let value: Value = serde_json::from_str(text)
        .map_err(|err| bad(format!("the body is not JSON ({err}): {}", snippet(bytes))))?;
    let Value::Object(mut object) = value else {
        return Ok(value);
    };
    if object.get("exception").is_some_and(is_truthy) {
        let code = object.get("error_code").and_then(Value::as_i64);
        let message = object
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or("Unknown Error")
            .to_owned();
        let method = method.to_owned();
        return Err(match code {
            Some(102 | 106 | 108 | 110) => ClientError::Auth { method, message },
            _ => ClientError::Api {
                method,
                code,
                message,
            },
        });
    }
    match object.remove("results") {
        Some(results) => Ok(results),
        None => Ok(Value::Object(object)),
    }
}

/// The body as text, once its content type says JSON.
pub(super) fn body_text<'b>(
    method: &str,
    headers: &HeaderMap,
    bytes: &'b [u8],
) -> Result<&'b str, ClientError> {
    let bad = |detail: String| ClientError::BadReply {
        method: method.to_owned(),
        detail,
    };
    if let Some(content_type) = headers.get(CONTENT_TYPE) {
        let content_type = content_type.to_str().unwrap_or("").to_ascii_lowercase();
        if !(content_type.starts_with("application/json")
            || content_type.starts_with("text/javascript"))
        {
            return Err(bad(format!(
                "content type `{content_type}` instead of JSON: {}",
                snippet(bytes)
            )));
        }
    }
    // Checked once for the whole body: parsing a `str`, serde_json does not check each
    // string again (about 40 strings an event, a tenth of the parse).
    std::str::from_utf8(bytes).map_err(|err| {
        bad(format!(
            "the body is not JSON (not valid UTF-8: {err}): {}",
            snippet(bytes)
        ))
    })
}

fn status_error(method: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ClientError {
    let code = status.as_u16();
    let text = format!("HTTP {status}: {}", snippet(body));
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        let reason = if status == StatusCode::SERVICE_UNAVAILABLE {
            format!("HTTP {status}: the site is down for maintenance or too busy")
        } else {
            text
        };
        return transient(method, reason, Some(code), retry_after(headers));
    }
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return ClientError::Auth {
            method: method.to_owned(),
            message: text,
        };
    }
    ClientError::BadReply {
        method: method.to_owned(),
        detail: format!("{text} (is the site URL right?)"),
    }
}

fn transient(
    method: &str,
    reason: String,
    status: Option<u16>,
    retry_after: Option<Duration>,
) -> ClientError {
    ClientError::Transient {
        method: method.to_owned(),
        reason,
        status,
        retry_after,
    }
}

/// `Retry-After` as delay-seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text)
        .ok()?;
    let wait = at.duration_since(Timestamp::now());
    Duration::try_from(wait).ok()
}

/// The error and its causes on one line, without the request URL.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut out: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
pub(super) fn decode_for_test(
    method: &str,
    content_type: Option<&str>,
    body: impl AsRef<[u8]>,
) -> Result<Value, ClientError> {
    let mut headers = HeaderMap::new();
    if let Some(value) = content_type.and_then(|ct| ct.parse().ok()) {
        headers.insert(CONTENT_TYPE, value);
    }
    decode(method, &headers, body.as_ref())
}

#[cfg(test)]
pub(super) fn status_error_for_test(status: u16, retry_after_header: Option<&str>) -> ClientError {
    let mut headers = HeaderMap::new();
    if let Some(value) = retry_after_header.and_then(|v| v.parse().ok()) {
        headers.insert(RETRY_AFTER, value);
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    status_error("read", status, &headers, b"<html>oops</html>")
}
