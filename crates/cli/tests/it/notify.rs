//! systemd's notify protocol from the real binary: a datagram socket stands in for systemd
//! as `$NOTIFY_SOCKET`. The loop is stalled for real: in sequential dispatch (upstream's
//! order) the loop waits for each callback, and a plugin holds its callback while a gate file
//! exists. The watchdog pings must stop while it waits and come back when it goes on.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sgevents_sim::SimConfig;

use super::support::{config_with, python};

const SCRIPT: (&str, &str) = ("gate", "gate-key");
/// The watchdog interval systemd would set; the daemon pings every half of it.
const WATCHDOG_USEC: u64 = 400_000;

const GATE_PLUGIN: &str = r#"
import os, time

def hold(sg, logger, event, args):
    open(os.environ["ENTERED_FILE"], "a").close()
    while os.path.exists(os.environ["GATE_FILE"]):
        time.sleep(0.02)

def registerCallbacks(reg):
    reg.registerCallback("gate", "gate-key", hold)
"#;

/// What systemd would have received, in order.
struct Systemd {
    socket: UnixDatagram,
    /// Everything received.
    seen: Vec<String>,
    /// Received lines not yet looked at by [`Systemd::wait_for`] or [`Systemd::take`].
    pending: std::collections::VecDeque<String>,
}

impl Systemd {
    fn bind(path: &Path) -> Systemd {
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Systemd {
            socket,
            seen: Vec::new(),
            pending: std::collections::VecDeque::new(),
        }
    }

    /// Everything received and not yet looked at.
    fn take(&mut self) -> Vec<String> {
        self.read();
        self.pending.drain(..).collect()
    }

    /// Reads what arrived (waiting up to 100 ms for the first datagram).
    fn read(&mut self) {
        let mut buf = [0u8; 4096];
        let mut lines = Vec::new();
        while let Ok(len) = self.socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            lines.extend(text.lines().map(str::to_owned));
            self.socket
                .set_read_timeout(Some(Duration::from_millis(10)))
                .unwrap();
        }
        self.socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        self.seen.extend(lines.iter().cloned());
        self.pending.extend(lines);
    }

    /// Reads until a line starts with `prefix`; fails after 60 s.
    fn wait_for(&mut self, daemon: &mut Child, prefix: &str) -> String {
        self.wait_for_all(daemon, &[prefix]).remove(0)
    }

    /// Reads until, for each prefix, a line has started with it, in any order; returns those
    /// lines in the order of `prefixes`. Fails after 60 s.
    fn wait_for_all(&mut self, daemon: &mut Child, prefixes: &[&str]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut found: Vec<Option<String>> = vec![None; prefixes.len()];
        loop {
            while let Some(line) = self.pending.pop_front() {
                for (slot, prefix) in found.iter_mut().zip(prefixes) {
                    if slot.is_none() && line.starts_with(prefix) {
                        *slot = Some(line.clone());
                    }
                }
                if found.iter().all(Option::is_some) {
                    return found.into_iter().flatten().collect();
                }
            }
            let prefix = prefixes.join(" and ");
            // Exited: whatever it sent before is in the socket; read that first.
            let exited = daemon.try_wait().unwrap();
            self.read();
            if let Some(status) = exited.filter(|_| self.pending.is_empty()) {
                panic!(
                    "the daemon exited ({status}) before sending {prefix}; got {:#?}",
                    self.seen
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix} within 60 s; got {:#?}",
                self.seen
            );
        }
    }
}

/// Waits (at most 60 s) until `path` exists.
fn wait_until_exists(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ready_watchdog_status_and_stopping_reach_systemd_and_a_held_callback_does_not_stop_the_pings() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(sgevents_sim::spawn(SimConfig {
            scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
            prefill: 5,
            ..SimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("gate.py"), GATE_PLUGIN).unwrap();
    let config = config_with(
        dir.path(),
        &sim.url(),
        SCRIPT,
        &plugins,
        "dispatch = \"sequential\"\nheartbeat_timeout_secs = 2",
        "callback_timeout_secs = 600",
    );
    let (gate, entered) = (dir.path().join("gate"), dir.path().join("entered"));
    std::fs::write(&gate, "").unwrap();
    let socket_path = dir.path().join("notify.sock");
    let mut systemd = Systemd::bind(&socket_path);

    let mut daemon = Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(["run", "--start-at", "1", "--config"])
        .arg(&config)
        .arg("--python")
        .arg(python())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", WATCHDOG_USEC.to_string())
        .env("GATE_FILE", &gate)
        .env("ENTERED_FILE", &entered)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    systemd.wait_for(&mut daemon, "READY=1");
    systemd.wait_for(&mut daemon, "WATCHDOG=1");
    // The plugin's callback holds its event; the loop still goes round (it never waits for
    // a callback), so the pings go on. The stalled-loop rule is in `notify/tests.rs`.
    wait_until_exists(&entered);
    // Only pings sent while the callback is held count.
    systemd.take();
    let held = systemd.wait_for_all(&mut daemon, &["WATCHDOG=1"]);
    assert_eq!(held, ["WATCHDOG=1"]);
    std::fs::remove_file(&gate).unwrap();
    assert!(
        systemd
            .seen
            .iter()
            .any(|line| line.starts_with("STATUS=1 plugin(s) active")),
        "{:#?}",
        systemd.seen
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    systemd.wait_for(&mut daemon, "STOPPING=1");
    let exit = daemon.wait().unwrap();
    assert!(
        exit.success(),
        "SIGTERM must end the daemon with exit 0, got {exit}"
    );
    runtime.block_on(sim.shutdown());
    let seen = &systemd.seen;
    let ready = seen.iter().position(|l| l == "READY=1").unwrap();
    let stopping = seen.iter().position(|l| l == "STOPPING=1").unwrap();
    assert!(ready < stopping, "{seen:#?}");
    assert_eq!(
        seen.iter().filter(|l| *l == "READY=1").count(),
        1,
        "{seen:#?}"
    );
}
