//! Tests of the metric names, labels and values as Prometheus would scrape them.

use std::time::Duration;

use super::Telemetry;

/// The value of the sample line that starts with `series ` (name plus labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.split(' ').next()?.parse().ok())
}

#[test]
fn every_family_is_exported_with_its_values() {
    let telemetry = Telemetry::new();
    telemetry.record_poll(true);
    telemetry.record_poll(false);
    telemetry.record_events_fetched(42);
    telemetry.record_dispatched("shots");
    telemetry.record_dispatched("shots");
    telemetry.record_callback("shots", Duration::from_millis(30), 0);
    telemetry.record_callback("shots", Duration::from_millis(3), 1);
    telemetry.record_failures("broken", 2);
    telemetry.record_deactivation("broken");
    telemetry.record_restart("broken");
    telemetry.set_lag("shots", 7, 12.5);
    telemetry.set_backlog("shots", 3);
    telemetry.record_api_request("read", Duration::from_millis(80), true);
    telemetry.record_api_request("read", Duration::from_millis(10), false);

    let text = telemetry.encode();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let expect = [
        ("sgevents_events_fetched_total", 42.0),
        ("sgevents_polls_total{result=\"ok\"}", 1.0),
        ("sgevents_polls_total{result=\"error\"}", 1.0),
        ("sgevents_events_dispatched_total{plugin=\"shots\"}", 2.0),
        ("sgevents_plugin_failures_total{plugin=\"shots\"}", 1.0),
        ("sgevents_plugin_failures_total{plugin=\"broken\"}", 2.0),
        (
            "sgevents_plugin_deactivations_total{plugin=\"broken\"}",
            1.0,
        ),
        ("sgevents_plugin_restarts_total{plugin=\"broken\"}", 1.0),
        (
            "sgevents_callback_duration_seconds_count{plugin=\"shots\"}",
            2.0,
        ),
        ("sgevents_plugin_lag_events{plugin=\"shots\"}", 7.0),
        ("sgevents_plugin_lag_seconds{plugin=\"shots\"}", 12.5),
        ("sgevents_plugin_backlog{plugin=\"shots\"}", 3.0),
        ("sgevents_api_requests_total{method=\"read\"}", 2.0),
        ("sgevents_api_errors_total{method=\"read\"}", 1.0),
        (
            "sgevents_api_request_duration_seconds_count{method=\"read\"}",
            2.0,
        ),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    let sum = sample(
        &text,
        "sgevents_callback_duration_seconds_sum{plugin=\"shots\"}",
    )
    .unwrap();
    assert!((sum - 0.033).abs() < 1e-9, "{sum}");
    assert!(text.contains("# TYPE sgevents_callback_duration_seconds histogram"));
    assert!(text.contains("sgevents_build_info{version=\""));
}

#[test]
fn label_values_are_escaped() {
    let telemetry = Telemetry::new();
    telemetry.record_dispatched("we\"ird\\name");
    let text = telemetry.encode();
    assert!(
        text.contains(r#"sgevents_events_dispatched_total{plugin="we\"ird\\name"} 1"#),
        "{text}"
    );
}

#[test]
fn a_forgotten_plugin_is_no_longer_exported() {
    let telemetry = Telemetry::new();
    telemetry.record_dispatched("gone");
    telemetry.set_lag("gone", 1, 1.0);
    telemetry.record_dispatched("kept");
    telemetry.forget_plugin("gone");
    let text = telemetry.encode();
    assert!(!text.contains("plugin=\"gone\""), "{text}");
    assert!(text.contains("plugin=\"kept\""));
}

#[test]
fn registries_are_independent() {
    let first = Telemetry::new();
    let second = Telemetry::new();
    first.record_events_fetched(5);
    assert_eq!(
        sample(&second.encode(), "sgevents_events_fetched_total"),
        Some(0.0)
    );
}

#[test]
fn plugin_state_is_one_series_per_state() {
    let telemetry = Telemetry::new();
    telemetry.set_plugin_state("p", "active");
    telemetry.set_plugin_state("p", "failed");
    let text = telemetry.encode();
    assert_eq!(
        sample(&text, r#"sgevents_plugin_state{plugin="p",state="failed"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"sgevents_plugin_state{plugin="p",state="active"}"#),
        Some(0.0)
    );
    telemetry.forget_plugin("p");
    assert!(!telemetry.encode().contains("plugin=\"p\""));
}

#[test]
fn a_plugins_own_handles_record_into_its_exported_series_until_it_is_forgotten() {
    let telemetry = Telemetry::new();
    let metrics = telemetry.plugin_metrics("shots");
    metrics.record(Duration::from_millis(30), 0);
    metrics.record(Duration::from_millis(3), 2);
    telemetry.record_dispatched("shots"); // the same series as through the look-up
    let text = telemetry.encode();
    let dispatched = "sgevents_events_dispatched_total{plugin=\"shots\"}";
    assert_eq!(sample(&text, dispatched), Some(3.0), "{text}");
    let failures = "sgevents_plugin_failures_total{plugin=\"shots\"}";
    assert_eq!(sample(&text, failures), Some(2.0), "{text}");
    let count = "sgevents_callback_duration_seconds_count{plugin=\"shots\"}";
    assert_eq!(sample(&text, count), Some(2.0), "{text}");
    // Forgotten (the plugin was removed): handles taken anew export again, from zero.
    telemetry.forget_plugin("shots");
    metrics.record(Duration::from_millis(1), 0);
    assert!(!telemetry.encode().contains("plugin=\"shots\""));
    telemetry
        .plugin_metrics("shots")
        .record(Duration::from_millis(1), 0);
    assert_eq!(sample(&telemetry.encode(), dispatched), Some(1.0));
}
