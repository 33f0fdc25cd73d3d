//! Unit tests of the rate limit, the wording, the recipient map and the tracing layer.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt as _;

use super::limiter::{Admit, Limiter};
use super::message::{self, Alert, AlertLevel};
use super::{AlertLayer, AlertSender, AlertsError, EmailConfig, PluginRecipients, Recipients};

fn alert(logger: &str, level: AlertLevel, text: &str) -> Alert {
    Alert::new(logger, level, text)
}

#[test]
fn a_burst_beyond_the_limit_is_held_and_becomes_one_digest() {
    let window = Duration::from_secs(60);
    let mut limiter = Limiter::new(window, 3);
    let start = Instant::now();
    let mut sent = 0;
    for index in 0..10 {
        let level = if index == 7 {
            AlertLevel::Critical
        } else {
            AlertLevel::Error
        };
        match limiter.admit(alert("engine", level, &format!("boom {index}")), start) {
            Admit::Send(_) => sent += 1,
            Admit::Held => {}
        }
    }
    assert_eq!(sent, 3);
    assert!(limiter.due(start + Duration::from_secs(59)).is_empty());
    assert_eq!(limiter.next_deadline(), Some(start + window));

    let digests = limiter.due(start + window);
    assert_eq!(digests.len(), 1);
    let digest = &digests[0];
    assert_eq!(digest.logger, "engine");
    assert_eq!(digest.held, 7);
    assert_eq!(digest.level, AlertLevel::Critical);
    assert_eq!(digest.quoted.len(), 7);
    assert_eq!(digest.quoted[0].message, "boom 3");
    assert!(limiter.due(start + window * 2).is_empty());
    assert_eq!(limiter.next_deadline(), None);
}

#[test]
fn loggers_have_separate_windows_and_a_new_window_sends_again() {
    let window = Duration::from_secs(10);
    let mut limiter = Limiter::new(window, 1);
    let start = Instant::now();
    assert!(matches!(
        limiter.admit(alert("plugin.a", AlertLevel::Error, "a1"), start),
        Admit::Send(_)
    ));
    assert!(matches!(
        limiter.admit(alert("plugin.b", AlertLevel::Error, "b1"), start),
        Admit::Send(_)
    ));
    assert!(matches!(
        limiter.admit(alert("plugin.a", AlertLevel::Error, "a2"), start),
        Admit::Held
    ));
    // The next alert after the window both sends and releases the old window's digest.
    let later = start + window + Duration::from_secs(1);
    assert!(matches!(
        limiter.admit(alert("plugin.a", AlertLevel::Error, "a3"), later),
        Admit::Send(_)
    ));
    let digests = limiter.due(later);
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].logger, "plugin.a");
    assert_eq!(digests[0].held, 1);
}

#[test]
fn digests_quote_only_the_first_messages() {
    let mut limiter = Limiter::new(Duration::from_secs(5), 0);
    let start = Instant::now();
    for index in 0..25 {
        let _ = limiter.admit(
            alert("engine", AlertLevel::Error, &format!("m{index}")),
            start,
        );
    }
    let digests = limiter.flush_all();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].held, 25);
    assert_eq!(digests[0].quoted.len(), message::DIGEST_QUOTED);
    let body = message::digest_body(
        "engine",
        digests[0].held,
        &digests[0].quoted,
        Duration::from_secs(5),
        0,
        2,
    );
    assert!(body.contains("25 message(s) were held back"), "{body}");
    assert!(body.contains("15 more message(s) not quoted"), "{body}");
    assert!(body.contains("2 alert(s) were dropped"), "{body}");
    assert!(body.contains("m0") && body.contains("m9") && !body.contains("m10"));
}

#[test]
fn subjects_and_bodies_follow_upstream() {
    assert_eq!(
        message::subject("[prod]", AlertLevel::Error),
        "[prod] ERROR - SG event daemon."
    );
    assert_eq!(
        message::subject("[prod]", AlertLevel::Critical),
        "[prod] CRITICAL - SG event daemon."
    );
    let body = message::body(
        &alert("plugin.x.cb", AlertLevel::Error, "Traceback: boom"),
        0,
    );
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines[0].starts_with("Time:"));
    assert_eq!(lines[1], "Logger:   plugin.x.cb");
    assert!(lines[3].starts_with("Path:"));
    assert!(lines[4].starts_with("Function:"));
    assert!(lines[5].starts_with("Line:"));
    assert_eq!(lines[6], "");
    assert_eq!(lines[7], "Traceback: boom");
    assert!(!body.contains("dropped"));
}

#[test]
fn python_levels_map_to_error_and_critical() {
    assert_eq!(AlertLevel::from_python(40), AlertLevel::Error);
    assert_eq!(AlertLevel::from_python(50), AlertLevel::Critical);
    assert_eq!(AlertLevel::from_python(60), AlertLevel::Critical);
}

