//! Helpers for the ops tests: a real SMTP server in a child process, polling waits, ports.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The workspace root (two levels above this crate).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python with aiosmtpd: `SGEVENTS_PYTHON`, else the workspace venv.
pub(crate) fn python() -> PathBuf {
    match std::env::var_os("SGEVENTS_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => workspace_root().join(".venv/bin/python"),
    }
}

/// Polls `check` every 20 ms until it is true; panics with `what` after `timeout`.
pub(crate) async fn wait_until<F: FnMut() -> bool>(timeout: Duration, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port nobody listens on right now (bound, read, released).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One message the SMTP server received.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Received {
    /// The envelope sender.
    pub(crate) mail_from: String,
    /// The envelope recipients.
    pub(crate) rcpt_tos: Vec<String>,
    /// The decoded Subject header.
    pub(crate) subject: String,
    /// The decoded text body.
    pub(crate) body: String,
}

/// aiosmtpd running `smtp_sink.py`, killed on drop.
pub(crate) struct SmtpSink {
    _child: Child,
    dir: tempfile::TempDir,
    /// The port it listens on.
    pub(crate) port: u16,
}

impl SmtpSink {
    /// Starts the server on `port` (0: any), optionally requiring this login.
    // An SMTP server is not a plugin child, so the plugin host's spawner does not apply.
    #[allow(clippy::disallowed_methods)]
    pub(crate) async fn start(port: u16, login: Option<(&str, &str)>) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/ops/smtp_sink.py");
        let mut command = Command::new(python());
        command
            .arg(script)
            .arg("--dir")
            .arg(dir.path())
            .arg("--port")
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some((user, password)) = login {
            command.args(["--user", user, "--password", password]);
        }
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot start {} (run scripts/venv.sh first): {err}",
                python().display()
            )
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("smtp_sink.py did not start within 30 s")
            .unwrap()
            .expect("smtp_sink.py exited before READY");
        let port = ready
            .strip_prefix("READY ")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from smtp_sink.py: {ready}"));
        SmtpSink {
            _child: child,
            dir,
            port,
        }
    }

    /// Every message received so far, in arrival order.
    pub(crate) fn messages(&self) -> Vec<Received> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
            .collect()
    }

    /// Waits until at least `count` messages arrived and returns them all.
    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Received> {
        wait_until(Duration::from_secs(30), &format!("{count} mail(s)"), || {
            self.messages().len() >= count
        })
        .await;
        self.messages()
    }
}

/// A tracing layer that keeps the messages of WARN and ERROR events, for tests to inspect.
#[derive(Clone, Default)]
pub(crate) struct Captured {
    messages: Arc<Mutex<Vec<String>>>,
}

impl Captured {
    /// The messages seen so far.
    pub(crate) fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// How many messages contain `needle`.
    pub(crate) fn count(&self, needle: &str) -> usize {
        self.messages()
            .iter()
            .filter(|message| message.contains(needle))
            .count()
    }
}

struct MessageOnly(String);

impl Visit for MessageOnly {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() <= tracing::Level::WARN {
            let mut visitor = MessageOnly(String::new());
            event.record(&mut visitor);
            self.messages.lock().unwrap().push(visitor.0);
        }
    }
}
