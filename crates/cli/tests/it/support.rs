//! Finding the Python interpreter and writing configs for the binary under test.

use std::path::{Path, PathBuf};

/// The venv's Python with shotgun_api3 (`bash scripts/venv.sh` creates it).
pub(crate) fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("SGEVENTS_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with shotgun_api3: run `bash scripts/venv.sh` or set SGEVENTS_PYTHON"
    );
    venv
}

/// A TOML config for a site, a state db and one plugin folder.
pub(crate) fn config(dir: &Path, site: &str, script: (&str, &str), plugins: &Path) -> PathBuf {
    config_with(dir, site, script, plugins, "", "")
}

/// [`config`] with extra lines for the `[daemon]` and the `[[plugins]]` table.
pub(crate) fn config_with(
    dir: &Path,
    site: &str,
    script: (&str, &str),
    plugins: &Path,
    daemon_extra: &str,
    plugin_extra: &str,
) -> PathBuf {
    let path = dir.join("sgevents.toml");
    let text = format!(
        "[daemon]\nstate_db = {state:?}\nlog_path = {logs:?}\nlog_file = \"sgevents.log\"\nfetch_interval_secs = 1\nshutdown_grace_secs = 5\n{daemon_extra}\n\n\
         [site]\nserver = {site:?}\nscript_name = {name:?}\nscript_key = {key:?}\n\n\
         [[plugins]]\npath = {plugins:?}\n{plugin_extra}\n",
        state = dir.join("state.sqlite3").display().to_string(),
        logs = dir.join("logs").display().to_string(),
        name = script.0,
        key = script.1,
        plugins = plugins.display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A plugin that appends each event id it gets to `$LEDGER_DIR/<plugin name>`.
pub(crate) const LEDGER_PLUGIN: &str = r#"
import os

LEDGER = os.path.join(os.environ["LEDGER_DIR"], os.path.splitext(os.path.basename(__file__))[0])

def record(sg, logger, event, args):
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("%d\n" % event["id"]).encode())
    finally:
        os.close(fd)

def registerCallbacks(reg):
    reg.registerCallback("ledger", "ledger-key", record)
"#;

/// The ids a ledger plugin recorded, in order.
pub(crate) fn ledger(dir: &Path, plugin: &str) -> Vec<i64> {
    std::fs::read_to_string(dir.join(plugin))
        .unwrap_or_default()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect()
}

/// The binary under test, running with its output captured in a file.
pub(crate) struct Running {
    pub(crate) child: std::process::Child,
    output: PathBuf,
}

impl Running {
    /// Starts `sgevents run --config CONFIG ARGS...` with `LEDGER_DIR` set.
    pub(crate) fn start(config: &Path, ledgers: &Path, args: &[&str]) -> Running {
        let output = config.with_extension(format!(
            "out.{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let file = std::fs::File::create(&output).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sgevents"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--python")
            .arg(python())
            .args(args)
            .env("LEDGER_DIR", ledgers)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Running { child, output }
    }

    /// Everything the daemon printed so far.
    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Waits until the output contains `text`, failing after `secs`.
    pub(crate) fn wait_for(&mut self, text: &str, secs: u64) {
        self.wait_until(&format!("the output says {text:?}"), secs, |run| {
            run.output().contains(text)
        });
    }

    /// Waits until `done`, failing after `secs`.
    pub(crate) fn wait_until(
        &mut self,
        what: &str,
        secs: u64,
        mut done: impl FnMut(&Running) -> bool,
    ) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !done(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the daemon exited ({status}) before {what}:\n{}",
                    self.output()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting until {what}:\n{}",
                self.output()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status (failing after `secs`).
    pub(crate) fn terminate(&mut self, secs: u64) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.exit(secs)
    }

    /// The exit status, failing after `secs`.
    pub(crate) fn exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "the daemon did not exit within {secs} s:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free local port for `--http`.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:port: the status code and body, or `None` when nothing answers.
pub(crate) fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let status = reply.split_whitespace().nth(1)?.parse().ok()?;
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())?;
    Some((status, body))
}
