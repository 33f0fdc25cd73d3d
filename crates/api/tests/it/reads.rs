//! Reads against the real in-process sim: info, auth, limits, paging, by-id reads, stats.

use serde_json::json;
use sgevents_api::{Client, ClientError, EVENT_FIELDS, RetryPolicy, with_retry};

use crate::support::{KEY, SCRIPT, client, config, make_shots, sim};

#[tokio::test]
async fn info_needs_no_credentials_and_sets_the_page_size() {
    let sim = sim().await;
    let mut cfg = config(&sim.url());
    cfg.script_key = "wrong".to_owned();
    let client = Client::new(cfg).unwrap();
    let info = client.info().await.unwrap();
    assert_eq!(info["version"][0], 8);
    assert_eq!(client.records_per_page(), 500);
    assert!(
        client.server_time().is_some(),
        "the sim sends a Date header"
    );
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_that_is_not_retried_or_leaked() {
    let sim = sim().await;
    let mut cfg = config(&sim.url());
    cfg.script_key = "not-the-key-0xdeadbeef".to_owned();
    let client = Client::new(cfg).unwrap();
    let policy = RetryPolicy::default();
    let err = with_retry(&policy, || client.events_after(0, 10))
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(SCRIPT), "{text}");
    assert!(!text.contains("0xdeadbeef"), "{text}");
    assert_eq!(sim.request_counts().get("read"), Some(&1), "no retry");
    let stats = client.stats();
    assert_eq!(stats.per_method["read"].requests, 1);
    assert_eq!(stats.per_method["read"].errors, 1);
}

#[tokio::test]
async fn events_after_honours_limit_order_and_fields() {
    let sim = sim().await;
    make_shots(&sim, 30);
    let client = client(&sim.url());
    let latest = client.latest_event_id().await.unwrap();
    assert_eq!(latest, sim.latest_event_id());
    let latest = latest.unwrap();

    let first = client.events_after(0, 10).await.unwrap();
    assert_eq!(first.len(), 10);
    assert!(first.windows(2).all(|w| w[0].id < w[1].id));
    for event in &first {
        for field in EVENT_FIELDS {
            assert!(
                event.raw().contains_key(*field),
                "event {} lacks {field}",
                event.id
            );
        }
        assert_eq!(event.raw()["type"], "EventLogEntry");
    }

    let rest = client.events_after(first[9].id, 1000).await.unwrap();
    assert!(rest.first().unwrap().id > first[9].id);
    assert_eq!(rest.last().unwrap().id, latest);
    assert!(client.events_after(latest, 10).await.unwrap().is_empty());
    assert!(client.events_after(0, 0).await.unwrap().is_empty());
    // `created_at` is parsed from the site's `YYYY-MM-DDTHH:MM:SSZ`.
    assert!(rest.iter().any(|e| e.event_type == "Shotgun_Shot_New"));
}

#[tokio::test]
async fn a_limit_above_the_page_size_pages_until_done() {
    let sim = sim().await;
    sim.prefill(1300).unwrap();
    let client = client(&sim.url());
    let latest = sim.latest_event_id().unwrap();
    let before = sim.request_counts().get("read").copied().unwrap_or(0);

    let events = client.events_after(0, 1100).await.unwrap();
    assert_eq!(events.len(), 1100);
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    let reads = sim.request_counts()["read"] - before;
    assert_eq!(reads, 3, "1100 rows at 500 per page");

    let all = client.events_after(0, 100_000).await.unwrap();
    assert_eq!(all.last().unwrap().id, latest);
    assert!(all.len() > 1100);
}

#[tokio::test]
async fn events_by_id_returns_existing_ids_in_order_and_chunks_large_lists() {
    let sim = sim().await;
    sim.prefill(1200).unwrap();
    let client = client(&sim.url());
    let all = client.events_after(0, 100_000).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();

    let picked = client
        .events_by_id(&[ids[7], ids[3], ids[3], i64::from(i32::MAX)])
        .await
        .unwrap();
    let picked_ids: Vec<i64> = picked.iter().map(|e| e.id).collect();
    assert_eq!(picked_ids, vec![ids[3], ids[7]]);
    assert_eq!(picked[0], all[3]);

    let before = sim.request_counts()["read"];
    let every = client.events_by_id(&ids).await.unwrap();
    assert_eq!(every.len(), ids.len());
    let reads = sim.request_counts()["read"] - before;
    assert_eq!(reads, u64::try_from(ids.len().div_ceil(500)).unwrap());
    assert!(client.events_by_id(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn call_sends_auth_and_session_uuid_and_counts_requests() {
    let sim = sim().await;
    let mut cfg = config(&sim.url());
    cfg.session_uuid = Some("0b9a3b5e-6f5c-11ee-b962-0242ac120002".to_owned());
    let client = Client::new(cfg).unwrap();
    let created = client
        .call(
            "create",
            Some(
                json!({"type": "Shot", "fields": [{"field_name": "code", "value": "sh999"}],
                        "return_fields": ["id", "code"]}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(created["code"], "sh999");
    let latest = client.latest_event_id().await.unwrap().unwrap();
    let event = client.events_by_id(&[latest]).await.unwrap().remove(0);
    assert_eq!(
        event.raw()["session_uuid"],
        "0b9a3b5e-6f5c-11ee-b962-0242ac120002"
    );
    assert_eq!(event.user().map(|(kind, _)| kind), Some("ApiUser"));

    let err = client
        .call(
            "read",
            Some(json!({"type": "NoSuchType", "return_fields": ["id"]})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Api { .. }), "{err:?}");

    let stats = client.stats();
    // create, latest_event_id, events_by_id, the failed read.
    assert_eq!(stats.total.requests, 4);
    assert_eq!(stats.total.errors, 1);
    assert_eq!(stats.per_method["create"].requests, 1);
    assert_eq!(stats.per_method["read"].requests, 3);
    assert!(!format!("{client:?}").contains(KEY));
}
