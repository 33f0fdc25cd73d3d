//! Where plugins start, with the real binary against the sim: an interrupted first start
//! records nothing, upstream's `None` entries start as upstream would, a state database that
//! is empty, truncated, of an unknown version or with nonsense cursors stops the daemon with a
//! message saying how to proceed, an unreachable site or a rejected key ends in an ERROR, and
//! each interpreter is checked once (one without shotgun_api3 is refused with its fix).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sgevents_sim::{FaultKind, FaultRule, Sim, SimConfig};
use sgevents_store::{Cursor, PluginKey, Store};

use super::support::{LEDGER_PLUGIN, Running, free_port, http_get, ledger, python};

const SCRIPT: (&str, &str) = ("ledger", "ledger-key");

/// A sim, a plugin folder with ledger plugins, and a config.
struct Setup {
    runtime: tokio::runtime::Runtime,
    sim: Sim,
    dir: tempfile::TempDir,
    plugins: PathBuf,
    ledgers: PathBuf,
    config: PathBuf,
}

impl Setup {
    fn new(prefill: u64, names: &[&str], extra_daemon: &str, key: &str) -> Setup {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sim = runtime
            .block_on(sgevents_sim::spawn(SimConfig {
                scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
                prefill,
                ..SimConfig::default()
            }))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (plugins, ledgers) = (dir.path().join("plugins"), dir.path().join("ledgers"));
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::create_dir_all(&ledgers).unwrap();
        for name in names {
            std::fs::write(plugins.join(format!("{name}.py")), LEDGER_PLUGIN).unwrap();
        }
        let config = dir.path().join("sgevents.toml");
        let interval = if extra_daemon.contains("fetch_interval_secs") {
            ""
        } else {
            "fetch_interval_secs = 1\n"
        };
        let text = format!(
            "[daemon]\nstate_db = {state:?}\nlog_path = {logs:?}\nlog_file = \"sgevents.log\"\n\
             {interval}shutdown_grace_secs = 5\nmax_conn_retries = 2\nconn_retry_sleep_secs = 1\n{extra_daemon}\n\
             [site]\nserver = {site:?}\nscript_name = {name:?}\nscript_key = {key:?}\n\n\
             [[plugins]]\npath = {plugins:?}\n",
            state = dir.path().join("state.sqlite3").display().to_string(),
            logs = dir.path().join("logs").display().to_string(),
            site = sim.url(),
            name = SCRIPT.0,
            plugins = plugins.display().to_string(),
        );
        std::fs::write(&config, text).unwrap();
        Setup {
            runtime,
            sim,
            dir,
            plugins,
            ledgers,
            config,
        }
    }

    fn state_db(&self) -> PathBuf {
        self.dir.path().join("state.sqlite3")
    }

    fn key(&self, plugin: &str) -> PluginKey {
        PluginKey::new(self.plugins.display().to_string(), plugin)
    }

    fn run(&self, args: &[&str]) -> Running {
        Running::start(&self.config, &self.ledgers, args)
    }

    fn write_shots(&self, n: usize) {
        for i in 0..n {
            self.sim
                .create(
                    SCRIPT.0,
                    "Shot",
                    json!({"code": format!("new{i}"), "sg_status_list": "wtg"}),
                )
                .unwrap();
        }
    }

    fn latest(&self) -> i64 {
        self.sim.latest_event_id().unwrap_or(0)
    }

    /// Runs the daemon expecting it to refuse to start; returns what it printed.
    fn refused(&self) -> String {
        let mut daemon = self.run(&[]);
        let status = daemon.exit(60);
        assert!(!status.success(), "the daemon ran:\n{}", daemon.output());
        daemon.output()
    }

    fn shutdown(self) {
        let Setup { runtime, sim, .. } = self;
        runtime.block_on(sim.shutdown());
    }
}

#[test]
fn a_plugin_behind_the_site_gets_its_events_as_soon_as_it_is_loaded() {
    // The start-up reads (latest id, first probe) must not make a freshly loaded plugin wait a
    // whole fetch interval for events that are already on the site.
    let setup = Setup::new(30, &["ledger_a"], "fetch_interval_secs = 300\n", SCRIPT.1);
    let latest = setup.latest();
    let mut daemon = setup.run(&["--start-at", "2"]);
    daemon.wait_until(
        "the plugin caught up, well inside one fetch interval",
        60,
        |_| ledger(&setup.ledgers, "ledger_a").last() == Some(&latest),
    );
    assert!(daemon.terminate(30).success(), "{}", daemon.output());
    let seen = ledger(&setup.ledgers, "ledger_a");
    assert_eq!(
        seen,
        (2..=latest).collect::<Vec<_>>(),
        "every event once, in order"
    );
    setup.shutdown();
}

fn all_requests_fail() -> FaultRule {
    FaultRule {
        kind: FaultKind::Http { status: 503 },
        rate: None,
        count: None,
        for_ms: None,
        method: None,
    }
}

