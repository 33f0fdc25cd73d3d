//! The control socket: a Unix socket (mode 0600, the daemon's own uid only) on which
//! `sgevents plugin ...` sends one JSON request per connection; each is handed to the loop as a
//! [`control::Request`] and the loop's [`control::Reply`] is written back.
//!
//! Wire format (one line each way, then the daemon closes the connection):
//! request `{"plugin": "NAME", "collection": null, "action": "skip"}`, reply
//! `{"done": "..."}`, `{"refused": <Refusal>}` or `{"error": "..."}`.

#[cfg(test)]
mod tests;

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::control::{Action, Refusal, Request};
use crate::telemetry::Telemetry;

/// The longest request line accepted.
const MAX_REQUEST_BYTES: u64 = 16 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the loop may take to answer (it answers between events, never mid-callback).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A request as it travels on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRequest {
    /// The plugin's name.
    pub plugin: String,
    /// Its folder as written in the config, when the name is in several.
    #[serde(default)]
    pub collection: Option<String>,
    /// What to do.
    pub action: Action,
}

/// The daemon's answer as it travels on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireReply {
    /// Done: what the loop did.
    Done(String),
    /// The loop did nothing, and why.
    Refused(Refusal),
    /// The request did not reach the loop (bad request, other uid, loop gone).
    Error(String),
}

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ControlSocketError {
    /// Another process answers on the socket already.
    #[error(
        "another daemon listens on the control socket {0}; stop it, or set `control_socket` to another path"
    )]
    InUse(PathBuf),
    /// The socket or its private staging folder could not be made.
    #[error(
        "cannot create the control socket {path}: {source}; check the folder exists and is writable, or set `control_socket`"
    )]
    Create {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A bound control socket: the listener and the uid allowed to use it.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    owner_uid: u32,
}

impl ControlSocket {
    /// Binds the socket at `path`, mode 0600. It is bound inside a private (0700) folder next
    /// to `path` and renamed into place, so it is never reachable with looser permissions. A
    /// stale socket left by a killed daemon is replaced; a live one is an error.
    ///
    /// # Errors
    /// [`ControlSocketError::InUse`] or [`ControlSocketError::Create`].
    pub async fn bind(path: &Path) -> Result<ControlSocket, ControlSocketError> {
        let create = |source| ControlSocketError::Create {
            path: path.to_owned(),
            source,
        };
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(ControlSocketError::InUse(path.to_owned()));
            }
            std::fs::remove_file(path).map_err(create)?;
        }
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        // Short names: a socket path may not pass about 100 bytes.
        let staging = parent.join(format!(".sgctl{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&staging)
            .map_err(create)?;
        let staged = staging.join("s");
        let bound = (|| {
            let listener = UnixListener::bind(&staged)?;
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
            let owner_uid = std::fs::metadata(&staged)?.uid();
            std::fs::rename(&staged, path)?;
            Ok((listener, owner_uid))
        })();
        let _ = std::fs::remove_dir_all(&staging);
        let (listener, owner_uid) = bound.map_err(create)?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
            owner_uid,
        })
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Serves `socket` until `shutdown`: each connection's request goes to `requests` (the
/// loop's [`crate::control::Inbox`]); the socket file is removed on the way out.
pub async fn serve(
    socket: ControlSocket,
    requests: mpsc::Sender<Request>,
    telemetry: Arc<Telemetry>,
    shutdown: CancellationToken,
) {
    let ControlSocket {
        listener,
        path,
        owner_uid,
    } = socket;
    tracing::info!(
        logger = "engine",
        "Control socket on {} (`sgevents plugin resume|skip|pause|unpause`)",
        path.display()
    );
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(logger = "engine", error = %err, "Control socket: accept failed");
                    continue;
                }
            },
        };
        let requests = requests.clone();
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            handle_connection(stream, owner_uid, &requests, &telemetry).await;
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// Sends one request to the socket at `path` and reads the reply (the client side, for
/// `sgevents plugin` and tests).
///
/// # Errors
/// The connection's I/O error (`NotFound` or `ConnectionRefused` mean no daemon listens), or
/// `InvalidData` for a reply that is not [`WireReply`].
pub async fn request(path: &Path, request: &WireRequest) -> std::io::Result<WireReply> {
    let stream = UnixStream::connect(path).await?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
    line.push('\n');
    // A daemon that refuses the peer answers without reading: a broken pipe here still
    // leaves its answer to read.
    let sent = async {
        write.write_all(line.as_bytes()).await?;
        write.shutdown().await
    };
    if let Err(err) = sent.await
        && !matches!(
            err.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        )
    {
        return Err(err);
    }
    let mut reply = String::new();
    BufReader::new(read).read_line(&mut reply).await?;
    serde_json::from_str(reply.trim()).map_err(|err| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the daemon's reply `{}` is not understood: {err}",
                reply.trim()
            ),
        )
    })
}

