//! The status page on a bad day (failing, hung, lagging and paused plugins, an hour of
//! history) in headless Chromium at 1280×900, its buttons, `/status.json` and `/metrics`.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use sgevents_daemon::control::{self, Action};
use sgevents_daemon::status::{
    CallbackStatus, ErrorInfo, HealthPolicy, History, PluginState, PluginStatus, RunningStatus,
    StatusBoard, StatusSource,
};
use sgevents_daemon::status_server::{PageControl, PageOptions, serve_with};
use sgevents_daemon::telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use super::browser::{artifacts_dir, run_chromium};

const TOKEN: &str = "t0ken-for-tests";

fn ago(seconds: i64) -> Timestamp {
    Timestamp::now()
        .checked_sub(SignedDuration::from_secs(seconds))
        .unwrap()
}

fn traceback() -> String {
    let mut text = String::from("Traceback (most recent call last):\n");
    for depth in 0..14 {
        text.push_str(&format!(
            "  File \"/mnt/studio/pipeline/site-packages/studio_tools/very/deep/module_{depth}.py\", line {}, in step_{depth}\n    result = step_{}(context, shot, version)\n",
            100 + depth,
            depth + 1
        ));
    }
    text.push_str("KeyError: 'sg_cut_out'");
    text
}

fn plugins() -> Vec<PluginStatus> {
    let long_dir = "/mnt/studio/pipeline/shotgun_event_plugins/production/department_specific/compositing_and_lighting_automation";
    let callback = |name: &str, filter: &str, stop: bool| CallbackStatus {
        name: name.into(),
        filter: filter.into(),
        stop_on_error: stop,
    };
    let mut idle = PluginStatus::new("publish_sync", long_dir);
    idle.path = Some(format!(
        "{long_dir}/publish_sync_with_a_really_long_descriptive_file_name.py"
    ));
    idle.state = PluginState::Active;
    idle.cursor = Some(1_204_311);
    idle.lag_events = Some(0);
    idle.lag_seconds = Some(0.0);
    idle.counts.dispatched = 15_210;
    idle.callbacks = vec![callback(
        "on_publish",
        r#"{"Shotgun_PublishedFile_New": "*", "Shotgun_Version_Change": ["sg_status_list", "sg_path_to_movie", "sg_uploaded_movie", "description"]}"#,
        false,
    )];

    let mut failed = PluginStatus::new("raises_stop", "/srv/plugins");
    failed.path = Some("/srv/plugins/raises_stop.py".into());
    failed.state = PluginState::Failed;
    failed.cursor = Some(1_204_120);
    failed.lag_events = Some(191);
    failed.lag_seconds = Some(412.0);
    failed.counts.failures = 1;
    failed.counts.dispatched = 880;
    failed.last_error = Some(ErrorInfo {
        at: ago(412),
        message: traceback(),
    });
    failed.callbacks = vec![callback("check_frame_range", "all events", true)];

    let mut hung = PluginStatus::new("hangs", "/srv/plugins");
    hung.path = Some("/srv/plugins/hangs.py".into());
    hung.state = PluginState::Hung;
    hung.cursor = Some(1_204_299);
    hung.lag_events = Some(12);
    hung.lag_seconds = Some(485.0);
    hung.counts.dispatched = 1_200;
    hung.running = Some(RunningStatus {
        id: 1_204_300,
        event_type: "Shotgun_Version_New".into(),
        since: ago(485),
    });

    let mut lagging = PluginStatus::new("render_notify", "/srv/plugins");
    lagging.path = Some("/srv/plugins/render_notify.py".into());
    lagging.state = PluginState::Active;
    lagging.cursor = Some(1_201_000);
    lagging.lag_events = Some(3_311);
    lagging.lag_seconds = Some(1_530.0);
    lagging.counts.dispatched = 9_001;
    lagging.running = Some(RunningStatus {
        id: 1_201_001,
        event_type: "Shotgun_Task_Change".into(),
        since: ago(3),
    });

    let mut paused = PluginStatus::new("shots_on_hold", "/srv/plugins");
    paused.path = Some("/srv/plugins/shots_on_hold.py".into());
    paused.state = PluginState::Paused;
    paused.cursor = Some(1_204_200);
    paused.lag_events = Some(111);
    paused.lag_seconds = Some(90.0);
    vec![idle, failed, hung, lagging, paused]
}

