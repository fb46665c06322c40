//! The lab's payment provider as a process of its own: it records every
//! charge and the `traceparent` it carried, outside the service being
//! checked.
//!
//! ```text
//! shop-payments --latency-ms 2 --addr 127.0.0.1:7026
//! shop-payments --unix /tmp/payments.sock
//! curl -s 127.0.0.1:7026/calls
//! ```
//!
//! It prints one `lab_protocol::Listening` line once it listens, then
//! serves until it is stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lab_monitoring::payments::router;
use lab_protocol::Listening;

/// The payment stub: every charge waits --latency-ms; `GET /calls` lists them.
#[derive(Debug, Parser)]
struct Args {
    /// How long every charge waits before it is answered.
    #[arg(long, default_value_t = 2)]
    latency_ms: u64,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:7026")]
    addr: SocketAddr,
    /// Listen on this Unix socket instead.
    #[arg(long, conflicts_with = "addr")]
    unix: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let served =
        tokio::runtime::Runtime::new().context("starting the tokio runtime").and_then(|rt| rt.block_on(serve(args)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let app = router(Duration::from_millis(args.latency_ms));
    let limits = lab_support::serve::Limits::default();
    let announce = |listening: String| {
        eprintln!("shop-payments listening on {listening}, {} ms a charge", args.latency_ms);
        lab_protocol::print(&Listening { lab: "monitoring-payments".into(), listening, database: None })
    };
    match &args.unix {
        Some(path) => {
            let listener =
                tokio::net::UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
            announce(format!("unix:{}", path.display()))?;
            lab_support::serve::serve(listener, app, limits).await;
        }
        None => {
            let listener =
                tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("binding {}", args.addr))?;
            announce(format!("http://{}", listener.local_addr()?))?;
            lab_support::serve::serve(listener, app, limits).await;
        }
    }
    Ok(())
}
