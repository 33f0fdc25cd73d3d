//! The HTTP status endpoint (axum): `/metrics`, `/healthz`, `/readyz`, `/status`, `/status.json`,
//! and `POST /actions` for the page's buttons when [`PageControl`] enables them.
//!
//! It reads snapshots from a [`StatusSource`] and the [`Telemetry`] registry; its only write
//! is an operator's action, handed to the loop as a [`control::Request`]. It binds
//! whatever listener the caller passes (the daemon binds `127.0.0.1` unless told otherwise;
//! tests bind `127.0.0.1:0`) and stops when the shutdown token is cancelled.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
/// The shutdown signal [`serve`] takes (re-exported so callers need no tokio-util).
pub use tokio_util::sync::CancellationToken;

use crate::control::{self, Action};
use crate::status::{Check, HealthPolicy, History, PageExtras, StatusSource, render_page};
use crate::telemetry::{self, Telemetry};

/// Why the status server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StatusServerError {
    /// Accepting or serving connections failed.
    #[error("the status endpoint failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// What the page adds to the plain endpoint: the chart history and (optionally) the action
/// buttons.
#[derive(Clone)]
pub struct PageOptions {
    /// The samples the charts draw; [`serve_with`] keeps it filled.
    pub history: Arc<History>,
    /// Buttons for stopped plugins; `None` keeps the page read-only.
    pub control: Option<PageControl>,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            history: Arc::new(History::new()),
            control: None,
        }
    }
}

/// What the page's buttons need: the token each post must carry and the loop's inbox.
#[derive(Clone)]
pub struct PageControl {
    /// The `control_token` setting.
    pub token: String,
    /// Where operator requests go (the sender of [`control::channel`]).
    pub requests: mpsc::Sender<control::Request>,
}

/// What every handler reads.
#[derive(Clone)]
struct AppState {
    status: Arc<dyn StatusSource>,
    telemetry: Arc<Telemetry>,
    policy: HealthPolicy,
    page: PageOptions,
}

/// The routes, for callers that want to mount them in their own server.
pub fn router(
    status: Arc<dyn StatusSource>,
    telemetry: Arc<Telemetry>,
    policy: HealthPolicy,
) -> Router {
    router_with(status, telemetry, policy, PageOptions::default())
}

/// The routes with `page`'s options; `POST /actions` answers only when `page.control` is set.
pub fn router_with(
    status: Arc<dyn StatusSource>,
    telemetry: Arc<Telemetry>,
    policy: HealthPolicy,
    page: PageOptions,
) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/status") }))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status_page))
        .route("/status.json", get(status_json))
        .route("/actions", post(action))
        .with_state(AppState {
            status,
            telemetry,
            policy,
            page,
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
    serve_with(
        listener,
        status,
        telemetry,
        policy,
        PageOptions::default(),
        shutdown,
    )
    .await
}

/// [`serve`] with `page`'s options, plus the sampler task that fills `page.history`. The
/// buttons are dropped unless `listener` is on a loopback address.
///
/// # Errors
/// [`StatusServerError::Serve`] when the listener fails.
pub async fn serve_with(
    listener: TcpListener,
    status: Arc<dyn StatusSource>,
    telemetry: Arc<Telemetry>,
    policy: HealthPolicy,
    mut page: PageOptions,
    shutdown: CancellationToken,
) -> Result<(), StatusServerError> {
    let address = listener.local_addr().ok();
    if let Some(address) = address {
        tracing::info!(%address, "Status endpoint listening");
    }
    if page.control.is_some() && !address.is_some_and(|address| address.ip().is_loopback()) {
        tracing::warn!(
            logger = "engine",
            "The status page stays read-only: its action buttons need a loopback `http` address"
        );
        page.control = None;
    }
    tokio::spawn(crate::status::history::worker(
        page.history.clone(),
        status.clone(),
        telemetry.clone(),
        shutdown.clone(),
    ));
    axum::serve(listener, router_with(status, telemetry, policy, page))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(StatusServerError::Serve)
}

async fn metrics(State(state): State<AppState>) -> Response {
    // Per-plugin gauges come from the same snapshot the page shows, refreshed at each scrape.
    let snapshot = state.status.snapshot();
    state.telemetry.set_degraded(snapshot.degraded);
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
    let extras = PageExtras {
        samples: state.page.history.samples(),
        control_token: state
            .page
            .control
            .as_ref()
            .map(|control| control.token.clone()),
    };
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(render_page(&snapshot, &state.policy, &extras)),
    )
        .into_response()
}

/// The snapshot, `degraded` and `degraded_reasons` included.
async fn status_json(State(state): State<AppState>) -> Response {
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(state.status.snapshot()),
    )
        .into_response()
}

/// A button's post.
#[derive(Debug, serde::Deserialize)]
struct ActionForm {
    token: String,
    plugin: String,
    #[serde(default)]
    collection: Option<String>,
    action: Action,
}

/// `POST /actions`: one button press, handed to the loop like a control socket request.
async fn action(State(state): State<AppState>, Form(form): Form<ActionForm>) -> Response {
    let Some(control) = &state.page.control else {
        return (StatusCode::FORBIDDEN, "The status page is read-only.\n").into_response();
    };
    if !same_token(&form.token, &control.token) {
        tracing::warn!(logger = "engine", plugin = %form.plugin, "Status page: an action with a wrong token was refused");
        state
            .telemetry
            .record_operator_action(&form.plugin, form.action.verb(), "refused");
        return (StatusCode::FORBIDDEN, "Wrong control token.\n").into_response();
    }
    let verb = form.action.verb();
    // The page has no user: the daemon's own uid stands for "someone with the token".
    let uid = std::fs::metadata("/proc/self")
        .map_or(u32::MAX, |meta| std::os::unix::fs::MetadataExt::uid(&meta));
    tracing::info!(logger = "engine", plugin = %form.plugin, "Status page asks to {verb} plugin {}", form.plugin);
    let (reply_tx, reply_rx) = oneshot::channel();
    let request = control::Request {
        plugin: form.plugin.clone(),
        collection: form.collection.filter(|collection| !collection.is_empty()),
        action: form.action,
        uid,
        reply: reply_tx,
    };
    let answer = match control.requests.send(request).await {
        Err(_) => Err("the daemon's loop is not taking requests".to_owned()),
        Ok(()) => match tokio::time::timeout(Duration::from_secs(30), reply_rx).await {
            Ok(Ok(Ok(done))) => Ok(done),
            Ok(Ok(Err(refusal))) => Err(refusal.to_string()),
            Ok(Err(_)) => Err("the daemon's loop is not taking requests".to_owned()),
            Err(_) => Err("the daemon's loop did not answer within 30 s".to_owned()),
        },
    };
    let result = if answer.is_ok() { "done" } else { "refused" };
    state
        .telemetry
        .record_operator_action(&form.plugin, verb, result);
    let (code, text) = match answer {
        Ok(done) => {
            tracing::info!(logger = "engine", plugin = %form.plugin, "Status page: {done}");
            (StatusCode::OK, done)
        }
        Err(why) => (StatusCode::CONFLICT, why),
    };
    let body = format!(
        "<!DOCTYPE html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2; url=status\"><title>sgevents: {verb}</title><p>{}</p><p><a href=\"status\">Back to the status page</a></p>",
        escape(&text)
    );
    (code, Html(body)).into_response()
}

/// Compares tokens without stopping at the first difference.
fn same_token(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