/// An hour of samples, every 15 s: site activity with a burst and an outage, lag growing for
/// the lagging plugin and stuck for the failed one.
fn fill_history(history: &History, board: &StatusBoard) {
    let mut snapshot = board.snapshot();
    for step in 0..240_i64 {
        let at = ago(3600 - step * 15);
        let t = step as f64;
        snapshot.site.latest_event_id =
            Some(1_186_311 + step * 60 + if step > 150 { (step - 150) * 40 } else { 0 });
        let api_errors = if (170..190).contains(&step) {
            (step - 170) as u64 * 3
        } else if step >= 190 {
            60
        } else {
            0
        };
        for plugin in &mut snapshot.plugins {
            match plugin.name.as_str() {
                "render_notify" => {
                    plugin.lag_seconds = Some(t * 6.4);
                    plugin.counts.dispatched = (step * 30) as u64;
                }
                "raises_stop" => {
                    plugin.lag_seconds = Some(if step > 212 {
                        (step - 212) as f64 * 15.0
                    } else {
                        0.0
                    });
                    plugin.counts.dispatched = (step.min(212) * 4) as u64;
                }
                "hangs" => {
                    plugin.lag_seconds = Some(if step > 207 {
                        (step - 207) as f64 * 15.0
                    } else {
                        1.0
                    });
                    plugin.counts.dispatched = (step.min(207) * 5) as u64;
                }
                _ => plugin.counts.dispatched = (step * 63) as u64,
            }
        }
        history.record(at, &snapshot, api_errors);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_on_a_bad_day() {
    let board = StatusBoard::new("https://studio-with-a-long-name.shotgrid.autodesk.com");
    board.heartbeat();
    board.poll_succeeded(37, Some(1_204_311));
    board.set_plugins(plugins());
    let history = Arc::new(History::new());
    fill_history(&history, &board);
    let (requests, mut inbox) = control::channel();
    let fake_loop = tokio::spawn(async move {
        let mut asked = Vec::new();
        while let Some(request) = inbox.0.recv().await {
            asked.push((request.plugin.clone(), request.action));
            let _ = request
                .reply
                .send(Ok(format!("{} {}", request.action.verb(), request.plugin)));
        }
        asked
    });
    let telemetry = Arc::new(Telemetry::new());
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let page = PageOptions {
        history,
        control: Some(PageControl {
            token: TOKEN.into(),
            requests,
        }),
    };
    let server = tokio::spawn(serve_with(
        listener,
        Arc::new(board.clone()),
        telemetry.clone(),
        HealthPolicy::default(),
        page,
        shutdown.clone(),
    ));
    let url = format!("{base}/status");
    let profile = tempfile::tempdir().unwrap();

    let dom = run_chromium(profile.path(), &["--dump-dom".to_owned(), url.clone()]).await;
    assert!(dom.contains(r#"id="degraded""#), "{dom}");
    assert!(dom.contains("plugin hangs hangs on event 1204300"), "{dom}");
    assert!(
        dom.contains("plugin render_notify lags 1530 s (limit 600 s)"),
        "{dom}"
    );
    assert!(
        dom.contains("hung: running event 1204300 (Shotgun_Version_New) for 8 min"),
        "{dom}"
    );
    assert!(
        dom.contains("running event 1201001 (Shotgun_Task_Change) for"),
        "{dom}"
    );
    assert!(dom.contains(">idle<"), "{dom}");
    assert!(dom.contains("paused by an operator"), "{dom}");
    // The traceback is folded: its summary is the exception line, the rest inside <details>.
    assert!(
        dom.contains("<summary>KeyError: 'sg_cut_out'</summary><pre>Traceback"),
        "{dom}"
    );
    assert_eq!(
        dom.matches("<svg class=\"chart").count(),
        2 + 2 * 5,
        "two site charts, two per plugin"
    );
    assert!(!dom.contains("<script"), "no JavaScript");
    // Buttons: resume and skip for the failed plugin, unpause for the paused one, nothing else.
    let row = |name: &str| {
        let start = dom.find(&format!("data-plugin=\"{name}\"")).unwrap();
        let end = dom[start..].find("</tr>").unwrap() + start;
        dom[start..end].to_owned()
    };
    assert!(
        row("raises_stop").contains(r#"data-action="resume""#)
            && row("raises_stop").contains(r#"data-action="skip""#)
    );
    assert!(row("shots_on_hold").contains(r#"data-action="unpause""#));
    for name in ["publish_sync", "hangs", "render_notify"] {
        assert!(
            !row(name).contains("data-action"),
            "{name} has buttons: {}",
            row(name)
        );
    }

    let shot = artifacts_dir().join("status-bad-day-1280.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,900".to_owned(),
            url,
        ],
    )
    .await;
    // The whole page too, for a person to look at (the check above is the 1280×900 view).
    run_chromium(
        profile.path(),
        &[
            format!(
                "--screenshot={}",
                artifacts_dir().join("status-bad-day-full.png").display()
            ),
            "--window-size=1280,1500".to_owned(),
            format!("{base}/status"),
        ],
    )
    .await;
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1280);

    // A button press reaches the loop; a wrong token does not.
    let client = reqwest::Client::new();
    let press = |token: &str| {
        client
            .post(format!("{base}/actions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("token", token),
                ("plugin", "raises_stop"),
                ("collection", "/srv/plugins"),
                ("action", "skip"),
            ]))
            .send()
    };
    let answer = press(TOKEN).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("skip raises_stop"));
    assert_eq!(press("wrong").await.unwrap().status(), 403);

    let json: serde_json::Value = client
        .get(format!("{base}/status.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["degraded"], true);
    assert_eq!(
        json["degraded_reasons"].as_array().unwrap().len(),
        4,
        "{json}"
    );
    assert_eq!(json["plugins"][2]["running"]["id"], 1_204_300);
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("sgevents_degraded 1"), "{metrics}");
    assert!(
        metrics.contains(
            r#"sgevents_operator_actions_total{plugin="raises_stop",action="skip",result="done"} 1"#
        ),
        "{metrics}"
    );

    shutdown.cancel();
    server.await.unwrap().unwrap();
    drop(board);
    let asked = fake_loop.await.unwrap();
    assert_eq!(asked, vec![("raises_stop".to_owned(), Action::Skip)]);
}

#[tokio::test]
async fn off_loopback_the_page_is_read_only() {
    let board = StatusBoard::new("https://site.example.com");
    let mut failed = PluginStatus::new("raises_stop", "/srv/plugins");
    failed.state = PluginState::Failed;
    board.set_plugins(vec![failed]);
    let (requests, _inbox) = control::channel();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let page = PageOptions {
        control: Some(PageControl {
            token: TOKEN.into(),
            requests,
        }),
        ..PageOptions::default()
    };
    let server = tokio::spawn(serve_with(
        listener,
        Arc::new(board),
        Arc::new(Telemetry::new()),
        HealthPolicy::default(),
        page,
        shutdown.clone(),
    ));
    let base = format!("http://127.0.0.1:{port}");
    let html = reqwest::get(format!("{base}/status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<form"), "{html}");
    assert!(html.contains("Read-only"), "{html}");
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{base}/actions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", TOKEN),
            ("plugin", "raises_stop"),
            ("action", "resume"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

/// `application/x-www-form-urlencoded` for `pairs` (reqwest is built without its form feature).
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (byte as char).to_string()
                }
                _ => format!("%{byte:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}
