//! Tests of the control socket: permissions, stale and live sockets, the round trip to the loop.

// Test code may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::control;

#[tokio::test]
async fn binds_0600_replaces_a_stale_socket_and_refuses_a_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    // A stale socket: bound, then its listener dropped (a killed daemon leaves this).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let socket = ControlSocket::bind(&path).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the control socket must be 0600, is {mode:o}");
    let err = ControlSocket::bind(&path).await.unwrap_err();
    assert!(matches!(err, ControlSocketError::InUse(_)), "{err}");
    // No staging folder is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("control.sock")]);
    drop(socket);
}

#[tokio::test]
async fn hands_requests_to_the_loop_and_writes_its_reply() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let socket = ControlSocket::bind(&path).await.unwrap();
    let (tx, mut inbox) = control::channel();
    let telemetry = Arc::new(Telemetry::new());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(socket, tx, telemetry.clone(), shutdown.clone()));
    let fake_loop = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(request) = inbox.0.recv().await {
            seen.push((request.plugin.clone(), request.action, request.uid));
            let reply = match request.action {
                Action::Skip => Err(Refusal::NotApplicable {
                    plugin: request.plugin,
                    state: "active".to_owned(),
                    verb: "skip".to_owned(),
                }),
                action => Ok(format!("{} {}", action.verb(), request.plugin)),
            };
            let _ = request.reply.send(reply);
        }
        seen
    });
    let ask = |action| WireRequest {
        plugin: "p".to_owned(),
        collection: None,
        action,
    };
    let reply = request(&path, &ask(Action::Pause)).await.unwrap();
    assert_eq!(reply, WireReply::Done("pause p".to_owned()));
    let reply = request(&path, &ask(Action::Skip)).await.unwrap();
    assert!(
        matches!(reply, WireReply::Refused(Refusal::NotApplicable { .. })),
        "{reply:?}"
    );
    // A malformed request never reaches the loop.
    let mut raw = UnixStream::connect(&path).await.unwrap();
    raw.write_all(b"{\"plugin\": 3}\n").await.unwrap();
    let mut text = String::new();
    BufReader::new(raw).read_line(&mut text).await.unwrap();
    assert!(text.contains("\"error\""), "{text}");

    shutdown.cancel();
    server.await.unwrap();
    assert!(!path.exists(), "the socket file is removed at shutdown");
    let seen = fake_loop.await.unwrap();
    let me = std::fs::metadata(dir.path()).unwrap().uid();
    assert_eq!(
        seen,
        vec![
            ("p".to_owned(), Action::Pause, me),
            ("p".to_owned(), Action::Skip, me)
        ]
    );
    let metrics = telemetry.encode();
    assert!(
        metrics.contains(
            "sgevents_operator_actions_total{plugin=\"p\",action=\"pause\",result=\"done\"} 1"
        ),
        "{metrics}"
    );
}
