//! Tests of the board, health checks, JSON form, HTML page and terminal table.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sgevents_plugin_api::{CallbackSpec, MatchEvents};

use super::text::{ago, render_table};
use super::{
    ApiHealth, CallbackStatus, ClusterStatus, DaemonInfo, ErrorInfo, HealthPolicy, PluginState,
    PluginStatus, StatusBoard, StatusSnapshot, StatusSource, match_events_text, render_html,
};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn board_started_at(at: Timestamp) -> StatusBoard {
    let daemon = DaemonInfo {
        version: "9.9.9".into(),
        started_at: at,
        pid: 4242,
        heartbeat_at: None,
    };
    StatusBoard::with_daemon(daemon, "https://site.example.com")
}

fn at(mut snapshot: StatusSnapshot, now: Timestamp) -> StatusSnapshot {
    snapshot.generated_at = now;
    snapshot
}

fn failing_plugin() -> PluginStatus {
    let mut plugin = PluginStatus::new("<b>evil</b>", "/plugins");
    plugin.path = Some("/plugins/evil.py".into());
    plugin.state = PluginState::Failed;
    plugin.cursor = Some(1200);
    plugin.lag_events = Some(3);
    plugin.lag_seconds = Some(12.25);
    plugin.backlog = 2;
    plugin.last_error = Some(ErrorInfo {
        at: t(50),
        message: "Traceback <script>alert(1)</script>\nKeyError: 'x' & more".into(),
    });
    plugin.callbacks = vec![CallbackStatus::from(&CallbackSpec {
        name: "on_change".into(),
        match_events: MatchEvents::from_json(&json!({"Shotgun_Shot_Change": ["sg_status_list"]}))
            .unwrap(),
        stop_on_error: true,
    })];
    plugin.counts.dispatched = 10;
    plugin.counts.failures = 1;
    plugin
}

#[test]
fn polls_drive_api_health_and_readiness() {
    let policy = HealthPolicy {
        heartbeat_timeout: Duration::from_secs(30),
        ready_timeout: Duration::from_secs(60),
    };
    let board = board_started_at(t(0));
    let fresh = at(board.snapshot(), t(1));
    assert_eq!(fresh.site.api, ApiHealth::Unknown);
    assert!(!fresh.readiness(t(1), &policy).ok);

    board.poll_succeeded_at(t(10), 5, Some(100));
    let snapshot = board.snapshot();
    assert_eq!(snapshot.site.api, ApiHealth::Healthy);
    assert_eq!(snapshot.site.latest_event_id, Some(100));
    assert!(snapshot.readiness(t(20), &policy).ok);
    let stale = snapshot.readiness(t(100), &policy);
    assert!(!stale.ok);
    assert!(
        stale.reason.contains("no successful poll for 90.0 s"),
        "{}",
        stale.reason
    );

    board.poll_failed_at(t(30), "HTTP 503 from the site");
    let snapshot = board.snapshot();
    assert_eq!(snapshot.site.api, ApiHealth::Degraded);
    let check = snapshot.readiness(t(31), &policy);
    assert!(!check.ok);
    assert!(check.reason.contains("HTTP 503"), "{}", check.reason);
    board.poll_failed_at(t(31), "again");
    board.poll_failed_at(t(32), "again");
    assert_eq!(board.snapshot().site.api, ApiHealth::Down);
    assert_eq!(board.snapshot().site.consecutive_failures, 3);

    board.poll_succeeded_at(t(40), 0, None);
    let snapshot = board.snapshot();
    assert_eq!(snapshot.site.api, ApiHealth::Healthy);
    assert_eq!(snapshot.site.consecutive_failures, 0);
    assert_eq!(snapshot.site.latest_event_id, Some(100));
    assert!(snapshot.readiness(t(41), &policy).ok);
    assert!(
        snapshot.site.last_error.is_some(),
        "the last error stays visible"
    );
}

#[test]
fn liveness_follows_the_heartbeat() {
    let policy = HealthPolicy {
        heartbeat_timeout: Duration::from_secs(30),
        ready_timeout: Duration::from_secs(60),
    };
    let board = board_started_at(t(0));
    assert!(board.snapshot().liveness(t(10), &policy).ok, "starting up");
    assert!(!board.snapshot().liveness(t(31), &policy).ok);
    board.heartbeat_at(t(40));
    assert!(board.snapshot().liveness(t(60), &policy).ok);
    let stalled = board.snapshot().liveness(t(71), &policy);
    assert!(!stalled.ok);
    assert!(stalled.reason.contains("31.0 s"), "{}", stalled.reason);
}

