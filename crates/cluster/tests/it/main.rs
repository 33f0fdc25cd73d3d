//! The cluster's parts against real `nats-server` processes: one server and a three-node
//! JetStream cluster, started by the tests on free loopback ports.

mod nats;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sgevents_cluster::feed::{Delivery, Feed, Types};
use sgevents_cluster::lease::{Lease, Standing};
use sgevents_cluster::members::Members;
use sgevents_cluster::state::{Read, Shared, WriteError};
use sgevents_cluster::stream::EventStream;
use sgevents_cluster::{Cluster, ClusterError, ClusterSettings};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn settings(urls: &[String], node: &str, lease: Duration) -> ClusterSettings {
    ClusterSettings {
        nats_urls: urls.to_vec(),
        name: "test".to_owned(),
        node: node.to_owned(),
        lease,
        stream_max_age: Duration::from_secs(7 * 86_400),
    }
}

/// Retries `attempt` until it succeeds: JetStream needs a moment after a server (re)starts
/// before it answers, longer in a cluster while it elects its meta leader.
async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClusterError>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) if Instant::now() > deadline => {
                eprintln!("{what}: giving up");
                return Err(err);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// [`Lease::renew`], retried while the cluster cannot answer.
async fn renew(lease: &mut Lease) -> Result<Standing, ClusterError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match lease.renew().await {
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

async fn node(
    urls: &[String],
    name: &str,
    lease: Duration,
) -> Result<(Cluster, Lease), ClusterError> {
    let cluster = Cluster::connect(settings(urls, name, lease)).await?;
    let lease = eventually("open the lease", || Lease::open(&cluster, 1)).await?;
    Ok((cluster, lease))
}

#[tokio::test]
async fn one_node_takes_the_lease_and_the_other_follows() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let (_a, mut lease_a) = node(&urls, "a", Duration::from_secs(10)).await?;
    let (_b, mut lease_b) = node(&urls, "b", Duration::from_secs(10)).await?;
    let Standing::Leader { term } = lease_a.renew().await? else {
        return Err("the first node did not take a free lease".into());
    };
    assert_eq!(
        lease_b.renew().await?,
        Standing::Follower {
            holder: Some("a".to_owned())
        }
    );
    assert_eq!(
        lease_a.renew().await?,
        Standing::Leader { term },
        "renewal keeps the term"
    );
    assert_eq!(
        lease_b.renew().await?,
        Standing::Follower {
            holder: Some("a".to_owned())
        }
    );
    Ok(())
}

#[tokio::test]
async fn a_lapsed_lease_passes_to_another_node_and_the_old_holder_knows() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let lease_time = Duration::from_secs(2);
    let (_a, mut lease_a) = node(&urls, "a", lease_time).await?;
    let (_b, mut lease_b) = node(&urls, "b", lease_time).await?;
    let Standing::Leader { term: first } = lease_a.renew().await? else {
        return Err("a did not take a free lease".into());
    };
    // a stops renewing, as a node that died would. b tries every renewal period.
    let started = Instant::now();
    let second = loop {
        if let Standing::Leader { term } = lease_b.renew().await? {
            break term;
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("b never took the lapsed lease".into());
        }
        tokio::time::sleep(Lease::renew_every(lease_time)).await;
    };
    eprintln!(
        "takeover after {:?} with a {lease_time:?} lease",
        started.elapsed()
    );
    assert!(second > first, "a new tenure has a new term");
    assert_eq!(
        lease_a.renew().await?,
        Standing::Follower {
            holder: Some("b".to_owned())
        },
        "the old holder must learn it lost the lease"
    );
    Ok(())
}

#[tokio::test]
async fn a_released_lease_is_free_at_once() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let (_a, mut lease_a) = node(&urls, "a", Duration::from_secs(30)).await?;
    let (_b, mut lease_b) = node(&urls, "b", Duration::from_secs(30)).await?;
    assert!(matches!(lease_a.renew().await?, Standing::Leader { .. }));
    lease_a.release().await?;
    assert!(
        matches!(lease_b.renew().await?, Standing::Leader { .. }),
        "b must not wait 30 s for a released lease"
    );
    Ok(())
}

