//! `sgevents plugin ...` (the real binary) against the control socket served by the daemon's
//! code, with a test task playing the loop's side of the `Inbox`; and with no daemon, against
//! the state store.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use sgevents_daemon::control::{self, Action, Refusal};
use sgevents_daemon::control_socket::{self, ControlSocket};
use sgevents_daemon::telemetry::Telemetry;
use sgevents_store::{Cursor, PluginKey, Store};
use tokio_util::sync::CancellationToken;

fn plugin_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .arg("plugin")
        .args(args)
        .env_remove("SGEVENTS_CONFIG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The loop's side for one plugin `p` that stopped at event 7: what it was asked, in order.
async fn fake_loop(mut inbox: control::Inbox) -> Vec<(Action, u32)> {
    let mut asked = Vec::new();
    let mut state = "failed";
    while let Some(request) = inbox.0.recv().await {
        asked.push((request.action, request.uid));
        let reply = if request.plugin != "p" {
            Err(Refusal::UnknownPlugin(request.plugin.clone()))
        } else {
            match (request.action, state) {
                (Action::Resume, "failed") => {
                    state = "active";
                    Ok("p resumed, retrying event 7".to_owned())
                }
                (Action::Skip, "failed") => {
                    state = "active";
                    Ok("p skipped event 7 and resumed".to_owned())
                }
                (Action::Pause, "active") => {
                    state = "paused";
                    Ok("p paused".to_owned())
                }
                (Action::Unpause, "paused") => {
                    state = "active";
                    Ok("p unpaused".to_owned())
                }
                (action, now) => Err(Refusal::NotApplicable {
                    plugin: "p".to_owned(),
                    state: now.to_owned(),
                    verb: action.verb().to_owned(),
                }),
            }
        };
        let _ = request.reply.send(reply);
    }
    asked
}

#[test]
fn plugin_actions_reach_the_loop_over_the_socket() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("control.sock");
    let socket_arg = socket_path.to_str().unwrap();
    let socket = runtime.block_on(ControlSocket::bind(&socket_path)).unwrap();
    let mode = std::fs::metadata(&socket_path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode, 0o600,
        "the control socket is created 0600, not {mode:o}"
    );
    let (tx, inbox) = control::channel();
    let telemetry = Arc::new(Telemetry::new());
    let shutdown = CancellationToken::new();
    let server = runtime.spawn(control_socket::serve(
        socket,
        tx,
        telemetry.clone(),
        shutdown.clone(),
    ));
    let fake = runtime.spawn(fake_loop(inbox));

    let steps: [(&str, &str, bool, &str); 6] = [
        ("pause", "p", false, "failed: nothing to pause"),
        ("skip", "p", true, "p skipped event 7 and resumed"),
        ("pause", "p", true, "p paused"),
        ("resume", "p", false, "paused: nothing to resume"),
        ("unpause", "p", true, "p unpaused"),
        ("skip", "nope", false, "no plugin named `nope`"),
    ];
    for (verb, plugin, ok, expect) in steps {
        let out = plugin_cmd(&[verb, plugin, "--socket", socket_arg]);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.success(), ok, "`plugin {verb} {plugin}`: {said}");
        assert!(
            said.contains(expect),
            "`plugin {verb} {plugin}` said: {said}"
        );
    }

    // Another uid is refused: by the file mode, and by SO_PEERCRED even when the mode would
    // let it in. Needs root to run the binary as `nobody`.
    if nix::unistd::getuid().is_root() && Path::new("/usr/bin/setpriv").exists() {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let as_nobody = |verb: &str| {
            Command::new("/usr/bin/setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_sgevents"))
                .args(["plugin", verb, "p", "--socket", socket_arg])
                .output()
                .unwrap()
        };
        let out = as_nobody("pause");
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("ermission denied"),
            "{}",
            text(&out.stderr)
        );
        std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let out = as_nobody("pause");
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("uid 65534 may not control this daemon"),
            "{}",
            text(&out.stderr)
        );
    } else {
        eprintln!("skipping the other-uid check: it needs root and setpriv to run as `nobody`");
    }

    shutdown.cancel();
    runtime.block_on(server).unwrap();
    let asked = runtime.block_on(fake).unwrap();
    let me = nix::unistd::getuid().as_raw();
    let actions: Vec<Action> = asked.iter().map(|(action, _)| *action).collect();
    assert_eq!(
        actions,
        [
            Action::Pause,
            Action::Skip,
            Action::Pause,
            Action::Resume,
            Action::Unpause,
            Action::Skip
        ],
        "a refused uid never reaches the loop"
    );
    assert!(asked.iter().all(|(_, uid)| *uid == me));
    let metrics = telemetry.encode();
    for line in [
        "sgevents_operator_actions_total{plugin=\"p\",action=\"skip\",result=\"done\"} 1",
        "sgevents_operator_actions_total{plugin=\"p\",action=\"pause\",result=\"refused\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}

#[test]
fn with_no_daemon_skip_moves_the_cursor_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.sqlite3");
    let key = PluginKey::new("/plugins", "p");
    Store::open(&db)
        .unwrap()
        .save(&[(key.clone(), Cursor::at(11))])
        .unwrap();
    let socket = dir.path().join("control.sock"); // nobody listens
    let (socket, db_arg) = (socket.to_str().unwrap(), db.to_str().unwrap());
    let cursor = || Store::open(&db).unwrap().load().unwrap()[&key].clone();

    let out = plugin_cmd(&["skip", "p", "--socket", socket, "--db", db_arg]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("give --event ID"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(cursor(), Cursor::at(11));

    let out = plugin_cmd(&["resume", "p", "--socket", socket, "--db", db_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("from event 12"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(cursor(), Cursor::at(11));

    let out = plugin_cmd(&["pause", "p", "--socket", socket, "--db", db_arg]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not kept in the state store"),
        "{}",
        text(&out.stderr)
    );

    let out = plugin_cmd(&[
        "skip", "p", "--socket", socket, "--db", db_arg, "--event", "12",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("resumes at event 13"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("Operator (uid"),
        "the action is logged with the uid"
    );
    assert_eq!(cursor(), Cursor::at(12));

    let out = plugin_cmd(&[
        "skip", "p", "--socket", socket, "--db", db_arg, "--event", "5",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already past"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(cursor(), Cursor::at(12));
}

#[test]
fn the_daemon_creates_its_control_socket_0600_next_to_the_state_db() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(sgevents_sim::spawn(sgevents_sim::SimConfig {
            scripts: vec![("engine".to_owned(), "engine-key".to_owned())],
            ..sgevents_sim::SimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let config = super::support::config(dir.path(), &sim.url(), ("engine", "engine-key"), &plugins);
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--python")
        .arg(super::support::python())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The default: `sgevents-control.sock` next to `state_db`.
    let socket = dir.path().join("sgevents-control.sock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no control socket at {}",
            socket.display()
        );
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the daemon's control socket is {mode:o}");
    // `sgevents plugin` finds it through the config and gets an answer from the daemon.
    let out = Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(["plugin", "pause", "nope", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the daemon"),
        "{}",
        text(&out.stderr)
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.wait().unwrap().success());
    assert!(!socket.exists(), "the socket file is removed at shutdown");
    runtime.block_on(sim.shutdown());
}

/// A ledger plugin (stopOnError, upstream's default) that fails on event `FAIL_ID`.
const POISONED_PLUGIN: &str = r#"
import os

LEDGER = os.path.join(os.environ["LEDGER_DIR"], "poisoned")
FAIL_ID = int(os.environ["FAIL_ID"])

def record(sg, logger, event, args):
    if event["id"] == FAIL_ID:
        raise RuntimeError("poisoned event %d" % FAIL_ID)
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("%d\n" % event["id"]).encode())
    finally:
        os.close(fd)

def registerCallbacks(reg):
    reg.registerCallback("ledger", "ledger-key", record)
"#;

/// Runs `sgevents plugin ARGS --config CONFIG` until it succeeds (the plugin may not have
/// reached the state the action needs yet); returns its stdout.
fn act_until_done(config: &Path, args: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_sgevents"))
            .arg("plugin")
            .args(args)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap();
        if out.status.success() {
            return text(&out.stdout);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`sgevents plugin {}` never succeeded: {}",
            args.join(" "),
            text(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn skip_pause_and_unpause_act_on_the_running_daemon() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(sgevents_sim::spawn(sgevents_sim::SimConfig {
            scripts: vec![("ledger".to_owned(), "ledger-key".to_owned())],
            prefill: 12,
            ..sgevents_sim::SimConfig::default()
        }))
        .unwrap();
    let latest = sim.latest_event_id().unwrap();
    let fail_id = latest - 6;
    let dir = tempfile::tempdir().unwrap();
    let (plugins, ledgers) = (dir.path().join("plugins"), dir.path().join("ledgers"));
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&ledgers).unwrap();
    std::fs::write(plugins.join("poisoned.py"), POISONED_PLUGIN).unwrap();
    let config = super::support::config(dir.path(), &sim.url(), ("ledger", "ledger-key"), &plugins);
    // FAIL_ID reaches the plugin through the daemon's environment.
    let mut daemon = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sgevents"));
        command
            .args(["run", "--start-at", "1", "--config"])
            .arg(&config)
            .arg("--python")
            .arg(super::support::python())
            .env("LEDGER_DIR", &ledgers)
            .env("FAIL_ID", fail_id.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command.spawn().unwrap()
    };
    let ledger = || super::support::ledger(&ledgers, "poisoned");

    // The plugin stops at the poisoned event; skip (refused until it has stopped) moves it on.
    let said = act_until_done(&config, &["skip", "poisoned"]);
    assert!(said.contains(&fail_id.to_string()), "{said}");
    let wanted: Vec<i64> = (1..=latest).filter(|id| *id != fail_id).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ledger() != wanted {
        assert!(
            std::time::Instant::now() < deadline,
            "after the skip the plugin got {:?}, wanted {wanted:?}",
            ledger()
        );
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // Paused, it takes nothing new; unpaused, it catches up.
    act_until_done(&config, &["pause", "poisoned"]);
    sim.prefill(3).unwrap();
    let newest = sim.latest_event_id().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(ledger(), wanted, "a paused plugin took events");
    act_until_done(&config, &["unpause", "poisoned"]);
    let all: Vec<i64> = wanted.iter().copied().chain(latest + 1..=newest).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ledger() != all {
        assert!(
            std::time::Instant::now() < deadline,
            "after unpause the plugin got {:?}, wanted {all:?}",
            ledger()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.wait().unwrap().success());
    runtime.block_on(sim.shutdown());
}
