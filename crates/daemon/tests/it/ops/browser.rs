//! Headless Chromium (Debian's `chromium`) loads the status page from a running server: the
//! DOM is checked and a screenshot is kept under `target/artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sgevents_daemon::status::{CallbackStatus, ErrorInfo, HealthPolicy, PluginState, PluginStatus};

use super::server::Running;
use super::support::workspace_root;

/// The Chromium binary: `SGEVENTS_CHROMIUM`, else `chromium` on the PATH.
pub(crate) fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("SGEVENTS_CHROMIUM") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("chromium is not installed: run `bash scripts/ensure-chromium.sh` (or set SGEVENTS_CHROMIUM)")
    })
}

pub(crate) fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let dir = target.join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium with the flags this machine needs, plus `extra`; returns stdout.
// A browser is not a plugin child, so the plugin host's spawner does not apply.
#[allow(clippy::disallowed_methods)]
pub(crate) async fn run_chromium(profile: &Path, extra: &[String]) -> String {
    let mut command = tokio::process::Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("chromium did not finish within 120 s")
        .expect("chromium could not be started");
    assert!(
        output.status.success(),
        "chromium failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn plugins() -> Vec<PluginStatus> {
    let mut good = PluginStatus::new("shot_status", "/srv/plugins");
    good.path = Some("/srv/plugins/shot_status.py".into());
    good.state = PluginState::Active;
    good.cursor = Some(1_204_311);
    good.lag_events = Some(0);
    good.counts.dispatched = 1520;
    good.callbacks = vec![CallbackStatus {
        name: "on_status_change".into(),
        filter: r#"{"Shotgun_Shot_Change": ["sg_status_list"]}"#.into(),
        stop_on_error: false,
    }];
    let mut bad = PluginStatus::new("<img src=x onerror=alert(1)>", "/srv/plugins");
    bad.state = PluginState::Failed;
    bad.cursor = Some(1_204_120);
    bad.lag_events = Some(191);
    bad.lag_seconds = Some(74.5);
    bad.backlog = 2;
    bad.last_error = Some(ErrorInfo {
        at: jiff::Timestamp::now(),
        message:
            "Traceback (most recent call last):\n  File \"bad.py\", line 9\nKeyError: 'project'"
                .into(),
    });
    bad.counts.failures = 3;
    vec![good, bad]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_status_page() {
    let browser = chromium();
    let server = Running::start(HealthPolicy::default()).await;
    server.board.heartbeat();
    server.board.poll_succeeded(7, Some(1_204_311));
    server.board.set_plugins(plugins());
    let url = format!("{}/status", server.base);
    let profile = tempfile::tempdir().unwrap();

    let dom = run_chromium(profile.path(), &["--dump-dom".to_owned(), url.clone()]).await;
    assert!(dom.contains("sgevents status"), "{dom}");
    assert!(
        dom.contains(r#"data-plugin="shot_status" data-state="active""#),
        "{dom}"
    );
    assert!(dom.contains("KeyError: 'project'"), "{dom}");
    assert!(dom.contains(r#"id="readiness">ready<"#), "{dom}");
    assert!(dom.contains(r#"id="api-health">healthy<"#), "{dom}");
    assert!(dom.contains("Shotgun_Shot_Change"));
    // The hostile plugin name stays text: no <img> element made it into the DOM.
    assert!(!dom.contains("<img"), "{dom}");
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "{dom}");

    let shot = artifacts_dir().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,900".to_owned(),
            url,
        ],
    )
    .await;
    let bytes = std::fs::read(&shot).unwrap_or_else(|err| {
        panic!(
            "{} ({}) wrote no screenshot at {}: {err}",
            browser.display(),
            "chromium",
            shot.display()
        )
    });
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    server.stop().await;
}
