//! A configured proxy is used, in upstream's `user:pass@host:port` form, with its credentials.

use sgevents_api::Client;

use crate::fake::{response, serve};
use crate::support::config;

#[tokio::test]
async fn requests_go_through_the_configured_proxy_with_basic_auth() {
    let info = r#"{"version": [8, 89, 0]}"#;
    let proxy = serve(vec![response("200 OK", "application/json", "", info)]).await;
    // The site address is never contacted directly: only the proxy answers.
    let mut cfg = config("http://site.invalid:8080");
    cfg.proxy = Some(format!("bob:s3cret@127.0.0.1:{}", proxy.port));
    let client = Client::new(cfg).unwrap();
    let reply = client.info().await.unwrap();
    assert_eq!(reply["version"][1], 89);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    let head = &seen[0].head;
    assert!(
        head.starts_with("POST http://site.invalid:8080/api3/json HTTP/1.1"),
        "absolute-form request line expected: {head}"
    );
    // base64("bob:s3cret")
    assert!(
        head.lines().any(|line| {
            line.to_ascii_lowercase()
                .starts_with("proxy-authorization:")
                && line.ends_with("Basic Ym9iOnMzY3JldA==")
        }),
        "{head}"
    );
}
