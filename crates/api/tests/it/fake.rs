//! A minimal HTTP/1.1 server that records requests and sends canned replies, for replies the sim
//! does not make (garbage, HTML, 429 with Retry-After) and to act as a forward proxy.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One recorded request: its head (request line and headers) and body.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) head: String,
    pub(crate) body: String,
}

pub(crate) struct Fake {
    pub(crate) url: String,
    pub(crate) port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A full HTTP response with a body and `Connection: close`.
pub(crate) fn response(
    status: &str,
    content_type: &str,
    extra_headers: &str,
    body: &str,
) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         date: Sun, 22 Nov 2026 10:00:00 GMT\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

/// Serves `replies` in order, one per connection, repeating the last one.
pub(crate) async fn serve(replies: Vec<String>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    tokio::spawn(async move {
        let mut idx = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let reply = replies[idx.min(replies.len() - 1)].clone();
            idx += 1;
            let recorder = recorder.clone();
            tokio::spawn(async move {
                if let Some(request) = read_request(&mut socket).await {
                    recorder.lock().unwrap().push(request);
                }
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Fake {
        url: format!("http://127.0.0.1:{port}"),
        port,
        seen,
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    Some(Seen { head, body })
}
