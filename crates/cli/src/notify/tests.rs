//! The notifier's decisions over a loop that starts, runs, stalls and recovers.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{Message, Notifier, Observation};

fn t(secs: i64) -> Timestamp {
    Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1_000_000 + secs)
}

fn running(heartbeat: i64) -> Observation {
    Observation {
        heartbeat: Some(t(heartbeat)),
        last_poll_ok: Some(t(heartbeat)),
        high_water: Some(42),
        active: 2,
        ..Observation::default()
    }
}

#[test]
fn ready_waits_for_loaded_plugins_and_a_successful_poll() {
    let mut notifier = Notifier::new(t(0), Duration::from_secs(10));
    let loading = Observation {
        heartbeat: Some(t(1)),
        loading: 2,
        ..Observation::default()
    };
    let sent = notifier.observe(&loading, t(1));
    assert_eq!(sent, vec![Message::Status("loading 2 plugin(s)".into())]);

    let loaded_no_poll = Observation {
        heartbeat: Some(t(2)),
        active: 2,
        ..Observation::default()
    };
    let sent = notifier.observe(&loaded_no_poll, t(2));
    assert!(!sent.contains(&Message::Ready), "{sent:?}");

    let sent = notifier.observe(&running(3), t(3));
    assert_eq!(
        sent,
        vec![
            Message::Ready,
            Message::Status("2 plugin(s) active, 0 failed; events read up to 42".into())
        ]
    );
    // READY goes out once, and an unchanged status is not repeated.
    assert!(notifier.observe(&running(4), t(4)).is_empty());
}

#[test]
fn watchdog_pings_stop_when_the_heartbeat_stops_and_resume_with_it() {
    let mut notifier = Notifier::new(t(0), Duration::from_secs(10));
    // Before the first heartbeat the start counts, as for /healthz.
    assert_eq!(
        notifier.watchdog(&Observation::default(), t(5)),
        Some(Message::Watchdog)
    );
    assert_eq!(notifier.watchdog(&Observation::default(), t(11)), None);
    notifier.observe(&running(20), t(20));
    for now in 20..=30 {
        assert_eq!(
            notifier.watchdog(&running(20), t(now)),
            Some(Message::Watchdog),
            "{now}"
        );
    }
    // The heartbeat stays at 20: from 31 on the loop is stalled.
    for now in 31..40 {
        assert_eq!(notifier.watchdog(&running(20), t(now)), None, "{now}");
    }
    let sent = notifier.observe(&running(20), t(35));
    assert_eq!(
        sent,
        vec![Message::Status(
            "loop stalled: no heartbeat for 15 s; watchdog pings stopped".into()
        )]
    );
    // The loop goes round again.
    assert_eq!(
        notifier.watchdog(&running(41), t(41)),
        Some(Message::Watchdog)
    );
    let sent = notifier.observe(&running(41), t(41));
    assert_eq!(
        sent,
        vec![Message::Status(
            "2 plugin(s) active, 0 failed; events read up to 42".into()
        )]
    );
}

#[test]
fn status_names_a_failing_site_in_one_line() {
    let mut notifier = Notifier::new(t(0), Duration::from_secs(10));
    let failing = Observation {
        poll_error: Some("connection refused\nmore detail".into()),
        ..running(5)
    };
    let sent = notifier.observe(&failing, t(5));
    assert!(
        sent.contains(&Message::Status(
            "2 plugin(s) active, 0 failed; site unreachable: connection refused".into()
        )),
        "{sent:?}"
    );
}