#[tokio::test]
async fn an_event_published_by_two_leaders_is_stored_once() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let old = Cluster::connect(settings(&urls, "old", Duration::from_secs(10))).await?;
    let new = Cluster::connect(settings(&urls, "new", Duration::from_secs(10))).await?;
    let stream_old = eventually("open the stream", || EventStream::open(&old, 1)).await?;
    let stream_new = eventually("open the stream", || EventStream::open(&new, 1)).await?;
    let row = Bytes::from_static(br#"{"type":"EventLogEntry","id":7}"#);
    let first = stream_old
        .publish(7, "Shotgun_Shot_Change", row.clone())
        .await?;
    let again = stream_new.publish(7, "Shotgun_Shot_Change", row).await?;
    assert!(!first.duplicate);
    assert!(
        again.duplicate,
        "the server must drop the second publish of event 7"
    );
    assert_eq!(again.sequence, first.sequence);
    let odd = stream_new
        .publish(8, "Odd.Type With Space", Bytes::from_static(b"{}"))
        .await?;
    assert!(
        !odd.duplicate,
        "an event type with odd characters still gets a subject"
    );
    assert_eq!(stream_old.stored().await?, 2);
    Ok(())
}

#[tokio::test]
async fn the_stream_carries_the_age_limit_and_a_node_with_another_one_updates_it() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let mut three_days = settings(&urls, "a", Duration::from_secs(10));
    three_days.stream_max_age = Duration::from_secs(3 * 86_400);
    let first = Cluster::connect(three_days).await?;
    let stream = eventually("open the stream", || EventStream::open(&first, 1)).await?;
    assert_eq!(
        stream.extent().await?.max_age,
        Duration::from_secs(3 * 86_400)
    );
    // A node started with another limit applies it to the existing stream.
    let mut short = settings(&urls, "b", Duration::from_secs(10));
    short.stream_max_age = Duration::from_secs(2);
    let second = Cluster::connect(short).await?;
    let stream = eventually("open the stream", || EventStream::open(&second, 1)).await?;
    assert_eq!(stream.extent().await?.max_age, Duration::from_secs(2));
    for id in 1..=3 {
        stream
            .publish(id, "Shotgun_Shot_Change", Bytes::from_static(b"{}"))
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stream
        .publish(4, "Shotgun_Shot_Change", Bytes::from_static(b"{}"))
        .await?;
    // The server drops the three old events on its own timer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut extent = stream.extent().await?;
    while extent.first != 4 {
        assert!(
            Instant::now() < deadline,
            "the old events were never dropped: {extent:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        extent = stream.extent().await?;
    }
    assert_eq!(extent.last, 4);
    Ok(())
}

#[tokio::test]
async fn lease_and_stream_outlive_one_of_three_servers() -> TestResult {
    let mut servers = nats::cluster_of_three()?;
    let urls: Vec<String> = servers.iter().map(nats::Server::url).collect();
    let lease_time = Duration::from_secs(10);
    let cluster = Cluster::connect(settings(&urls, "a", lease_time)).await?;
    let mut lease = eventually("open the lease", || Lease::open(&cluster, 3)).await?;
    let stream = eventually("open the stream", || EventStream::open(&cluster, 3)).await?;
    let Standing::Leader { term } = renew(&mut lease).await? else {
        return Err("the only node did not take a free lease".into());
    };
    let publish = |stream: EventStream, id: i64| async move {
        let row = Bytes::from(format!(r#"{{"id":{id}}}"#));
        eventually("publish", || {
            stream.publish(id, "Shotgun_Version_New", row.clone())
        })
        .await
    };
    // The holder renews as a leader does, every third of the lease, between publishes.
    let mut renewed = Instant::now();
    for id in 1..=100 {
        if id == 51 {
            servers[0].kill();
        }
        publish(stream.clone(), id).await?;
        if renewed.elapsed() >= Lease::renew_every(lease_time) {
            assert_eq!(
                renew(&mut lease).await?,
                Standing::Leader { term },
                "the holder keeps its lease (and its term) through the loss of one server"
            );
            renewed = Instant::now();
        }
    }
    // Publishing 1..=100 again, as a new leader that re-reads would, stores nothing new.
    for id in [1, 50, 51, 100] {
        assert!(
            publish(stream.clone(), id).await?.duplicate,
            "event {id} stored twice"
        );
    }
    assert_eq!(eventually("count", || stream.stored()).await?, 100);
    assert_eq!(
        renew(&mut lease).await?,
        Standing::Leader { term },
        "the holder keeps its lease (and its term) through the loss of one server"
    );
    servers[0].start()?;
    Ok(())
}

async fn stream_with(
    urls: &[String],
    node: &str,
    events: &[(i64, &str)],
) -> Result<EventStream, ClusterError> {
    let cluster = Cluster::connect(settings(urls, node, Duration::from_secs(10))).await?;
    let stream = eventually("open the stream", || EventStream::open(&cluster, 1)).await?;
    for (id, event_type) in events {
        let row = Bytes::from(format!(r#"{{"id":{id},"event_type":"{event_type}"}}"#));
        stream.publish(*id, event_type, row).await?;
    }
    Ok(stream)
}

const MIXED: &[(i64, &str)] = &[
    (1, "Shotgun_Shot_Change"),
    (2, "Shotgun_Version_New"),
    (3, "Shotgun_Task_Change"),
    (4, "Shotgun_Version_New"),
    (5, "Shotgun_Note_New"),
    (6, "Shotgun_Task_Change"),
    (7, "Shotgun_Version_New"),
    (8, "Shotgun_Shot_Change"),
];

/// Takes `count` events, acknowledging each before asking for the next, as a worker does.
async fn run_through(feed: &mut Feed, count: usize) -> Result<Vec<i64>, ClusterError> {
    let mut ids = Vec::new();
    while ids.len() < count {
        let Some(delivery) = feed.next(Duration::from_secs(5)).await? else {
            break;
        };
        ids.push(delivery.id);
        delivery.done().await?;
    }
    Ok(ids)
}

/// The next event, left in flight.
async fn take_one(feed: &mut Feed) -> Result<Delivery, Box<dyn std::error::Error>> {
    Ok(feed
        .next(Duration::from_secs(5))
        .await?
        .ok_or("no event came")?)
}

#[tokio::test]
async fn a_feed_gets_only_its_types_in_order_and_one_at_a_time() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let stream = stream_with(&urls, "a", MIXED).await?;
    let types = Types::Only(vec![
        "Shotgun_Version_New".to_owned(),
        "Shotgun_Task_Change".to_owned(),
    ]);
    let mut feed = Feed::open(
        &stream,
        "/plugins/versions",
        &types,
        Duration::from_secs(30),
    )
    .await?;
    let first = take_one(&mut feed).await?;
    assert_eq!(first.id, 2);
    // One in flight: nothing more until it is acknowledged.
    assert!(feed.next(Duration::from_millis(500)).await?.is_none());
    let mut seen = vec![2];
    first.done().await?;
    while let Some(delivery) = feed.next(Duration::from_secs(2)).await? {
        seen.push(delivery.id);
        assert_eq!(delivery.delivered, 1);
        delivery.done().await?;
    }
    assert_eq!(seen, [2, 3, 4, 6, 7]);
    Ok(())
}

#[tokio::test]
async fn an_unacknowledged_event_goes_to_the_next_node_and_nothing_else_repeats() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let stream = stream_with(&urls, "a", MIXED).await?;
    let ack_wait = Duration::from_secs(2);
    let mut feed_a = Feed::open(&stream, "/plugins/all", &Types::All, ack_wait).await?;
    assert_eq!(run_through(&mut feed_a, 3).await?, [1, 2, 3]);
    // Node a takes event 4 and dies before it acknowledges.
    let in_flight = take_one(&mut feed_a).await?;
    assert_eq!(in_flight.id, 4);
    drop(in_flight);
    drop(feed_a);
    // Node b opens the same plugin's feed on another connection.
    let other = stream_with(&urls, "b", &[]).await?;
    let mut feed_b = Feed::open(&other, "/plugins/all", &Types::All, ack_wait).await?;
    let mut seen = Vec::new();
    let mut repeats = Vec::new();
    while let Some(delivery) = feed_b.next(Duration::from_secs(5)).await? {
        if delivery.delivered > 1 {
            repeats.push(delivery.id);
        }
        seen.push(delivery.id);
        delivery.done().await?;
    }
    assert_eq!(
        seen,
        [4, 5, 6, 7, 8],
        "b resumes at the event a never finished"
    );
    assert_eq!(repeats, [4], "only the in-flight event runs twice");
    Ok(())
}

#[tokio::test]
async fn a_closed_feed_hands_back_what_its_open_pull_brought() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let stream = stream_with(&urls, "a", MIXED).await?;
    // Long enough that only a hand-back lets node b have event 2 within its pull.
    let ack_wait = Duration::from_secs(60);
    let mut feed_a = Feed::open(&stream, "/plugins/all", &Types::All, ack_wait).await?;
    let first = feed_a
        .next(Duration::from_secs(1))
        .await?
        .ok_or("no event came")?;
    assert_eq!(first.id, 1);
    // The ack lets the server send event 2 on node a's pull, which is still open; give it
    // the time to arrive.
    first.done().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    feed_a.close().await;
    let other = stream_with(&urls, "b", &[]).await?;
    let mut feed_b = Feed::open(&other, "/plugins/all", &Types::All, ack_wait).await?;
    assert_eq!(run_through(&mut feed_b, 7).await?, [2, 3, 4, 5, 6, 7, 8]);
    Ok(())
}

#[tokio::test]
async fn a_feed_whose_types_change_keeps_its_position() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let stream = stream_with(&urls, "a", MIXED).await?;
    let wait = Duration::from_secs(30);
    let versions = Types::Only(vec!["Shotgun_Version_New".to_owned()]);
    let mut feed = Feed::open(&stream, "/plugins/p", &versions, wait).await?;
    assert_eq!(run_through(&mut feed, 2).await?, [2, 4]);
    drop(feed);
    let shots = Types::Only(vec![
        "Shotgun_Version_New".to_owned(),
        "Shotgun_Shot_Change".to_owned(),
    ]);
    let mut feed = Feed::open(&stream, "/plugins/p", &shots, wait).await?;
    let mut seen = Vec::new();
    while let Some(delivery) = feed.next(Duration::from_secs(2)).await? {
        seen.push(delivery.id);
        delivery.done().await?;
    }
    assert_eq!(
        seen,
        [7, 8],
        "the new filter starts after the last acknowledged event"
    );
    Ok(())
}

#[tokio::test]
async fn members_are_live_until_they_leave_or_stop_beating() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let lease = Duration::from_secs(2);
    let a = Cluster::connect(settings(&urls, "a", lease)).await?;
    let b = Cluster::connect(settings(&urls, "b", lease)).await?;
    let c = Cluster::connect(settings(&urls, "c", lease)).await?;
    let members_a = eventually("open members", || Members::open(&a, 1)).await?;
    let members_b = eventually("open members", || Members::open(&b, 1)).await?;
    let members_c = eventually("open members", || Members::open(&c, 1)).await?;
    for members in [&members_a, &members_b, &members_c] {
        members.beat("up").await?;
    }
    assert_eq!(members_a.live().await?.len(), 3);
    members_c.leave().await?;
    assert_eq!(
        members_a.live().await?.len(),
        2,
        "a node that left is gone at once"
    );
    // b stops beating; a keeps beating.
    let started = Instant::now();
    loop {
        members_a.beat("up").await?;
        let live = members_a.live().await?;
        if live.len() == 1 {
            assert!(live[0].starts_with("a-"), "{live:?}");
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("b never expired: {live:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

#[tokio::test]
async fn shared_state_is_written_by_compare_and_set() -> TestResult {
    let server = nats::Server::single()?;
    let urls = [server.url()];
    let a = Cluster::connect(settings(&urls, "a", Duration::from_secs(10))).await?;
    let b = Cluster::connect(settings(&urls, "b", Duration::from_secs(10))).await?;
    let shared_a = eventually("open state", || Shared::open(&a, 1)).await?;
    let shared_b = eventually("open state", || Shared::open(&b, 1)).await?;
    let key = Shared::key("poller", "position");
    assert!(shared_a.read::<Vec<i64>>(&key).await?.is_none());
    let first = shared_a.write(&key, &vec![10_i64], None).await?;
    assert!(
        matches!(
            shared_b.write(&key, &vec![99_i64], None).await,
            Err(WriteError::Conflict(_))
        ),
        "a second creator must not overwrite the first"
    );
    let read = shared_b.read::<Vec<i64>>(&key).await?.ok_or("gone")?;
    assert_eq!(
        read,
        Read {
            value: vec![10],
            revision: first
        }
    );
    // b (the new leader) writes at the revision it read; a (deposed) then fails.
    shared_b
        .write(&key, &vec![11_i64], Some(read.revision))
        .await?;
    assert!(matches!(
        shared_a.write(&key, &vec![12_i64], Some(first)).await,
        Err(WriteError::Conflict(_))
    ));
    assert_eq!(
        shared_a.read::<Vec<i64>>(&key).await?.ok_or("gone")?.value,
        vec![11]
    );
    let bad = Shared::key("poller", "bad");
    shared_a.write(&bad, &"text", None).await?;
    let err = shared_a
        .read::<Vec<i64>>(&bad)
        .await
        .err()
        .ok_or("bad JSON was read")?;
    assert!(err.to_string().contains(&bad), "{err}");
    Ok(())
}
