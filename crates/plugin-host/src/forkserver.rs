//! The fork server: one Python process per interpreter and environment that has imported
//! shotgun_api3 and the runner once, and forks a runner for each plugin process.
//!
//! The host hands each child its channel, stdout and stderr as descriptors over the fork
//! server's own channel (`SCM_RIGHTS`, through `nix`'s safe `sendmsg`), so a forked child
//! is a runner exactly like a spawned one: its own process group (killed on timeout by the
//! host), its own crash domain. The fork server reaps its children and reports how each
//! ended. When it dies, the next start gets a new one; children already forked run on.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use serde::Deserialize;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use crate::HostConfig;
use crate::process::{kill_group, spawn_child};

/// A runner the fork server started for the host.
pub(crate) struct Forked {
    pub(crate) pid: u32,
    /// The host's end of the runner's channel.
    pub(crate) channel: UnixStream,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    /// Told how the runner ended, once the fork server has reaped it.
    pub(crate) exit: oneshot::Receiver<String>,
}

/// What the fork server says.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMessage {
    Hello {
        #[serde(default)]
        shotgun_api3: Option<String>,
        #[serde(default)]
        python: String,
    },
    Forked {
        pid: u32,
    },
    Exited {
        pid: u32,
        #[serde(default)]
        signal: Option<i32>,
        #[serde(default)]
        code: Option<i32>,
    },
    #[serde(other)]
    Other,
}

/// Exits the fork server reported, by pid: waiting for the news, or news not yet asked for.
#[derive(Default)]
struct Exits {
    waiting: HashMap<u32, oneshot::Sender<String>>,
    early: HashMap<u32, String>,
}

/// One running fork server.
struct Server {
    _process: Child,
    pid: u32,
    /// The interpreter's version, as its hello gave it.
    python: String,
    control: UnixStream,
    forked: mpsc::UnboundedReceiver<u32>,
    exits: Arc<Mutex<Exits>>,
}

type Key = (PathBuf, Vec<(String, String)>);
/// One interpreter's fork server, if it is running; locked while it forks.
type Entry = Arc<tokio::sync::Mutex<Option<Server>>>;

/// The fork servers of this daemon, one per interpreter and environment.
fn servers() -> &'static Mutex<HashMap<Key, Entry>> {
    static SERVERS: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();
    SERVERS.get_or_init(Mutex::default)
}

/// Forks a runner for plugin `name` from `config`'s fork server, starting the server when
/// there is none (or it died). `None` when no fork server can serve: the caller then spawns
/// the runner itself, which also reports why the interpreter cannot be used.
pub(crate) async fn fork(config: &HostConfig, runner: &OsStr, name: &str) -> Option<Forked> {
    let entry = entry(config);
    let mut server = entry.lock().await;
    for attempt in 0..2 {
        if server.is_none() {
            *server = start(config, runner).await;
        }
        let running = server.as_mut()?;
        match running.fork(name, config.callback_timeout).await {
            Ok(forked) => return Some(forked),
            Err(err) => {
                tracing::debug!(error = %err, attempt, "The plugin fork server failed; starting a new one");
                if let Some(dead) = server.take() {
                    kill_group(dead.pid);
                }
            }
        }
    }
    None
}

/// Starts `config`'s fork server when none runs yet, so that the first plugin loads do not
/// wait for its imports. Failing is quiet: the first load tries again and reports why.
pub(crate) async fn warm(config: &HostConfig, runner: &OsStr) {
    python_version(config, runner).await;
}

/// The Python version of `config`'s fork server, starting it when none runs yet; `None`
/// when it cannot start (the interpreter, or shotgun_api3 in it, is missing or broken).
pub(crate) async fn python_version(config: &HostConfig, runner: &OsStr) -> Option<String> {
    let entry = entry(config);
    let mut server = entry.lock().await;
    if server.is_none() {
        *server = start(config, runner).await;
    }
    server.as_ref().map(|server| server.python.clone())
}

/// The fork server slot for `config`'s interpreter and environment.
fn entry(config: &HostConfig) -> Entry {
    let key = (config.python.clone(), config.extra_env.clone());
    let mut servers = servers().lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(servers.entry(key).or_default())
}

