//! The operator views against the real loop and the sim: a failing plugin in `/status`,
//! `/metrics` and the page; `/readyz` through an outage; one digest mail for an outage.

use std::sync::Arc;
use std::time::Duration;

use sgevents_daemon::alerts::{AlertLayer, Alerts, EmailConfig, PluginRecipients, RetryPolicy};
use sgevents_daemon::status::{HealthPolicy, PluginState, StatusSnapshot, WatchStatus};
use sgevents_daemon::status_server::{CancellationToken, serve};
use sgevents_daemon::telemetry::Telemetry;
use sgevents_sim::{FaultKind, FaultRule};
use tracing_subscriber::layer::SubscriberExt as _;

use super::harness::{Daemon, flaky, options, sim, write_shots};
use super::support::{Captured, SmtpSink};

/// A status server over a running daemon's watch.
struct Endpoint {
    base: String,
    shutdown: CancellationToken,
}

impl Endpoint {
    async fn start(daemon: &Daemon, policy: HealthPolicy) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(serve(
            listener,
            Arc::new(WatchStatus::new(Arc::clone(&daemon.watch))),
            Arc::new(Telemetry::new()),
            policy,
            shutdown.clone(),
        ));
        Endpoint { base, shutdown }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `path` until `done(status, body)` holds, failing after 30 s.
async fn poll_until(endpoint: &Endpoint, path: &str, done: impl Fn(u16, &str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = endpoint.get(path).await;
        if done(status, &body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out polling {path}; last answer {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_outage() -> FaultRule {
    FaultRule {
        kind: FaultKind::Http { status: 503 },
        rate: Some(1.0),
        count: None,
        for_ms: None,
        method: Some("read".to_owned()),
    }
}

#[tokio::test]
async fn a_failing_plugin_shows_in_status_metrics_and_page() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_shots(&sim, 3);
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options(),
        vec![flaky("good", None), flaky("bad<1>", Some(2))],
    );
    let endpoint = Endpoint::start(&daemon, HealthPolicy::default()).await;

    let json = poll_until(&endpoint, "/status.json", |_, body| {
        body.contains(r#""state":"failed""#)
    })
    .await;
    let snapshot: StatusSnapshot = serde_json::from_str(&json).unwrap();
    let bad = snapshot
        .plugins
        .iter()
        .find(|p| p.name == "bad<1>")
        .unwrap();
    assert_eq!(bad.state, PluginState::Failed);
    assert_eq!(bad.cursor, Some(1), "the failed event is not acknowledged");
    let error = bad.last_error.as_ref().unwrap();
    assert!(
        error.message.contains("bad<1> is failing on purpose"),
        "{error:?}"
    );
    assert_eq!(bad.callbacks[0].filter, "all events");
    assert!(
        snapshot
            .site
            .url
            .starts_with(sim.url().trim_end_matches('/'))
    );

    let (status, metrics) = endpoint.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"sgevents_plugin_state{plugin="bad<1>",state="failed"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"sgevents_plugin_lag_events{plugin="bad<1>"}"#));

    let (_, page) = endpoint.get("/status").await;
    assert!(
        page.contains(r#"data-plugin="bad&#60;1&#62;" data-state="failed""#),
        "{page}"
    );
    assert!(page.contains("failing on purpose"));
    daemon.stop().await;
}

#[tokio::test]
async fn readyz_is_unready_while_the_site_is_down_and_ready_once_it_is_back() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_shots(&sim, 1);
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options(),
        vec![flaky("a", None)],
    );
    let endpoint = Endpoint::start(&daemon, HealthPolicy::default()).await;
    poll_until(&endpoint, "/readyz", |status, _| status == 200).await;

    sim.add_fault(read_outage()).unwrap();
    let body = poll_until(&endpoint, "/readyz", |status, _| status == 503).await;
    assert!(body.starts_with("not ready:"), "{body}");
    let (alive, _) = endpoint.get("/healthz").await;
    assert_eq!(alive, 200, "the loop stays alive during an outage");

    sim.clear_faults();
    poll_until(&endpoint, "/readyz", |status, _| status == 200).await;
    daemon.stop().await;
}

#[tokio::test]
async fn an_outage_yields_one_digest_not_a_flood() {
    let smtp = SmtpSink::start(0, None).await;
    let (sender, mail_task) = Alerts::spawn(EmailConfig {
        server: "127.0.0.1".into(),
        port: smtp.port,
        from: "sgevents@example.com".into(),
        to: vec!["ops@example.com".into()],
        subject: "[sim]".into(),
        max_per_window: 1,
        digest_window: Duration::from_secs(600),
        retry: RetryPolicy {
            initial: Duration::from_millis(100),
            ..RetryPolicy::default()
        },
        ..EmailConfig::default()
    })
    .unwrap();
    let captured = Captured::default();
    // The test runtime is single-threaded, so the daemon's tasks log through this subscriber.
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(AlertLayer::new(sender.clone(), PluginRecipients::new()))
            .with(captured.clone()),
    );

    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    sim.add_fault(read_outage()).unwrap();
    let mut options = options();
    options.max_conn_retries = 2;
    options.conn_retry_sleep = Duration::from_millis(100);
    // A plugin is needed: the loop polls only for open plugins.
    let daemon = Daemon::start(
        &sim,
        &dir.path().join("state.db"),
        options,
        vec![flaky("a", None)],
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while captured.count("Unable to reach the site") < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for five outage errors; logged: {:#?}",
            captured.messages()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.stop().await;
    let errors = captured.count("Unable to reach the site");
    sender.close();
    mail_task.await.unwrap();

    let mails = smtp.messages();
    assert_eq!(mails.len(), 2, "one alert and one digest: {mails:#?}");
    assert!(mails[0].body.contains("Unable to reach the site"));
    assert_eq!(mails[0].subject, "[sim] ERROR - SG event daemon.");
    let digest = &mails[1].body;
    assert!(
        digest.contains(&format!(
            "Digest for logger engine: {} message(s) were held back",
            errors - 1
        )),
        "{errors} errors; digest: {digest}"
    );
}