#[test]
fn an_interrupted_first_start_records_nothing_and_the_next_start_is_a_first_start() {
    let setup = Setup::new(50, &["ledger_a"], "", SCRIPT.1);
    setup.sim.add_fault(all_requests_fail()).unwrap();
    let port = free_port();
    let port_arg = format!("127.0.0.1:{port}");
    let mut daemon = setup.run(&["--http", &port_arg]);
    // At start-up as mid-run: an ERROR on the engine logger after max_conn_retries.
    daemon.wait_for("Unable to reach the site after 2 attempts", 60);
    daemon.wait_until("/readyz answers", 30, |_| {
        http_get(port, "/readyz").is_some()
    });
    let (status, body) = http_get(port, "/readyz").unwrap();
    assert_eq!(status, 503, "not ready while the site is down: {body}");
    assert!(daemon.terminate(30).success(), "{}", daemon.output());

    let store = Store::open(&setup.state_db()).unwrap();
    assert!(store.load().unwrap().is_empty(), "nothing is recorded");
    assert!(!store.started());
    drop(store);

    setup.sim.clear_faults();
    let latest = setup.latest();
    let mut daemon = setup.run(&["--http", &port_arg]);
    daemon.wait_for(
        &format!("starts after event {latest}: first start: the site's latest event"),
        60,
    );
    daemon.wait_until("/readyz is 200", 30, |_| {
        http_get(port, "/readyz").is_some_and(|(status, _)| status == 200)
    });
    setup.write_shots(1);
    daemon.wait_until("the plugin ran", 60, |_| {
        !ledger(&setup.ledgers, "ledger_a").is_empty()
    });
    assert!(daemon.terminate(30).success());
    let seen = ledger(&setup.ledgers, "ledger_a");
    assert!(
        seen.iter().all(|id| *id > latest),
        "the second start replayed history: {seen:?}"
    );
    setup.shutdown();
}

#[test]
fn a_rejected_key_says_so_names_the_script_and_ends_in_an_error() {
    let setup = Setup::new(5, &["ledger_a"], "", "not-the-key");
    let mut daemon = setup.run(&[]);
    daemon.wait_for("rejected the key of script `ledger`", 60);
    daemon.wait_for("Unable to reach the site after 2 attempts", 60);
    assert!(daemon.terminate(30).success());
    assert!(
        Store::open(&setup.state_db())
            .unwrap()
            .load()
            .unwrap()
            .is_empty(),
        "nothing is recorded"
    );
    setup.shutdown();
}

