//! A plugin whose import hangs stalls only itself: next to it two ledger plugins get every
//! event, the sleeper shows as hung on the status page, and SIGTERM ends the daemon promptly.

use std::time::{Duration, Instant};

use serde_json::json;
use sgevents_sim::SimConfig;

use super::support::{LEDGER_PLUGIN, Running, free_port, http_get, ledger};

const SCRIPT: (&str, &str) = ("ledger", "ledger-key");
const SHUTDOWN_GRACE_SECS: u64 = 5;

const SLEEPER: &str = "import time\ntime.sleep(3600)\n\ndef registerCallbacks(reg):\n    pass\n";

#[test]
fn a_plugin_whose_import_hangs_stalls_only_itself() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(sgevents_sim::spawn(SimConfig {
            scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
            prefill: 20,
            ..SimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (plugins, ledgers) = (dir.path().join("plugins"), dir.path().join("ledgers"));
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&ledgers).unwrap();
    for name in ["ledger_a", "ledger_b"] {
        std::fs::write(plugins.join(format!("{name}.py")), LEDGER_PLUGIN).unwrap();
    }
    std::fs::write(plugins.join("sleeper.py"), SLEEPER).unwrap();
    let config = dir.path().join("sgevents.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nstate_db = {state:?}\nlog_path = {logs:?}\nlog_file = \"sgevents.log\"\n\
             fetch_interval_secs = 1\nshutdown_grace_secs = {SHUTDOWN_GRACE_SECS}\nload_timeout_secs = 2\n\n\
             [site]\nserver = {site:?}\nscript_name = {name:?}\nscript_key = {key:?}\n\n\
             [[plugins]]\npath = {plugins:?}\n",
            state = dir.path().join("state.sqlite3").display().to_string(),
            logs = dir.path().join("logs").display().to_string(),
            site = sim.url(),
            name = SCRIPT.0,
            key = SCRIPT.1,
            plugins = plugins.display().to_string(),
        ),
    )
    .unwrap();
    let port = free_port();
    let mut daemon = Running::start(&config, &ledgers, &["--http", &format!("127.0.0.1:{port}")]);
    daemon.wait_for("starts after event", 60);
    // Activity while the sleeper's import hangs.
    let mut written = Vec::new();
    for round in 0..10 {
        let shot = sim
            .create(
                SCRIPT.0,
                "Shot",
                json!({"code": format!("act{round}"), "sg_status_list": "wtg"}),
            )
            .unwrap();
        written.push(shot);
        std::thread::sleep(Duration::from_millis(200));
    }
    let latest = sim.latest_event_id().unwrap();
    daemon.wait_until("both ledgers have every new event", 120, |_| {
        ["ledger_a", "ledger_b"]
            .iter()
            .all(|name| ledger(&ledgers, name).last() == Some(&latest))
    });
    for name in ["ledger_a", "ledger_b"] {
        let seen = ledger(&ledgers, name);
        let first = seen[0];
        let expected: Vec<i64> = (first..=latest).collect();
        assert_eq!(seen, expected, "{name} missed or repeated events");
    }
    daemon.wait_until("the sleeper shows as hung", 60, |_| {
        http_get(port, "/status.json").is_some_and(|(_, body)| {
            let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            status["plugins"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|plugin| plugin["name"] == "sleeper" && plugin["state"] == "hung")
        })
    });
    let (_, body) = http_get(port, "/status.json").unwrap();
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["degraded"], true, "{body}");
    assert!(status["site"]["last_poll_events"].is_u64(), "{body}");
    assert!(status["daemon"]["heartbeat_at"].is_string(), "{body}");
    assert!(
        status["degraded_reasons"]
            .as_array()
            .is_some_and(|reasons| reasons
                .iter()
                .any(|reason| reason == "plugin sleeper hangs while loading its file")),
        "{body}"
    );
    let asked = Instant::now();
    let exit = daemon.terminate(SHUTDOWN_GRACE_SECS + 5);
    assert!(exit.success(), "{}", daemon.output());
    let output = daemon.output();
    assert!(output.contains("is marked hung"), "{output}");
    eprintln!("SIGTERM to exit: {:?}", asked.elapsed());
    runtime.block_on(sim.shutdown());
}
