//! The status server over real HTTP on 127.0.0.1:0, read with reqwest and the status client.

use std::sync::Arc;
use std::time::Duration;

use sgevents_daemon::status::client::{self, StatusClientError};
use sgevents_daemon::status::{
    ErrorInfo, HealthPolicy, PluginState, PluginStatus, StatusBoard, StatusSnapshot,
};
use sgevents_daemon::status_server::serve;
use sgevents_daemon::telemetry::Telemetry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::support::free_port;

/// A running status server over a board, torn down on drop.
pub(crate) struct Running {
    pub(crate) base: String,
    pub(crate) board: StatusBoard,
    pub(crate) telemetry: Arc<Telemetry>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), sgevents_daemon::status_server::StatusServerError>>>,
}

impl Running {
    pub(crate) async fn start(policy: HealthPolicy) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let board = StatusBoard::new("https://site.example.com");
        let telemetry = Arc::new(Telemetry::new());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            Arc::new(board.clone()),
            Arc::clone(&telemetry),
            policy,
            shutdown.clone(),
        ));
        Running {
            base,
            board,
            telemetry,
            shutdown,
            task: Some(task),
        }
    }

    pub(crate) async fn get(&self, path: &str, accept: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn broken_plugin() -> PluginStatus {
    let mut plugin = PluginStatus::new("broken", "/plugins");
    plugin.state = PluginState::Failed;
    plugin.cursor = Some(41);
    plugin.last_error = Some(ErrorInfo {
        at: jiff::Timestamp::now(),
        message: "ZeroDivisionError: division by zero".into(),
    });
    plugin.counts.failures = 1;
    plugin
}

#[tokio::test]
async fn metrics_are_served_in_openmetrics_format() {
    let server = Running::start(HealthPolicy::default()).await;
    server.telemetry.record_events_fetched(12);
    server.telemetry.record_failures("broken", 1);
    server.telemetry.record_deactivation("broken");
    let response = server.get("/metrics", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("sgevents_events_fetched_total 12"), "{body}");
    assert!(body.contains(r#"sgevents_plugin_failures_total{plugin="broken"} 1"#));
    assert!(body.contains(r#"sgevents_plugin_deactivations_total{plugin="broken"} 1"#));
    assert!(body.ends_with("# EOF\n"));
    server.stop().await;
}

#[tokio::test]
async fn readyz_follows_the_polls_and_healthz_the_heartbeat() {
    let policy = HealthPolicy {
        heartbeat_timeout: Duration::from_secs(60),
        ready_timeout: Duration::from_secs(60),
    };
    let server = Running::start(policy).await;
    server.board.heartbeat();
    let alive = server.get("/healthz", None).await;
    assert_eq!(alive.status(), 200);
    assert!(
        alive
            .text()
            .await
            .unwrap()
            .starts_with("alive: loop heartbeat")
    );

    let response = server.get("/readyz", None).await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.text().await.unwrap(),
        "not ready: no poll has finished yet\n"
    );

    server.board.poll_succeeded(3, Some(10));
    assert_eq!(server.get("/readyz", None).await.status(), 200);

    server.board.poll_failed("Connection refused (site down)");
    let down = server.get("/readyz", None).await;
    assert_eq!(down.status(), 503);
    assert!(down.text().await.unwrap().contains("site down"));

    server.board.poll_succeeded(0, Some(10));
    assert_eq!(server.get("/readyz", None).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn healthz_fails_when_the_heartbeat_stops() {
    let policy = HealthPolicy {
        heartbeat_timeout: Duration::from_millis(200),
        ready_timeout: Duration::from_secs(60),
    };
    let server = Running::start(policy).await;
    server.board.heartbeat();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let stalled = loop {
        let response = server.get("/healthz", None).await;
        if response.status() == 503 {
            break response.text().await.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "healthz never went stale"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        stalled.starts_with("stalled: no loop heartbeat for"),
        "{stalled}"
    );
    // A fresh heartbeat makes it healthy again. Beat before each look: on a loaded machine
    // more than the 200 ms timeout may pass between one beat and the request.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        server.board.heartbeat();
        if server.get("/healthz", None).await.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "healthz stayed stale after fresh heartbeats"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn status_is_html_or_json_by_path_and_accept_header() {
    let server = Running::start(HealthPolicy::default()).await;
    server.board.poll_succeeded(1, Some(41));
    server.board.set_plugins(vec![broken_plugin()]);

    let page = server.get("/status", Some("text/html")).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("ZeroDivisionError: division by zero"));
    assert!(
        html.contains(r#"data-plugin="broken" data-state="failed""#),
        "{html}"
    );

    for (path, accept) in [
        ("/status.json", None),
        ("/status", Some("application/json")),
    ] {
        let response = server.get(path, accept).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let snapshot: StatusSnapshot = response.json().await.unwrap();
        assert_eq!(snapshot.plugins.len(), 1);
        assert_eq!(snapshot.plugins[0].state, PluginState::Failed);
        assert_eq!(snapshot.site.latest_event_id, Some(41));
    }

    let root = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "/status");
    assert_eq!(server.get("/nothing", None).await.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn the_status_client_reads_a_running_daemon_and_reports_a_missing_one() {
    let server = Running::start(HealthPolicy::default()).await;
    server.board.set_plugins(vec![broken_plugin()]);
    let snapshot = client::fetch(&server.base, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(snapshot.plugins[0].name, "broken");
    assert_eq!(snapshot.daemon.pid, std::process::id());
    // The same with a path already on the URL.
    let again = client::fetch(&format!("{}/status", server.base), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(again.plugins, snapshot.plugins);
    server.stop().await;

    let nobody = format!("http://127.0.0.1:{}", free_port());
    let err = client::fetch(&nobody, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    let err = client::fetch("127.0.0.1:9090", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StatusClientError::BadUrl { .. }), "{err}");
}
