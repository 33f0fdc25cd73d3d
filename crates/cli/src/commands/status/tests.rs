//! `sgevents status` against a real status server, and against a state store when nothing answers.

use std::sync::Arc;

use sgevents_daemon::status::{HealthPolicy, PluginState, PluginStatus, StatusBoard};
use sgevents_daemon::status_server::{CancellationToken, serve};
use sgevents_daemon::telemetry::Telemetry;
use sgevents_store::{Cursor, PluginKey, Store};

use super::{Args, report};

fn args(url: String, db: Option<std::path::PathBuf>, json: bool) -> Args {
    Args {
        url: Some(url),
        db,
        config: None,
        json,
        timeout: 5.0,
    }
}

/// An address where nothing listens.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[tokio::test]
async fn a_running_daemon_is_read_over_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let board = StatusBoard::new("https://site.example.com");
    board.poll_succeeded(2, Some(77));
    let mut plugin = PluginStatus::new("shots", "/plugins");
    plugin.state = PluginState::Active;
    plugin.cursor = Some(77);
    board.set_plugins(vec![plugin]);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(board),
        Arc::new(Telemetry::new()),
        HealthPolicy::default(),
        shutdown.clone(),
    ));

    let table = report(&args(url.clone(), None, false)).await.unwrap();
    assert!(
        table.contains("site https://site.example.com (api healthy)"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|line| line.starts_with("shots"))
        .unwrap();
    assert!(row.contains("active") && row.contains("77"), "{row}");

    let json = report(&args(url, None, true)).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["plugins"][0]["cursor"], 77);

    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_state_store_is_read_when_the_daemon_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.sqlite");
    let mut store = Store::open(&db).unwrap();
    store
        .save(&[
            (PluginKey::new("/plugins", "shots"), Cursor::at(1234)),
            (PluginKey::new("/plugins", "assets"), Cursor::at(99)),
        ])
        .unwrap();
    drop(store);

    let text = report(&args(dead_url(), Some(db.clone()), false))
        .await
        .unwrap();
    assert!(text.starts_with("daemon not reachable"), "{text}");
    let shots = text.lines().find(|line| line.starts_with("shots")).unwrap();
    assert!(
        shots.contains("inactive") && shots.contains("1234"),
        "{shots}"
    );
    assert!(
        text.lines()
            .any(|line| line.starts_with("assets") && line.contains("99"))
    );

    let json = report(&args(dead_url(), Some(db), true)).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["source"], "store");
    assert_eq!(value["plugins"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn errors_say_what_to_do() {
    let err = report(&args(dead_url(), None, false)).await.unwrap_err();
    assert!(format!("{err:#}").contains("give --db PATH"), "{err:#}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.sqlite");
    let err = report(&args(dead_url(), Some(missing.clone()), false))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("no state database at"),
        "{err:#}"
    );
    assert!(!missing.exists(), "status must not create a database");

    let err = report(&args("localhost:9090".into(), None, false))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("http://"), "{err:#}");
}

/// A state store with one plugin at event 1234.
fn saved_store(dir: &std::path::Path) -> std::path::PathBuf {
    let db = dir.join("state.sqlite3");
    let mut store = Store::open(&db).unwrap();
    store
        .save(&[(PluginKey::new("/plugins", "shots"), Cursor::at(1234))])
        .unwrap();
    db
}

#[tokio::test]
async fn a_config_without_http_reads_the_store_and_asks_no_port() {
    let dir = tempfile::tempdir().unwrap();
    let db = saved_store(dir.path());
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let config = dir.path().join("sgevents.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nstate_db = {db:?}\nlog_file = \"x.log\"\n\
             [site]\nserver = \"https://s.example.com\"\nscript_name = \"d\"\nscript_key = \"k\"\n\
             [[plugins]]\npath = {plugins:?}\n",
            db = db.display().to_string(),
            plugins = dir.path().join("plugins").display().to_string(),
        ),
    )
    .unwrap();
    let args = Args {
        url: None,
        db: None,
        config: Some(config.clone()),
        json: false,
        timeout: 5.0,
    };
    let text = report(&args).await.unwrap();
    let expected = format!(
        "no status endpoint is configured (no `http` setting in {}), so no running daemon was asked;\nshowing the cursors saved in {}",
        config.display(),
        db.display()
    );
    assert!(text.starts_with(&expected), "{text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with("shots") && line.contains("1234")),
        "{text}"
    );

    // A named config that is not there is an error, not a silent fallback to defaults.
    let args = Args {
        config: Some(dir.path().join("absent.toml")),
        ..args
    };
    let err = report(&args).await.unwrap_err();
    let text = crate::error_text(&err);
    assert!(text.contains("absent.toml"), "{text}");
    assert_eq!(text.matches("os error 2").count(), 1, "{text}");
}

#[tokio::test]
async fn a_url_that_is_not_sgevents_is_named_and_the_store_is_read() {
    // The site emulator is a real HTTP server, but not a status endpoint.
    let sim = sgevents_sim::spawn(sgevents_sim::SimConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = saved_store(dir.path());
    let text = report(&args(sim.url(), Some(db), false)).await.unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("{} is not an sgevents status endpoint", sim.url())),
        "{text}"
    );
    assert!(!first.contains("not reachable"), "{text}");
    assert!(text.lines().any(|line| line.starts_with("shots")), "{text}");

    let err = report(&args(sim.url(), None, false)).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("is not an sgevents status endpoint"),
        "{text}"
    );
    assert!(text.contains("give --db PATH"), "{text}");
    sim.shutdown().await;
}
