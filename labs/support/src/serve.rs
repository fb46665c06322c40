//! Serving a router over HTTP/1.1 on a TCP or Unix-socket listener, with
//! limits on slow clients.
//!
//! `axum::serve` waits without end for a client that sends half its headers
//! or part of its body, so one slow (or hostile) client holds a connection
//! and its task for as long as it likes. Here hyper closes a connection
//! whose request headers take longer than [`Limits::header_read`] (an idle
//! keep-alive connection too), and a body that takes longer than
//! [`Limits::body_read`] fails to read, which the labs' extractors answer
//! as a JSON 400.

use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How long a client may take to send what a request is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// To send the request line and headers (and how long an idle
    /// keep-alive connection stays open).
    pub header_read: Duration,
    /// To send the whole body, once the headers are in.
    pub body_read: Duration,
}

impl Default for Limits {
    /// Ten seconds each: far above what any client on loopback or a LAN
    /// needs, far below what a stalled client should be allowed.
    fn default() -> Limits {
        Limits { header_read: Duration::from_secs(10), body_read: Duration::from_secs(10) }
    }
}

/// Serves `router` on `listener` (a `tokio` TCP or Unix listener) with
/// `limits`, one task per connection; runs until the task is dropped.
/// Failed accepts (a client gone before it was accepted, no file
/// descriptors left) are retried by the listener.
pub async fn serve<L: Listener>(mut listener: L, router: Router, limits: Limits) {
    let router = router.layer(RequestBodyTimeoutLayer::new(limits.body_read));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read);
    loop {
        let (stream, _) = listener.accept().await;
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
        tokio::spawn(async move {
            // A client that goes away or times out ends its own connection, nothing more.
            let _ = connection.with_upgrades().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const SHORT: Limits = Limits { header_read: Duration::from_millis(300), body_read: Duration::from_millis(300) };

    async fn server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        let router =
            Router::new().route("/", get(|| async { "ok" })).route("/echo", post(|body: String| async move { body }));
        tokio::spawn(serve(listener, router, SHORT));
        addr
    }

    /// Reads until the server closes the connection; fails if it stays open 10 s.
    async fn read_until_closed(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the server kept a stalled connection open for 10 s")
            .expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn a_complete_request_is_answered() {
        let addr = server().await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.expect("write");
        let answer = read_until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
    }

    #[tokio::test]
    async fn a_client_that_stops_halfway_through_its_headers_is_disconnected() {
        let addr = server().await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-half: ").await.expect("write");
        let started = Instant::now();
        let answer = read_until_closed(&mut stream).await;
        assert!(!answer.contains("200 OK"), "{answer}");
        assert!(started.elapsed() >= SHORT.header_read, "closed before the limit");
    }

    #[tokio::test]
    async fn a_body_that_stops_short_is_refused_and_the_connection_closed() {
        let addr = server().await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
            .await
            .expect("write");
        let answer = read_until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 4"), "a stalled body gets a 4xx: {answer}");
    }
}

/// What a trusted helper binary (a lab's upstream, stub or receiver) says
/// once it listens.
#[derive(Debug, Clone, Copy)]
pub struct Announce<'a> {
    /// The program's name, for the line on stderr.
    pub name: &'a str,
    /// The `lab` of its `lab_protocol::Listening` line.
    pub lab: &'a str,
    /// What it serves, after its address on stderr (`3 ms a call`).
    pub what: &'a str,
}

/// Serves `app` on the Unix socket `unix` when given, else on `addr`, with
/// the default [`Limits`]; once listening, says so on stderr and prints one
/// `lab_protocol::Listening` line on stdout. Runs until stopped.
pub async fn serve_announced(
    announce: Announce<'_>,
    addr: std::net::SocketAddr,
    unix: Option<&std::path::Path>,
    app: Router,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let said = |listening: String| {
        eprintln!("{} listening on {listening}, {}", announce.name, announce.what);
        let message = lab_protocol::Listening { lab: announce.lab.into(), listening, database: None };
        lab_protocol::print(&message).context("writing the Listening line")
    };
    match unix {
        Some(path) => {
            let listener =
                tokio::net::UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
            said(format!("unix:{}", path.display()))?;
            serve(listener, app, Limits::default()).await;
        }
        None => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            said(format!("http://{}", listener.local_addr()?))?;
            serve(listener, app, Limits::default()).await;
        }
    }
    Ok(())
}

/// `main` of a trusted helper binary: runs `run` on a multi-threaded
/// runtime; an error is one line on stderr and exit status 1.
pub fn helper_main(run: impl Future<Output = anyhow::Result<()>>) -> std::process::ExitCode {
    let ran = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(run));
    match ran {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
