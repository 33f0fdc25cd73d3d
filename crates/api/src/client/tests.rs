use std::time::Duration;

use serde_json::json;

use super::transport::{decode_for_test, status_error_for_test};
use super::*;
use crate::config::{endpoint_url, proxy_url, redact_userinfo};
use crate::{RetryPolicy, with_retry};

#[test]
fn results_are_unwrapped_and_info_is_returned_whole() {
    let value =
        decode_for_test("read", Some("application/json"), r#"{"results": [1, 2]}"#).unwrap();
    assert_eq!(value, json!([1, 2]));
    let info = decode_for_test(
        "info",
        Some("application/json; charset=utf-8"),
        r#"{"version": [8, 89, 0]}"#,
    )
    .unwrap();
    assert_eq!(info, json!({"version": [8, 89, 0]}));
}

#[test]
fn error_code_102_is_auth_and_others_are_api_errors() {
    let auth = decode_for_test(
        "read",
        Some("application/json"),
        r#"{"exception": true, "message": "Can't authenticate script 'bot'", "error_code": 102}"#,
    )
    .unwrap_err();
    assert!(matches!(&auth, ClientError::Auth { message, .. } if message.contains("bot")));
    assert!(!auth.is_transient());

    let api = decode_for_test(
        "delete",
        Some("application/json"),
        r#"{"exception": true, "message": "API delete() CRUD ERROR #3", "error_code": 104}"#,
    )
    .unwrap_err();
    assert!(matches!(
        api,
        ClientError::Api {
            code: Some(104),
            ..
        }
    ));

    let unknown = decode_for_test("read", None, r#"{"exception": 1}"#).unwrap_err();
    assert!(
        matches!(&unknown, ClientError::Api { code: None, message, .. } if message == "Unknown Error"),
        "{unknown:?}"
    );
}

#[test]
fn html_and_garbage_are_bad_replies() {
    let html = decode_for_test("read", Some("text/html"), "<html>proxy error</html>").unwrap_err();
    assert!(matches!(&html, ClientError::BadReply { detail, .. } if detail.contains("text/html")));
    let garbage = decode_for_test("read", Some("application/json"), "{not json").unwrap_err();
    assert!(
        matches!(&garbage, ClientError::BadReply { detail, .. } if detail.contains("not JSON"))
    );
    assert!(!garbage.is_transient());
}

#[test]
fn a_body_that_is_not_utf8_is_a_bad_reply_that_says_so() {
    let body = b"{\"results\": {\"entities\": [{\"description\": \"caf\xe9\"}]}}";
    let bad = decode_for_test("read", Some("application/json"), body).unwrap_err();
    assert!(
        matches!(&bad, ClientError::BadReply { method, detail }
            if method == "read" && detail.contains("not JSON") && detail.contains("UTF-8")),
        "{bad:?}"
    );
    assert!(!bad.is_transient());
    // The same body in UTF-8 decodes, its string intact.
    let good = "{\"results\": {\"entities\": [{\"description\": \"caf\u{e9}\"}]}}";
    let value = decode_for_test("read", Some("application/json"), good).unwrap();
    assert_eq!(value["entities"][0]["description"], "caf\u{e9}");
}

#[test]
fn http_status_classes() {
    for status in [500, 502, 503, 504, 429, 408] {
        assert!(
            status_error_for_test(status, None).is_transient(),
            "{status}"
        );
    }
    assert!(status_error_for_test(403, None).is_auth());
    assert!(status_error_for_test(401, None).is_auth());
    assert!(matches!(
        status_error_for_test(404, None),
        ClientError::BadReply { .. }
    ));
    let limited = status_error_for_test(429, Some("7"));
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
}

#[test]
fn truthiness_follows_python() {
    assert!(!is_truthy(&json!(null)));
    assert!(!is_truthy(&json!({})));
    assert!(!is_truthy(&json!([])));
    assert!(!is_truthy(&json!(0)));
    assert!(!is_truthy(&json!("")));
    assert!(is_truthy(&json!({"a": 1})));
    assert!(is_truthy(&json!([0])));
}

#[test]
fn endpoint_keeps_a_path_prefix_and_rejects_bad_urls() {
    assert_eq!(
        endpoint_url("https://studio.shotgrid.autodesk.com")
            .unwrap()
            .as_str(),
        "https://studio.shotgrid.autodesk.com/api3/json"
    );
    assert_eq!(
        endpoint_url("http://127.0.0.1:8080/sg/").unwrap().as_str(),
        "http://127.0.0.1:8080/sg/api3/json"
    );
    for bad in [
        "studio.example.com",
        "ftp://host",
        "https://user:secret@host",
        "",
    ] {
        let err = endpoint_url(bad).unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Config {
                    field: "base_url",
                    ..
                }
            ),
            "{bad}"
        );
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

#[test]
fn proxy_in_upstream_form_gets_a_scheme_and_port_8080() {
    assert_eq!(
        proxy_url("10.0.0.5").unwrap().as_str(),
        "http://10.0.0.5:8080/"
    );
    assert_eq!(
        proxy_url("proxy.lan:3128").unwrap().as_str(),
        "http://proxy.lan:3128/"
    );
    let with_auth = proxy_url("bob:pa55@proxy.lan:3128").unwrap();
    assert_eq!(with_auth.username(), "bob");
    assert_eq!(with_auth.password(), Some("pa55"));
    assert_eq!(with_auth.port(), Some(3128));
    assert_eq!(
        proxy_url("https://proxy.lan")
            .unwrap()
            .port_or_known_default(),
        Some(443)
    );
    for bad in [
        "",
        "socks5://bob:pa55@proxy:1080",
        "bob:pa55@proxy.lan:notaport",
        "proxy.lan/path",
    ] {
        let err = proxy_url(bad).unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Config {
                    field: "proxy_server",
                    ..
                }
            ),
            "{bad}: {err}"
        );
        assert!(!err.to_string().contains("pa55"), "{err}");
    }
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let mut config = ClientConfig::new("https://site", "bot", "s3cr3t-key");
    config.proxy = Some("bob:pa55@proxy:3128".to_owned());
    let text = format!("{config:?}");
    assert!(!text.contains("s3cr3t-key"), "{text}");
    assert!(!text.contains("pa55"), "{text}");
    assert!(text.contains("***@proxy:3128"), "{text}");
    let client = Client::new(config).unwrap();
    assert!(!format!("{client:?}").contains("s3cr3t-key"));
    assert_eq!(redact_userinfo("http://a:b@h:1/x"), "http://***@h:1/x");
    assert_eq!(redact_userinfo("h:1"), "h:1");
}

