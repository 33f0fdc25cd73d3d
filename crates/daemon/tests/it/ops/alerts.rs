//! Email alerts delivered to a real SMTP server (aiosmtpd) that the test starts.

use std::time::Duration;

use sgevents_daemon::alerts::{
    Alert, AlertLayer, AlertLevel, Alerts, EmailConfig, PluginRecipients, Recipients, RetryPolicy,
};
use tracing_subscriber::layer::SubscriberExt as _;

use super::support::{Captured, SmtpSink, free_port, wait_until};

fn config(port: u16) -> EmailConfig {
    EmailConfig {
        server: "127.0.0.1".into(),
        port,
        from: "sgevents@example.com".into(),
        to: vec!["ops@example.com".into(), "lead@example.com".into()],
        subject: "[test-site]".into(),
        digest_window: Duration::from_secs(600),
        max_per_window: 10,
        retry: RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
            timeout: Duration::from_secs(10),
            max_pending: 100,
        },
        ..EmailConfig::default()
    }
}

#[tokio::test]
async fn mails_carry_upstream_subjects_and_the_chosen_recipients() {
    let sink = SmtpSink::start(0, None).await;
    let (sender, task) = Alerts::spawn(config(sink.port)).unwrap();

    sender.send(Alert::new(
        "engine",
        AlertLevel::Error,
        "Polling failed: 503",
    ));
    sender.send(
        Alert::new(
            "plugin.shots.on_change",
            AlertLevel::Critical,
            "Traceback: KeyError 'x'",
        )
        .with_recipients(Some(vec!["td@example.com".into()])),
    );
    sender.send(
        Alert::new("plugin.quiet", AlertLevel::Error, "nobody hears this")
            .with_recipients(Some(Vec::new())),
    );
    sender.close();
    task.await.unwrap();

    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let engine = mails
        .iter()
        .find(|mail| mail.body.contains("Polling failed"))
        .unwrap();
    assert_eq!(engine.subject, "[test-site] ERROR - SG event daemon.");
    assert_eq!(engine.mail_from, "sgevents@example.com");
    assert_eq!(engine.rcpt_tos, ["ops@example.com", "lead@example.com"]);
    assert!(engine.body.contains("Logger:   engine"), "{}", engine.body);

    let plugin = mails
        .iter()
        .find(|mail| mail.body.contains("KeyError"))
        .unwrap();
    assert_eq!(plugin.subject, "[test-site] CRITICAL - SG event daemon.");
    assert_eq!(plugin.rcpt_tos, ["td@example.com"]);
}