#[test]
fn the_first_poll_failing_means_down() {
    let board = board_started_at(t(0));
    board.poll_failed_at(t(1), "connection refused");
    assert_eq!(board.snapshot().site.api, ApiHealth::Down);
}

#[test]
fn plugins_are_updated_in_place_and_removed() {
    let board = board_started_at(t(0));
    board.set_plugins(vec![
        PluginStatus::new("a", "/p"),
        PluginStatus::new("b", "/p"),
    ]);
    board.update_plugin("b", |plugin| {
        plugin.state = PluginState::Active;
        plugin.cursor = Some(7);
    });
    board.update_plugin("c", |plugin| plugin.state = PluginState::Reloading);
    board.remove_plugin("a");
    let plugins = board.snapshot().plugins;
    let names: Vec<&str> = plugins.iter().map(|plugin| plugin.name.as_str()).collect();
    assert_eq!(names, ["b", "c"]);
    assert_eq!(plugins[0].cursor, Some(7));
    assert_eq!(plugins[1].state, PluginState::Reloading);
}

#[test]
fn json_round_trips_with_lowercase_states() {
    let board = board_started_at(t(0));
    board.poll_succeeded_at(t(5), 2, Some(9));
    board.set_plugins(vec![failing_plugin()]);
    let snapshot = board.snapshot();
    let value = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(value["plugins"][0]["state"], "failed");
    assert_eq!(value["site"]["api"], "healthy");
    assert_eq!(value["daemon"]["pid"], 4242);
    assert_eq!(
        value["plugins"][0]["callbacks"][0]["filter"],
        r#"{"Shotgun_Shot_Change": ["sg_status_list"]}"#
    );
    let back: StatusSnapshot = serde_json::from_value(value).unwrap();
    assert_eq!(back, snapshot);
}

#[test]
fn filters_render_like_the_python_literal() {
    assert_eq!(match_events_text(&MatchEvents::All), "all events");
    let filter = MatchEvents::from_json(&json!({
        "Shotgun_Task_New": null,
        "Shotgun_Shot_Change": ["sg_status_list", "code"],
        "Shotgun_Version_Change": "sg_"
    }))
    .unwrap();
    assert_eq!(
        match_events_text(&filter),
        r#"{"Shotgun_Shot_Change": ["sg_status_list", "code"], "Shotgun_Task_New": None, "Shotgun_Version_Change": "sg_"}"#
    );
}