async fn handle_connection(
    stream: UnixStream,
    owner_uid: u32,
    requests: &mpsc::Sender<Request>,
    telemetry: &Telemetry,
) {
    let peer_uid = match stream.peer_cred() {
        Ok(cred) => cred.uid(),
        Err(err) => {
            tracing::warn!(logger = "engine", error = %err, "Control socket: cannot read the peer's credentials; connection dropped");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let reply = if peer_uid == owner_uid {
        answer(read, peer_uid, requests, telemetry).await
    } else {
        tracing::warn!(
            logger = "engine",
            uid = peer_uid,
            "Control socket: refused a request from uid {peer_uid} (only uid {owner_uid}, the daemon's user, may act)"
        );
        telemetry.record_operator_action("-", "-", "refused");
        WireReply::Error(format!(
            "uid {peer_uid} may not control this daemon; only uid {owner_uid} (the daemon's user) may"
        ))
    };
    let Ok(mut line) = serde_json::to_string(&reply) else {
        return;
    };
    line.push('\n');
    let _ = write.write_all(line.as_bytes()).await;
    let _ = write.shutdown().await;
}

async fn answer(
    read: tokio::net::unix::OwnedReadHalf,
    uid: u32,
    requests: &mpsc::Sender<Request>,
    telemetry: &Telemetry,
) -> WireReply {
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST_BYTES);
    match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => return WireReply::Error(format!("reading the request: {err}")),
        Err(_) => return WireReply::Error("no request within 10 s".to_owned()),
    }
    let wire: WireRequest = match serde_json::from_str(line.trim()) {
        Ok(wire) => wire,
        Err(err) => {
            return WireReply::Error(format!(
                "the request is not {{\"plugin\": NAME, \"collection\": FOLDER|null, \"action\": \"resume|skip|pause|unpause\"}}: {err}"
            ));
        }
    };
    let verb = wire.action.verb();
    tracing::info!(
        logger = "engine",
        plugin = %wire.plugin,
        uid,
        "Operator (uid {uid}) asks to {verb} plugin {}",
        wire.plugin
    );
    let (reply_tx, reply_rx) = oneshot::channel();
    let request = Request {
        plugin: wire.plugin.clone(),
        collection: wire.collection,
        action: wire.action,
        uid,
        reply: reply_tx,
    };
    let gone = || {
        WireReply::Error("the daemon's loop takes no operator requests (it is stopping, or this build's loop does not answer them yet)".to_owned())
    };
    if requests.send(request).await.is_err() {
        return gone();
    }
    let (reply, result) = match tokio::time::timeout(REPLY_TIMEOUT, reply_rx).await {
        Ok(Ok(Ok(done))) => (WireReply::Done(done), "done"),
        Ok(Ok(Err(refusal))) => (WireReply::Refused(refusal), "refused"),
        Ok(Err(_)) => (gone(), "error"),
        Err(_) => (
            WireReply::Error("the daemon's loop did not answer within 30 s".to_owned()),
            "error",
        ),
    };
    match &reply {
        // The loop logs what it did, with the uid.
        WireReply::Done(_) => {}
        WireReply::Refused(refusal) => {
            tracing::warn!(logger = "engine", plugin = %wire.plugin, uid, "Operator (uid {uid}) asked to {verb} plugin {}: refused: {refusal}", wire.plugin)
        }
        WireReply::Error(error) => {
            tracing::warn!(logger = "engine", plugin = %wire.plugin, uid, "Operator (uid {uid}) asked to {verb} plugin {}: {error}", wire.plugin)
        }
    }
    telemetry.record_operator_action(&wire.plugin, verb, result);
    reply
}
