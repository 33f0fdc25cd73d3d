//! `sgevents start|stop|restart|foreground`: upstream's daemon control verbs, with a pidfile
//! that is checked for liveness (a stale one is replaced with a warning).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::run::{RunOptions, run_settings};

/// Arguments shared by the lifecycle verbs.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The config file. Without it: upstream's search order.
    #[arg(long, env = "SGEVENTS_CONFIG")]
    config: Option<PathBuf>,
    /// The Python interpreter for plugin folders that set none. Default: the `python` beside
    /// the sgevents executable (a virtualenv's bin/), else `python3` on PATH.
    #[arg(long, env = "SGEVENTS_PYTHON")]
    python: Option<PathBuf>,
}

/// `foreground`: runs in this process, like `run`, and writes no pidfile (as upstream).
pub(crate) fn foreground(args: Args) -> anyhow::Result<ExitCode> {
    let path = sgevents_config::find_config(args.config.as_deref())?;
    let settings = sgevents_config::load(&path)?;
    run_settings(
        settings,
        RunOptions {
            start_at: None,
            python: crate::preflight::default_python(args.python),
            extra_env: Vec::new(),
            pid_file: None,
            http_from_flag: false,
            checked_pythons: None,
            checked_client: None,
        },
    )
}

/// `start`: runs the daemon in the background and records its pid.
pub(crate) fn start(args: Args) -> anyhow::Result<ExitCode> {
    let (config, pid_file) = config_and_pid_file(&args)?;
    if let Some(pid) = read_pid(&pid_file)? {
        if is_alive(pid) {
            eprintln!(
                "pidfile {} already exist. Daemon already running? (pid {pid})",
                pid_file.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        eprintln!(
            "warning: removing stale pidfile {} (pid {pid} is not running)",
            pid_file.display()
        );
        std::fs::remove_file(&pid_file)
            .with_context(|| format!("removing stale pidfile {}", pid_file.display()))?;
    }
    let exe = std::env::current_exe().context("finding the sgevents executable")?;
    // A new process group, no terminal and no inherited output: the daemon logs to its files.
    let child = std::process::Command::new(exe)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--python")
        .arg(crate::preflight::default_python(args.python.clone()))
        .arg("--pid-file")
        .arg(&pid_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the daemon process")?;
    write_pid(&pid_file, child.id())?;
    println!(
        "sgevents started (pid {}), pidfile {}",
        child.id(),
        pid_file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `stop`: asks the daemon to stop (SIGTERM) and waits until it has.
pub(crate) fn stop(args: Args) -> anyhow::Result<ExitCode> {
    let (config, pid_file) = config_and_pid_file(&args)?;
    let Some(pid) = read_pid(&pid_file)? else {
        eprintln!(
            "pidfile {} does not exist. Daemon not running?",
            pid_file.display()
        );
        return Ok(ExitCode::FAILURE);
    };
    if !is_alive(pid) {
        eprintln!(
            "warning: removing stale pidfile {} (pid {pid} is not running)",
            pid_file.display()
        );
        let _ = std::fs::remove_file(&pid_file);
        return Ok(ExitCode::SUCCESS);
    }
    let grace = sgevents_config::load(&config)?.daemon.shutdown_grace;
    let deadline = Instant::now() + grace + Duration::from_secs(10);
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    while is_alive(pid) {
        if Instant::now() > deadline {
            bail!(
                "pid {pid} is still running {grace:?} after SIGTERM; it may be stuck (see its log)"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&pid_file);
    println!("sgevents stopped (pid {pid})");
    Ok(ExitCode::SUCCESS)
}

/// `restart`: `stop` (if running), then `start`.
pub(crate) fn restart(args: Args) -> anyhow::Result<ExitCode> {
    let (_, pid_file) = config_and_pid_file(&args)?;
    if read_pid(&pid_file)?.is_some() {
        let stopped = stop(Args {
            config: args.config.clone(),
            python: args.python.clone(),
        })?;
        if stopped != ExitCode::SUCCESS {
            return Ok(stopped);
        }
    }
    start(args)
}

fn config_and_pid_file(args: &Args) -> anyhow::Result<(PathBuf, PathBuf)> {
    let config = sgevents_config::find_config(args.config.as_deref())?;
    let settings = sgevents_config::load(&config)?;
    let Some(pid_file) = settings.daemon.pid_file else {
        bail!(
            "{} sets no pid file: add `pidFile` under [daemon] (INI) or `pid_file` (TOML)",
            config.display()
        );
    };
    Ok((config, pid_file))
}

/// The pid in `path`, if the file exists and holds one.
fn read_pid(path: &Path) -> anyhow::Result<Option<i32>> {
    match std::fs::read_to_string(path) {
        Ok(text) => match text.trim().parse::<i32>() {
            Ok(pid) if pid > 0 => Ok(Some(pid)),
            _ => bail!(
                "pidfile {} does not hold a process id ({:?}); remove it if no daemon runs",
                path.display(),
                text.trim()
            ),
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading pidfile {}", path.display())),
    }
}

/// Writes the pid atomically (a temporary file renamed over the pidfile).
fn write_pid(path: &Path, pid: u32) -> anyhow::Result<()> {
    let temp = path.with_extension("pid.partial");
    std::fs::write(&temp, format!("{pid}\n"))
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("writing pidfile {}", path.display()))
}

/// Whether a process with this pid exists (signal 0).
fn is_alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}