#[test]
fn the_page_escapes_names_and_errors_and_needs_no_javascript() {
    let board = board_started_at(t(0));
    board.heartbeat_at(t(99));
    board.poll_failed_at(t(98), "site said <html>503</html>");
    board.set_plugins(vec![failing_plugin()]);
    let html = render_html(&at(board.snapshot(), t(100)), &HealthPolicy::default());

    assert!(
        html.contains(r#"<meta http-equiv="refresh" content="5">"#),
        "{html}"
    );
    assert!(
        !html.contains("<script"),
        "no script tags, even from error text"
    );
    assert!(!html.contains("<b>evil"));
    assert!(html.contains("&#60;b&#62;evil&#60;/b&#62;"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(html.contains("site said &#60;html&#62;503&#60;/html&#62;"));
    assert!(html.contains(r#"<span class="badge failed">failed</span>"#));
    assert!(html.contains("3 events, 12.2 s") || html.contains("3 events, 12.3 s"));
    assert!(html.contains("on_change"));
    assert!(html.contains("sg_status_list"));
    assert!(html.contains("(stopOnError)"));
    assert!(html.contains(r#"id="readiness">not ready<"#), "{html}");
    assert!(html.contains(r#"id="liveness">alive<"#));
    assert!(html.contains("1 failed"));
}

#[test]
fn the_table_lists_every_plugin() {
    let board = board_started_at(t(0));
    board.poll_succeeded_at(t(90), 4, Some(1300));
    let mut ok = PluginStatus::new("shots", "/plugins");
    ok.state = PluginState::Active;
    ok.cursor = Some(1300);
    ok.lag_events = Some(0);
    board.set_plugins(vec![ok, failing_plugin()]);
    let table = render_table(&at(board.snapshot(), t(100)));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("sgevents 9.9.9 (pid 4242)"), "{table}");
    assert!(lines[1].contains("api healthy") && lines[1].contains("ok, 4 event(s)"));
    let header = lines
        .iter()
        .position(|line| line.starts_with("PLUGIN"))
        .unwrap();
    let shots = lines[header + 1];
    assert!(shots.starts_with("shots"), "{table}");
    assert!(shots.contains("active") && shots.contains("1300") && shots.contains("caught up"));
    let now_column = lines[header].find("NOW").unwrap();
    assert_eq!(&shots[now_column..now_column + 4], "idle", "{table}");
    let evil = lines[header + 2];
    assert!(evil.contains("failed") && evil.contains("3 events, 12."));
    assert!(
        evil.ends_with("50 s ago: Traceback <script>alert(1)</script>"),
        "{evil}"
    );
    // Columns line up: the STATE column starts at the same offset on each row.
    let column = lines[header].find("STATE").unwrap();
    assert_eq!(&shots[column..column + 6], "active");
    assert_eq!(&evil[column..column + 6], "failed");
}

#[test]
fn in_cluster_mode_the_table_has_a_node_column_and_the_cluster_line() {
    let board = board_started_at(t(0));
    board.poll_succeeded_at(t(90), 4, Some(1300));
    let mut here = PluginStatus::new("shots", "/plugins");
    here.state = PluginState::Active;
    here.node = Some("render-node-02".into());
    let mut nowhere = failing_plugin();
    nowhere.node = None;
    board.set_plugins(vec![here, nowhere]);
    let mut snapshot = at(board.snapshot(), t(100));
    // A single node: no NODE column, no cluster line.
    let single = render_table(&snapshot);
    assert!(
        !single.contains("NODE") && !single.contains("cluster:"),
        "{single}"
    );
    snapshot.cluster = Some(ClusterStatus {
        leader: Some("render-node-01".into()),
        nodes: vec!["render-node-01".into(), "render-node-02".into()],
    });
    let table = render_table(&snapshot);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines
            .contains(&"cluster: leader render-node-01, live nodes render-node-01, render-node-02"),
        "{table}"
    );
    let header = lines
        .iter()
        .position(|line| line.starts_with("PLUGIN"))
        .unwrap();
    let column = lines[header].find("NODE").unwrap();
    assert!(lines[header].find("STATE").unwrap() < column, "{table}");
    assert!(column < lines[header].find("NOW").unwrap(), "{table}");
    assert_eq!(
        &lines[header + 1][column..column + "render-node-02".len()],
        "render-node-02",
        "{table}"
    );
    assert_eq!(&lines[header + 2][column..=column], "-", "{table}");
}

#[test]
fn ages_read_naturally() {
    let now = t(1_000_000);
    let back = |seconds: i64| now.checked_sub(SignedDuration::from_secs(seconds)).unwrap();
    assert_eq!(ago(now, now), "just now");
    assert_eq!(ago(now, back(12)), "12 s ago");
    assert_eq!(ago(now, back(600)), "10 min ago");
    assert_eq!(ago(now, back(7200)), "2 h ago");
    assert_eq!(ago(now, back(3 * 86_400)), "3 d ago");
}

#[test]
fn the_loop_watch_becomes_a_snapshot() {
    use std::sync::Arc;

    use crate::watch::{PluginEntry, RunningEvent, SlotView};
    use crate::{Cursor, PluginKey, Watch};

    use super::WatchStatus;

    let watch = Arc::new(Watch::default());
    watch.update_site(|site| {
        site.url = "https://site.example.com".into();
        site.high_water = Some(110);
        site.site_now = Some(t(500));
        site.last_poll_ok = Some(t(490));
        site.heartbeat = Some(t(495));
    });
    let mut caught_up = SlotView::new(Cursor::at(110));
    caught_up.state = PluginState::Active;
    caught_up.dispatched = 9;
    let mut behind = SlotView::new(Cursor::at(100));
    behind.state = PluginState::Failed;
    behind.last_event_at = Some(t(440));
    behind.last_error = Some((t(450), "KeyError: 'x'".into()));
    behind.failures = 2;
    behind.callbacks = Arc::new(vec![CallbackSpec {
        name: "cb".into(),
        match_events: MatchEvents::All,
        stop_on_error: true,
    }]);
    caught_up.running = Some(RunningEvent {
        id: 111,
        event_type: "Shotgun_Shot_New".into(),
        since: t(498),
    });
    let entry = |plugin: &str, view: SlotView| PluginEntry {
        key: PluginKey {
            collection: "/plugins".into(),
            plugin: plugin.into(),
        },
        path: Some(format!("/plugins/{plugin}.py").into()),
        view,
    };
    watch.set_plugins(vec![entry("ok", caught_up), entry("bad", behind)]);

    let source = WatchStatus::new(Arc::clone(&watch));
    let snapshot = source.snapshot();
    assert_eq!(snapshot.site.url, "https://site.example.com");
    assert_eq!(snapshot.site.api, ApiHealth::Healthy);
    assert_eq!(snapshot.site.last_poll_ok, Some(true));
    assert_eq!(snapshot.daemon.heartbeat_at, Some(t(495)));
    let ok = &snapshot.plugins[0];
    assert_eq!(
        (ok.state, ok.cursor, ok.lag_events),
        (PluginState::Active, Some(110), Some(0))
    );
    assert_eq!(ok.lag_seconds, Some(0.0));
    assert_eq!(ok.counts.dispatched, 9);
    assert_eq!(ok.running.as_ref().map(|running| running.id), Some(111));
    assert!(
        snapshot.degraded,
        "a failed plugin makes the daemon degraded"
    );
    assert_eq!(snapshot.degraded_reasons, ["plugin bad failed"]);
    let bad = &snapshot.plugins[1];
    assert_eq!(bad.state, PluginState::Failed);
    assert_eq!(bad.lag_events, Some(10));
    assert_eq!(bad.lag_seconds, Some(60.0));
    assert_eq!(bad.path.as_deref(), Some("/plugins/bad.py"));
    assert_eq!(
        bad.last_error.as_ref().map(|e| e.message.as_str()),
        Some("KeyError: 'x'")
    );
    assert_eq!(bad.callbacks[0].filter, "all events");
    assert!(bad.callbacks[0].stop_on_error);

    // A failure newer than the last success makes the site unready.
    watch.update_site(|site| site.last_error = Some((t(499), "HTTP 503".into())));
    let snapshot = source.snapshot();
    assert_eq!(snapshot.site.last_poll_ok, Some(false));
    assert!(!snapshot.readiness(t(500), &HealthPolicy::default()).ok);
    watch.update_site(|site| site.last_poll_ok = Some(t(501)));
    assert!(
        source
            .snapshot()
            .readiness(t(502), &HealthPolicy::default())
            .ok
    );
}

#[test]
fn failed_paused_hung_or_lagging_plugins_make_the_daemon_degraded() {
    let board = board_started_at(t(0));
    let mut snapshot = board.snapshot();
    let plugin = |name: &str, state: PluginState, lag: f64| {
        let mut plugin = PluginStatus::new(name, "/plugins");
        plugin.state = state;
        plugin.lag_seconds = Some(lag);
        plugin
    };
    snapshot.plugins = vec![plugin("fine", PluginState::Active, 599.0)];
    snapshot.mark_degraded(Some(Duration::from_secs(600)));
    assert!(!snapshot.degraded);
    assert!(snapshot.degraded_reasons.is_empty());
    snapshot
        .plugins
        .push(plugin("behind", PluginState::Active, 601.0));
    snapshot
        .plugins
        .push(plugin("held", PluginState::Paused, 0.0));
    snapshot
        .plugins
        .push(plugin("stuck", PluginState::Hung, 0.0));
    snapshot.mark_degraded(Some(Duration::from_secs(600)));
    assert!(snapshot.degraded);
    assert_eq!(
        snapshot.degraded_reasons,
        [
            "plugin behind lags 601 s (limit 600 s)",
            "plugin held is paused",
            "plugin stuck hangs while loading its file"
        ]
    );
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["degraded"], true);
    assert_eq!(json["plugins"][1]["running"], serde_json::Value::Null);
}