#[test]
fn empty_credentials_are_config_errors() {
    let err = Client::new(ClientConfig::new("https://site", "", "k")).unwrap_err();
    assert!(matches!(err, ClientError::Config { field: "name", .. }));
    let err = Client::new(ClientConfig::new("https://site", "bot", "")).unwrap_err();
    assert!(matches!(err, ClientError::Config { field: "key", .. }));
}

#[test]
fn backoff_doubles_up_to_the_cap_and_jitter_stays_in_range() {
    let policy = RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    };
    assert_eq!(policy.backoff(1), Duration::from_millis(100));
    assert_eq!(policy.backoff(2), Duration::from_millis(200));
    assert_eq!(policy.backoff(4), Duration::from_millis(800));
    assert_eq!(policy.backoff(5), Duration::from_secs(1));
    assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(1));
    let err = ClientError::Transient {
        method: "read".into(),
        reason: "x".into(),
        status: None,
        retry_after: None,
    };
    for attempt in 1..8 {
        let delay = policy.delay(attempt, &err);
        assert!(delay >= policy.backoff(attempt) / 2 && delay <= policy.backoff(attempt));
    }
    let asked = ClientError::Transient {
        method: "read".into(),
        reason: "x".into(),
        status: Some(429),
        retry_after: Some(Duration::from_secs(60)),
    };
    assert_eq!(policy.delay(1, &asked), Duration::from_secs(1));
}

fn transient() -> ClientError {
    ClientError::Transient {
        method: "read".into(),
        reason: "connection refused".into(),
        status: None,
        retry_after: None,
    }
}

#[tokio::test(start_paused = true)]
async fn with_retry_stops_after_max_attempts_and_on_fatal_errors() {
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    let mut calls = 0;
    let result: Result<(), _> = with_retry(&policy, || {
        calls += 1;
        async { Err(transient()) }
    })
    .await;
    assert!(result.unwrap_err().is_transient());
    assert_eq!(calls, 3);

    let mut calls = 0;
    let result: Result<(), _> = with_retry(&policy, || {
        calls += 1;
        async {
            Err(ClientError::Auth {
                method: "read".into(),
                message: "Can't authenticate".into(),
            })
        }
    })
    .await;
    assert!(result.unwrap_err().is_auth());
    assert_eq!(calls, 1, "an auth failure is never retried");

    let mut calls = 0;
    let result = with_retry(&policy, || {
        calls += 1;
        let n = calls;
        async move { if n < 3 { Err(transient()) } else { Ok(n) } }
    })
    .await;
    assert_eq!(result.unwrap(), 3);
}
