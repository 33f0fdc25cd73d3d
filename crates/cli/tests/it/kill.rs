//! SIGKILL at arbitrary points during catch-up loses no event and repeats at most the one
//! in-flight event per plugin per kill, checked against a ledger each plugin writes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sgevents_sim::SimConfig;

use super::support::{LEDGER_PLUGIN, config, ledger, python};

const SCRIPT: (&str, &str) = ("ledger", "ledger-key");
const EVENTS: u64 = 40_000;
/// Milliseconds into each run at which the daemon is killed: spread over start-up and catch-up.
const KILL_AFTER_MS: [u64; 5] = [400, 900, 650, 1_200, 800];

fn start_daemon(config: &Path, ledger_dir: &Path, first: bool) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sgevents"));
    command
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--python")
        .arg(python())
        .env("LEDGER_DIR", ledger_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if first {
        command.args(["--start-at", "1"]);
    }
    command.spawn().unwrap()
}

#[test]
fn sigkill_during_catch_up_loses_nothing_and_repeats_at_most_the_in_flight_event() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(sgevents_sim::spawn(SimConfig {
            scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
            prefill: EVENTS,
            ..SimConfig::default()
        }))
        .unwrap();
    let expected: Vec<i64> = (1..=sim.latest_event_id().unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let (plugins, ledgers) = (dir.path().join("plugins"), dir.path().join("ledgers"));
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&ledgers).unwrap();
    for name in ["ledger_a", "ledger_b"] {
        std::fs::write(plugins.join(format!("{name}.py")), LEDGER_PLUGIN).unwrap();
    }
    let config = config(dir.path(), &sim.url(), SCRIPT, &plugins);

    // The first run starts at event 1 and is killed as soon as both plugins have begun, so
    // that every later run resumes from saved cursors (with no state the daemon would start at
    // the latest event, as upstream does).
    let mut daemon = start_daemon(&config, &ledgers, true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while ["ledger_a", "ledger_b"]
        .iter()
        .any(|plugin| ledger(&ledgers, plugin).is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "the first run never reached the plugins"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let mut kills = 1;
    let mut kills_during_catch_up = 1;
    for after_ms in KILL_AFTER_MS {
        let mut daemon = start_daemon(&config, &ledgers, false);
        std::thread::sleep(Duration::from_millis(after_ms));
        let caught_up = ["ledger_a", "ledger_b"]
            .iter()
            .all(|plugin| ledger(&ledgers, plugin).len() >= expected.len());
        daemon.kill().unwrap(); // SIGKILL
        daemon.wait().unwrap();
        if !caught_up {
            kills_during_catch_up += 1;
        }
        kills += 1;
    }

    let socket = dir.path().join("sgevents-control.sock");
    let _ = std::fs::remove_file(&socket); // left by the killed runs
    let mut daemon = start_daemon(&config, &ledgers, false);
    let deadline = Instant::now() + Duration::from_secs(120);
    // Up (its signal handlers are in place once the socket is there), even when the kills
    // left nothing to catch up.
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the last run never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    while ["ledger_a", "ledger_b"]
        .iter()
        .any(|plugin| ledger(&ledgers, plugin).len() < expected.len())
    {
        assert!(
            Instant::now() < deadline,
            "the daemon did not catch up after the kills"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = daemon.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM must end the daemon with exit 0, got {status}"
    );
    runtime.block_on(sim.shutdown());

    assert!(
        kills_during_catch_up >= 4,
        "only {kills_during_catch_up} of {kills} kills hit the daemon during catch-up: raise EVENTS"
    );
    for plugin in ["ledger_a", "ledger_b"] {
        let seen = ledger(&ledgers, plugin);
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for id in &seen {
            *counts.entry(*id).or_default() += 1;
        }
        let distinct: Vec<i64> = counts.keys().copied().collect();
        assert_eq!(distinct, expected, "{plugin} lost events");
        let repeats: usize = counts.values().map(|n| n - 1).sum();
        assert!(
            repeats <= kills,
            "{plugin} repeated {repeats} events over {kills} kills"
        );
    }
}
