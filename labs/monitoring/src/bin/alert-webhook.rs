//! The kit's Alertmanager webhook receiver as a process of its own: where
//! `labs/monitoring/ops/alertmanager.yml` sends every alert, printed one
//! line per alert and kept for `GET /alerts`.
//!
//! ```text
//! alert-webhook --addr 127.0.0.1:9095
//! alert-webhook --unix /tmp/alerts.sock
//! curl -s 127.0.0.1:9095/alerts
//! ```
//!
//! It prints one `lab_protocol::Listening` line once it listens, then
//! serves until it is stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lab_monitoring::webhook::router;

/// The alert receiver: `POST /alerts` takes Alertmanager's webhook payload; `GET /alerts` lists them.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:9095")]
    addr: SocketAddr,
    /// Listen on this Unix socket instead.
    #[arg(long, conflicts_with = "addr")]
    unix: Option<PathBuf>,
}

fn main() -> ExitCode {
    lab_support::serve::helper_main(serve(Args::parse()))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let what = "POST /alerts".to_string();
    let announce = lab_support::serve::Announce { name: "alert-webhook", lab: "monitoring-alerts", what: &what };
    lab_support::serve::serve_announced(announce, args.addr, args.unix.as_deref(), router().0).await
}
