//! The HTTP status endpoint (axum): `/metrics`, `/healthz`, `/readyz`, `/status`, `/status.json`.
//!
//! It only reads: snapshots from a [`StatusSource`] and the [`Telemetry`] registry. It binds
//! whatever listener the caller passes (the daemon binds `127.0.0.1` unless told otherwise;
//! tests bind `127.0.0.1:0`) and stops when the shutdown token is cancelled.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use jiff::Timestamp;
use tokio::net::TcpListener;
/// The shutdown signal [`serve`] takes (re-exported so callers need no tokio-util).
pub use tokio_util::sync::CancellationToken;

use crate::status::{Check, HealthPolicy, StatusSource, render_html};
use crate::telemetry::{self, Telemetry};

/// Why the status server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StatusServerError {
    /// Accepting or serving connections failed.
    #[error("the status endpoint failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// What every handler reads.
#[derive(Clone)]
struct AppState {
    status: Arc<dyn StatusSource>,
    telemetry: Arc<Telemetry>,
    policy: HealthPolicy,
}

/// The routes, for callers that want to mount them in their own server.
pub fn router(
    status: Arc<dyn StatusSource>,
    telemetry: Arc<Telemetry>,
    policy: HealthPolicy,
) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/status") }))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status_page))
        .route("/status.json", get(status_json))
        .with_state(AppState {
            status,
            telemetry,
            policy,
        })
}

/// Serves the status endpoint on `listener` until `shutdown` is cancelled.
///
/// # Errors
/// [`StatusServerError::Serve`] when the listener fails.
pub async fn serve(
    listener: TcpListener,
    status: Arc<dyn StatusSource>,
    telemetry: Arc<Telemetry>,
    policy: HealthPolicy,
    shutdown: CancellationToken,
) -> Result<(), StatusServerError> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "Status endpoint listening");
    }
    axum::serve(listener, router(status, telemetry, policy))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(StatusServerError::Serve)
}

async fn metrics(State(state): State<AppState>) -> Response {
    // Per-plugin gauges come from the same snapshot the page shows, refreshed at each scrape.
    let snapshot = state.status.snapshot();
    for plugin in &snapshot.plugins {
        if let Some(events) = plugin.lag_events {
            let seconds = plugin.lag_seconds.unwrap_or(0.0);
            state.telemetry.set_lag(&plugin.name, events, seconds);
        }
        state.telemetry.set_backlog(&plugin.name, plugin.backlog);
        state
            .telemetry
            .set_plugin_state(&plugin.name, plugin.state.as_str());
    }
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(telemetry::CONTENT_TYPE),
        )],
        state.telemetry.encode(),
    )
        .into_response()
}

fn check_response(check: Check, word_ok: &str, word_bad: &str) -> Response {
    let (code, word) = if check.ok {
        (StatusCode::OK, word_ok)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, word_bad)
    };
    (
        code,
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        format!("{word}: {}\n", check.reason),
    )
        .into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    let check = state
        .status
        .snapshot()
        .liveness(Timestamp::now(), &state.policy);
    check_response(check, "alive", "stalled")
}

async fn readyz(State(state): State<AppState>) -> Response {
    let check = state
        .status
        .snapshot()
        .readiness(Timestamp::now(), &state.policy);
    check_response(check, "ready", "not ready")
}

/// True when the client asked for JSON rather than a page.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/json") && !value.contains("text/html"))
}

async fn status_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if wants_json(&headers) {
        return status_json(State(state)).await;
    }
    let snapshot = state.status.snapshot();
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(render_html(&snapshot, &state.policy)),
    )
        .into_response()
}

async fn status_json(State(state): State<AppState>) -> Response {
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(state.status.snapshot()),
    )
        .into_response()
}