/// Writes upstream's pickle state file with the venv's Python.
fn write_pickle(path: &Path, literal: &str) {
    let script = format!(
        "import pickle, sys\nwith open(sys.argv[1], 'wb') as f:\n    pickle.dump({literal}, f, protocol=2)\n"
    );
    let status = Command::new(python())
        .args(["-c", &script])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn upstream_none_entries_start_where_upstream_would() {
    let names = ["ledger_a", "ledger_b", "ledger_c", "ledger_d"];
    let dir_probe = tempfile::tempdir().unwrap();
    let state_file = dir_probe.path().join("shotgunEventDaemon.id");
    let extra = format!("event_id_file = {:?}\n", state_file.display().to_string());
    let setup = Setup::new(60, &names, &extra, SCRIPT.1);
    let collection = setup.plugins.display().to_string();
    write_pickle(
        &state_file,
        &format!(
            "{{{collection:?}: {{'ledger_a': (None, {{}}), 'ledger_b': (20, {{}}), 'ledger_d': None}}, \
             '/elsewhere': {{'ledger_c': (30, {{}}), 'ledger_a': None}}}}"
        ),
    );
    let file_before = std::fs::read(&state_file).unwrap();
    let mut daemon = setup.run(&[]);
    daemon.wait_for("Plugin", 60);
    daemon.wait_until("every plugin caught up", 120, |_| {
        names
            .iter()
            .all(|name| ledger(&setup.ledgers, name).last() == Some(&setup.latest()))
    });
    assert!(daemon.terminate(30).success());
    let output = daemon.output();
    let first = |name: &str| ledger(&setup.ledgers, name).first().copied();
    let latest = setup.latest();
    assert!(latest > 31, "the sim's prefill is too small: {latest}");
    // A `(None, {})` or `None` entry: with the other plugins (the lowest present position).
    assert_eq!(first("ledger_a"), Some(21), "{output}");
    assert_eq!(first("ledger_d"), Some(21), "{output}");
    assert_eq!(first("ledger_b"), Some(21), "{output}");
    // No entry in its folder: the same plugin's position elsewhere in the file.
    assert_eq!(first("ledger_c"), Some(31), "{output}");
    assert!(output.contains("with the other plugins"), "{output}");
    assert!(
        output.contains("the same plugin's in /elsewhere"),
        "{output}"
    );
    assert!(
        output.contains("starts after event 20: imported from upstream's"),
        "{output}"
    );
    // Upstream's file is read once and never written: a second start runs from the database.
    assert_eq!(std::fs::read(&state_file).unwrap(), file_before);
    write_pickle(
        &state_file,
        &format!("{{{collection:?}: {{'ledger_b': (2, {{}})}}}}"),
    );
    let mut daemon = setup.run(&[]);
    daemon.wait_for(
        &format!(
            "ledger_b starts after event {}: its saved cursor",
            setup.latest()
        ),
        60,
    );
    assert!(daemon.terminate(30).success());
    setup.shutdown();
}

#[test]
fn an_empty_or_damaged_state_database_stops_the_daemon_with_what_to_do() {
    let setup = Setup::new(10, &["ledger_a"], "", SCRIPT.1);
    let db = setup.state_db();
    let name = db.display().to_string();

    // Zero bytes.
    std::fs::write(&db, b"").unwrap();
    let output = setup.refused();
    assert!(
        output.contains(&name) && output.contains("empty (0 bytes)"),
        "{output}"
    );
    assert!(output.contains("--start-at"), "{output}");
    assert!(ledger(&setup.ledgers, "ledger_a").is_empty());
    // `--start-at` says where every plugin starts, so it may run.
    let mut daemon = setup.run(&["--start-at", "latest"]);
    daemon.wait_for(
        &format!("starts after event {}: --start-at latest", setup.latest()),
        60,
    );
    assert!(daemon.terminate(30).success());

    // Used before (cursors were saved), emptied since.
    let mut store = Store::open(&db).unwrap();
    let keys = store.keys().unwrap();
    assert!(!keys.is_empty());
    store.remove(&keys).unwrap();
    drop(store);
    let output = setup.refused();
    assert!(
        output.contains(&name) && output.contains("no plugin cursors"),
        "{output}"
    );
    assert!(output.contains("sgevents state set"), "{output}");

    // Truncated.
    let mut store = Store::open(&db).unwrap();
    store
        .save(&[(setup.key("ledger_a"), Cursor::at(3))])
        .unwrap();
    drop(store);
    let bytes = std::fs::read(&db).unwrap();
    std::fs::write(&db, &bytes[..bytes.len().min(700)]).unwrap();
    let output = setup.refused();
    assert!(output.contains(&name), "{output}");
    assert!(
        output.contains("corrupt") || output.contains("unreadable"),
        "{output}"
    );

    // An unknown schema version.
    std::fs::remove_file(&db).unwrap();
    let mut store = Store::open(&db).unwrap();
    store
        .save(&[(setup.key("ledger_a"), Cursor::at(3))])
        .unwrap();
    drop(store);
    let status = Command::new(python())
        .args([
            "-c",
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute('PRAGMA user_version = 99')\nc.commit()\n",
        ])
        .arg(&db)
        .status()
        .unwrap();
    assert!(status.success());
    let output = setup.refused();
    assert!(
        output.contains(&name) && output.contains("schema version 99"),
        "{output}"
    );
    assert!(ledger(&setup.ledgers, "ledger_a").is_empty(), "nothing ran");
    setup.shutdown();
}

#[test]
fn a_cursor_that_makes_no_sense_stops_the_daemon_naming_plugin_and_ids() {
    let setup = Setup::new(10, &["ledger_a"], "", SCRIPT.1);
    let latest = setup.latest();
    for bad in [-50, latest + 100] {
        let _ = std::fs::remove_file(setup.state_db());
        let mut store = Store::open(&setup.state_db()).unwrap();
        store
            .save(&[(setup.key("ledger_a"), Cursor::at(bad))])
            .unwrap();
        drop(store);
        let output = setup.refused();
        assert!(
            output.contains(&setup.state_db().display().to_string()),
            "{output}"
        );
        assert!(output.contains("ledger_a"), "{output}");
        assert!(output.contains(&format!("cursor {bad}")), "{output}");
        assert!(
            output.contains(&format!("latest event is {latest}")),
            "{output}"
        );
        assert!(output.contains("sgevents state set"), "{output}");
        assert!(output.contains("--start-at"), "{output}");
    }
    assert!(ledger(&setup.ledgers, "ledger_a").is_empty(), "nothing ran");
    setup.shutdown();
}

#[test]
fn each_interpreter_is_checked_once_and_one_without_shotgun_api3_is_refused_with_its_fix() {
    let setup = Setup::new(5, &["ledger_a"], "", SCRIPT.1);
    let mut daemon = setup.run(&[]);
    daemon.wait_for("(Python 3.", 60);
    assert_eq!(daemon.output().matches("Plugins run with").count(), 1);
    assert!(daemon.terminate(30).success(), "{}", daemon.output());

    // The same folder with an interpreter that lacks shotgun_api3.
    let bare = setup.dir.path().join("bare");
    let made = Command::new(python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&bare)
        .status()
        .unwrap();
    assert!(made.success());
    let bare_python = bare.join("bin").join("python");
    let mut text = std::fs::read_to_string(&setup.config).unwrap();
    text.push_str(&format!(
        "python = {:?}\n",
        bare_python.display().to_string()
    ));
    std::fs::write(&setup.config, text).unwrap();
    let output = setup.refused();
    assert!(output.contains("plugins[0].python"), "{output}");
    assert!(output.contains("cannot import shotgun_api3"), "{output}");
    let fix = format!("{} -m pip install shotgun-api3", bare_python.display());
    assert!(output.contains(&fix), "{output}");
    setup.shutdown();
}
