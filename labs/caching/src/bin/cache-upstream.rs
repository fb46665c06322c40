//! The lab's slow upstream as a process of its own: it counts every call it
//! answers, outside the service being measured.
//!
//! ```text
//! cache-upstream --seed 7 --size medium --latency-ms 3 --addr 127.0.0.1:7025
//! cache-upstream --seed 7 --unix /tmp/upstream.sock
//! curl -s 127.0.0.1:7025/items/1; curl -s 127.0.0.1:7025/calls
//! ```
//!
//! It prints one `lab_protocol::Listening` line once it listens, then
//! serves until it is stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lab_caching::Catalog;
use lab_caching::upstream::router;
use lab_support::DataArgs;

/// The catalogue upstream: every call waits --latency-ms and is counted (`GET /calls`).
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// How long every counted call waits before it is answered.
    #[arg(long, default_value_t = 3)]
    latency_ms: u64,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:7025")]
    addr: SocketAddr,
    /// Listen on this Unix socket instead.
    #[arg(long, conflicts_with = "addr")]
    unix: Option<PathBuf>,
}

fn main() -> ExitCode {
    lab_support::serve::helper_main(serve(Args::parse()))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let what = format!("{} ms a call", args.latency_ms);
    let announce = lab_support::serve::Announce { name: "cache-upstream", lab: "caching-upstream", what: &what };
    lab_support::serve::serve_announced(
        announce,
        args.addr,
        args.unix.as_deref(),
        router(Catalog::generate(args.data.seed, args.data.size), Duration::from_millis(args.latency_ms)),
    )
    .await
}
