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
