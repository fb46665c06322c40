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

use anyhow::Context;
use clap::Parser;
use lab_monitoring::webhook::router;
use lab_protocol::Listening;

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
    let (app, _received) = router();
    let limits = lab_support::serve::Limits::default();
    let announce = |listening: String| {
        eprintln!("alert-webhook listening on {listening}, POST /alerts");
        lab_protocol::print(&Listening { lab: "monitoring-alerts".into(), listening, database: None })
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