#[tokio::test]
async fn a_burst_is_folded_into_one_digest() {
    let sink = SmtpSink::start(0, None).await;
    let mut settings = config(sink.port);
    settings.max_per_window = 2;
    let (sender, task) = Alerts::spawn(settings).unwrap();

    for attempt in 1..=20 {
        sender.send(Alert::new(
            "engine",
            AlertLevel::Error,
            format!("Cannot reach the site (attempt {attempt})"),
        ));
    }
    // A different logger has its own allowance.
    sender.send(Alert::new("plugin.other", AlertLevel::Error, "unrelated"));
    sender.close();
    task.await.unwrap();

    let mails = sink.messages();
    let engine: Vec<_> = mails
        .iter()
        .filter(|mail| mail.body.contains("Cannot reach the site"))
        .collect();
    assert_eq!(engine.len(), 3, "two mails and one digest: {mails:#?}");
    let digests: Vec<_> = engine
        .iter()
        .filter(|mail| mail.body.contains("held back"))
        .collect();
    assert_eq!(digests.len(), 1);
    let digest = &digests[0].body;
    assert!(
        digest.contains("Digest for logger engine: 18 message(s) were held back"),
        "{digest}"
    );
    assert!(digest.contains("attempt 3") && digest.contains("attempt 12"));
    assert!(digest.contains("8 more message(s) not quoted"), "{digest}");
    assert_eq!(digests[0].subject, "[test-site] ERROR - SG event daemon.");
    assert_eq!(
        mails
            .iter()
            .filter(|mail| mail.body.contains("unrelated"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_digest_is_sent_when_its_window_ends() {
    let sink = SmtpSink::start(0, None).await;
    let mut settings = config(sink.port);
    settings.max_per_window = 1;
    settings.digest_window = Duration::from_millis(500);
    let (sender, task) = Alerts::spawn(settings).unwrap();

    for index in 0..5 {
        sender.send(Alert::new(
            "engine",
            AlertLevel::Error,
            format!("outage {index}"),
        ));
    }
    // The digest comes from the window's end, not from shutdown: wait for it first.
    wait_until(Duration::from_secs(30), "the digest mail", || {
        sink.messages()
            .iter()
            .any(|mail| mail.body.contains("held back"))
    })
    .await;
    sender.close();
    task.await.unwrap();

    // However the sends fell into windows, every alert is either mailed or counted in a digest.
    let mut accounted = 0;
    for mail in sink.messages() {
        match mail.body.split_once("Digest for logger engine: ") {
            Some((_, rest)) => {
                let held: usize = rest.split(' ').next().unwrap().parse().unwrap();
                accounted += held;
            }
            None => accounted += 1,
        }
    }
    assert_eq!(accounted, 5);
}

#[tokio::test]
async fn an_smtp_outage_is_logged_and_retried_until_the_server_is_back() {
    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let port = free_port();
    let (sender, task) = Alerts::spawn(config(port)).unwrap();
    sender.send(Alert::new(
        "engine",
        AlertLevel::Critical,
        "sent during an SMTP outage",
    ));

    wait_until(Duration::from_secs(30), "two failed attempts", || {
        captured.count("Could not send an email alert") >= 2
    })
    .await;
    assert!(
        !task.is_finished(),
        "an SMTP failure must not end the mail task"
    );

    let sink = SmtpSink::start(port, None).await;
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0].subject, "[test-site] CRITICAL - SG event daemon.");
    assert!(mails[0].body.contains("sent during an SMTP outage"));
    sender.close();
    task.await.unwrap();
}

#[tokio::test]
async fn login_is_used_when_a_username_is_set() {
    let sink = SmtpSink::start(0, Some(("daemon", "s3cret"))).await;
    let mut settings = config(sink.port);
    settings.username = Some("daemon".into());
    settings.password = Some("s3cret".into());
    let (sender, task) = Alerts::spawn(settings).unwrap();
    sender.send(Alert::new("engine", AlertLevel::Error, "authenticated"));
    let mails = sink.wait_for(1).await;
    assert!(mails[0].body.contains("authenticated"));
    sender.close();
    task.await.unwrap();
}

#[tokio::test]
async fn tracing_errors_reach_the_plugin_recipients() {
    let sink = SmtpSink::start(0, None).await;
    let (sender, task) = Alerts::spawn(config(sink.port)).unwrap();
    let recipients = PluginRecipients::new();
    recipients.set(
        "shots",
        Recipients::List(vec!["shots-owner@example.com".into()]),
    );
    recipients.set("silent", Recipients::Nobody);
    let layer = AlertLayer::new(sender.clone(), recipients);
    {
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        tracing::error!(
            logger = "plugin.shots.on_change",
            py_level = 40,
            "Shot <1> failed"
        );
        tracing::error!(
            logger = "plugin.silent",
            py_level = 50,
            "dropped by setEmails(False)"
        );
        tracing::error!(logger = "engine", py_level = 50, "Engine is stopping");
    }
    sender.close();
    task.await.unwrap();

    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let shots = mails
        .iter()
        .find(|mail| mail.body.contains("Shot <1> failed"))
        .unwrap();
    assert_eq!(shots.rcpt_tos, ["shots-owner@example.com"]);
    assert_eq!(shots.subject, "[test-site] ERROR - SG event daemon.");
    let engine = mails
        .iter()
        .find(|mail| mail.body.contains("Engine is stopping"))
        .unwrap();
    assert_eq!(engine.subject, "[test-site] CRITICAL - SG event daemon.");
    assert_eq!(engine.rcpt_tos, ["ops@example.com", "lead@example.com"]);
}