#[test]
fn plugin_recipients_match_whole_logger_segments() {
    let map = PluginRecipients::new();
    map.set("foo", Recipients::Nobody);
    map.set("foobar", Recipients::List(vec!["a@example.com".into()]));
    map.set("foo.bar", Recipients::List(vec!["b@example.com".into()]));
    assert_eq!(map.for_logger("engine"), Recipients::Default);
    assert_eq!(map.for_logger("plugin.foo"), Recipients::Nobody);
    assert_eq!(map.for_logger("plugin.foo.callback"), Recipients::Nobody);
    assert_eq!(
        map.for_logger("plugin.foobar.cb"),
        Recipients::List(vec!["a@example.com".into()])
    );
    assert_eq!(
        map.for_logger("plugin.foo.bar.cb"),
        Recipients::List(vec!["b@example.com".into()])
    );
    assert_eq!(map.for_logger("plugin.other"), Recipients::Default);
    map.remove("foo");
    assert_eq!(map.for_logger("plugin.foo"), Recipients::Default);
    assert_eq!(Recipients::Nobody.to_alert(), Some(Vec::new()));
    assert_eq!(Recipients::Default.to_alert(), None);
}

fn test_sender(capacity: usize) -> (AlertSender, mpsc::Receiver<Alert>) {
    let (tx, rx) = mpsc::channel(capacity);
    let sender = AlertSender {
        tx,
        dropped: Arc::new(AtomicU64::new(0)),
        close: CancellationToken::new(),
    };
    (sender, rx)
}

#[test]
fn the_layer_turns_error_events_into_alerts() {
    let (sender, mut rx) = test_sender(16);
    let recipients = PluginRecipients::new();
    recipients.set("shots", Recipients::List(vec!["td@example.com".into()]));
    let subscriber =
        tracing_subscriber::registry().with(AlertLayer::new(sender.clone(), recipients));
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!(logger = "engine", "only a warning");
        tracing::error!(
            logger = "plugin.shots.on_change",
            py_level = 50,
            path = "/p/shots.py",
            line = 12_u64,
            "callback <b> failed"
        );
        tracing::error!(
            logger = "engine",
            py_level = 40,
            event_id = 7,
            "poll failed"
        );
        tracing::error!("no logger field");
        tracing::error!(target: "sgevents_daemon::alerts::worker", "SMTP is down");
        tracing::error!(target: "async_nats::connector", "expected INFO, got nothing");
    });
    let critical = rx.try_recv().expect("first alert");
    assert_eq!(critical.logger, "plugin.shots.on_change");
    assert_eq!(critical.level, AlertLevel::Critical);
    assert_eq!(critical.message, "callback <b> failed");
    assert_eq!(critical.recipients, Some(vec!["td@example.com".to_owned()]));
    let location = critical.location.expect("location");
    assert_eq!(location.path.as_deref(), Some("/p/shots.py"));
    assert_eq!(location.line, Some(12));

    let engine = rx.try_recv().expect("second alert");
    assert_eq!(engine.logger, "engine");
    assert_eq!(engine.level, AlertLevel::Error);
    assert_eq!(engine.message, "poll failed event_id=7");
    assert_eq!(engine.recipients, None);

    let plain = rx.try_recv().expect("third alert");
    assert_eq!(plain.logger, "engine");
    assert_eq!(plain.level, AlertLevel::Error);
    assert!(plain.location.is_some());

    assert!(
        rx.try_recv().is_err(),
        "warnings, the mail task's own errors and the NATS client's are not mailed"
    );
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let (sender, _rx) = test_sender(2);
    for index in 0..5 {
        sender.send(alert("engine", AlertLevel::Error, &format!("{index}")));
    }
    assert_eq!(sender.dropped(), 3);
}

#[test]
fn bad_settings_name_the_field() {
    let config = EmailConfig {
        server: "smtp.example.com".into(),
        from: "not an address".into(),
        to: vec!["ops@example.com".into()],
        subject: "[sg]".into(),
        ..EmailConfig::default()
    };
    let err = config.clone().validate().expect_err("bad from");
    assert!(matches!(err, AlertsError::BadAddress { field: "from", .. }));
    assert!(err.to_string().contains("[emails] from"), "{err}");

    let err = EmailConfig {
        from: "daemon@example.com".into(),
        to: vec!["ok@example.com".into(), "@@".into()],
        ..config.clone()
    }
    .validate()
    .expect_err("bad to");
    assert!(matches!(err, AlertsError::BadAddress { field: "to", .. }));

    let err = EmailConfig {
        server: " ".into(),
        ..config
    }
    .validate()
    .expect_err("no server");
    assert!(matches!(err, AlertsError::Missing { field: "server" }));
}
