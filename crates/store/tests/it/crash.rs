//! A process killed mid-save leaves either the old or the new cursors, never a mix.
//!
//! The test re-runs this test binary as a child that saves in a loop (`SGEVENTS_STORE_CHILD`),
//! kills it with SIGKILL at varying points, and checks the database after each kill.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sgevents_store::{Cursor, PluginKey, Store};

use crate::support::key;

const N_PLUGINS: usize = 10;

fn keys() -> Vec<PluginKey> {
    (0..N_PLUGINS)
        .map(|i| key("/plugins", &format!("p{i}")))
        .collect()
}

/// Saves all plugins at the same id, `start`, `start + 1`, ... for `rounds` rounds.
fn save_rounds(path: &Path, start: i64, rounds: Option<i64>) {
    let mut store = Store::open(path).unwrap();
    let mut id = start;
    loop {
        let updates: Vec<(PluginKey, Cursor)> =
            keys().into_iter().map(|k| (k, Cursor::at(id))).collect();
        store.save(&updates).unwrap();
        id += 1;
        if rounds.is_some_and(|r| id >= start + r) {
            return;
        }
    }
}

/// All cursors must hold the same id: each save wrote all of them in one transaction.
fn consistent_id(path: &Path) -> Option<i64> {
    let loaded = Store::open(path).unwrap().load().unwrap();
    if loaded.is_empty() {
        return None;
    }
    let ids: Vec<_> = loaded.values().map(|c| c.last_id).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "torn save: {ids:?}");
    assert_eq!(loaded.len(), N_PLUGINS);
    ids[0]
}

#[test]
fn save_loop_child() {
    match std::env::var_os("SGEVENTS_STORE_CHILD") {
        // As the child: save forever, until killed.
        Some(path) => save_rounds(Path::new(&path), 1, None),
        // As a plain test: a short loop, then check it.
        None => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.sqlite");
            save_rounds(&path, 1, Some(50));
            assert_eq!(consistent_id(&path), Some(50));
        }
    }
}

#[test]
fn sigkill_during_saves_never_tears_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let exe = std::env::current_exe().unwrap();
    let mut previous = 0;
    for round in 0..5_u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::save_loop_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SGEVENTS_STORE_CHILD", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait (with a deadline) until the child has committed past what we saw last time,
        // then let it run a little longer so the kill lands at a different point each round.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if path.exists()
                && let Some(id) = consistent_id(&path)
                && id > previous
            {
                break;
            }
            assert!(Instant::now() < deadline, "child made no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(3 * round + 1));
        child.kill().unwrap();
        child.wait().unwrap();
        let after = consistent_id(&path).expect("cursors survive the kill");
        assert!(
            after >= previous,
            "committed cursors went back: {previous} -> {after}"
        );
        previous = after;
    }
}