async fn start(config: &HostConfig, runner: &OsStr) -> Option<Server> {
    let (ours, theirs) = UnixStream::pair().ok()?;
    let args = [runner, OsStr::new("--fork-server")];
    let mut process = spawn_child(&config.python, &args, &config.extra_env, theirs.into()).ok()?;
    let pid = process.id()?;
    let reader = ours.try_clone().ok()?;
    let (hello_tx, hello_rx) = oneshot::channel();
    let (forked_tx, forked) = mpsc::unbounded_channel();
    let exits = Arc::new(Mutex::new(Exits::default()));
    let thread_exits = Arc::clone(&exits);
    // A plain thread: the fork server's replies are few and reading them blocks.
    std::thread::Builder::new()
        .name("sgevents-forkserver".to_owned())
        .spawn(move || read_replies(reader, hello_tx, &forked_tx, &thread_exits))
        .ok()?;
    // Its stdout and stderr carry nothing but crash reports; they go to the daemon's log.
    if let Some(stdout) = process.stdout.take() {
        tokio::spawn(drain(Box::new(stdout), crate::logs::INFO));
    }
    if let Some(stderr) = process.stderr.take() {
        tokio::spawn(drain(Box::new(stderr), crate::logs::WARNING));
    }
    let ready = tokio::time::timeout(config.callback_timeout, hello_rx).await;
    match ready {
        Ok(Ok(Some(python))) => Some(Server {
            _process: process,
            pid,
            python,
            control: ours,
            forked,
            exits,
        }),
        _ => {
            kill_group(pid);
            None
        }
    }
}

async fn drain(stream: Box<dyn tokio::io::AsyncRead + Unpin + Send>, level: i64) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        crate::logs::emit("engine", level, &format!("plugin fork server: {line}"));
    }
}

fn read_replies(
    reader: UnixStream,
    hello: oneshot::Sender<Option<String>>,
    forked: &mpsc::UnboundedSender<u32>,
    exits: &Mutex<Exits>,
) {
    let mut hello = Some(hello);
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<ServerMessage>(&line) {
            Ok(ServerMessage::Hello {
                shotgun_api3,
                python,
            }) => {
                if let Some(hello) = hello.take() {
                    // Without shotgun_api3 it cannot serve (it exits).
                    let _ = hello.send(shotgun_api3.map(|_| python));
                }
            }
            Ok(ServerMessage::Forked { pid }) => {
                if forked.send(pid).is_err() {
                    break;
                }
            }
            Ok(ServerMessage::Exited { pid, signal, code }) => {
                let how = describe(signal, code);
                let mut exits = exits.lock().unwrap_or_else(PoisonError::into_inner);
                match exits.waiting.remove(&pid) {
                    Some(waiter) => {
                        let _ = waiter.send(how);
                    }
                    None => {
                        exits.early.insert(pid, how);
                    }
                }
            }
            Ok(ServerMessage::Other) | Err(_) => {
                tracing::debug!(line, "Ignored a message from the plugin fork server");
            }
        }
    }
}

/// How a child ended, in the words of `process::describe_exit`.
fn describe(signal: Option<i32>, code: Option<i32>) -> String {
    match (signal, code) {
        (Some(signal), _) => {
            let name = Signal::try_from(signal).map_or("unknown", Signal::as_str);
            format!("killed by signal {signal} ({name})")
        }
        (None, Some(code)) => format!("exited with status {code}"),
        (None, None) => "ended".to_owned(),
    }
}

impl Server {
    async fn fork(&mut self, name: &str, timeout: Duration) -> std::io::Result<Forked> {
        let (channel, theirs) = UnixStream::pair()?;
        let (stdout, stdout_w) = std::io::pipe()?;
        let (stderr, stderr_w) = std::io::pipe()?;
        let mut line = serde_json::to_vec(&serde_json::json!({"type": "fork", "name": name}))
            .map_err(std::io::Error::other)?;
        line.push(b'\n');
        let fds = [
            theirs.as_raw_fd(),
            stdout_w.as_raw_fd(),
            stderr_w.as_raw_fd(),
        ];
        // One small blocking write: the fork server reads its channel all the time.
        sendmsg::<()>(
            self.control.as_raw_fd(),
            &[IoSlice::new(&line)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(std::io::Error::from)?;
        drop((theirs, stdout_w, stderr_w));
        let pid = match tokio::time::timeout(timeout, self.forked.recv()).await {
            Ok(Some(pid)) => pid,
            Ok(None) => return Err(std::io::Error::other("the fork server closed its channel")),
            Err(_) => return Err(std::io::Error::other("the fork server did not answer")),
        };
        let (exit_tx, exit) = oneshot::channel();
        {
            let mut exits = self.exits.lock().unwrap_or_else(PoisonError::into_inner);
            match exits.early.remove(&pid) {
                Some(how) => {
                    let _ = exit_tx.send(how);
                }
                None => {
                    exits.waiting.insert(pid, exit_tx);
                }
            }
        }
        Ok(Forked {
            pid,
            channel,
            stdout: stdout.into(),
            stderr: stderr.into(),
            exit,
        })
    }
}
