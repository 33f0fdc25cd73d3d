//! Spawning and killing plugin child processes: the one place that creates them.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Environment variables a plugin child must not inherit. `NOTIFY_SOCKET` would let a
/// plugin talk to systemd in the daemon's name.
const REMOVED_ENV: &[&str] = &["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Starts `program args...` as a plugin child.
///
/// The child gets its own process group (so a kill reaches anything it started), is killed
/// when its [`Child`] is dropped, receives `channel` as its stdin (the runner moves it off
/// fd 0 before any plugin code runs), and has piped stdout and stderr for the host to log.
/// `extra_env` is added to the daemon's environment; [`REMOVED_ENV`] is removed from both.
///
/// # Errors
/// Returns the spawn error, for example when `program` does not exist.
pub fn spawn_child(
    program: &Path,
    args: &[&OsStr],
    extra_env: &[(String, String)],
    channel: OwnedFd,
) -> std::io::Result<Child> {
    #[allow(
        clippy::disallowed_methods,
        reason = "this is the one sanctioned place that creates plugin processes"
    )]
    let mut command = Command::new(program);
    command
        .args(args)
        .process_group(0)
        .kill_on_drop(true)
        .stdin(Stdio::from(channel))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    for name in REMOVED_ENV {
        command.env_remove(name);
    }
    command.spawn()
}

/// Sends SIGKILL to the process group led by `pid` (children spawned by [`spawn_child`]
/// lead their own group). A group that is already gone is not an error.
pub(crate) fn kill_group(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    if raw <= 1 {
        return;
    }
    match killpg(Pid::from_raw(raw), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(err) => tracing::warn!(pid, error = %err, "Could not kill a plugin process group"),
    }
}

/// A short description of how a child ended, such as `killed by signal 6 (SIGABRT)`.
pub(crate) fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        let name = Signal::try_from(signal).map_or("unknown", Signal::as_str);
        format!("killed by signal {signal} ({name})")
    } else if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else {
        "ended".to_owned()
    }
}
