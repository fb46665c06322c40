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
//! reset), `GET /statements`, `GET /transactions?database=NAME`
//! (transactions PostgreSQL itself counted in that database, from
//! `pg_stat_database`) and `GET /database?database=NAME` (the settings that
//! apply to its owner's sessions there, and its indexes). It runs until killed; on Ctrl-C (SIGINT) it prints
//! the final counts as one more JSON line.
//!
//! The grader runs it as the only way a contained driver has to PostgreSQL:
//! `--unix DIR/.s.PGSQL.5432` and `--control-unix DIR/control.sock` in a
//! folder bound into the sandbox, `--watch-only` so that nothing there can
//! reset a counter, and one `--role` per side: a login role that may create
//! databases and owns only its own, with a fresh password printed in the
//! first line. With `--role` the proxy also stops when its stdin closes,
//! and drops the roles and every database they own on the way out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;
use lab_database::db::Server;
use lab_database::proxy::{Proxy, ProxyConfig};
use lab_protocol::ProxyReady;
use serde_json::json;
use tokio::io::AsyncReadExt;

#[derive(Debug, Parser)]
#[command(about = "Counts the queries that cross the wire to PostgreSQL, and can slow each round trip down")]
struct Cli {
    /// Where services connect; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Listen on this Unix socket instead (name it `.s.PGSQL.5432` so a client's host is its folder).
    #[arg(long)]
    unix: Option<PathBuf>,
    /// The real server, host:port (default: the host and port of DATABASE_URL).
    #[arg(long)]
    upstream: Option<String>,
    /// Where the HTTP control API listens; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Serve the control API on this Unix socket instead.
    #[arg(long)]
    control_unix: Option<PathBuf>,
    /// Serve only the reading half of the control API (no /reset, no /sever).
    #[arg(long)]
    watch_only: bool,
    /// Make this login role (non-superuser, may create databases) for the run; repeatable.
    #[arg(long, value_name = "NAME")]
    role: Vec<String>,
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
    let server = Server::from_env()?;
    let upstream = cli.upstream.clone().unwrap_or_else(|| server.host_port());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let mut roles = BTreeMap::new();
        for name in &cli.role {
            let password = server.create_role(name).await?;
            roles.insert(name.clone(), password);
        }
        let served = serve(&cli, &server, upstream, roles).await;
        for name in &cli.role {
            if let Err(err) = server.drop_role(name).await {
                eprintln!("warning: {err:#}");
            }
        }
        served
    })
}

async fn serve(cli: &Cli, server: &Server, upstream: String, roles: BTreeMap<String, String>) -> anyhow::Result<()> {
    let mut config = ProxyConfig::new(upstream.clone()).delay(Duration::from_millis(cli.delay_ms));
    config.listen = cli.listen;
    config.unix = cli.unix.clone();
    config.log_statements = cli.log_statements;
    let proxy = Proxy::start(config).await.context("binding the proxy's listener")?;
    let routes = if cli.watch_only { proxy.watch() } else { proxy.control() };
    let routes = routes.merge(
        axum::Router::new()
            .route("/transactions", get(transactions))
            .route("/database", get(database))
            .with_state(server.clone()),
    );
    let (control, task) = match &cli.control_unix {
        Some(path) => {
            let listener = tokio::net::UnixListener::bind(path)
                .with_context(|| format!("binding the control API on {}", path.display()))?;
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
            (format!("unix:{}", path.display()), tokio::spawn(async move { axum::serve(listener, routes).await }))
        }
        None => {
            let listener = tokio::net::TcpListener::bind(cli.control)
                .await
                .with_context(|| format!("binding the control API on {}", cli.control))?;
            let addr = listener.local_addr()?;
            (format!("http://{addr}"), tokio::spawn(async move { axum::serve(listener, routes).await }))
        }
    };
    lab_protocol::print(&ProxyReady {
        proxy: proxy.listening().to_string(),
        control,
        upstream,
        delay_ms: cli.delay_ms,
        roles,
    })?;
    let stdin_closed = async {
        if cli.role.is_empty() {
            return std::future::pending().await;
        }
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    tokio::select! {
        served = task => served.context("control API task")?.context("serving the control API")?,
        _ = tokio::signal::ctrl_c() => {
            println!("{}", json!({ "final": proxy.counts() }));
        }
        () = stdin_closed => {}
    }
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
struct Database {
    database: String,
}

/// `GET /transactions?database=NAME`: `{"transactions": n}`, commits and
/// rollbacks PostgreSQL counted in that database (its statistics are
/// flushed when a session ends, so read it after the sessions close).
async fn transactions(State(server): State<Server>, Query(q): Query<Database>) -> Answer<serde_json::Value> {
    answer(server.transactions(&q.database).await.map(|n| json!({ "transactions": n })))
}

/// `GET /database?database=NAME`: the database's settings and indexes (a `DatabaseState`).
async fn database(State(server): State<Server>, Query(q): Query<Database>) -> Answer<lab_protocol::DatabaseState> {
    answer(server.describe(&q.database).await)
}

/// A reading, or a 400 with the JSON error shape.
type Answer<T> = Result<Json<T>, (StatusCode, Json<serde_json::Value>)>;

fn answer<T>(read: anyhow::Result<T>) -> Answer<T> {
    read.map(Json).map_err(|err| (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("{err:#}") }))))
}
