//! The cluster's parts against real `nats-server` processes: one server and a three-node
//! JetStream cluster, started by the tests on free loopback ports.

mod nats;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sgevents_cluster::lease::{Lease, Standing};
use sgevents_cluster::stream::EventStream;
use sgevents_cluster::{Cluster, ClusterError, ClusterSettings};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn settings(urls: &[String], node: &str, lease: Duration) -> ClusterSettings {
    ClusterSettings {
        nats_urls: urls.to_vec(),
        name: "test".to_owned(),
        node: node.to_owned(),
        lease,
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
async fn lease_and_stream_outlive_one_of_three_servers() -> TestResult {
    let mut servers = nats::cluster_of_three()?;
    let urls: Vec<String> = servers.iter().map(nats::Server::url).collect();
    let lease_time = Duration::from_secs(4);
    let cluster = Cluster::connect(settings(&urls, "a", lease_time)).await?;
    let mut lease = eventually("open the lease", || Lease::open(&cluster, 3)).await?;
    let stream = eventually("open the stream", || EventStream::open(&cluster, 3)).await?;
    assert!(matches!(renew(&mut lease).await?, Standing::Leader { .. }));
    let publish = |stream: EventStream, id: i64| async move {
        let row = Bytes::from(format!(r#"{{"id":{id}}}"#));
        eventually("publish", || {
            stream.publish(id, "Shotgun_Version_New", row.clone())
        })
        .await
    };
    for id in 1..=50 {
        publish(stream.clone(), id).await?;
    }
    servers[0].kill();
    for id in 51..=100 {
        publish(stream.clone(), id).await?;
    }
    // Publishing 1..=100 again, as a new leader that re-reads would, stores nothing new.
    for id in [1, 50, 51, 100] {
        assert!(
            publish(stream.clone(), id).await?.duplicate,
            "event {id} stored twice"
        );
    }
    assert_eq!(eventually("count", || stream.stored()).await?, 100);
    assert!(
        matches!(renew(&mut lease).await?, Standing::Leader { .. }),
        "the holder keeps its lease through the loss of one server"
    );
    servers[0].start()?;
    Ok(())
}
