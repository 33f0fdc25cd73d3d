//! Transient faults from the sim and from a fake server: classified, retried, ridden out.

use std::time::Duration;

use sgevents_api::{Client, ClientError, RetryPolicy, with_retry, with_retry_notify};
use sgevents_sim::{FaultKind, FaultRule};

use crate::fake::{response, serve};
use crate::support::{client, config, make_shots, sim};

fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
    }
}

fn rule(kind: FaultKind, count: u64) -> FaultRule {
    FaultRule {
        kind,
        rate: None,
        count: Some(count),
        for_ms: None,
        method: Some("read".to_owned()),
    }
}

#[tokio::test]
async fn http_5xx_maintenance_and_dropped_connections_are_transient_and_retried() {
    let sim = sim().await;
    make_shots(&sim, 3);
    let client = client(&sim.url());
    for kind in [
        FaultKind::Http { status: 502 },
        FaultKind::Http { status: 504 },
        FaultKind::Maintenance,
        FaultKind::Drop,
    ] {
        sim.add_fault(rule(kind.clone(), 2)).unwrap();
        let once = client.events_after(0, 10).await.unwrap_err();
        assert!(once.is_transient(), "{kind:?}: {once:?}");

        let mut retries = Vec::new();
        let events = with_retry_notify(
            &fast_policy(5),
            || client.events_after(0, 10),
            |notice| retries.push(notice.attempt),
        )
        .await
        .unwrap();
        assert!(!events.is_empty());
        assert_eq!(retries, vec![1], "{kind:?}: one fault left, so one retry");
    }
}

#[tokio::test]
async fn retries_give_up_after_max_attempts() {
    let sim = sim().await;
    sim.add_fault(rule(FaultKind::Http { status: 503 }, 100))
        .unwrap();
    let client = client(&sim.url());
    let before = sim.request_counts().get("read").copied().unwrap_or(0);
    let err = with_retry(&fast_policy(4), || client.latest_event_id())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transient {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sim.request_counts()["read"] - before, 4);
    assert_eq!(client.stats().per_method["read"].errors, 4);
}

#[tokio::test]
async fn an_injected_api3_auth_exception_is_fatal() {
    let sim = sim().await;
    sim.add_fault(rule(
        FaultKind::Exception {
            error_code: 102,
            message: "Can't authenticate script 'sgevents'".to_owned(),
        },
        1,
    ))
    .unwrap();
    let client = client(&sim.url());
    let err = with_retry(&fast_policy(5), || client.latest_event_id())
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    let other = rule(
        FaultKind::Exception {
            error_code: 103,
            message: "API read() EventLogEntry.foo doesn't exist.".to_owned(),
        },
        1,
    );
    sim.add_fault(other).unwrap();
    let err = client.latest_event_id().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Api {
                code: Some(103),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client(&format!("http://127.0.0.1:{port}"));
    let err = client.info().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

#[tokio::test]
async fn a_timeout_is_transient() {
    let sim = sim().await;
    sim.add_fault(rule(FaultKind::Latency { ms: 3_000 }, 1))
        .unwrap();
    let mut cfg = config(&sim.url());
    cfg.timeout = Duration::from_millis(200);
    let client = Client::new(cfg).unwrap();
    let err = client.latest_event_id().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn a_429_carries_retry_after_and_garbage_is_a_bad_reply() {
    let ok = r#"{"results": {"entities": [{"type": "EventLogEntry", "id": 5}], "paging_info": {"has_next_page": false}}}"#;
    let fake = serve(vec![
        response(
            "429 Too Many Requests",
            "text/plain",
            "retry-after: 0\r\n",
            "slow down",
        ),
        response("200 OK", "text/html", "", "<html>Proxy login</html>"),
        response("200 OK", "application/json", "", "{\"results\": "),
        response(
            "200 OK",
            "application/json",
            "",
            r#"{"results": {"no_entities": []}}"#,
        ),
        response("200 OK", "application/json", "", ok),
    ])
    .await;
    let client = client(&fake.url);
    let limited = client.latest_event_id().await.unwrap_err();
    assert_eq!(limited.retry_after(), Some(Duration::ZERO));
    assert!(limited.is_transient());
    let html = client.latest_event_id().await.unwrap_err();
    assert!(
        matches!(&html, ClientError::BadReply { detail, .. } if detail.contains("text/html")),
        "{html:?}"
    );
    let cut = client.latest_event_id().await.unwrap_err();
    assert!(
        matches!(&cut, ClientError::BadReply { detail, .. } if detail.contains("not JSON")),
        "{cut:?}"
    );
    let shape = client.latest_event_id().await.unwrap_err();
    assert!(
        matches!(&shape, ClientError::BadReply { detail, .. } if detail.contains("entities")),
        "{shape:?}"
    );
    assert_eq!(client.latest_event_id().await.unwrap(), Some(5));
    assert_eq!(
        client.server_time().unwrap().to_string(),
        "2026-11-22T10:00:00Z",
        "server time comes from the Date header"
    );
    // The wire envelope: POST /api3/json with auth first.
    let seen = fake.seen();
    assert!(
        seen[0].head.starts_with("POST /api3/json HTTP/1.1"),
        "{}",
        seen[0].head
    );
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["method_name"], "read");
    assert_eq!(body["params"][0]["script_name"], "sgevents");
    assert_eq!(body["params"][1]["sorts"][0]["direction"], "desc");
    assert_eq!(body["params"][1]["paging"]["entities_per_page"], 1);
}

#[tokio::test]
async fn a_malformed_event_row_names_its_id_and_field() {
    let rows = r#"{"results": {"entities": [
        {"type": "EventLogEntry", "id": 41, "event_type": "Shotgun_Shot_New", "created_at": "2026-11-22T10:00:00Z"},
        {"type": "EventLogEntry", "id": 42, "event_type": "Shotgun_Shot_New", "created_at": 17}
    ], "paging_info": {"has_next_page": false}}}"#;
    let fake = serve(vec![response("200 OK", "application/json", "", rows)]).await;
    let err = client(&fake.url).events_after(40, 10).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("42") && text.contains("created_at"), "{text}");
}
