//! The HTTP face: `POST /api3/json` (with fault injection) and the `/admin` JSON endpoints.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};

use crate::api;
use crate::faults::{FaultRule, Terminal};
use crate::gaps::GapProfile;
use crate::site::Site;
use crate::time;

/// The router of one site.
pub(crate) fn router(site: Arc<Site>) -> Router {
    Router::new()
        .route("/api3/json", post(api3))
        .route("/admin/stats", get(stats))
        .route("/admin/stats/reset", post(reset_stats))
        .route(
            "/admin/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/admin/gaps", get(get_gaps).post(set_gaps))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(site)
}

async fn api3(State(site): State<Arc<Site>>, body: Bytes) -> Response {
    let request: Result<Value, String> = serde_json::from_slice(&body).map_err(|e| e.to_string());
    let method = request
        .as_ref()
        .map_or_else(|_| "<malformed>".to_owned(), api::method_of);
    site.count(&method);
    let decision = site.faults().decide(&method);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    match decision.terminal {
        Some(Terminal::Http(status)) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return html(
                code,
                &format!(
                    "<html><body><h1>{status} {}</h1></body></html>",
                    code.canonical_reason().unwrap_or("Error")
                ),
            );
        }
        Some(Terminal::Maintenance) => {
            return html(
                StatusCode::SERVICE_UNAVAILABLE,
                "<html><body><h1>Down for maintenance</h1><p>This site is being upgraded and will be back shortly.</p></body></html>",
            );
        }
        Some(Terminal::Drop) => return dropped(),
        Some(Terminal::Exception(code, message)) => {
            return json_bytes(
                serde_json::to_vec(
                    &json!({"exception": true, "message": message, "error_code": code}),
                )
                .unwrap_or_default(),
            );
        }
        None => {}
    }
    json_bytes(api::handle(&site, request))
}

fn json_bytes(body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn html(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.to_owned(),
    )
        .into_response()
}

/// A body that fails at once, so the server abandons the connection mid-reply.
struct Broken;

impl AsyncRead for Broken {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection dropped by fault injection",
        )))
    }
}

fn dropped() -> Response {
    let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(Broken)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
    response
}

async fn stats(State(site): State<Arc<Site>>) -> Response {
    let (latest, rows, next_id) = {
        let db = site.lock();
        (
            db.latest_visible_event(time::now_millis()),
            db.events.len(),
            db.next_event_id,
        )
    };
    let injected = site.faults().injected;
    axum::Json(json!({
        "requests": site.counts(),
        "faults_injected": injected,
        "latest_event_id": latest,
        "event_rows": rows,
        "next_event_id": next_id,
    }))
    .into_response()
}

async fn reset_stats(State(site): State<Arc<Site>>) -> Response {
    site.reset_counts();
    axum::Json(json!({"reset": true})).into_response()
}

async fn list_faults(State(site): State<Arc<Site>>) -> Response {
    axum::Json(json!({"faults": site.faults().list()})).into_response()
}

async fn add_faults(State(site): State<Arc<Site>>, body: Bytes) -> Response {
    let parsed: Result<Vec<FaultRule>, String> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
            .collect(),
        Ok(v) => serde_json::from_value(v)
            .map(|r| vec![r])
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let rules = match parsed {
        Ok(rules) => rules,
        Err(e) => {
            return bad_request(&format!(
                "invalid fault rule: {e}; see docs/sim.md for the JSON shape"
            ));
        }
    };
    for rule in &rules {
        if let Err(e) = rule.validate() {
            return bad_request(&e.to_string());
        }
    }
    let n = rules.len();
    let mut faults = site.faults();
    for rule in rules {
        faults.add(rule);
    }
    axum::Json(json!({"installed": n})).into_response()
}

async fn clear_faults(State(site): State<Arc<Site>>) -> Response {
    site.faults().clear();
    axum::Json(json!({"cleared": true})).into_response()
}

async fn get_gaps(State(site): State<Arc<Site>>) -> Response {
    let profile = site.lock().gaps.profile;
    axum::Json(json!(profile)).into_response()
}

async fn set_gaps(State(site): State<Arc<Site>>, body: Bytes) -> Response {
    let profile: GapProfile = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return bad_request(&format!(
                "invalid gap profile: {e}; see docs/sim.md for the JSON shape"
            ));
        }
    };
    if let Err(e) = profile.validate() {
        return bad_request(&e.to_string());
    }
    site.lock().gaps.profile = profile;
    axum::Json(json!(profile)).into_response()
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": message})),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not found: the api3 endpoint is POST /api3/json"})),
    )
        .into_response()
}
