//! The query-counting PostgreSQL proxy as a process of its own (trusted; see `lab_database::proxy`).
//!
//! ```text
//! cargo run --release -p lab-database --bin pg-count-proxy -- --delay-ms 1 --listen 127.0.0.1:6544 --control 127.0.0.1:6545
//! ```
//!
//! On start it prints one JSON line on stdout:
//! `{"proxy":"127.0.0.1:6544","control":"http://127.0.0.1:6545","upstream":"127.0.0.1:5432","delay_ms":1}`.
//! Point a service at `proxy` (the driver's `--via`), then read the counters
//! over HTTP: `GET /counts`, `POST /reset` (answers the counts before the
//! reset), `GET /statements`. It runs until killed; on Ctrl-C (SIGINT) it
//! prints the final counts as one more JSON line.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lab_database::db::Server;
use lab_database::proxy::{Proxy, ProxyConfig};
use lab_protocol::ProxyReady;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(about = "Counts the queries that cross the wire to PostgreSQL, and can slow each round trip down")]
struct Cli {
    /// Where services connect; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The real server, host:port (default: the host and port of DATABASE_URL).
    #[arg(long)]
    upstream: Option<String>,
    /// Where the HTTP control API listens; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Added to every round trip, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Print every statement to stderr as it runs.
    #[arg(long)]
    log_statements: bool,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let upstream = match cli.upstream {
        Some(upstream) => upstream,
        None => Server::from_env()?.host_port(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let mut config = ProxyConfig::new(upstream.clone()).delay(Duration::from_millis(cli.delay_ms));
        config.listen = cli.listen;
        config.log_statements = cli.log_statements;
        let proxy = Proxy::start(config).await.with_context(|| format!("listening on {}", cli.listen))?;
        let control = tokio::net::TcpListener::bind(cli.control)
            .await
            .with_context(|| format!("binding the control API on {}", cli.control))?;
        let control_addr = control.local_addr()?;
        lab_protocol::print(&ProxyReady {
            proxy: proxy.addr().to_string(),
            control: format!("http://{control_addr}"),
            upstream: upstream.clone(),
            delay_ms: cli.delay_ms,
        })?;
        let routes = proxy.control();
        let server = tokio::spawn(async move { axum::serve(control, routes).await });
        tokio::select! {
            served = server => served.context("control API task")?.context("serving the control API")?,
            _ = tokio::signal::ctrl_c() => {
                println!("{}", json!({ "final": proxy.counts() }));
            }
        }
        anyhow::Ok(())
    })
}
