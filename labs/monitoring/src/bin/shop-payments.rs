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

use clap::Parser;
use lab_monitoring::payments::router;

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
    lab_support::serve::helper_main(serve(Args::parse()))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let what = format!("{} ms a charge", args.latency_ms);
    let announce = lab_support::serve::Announce { name: "shop-payments", lab: "monitoring-payments", what: &what };
    lab_support::serve::serve_announced(
        announce,
        args.addr,
        args.unix.as_deref(),
        router(Duration::from_millis(args.latency_ms)),
    )
    .await
}
