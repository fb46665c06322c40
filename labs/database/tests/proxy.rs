//! The `pg-count-proxy` binary against the real PostgreSQL: what it counts, its delay, its control API.

use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};

use lab_database::db::{DEFAULT_URL, Server};
use lab_database::proxy::Counts;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Running {
    _child: Child,
    proxy: String,
    control: String,
}

/// Starts the binary with `args` and reads the addresses from its first stdout line.
async fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pg-count-proxy"))
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn pg-count-proxy");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("the proxy prints its addresses within 10 s")
        .expect("read stdout");
    let started: Value = serde_json::from_str(&line).expect("a JSON line");
    Running {
        _child: child,
        proxy: started["proxy"].as_str().expect("proxy address").to_string(),
        control: started["control"].as_str().expect("control URL").to_string(),
    }
}

async fn connect_through(proxy: &str) -> PgConnection {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    let (host, port) = proxy.rsplit_once(':').expect("host:port");
    let options = PgConnectOptions::from_str(&url).expect("DATABASE_URL").host(host).port(port.parse().expect("port"));
    match tokio::time::timeout(Duration::from_secs(5), options.connect()).await {
        Ok(Ok(conn)) => conn,
        other => panic!("{} ({other:?})", lab_database::db::unreachable_hint(&url)),
    }
}

async fn counts(client: &reqwest::Client, control: &str) -> Counts {
    lab_database::proxy::fetch_counts(client, control).await.expect("GET /counts")
}

/// `GET url`, read as JSON.
async fn get_json<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: &str) -> T {
    client.get(url).send().await.unwrap_or_else(|err| panic!("GET {url}: {err}")).json().await.expect("a JSON answer")
}

#[tokio::test]
async fn the_proxy_counts_each_statement_the_client_runs() {
    let proxy = start(&[]).await;
    let client = reqwest::Client::new();
    let mut conn = connect_through(&proxy.proxy).await;
    let opened = counts(&client, &proxy.control).await;
    assert_eq!((opened.connections, opened.active_connections), (1, 1));

    lab_database::proxy::reset_counts(&client, &proxy.control).await.expect("POST /reset");
    for n in 0..3i32 {
        let got: i32 = sqlx::query_scalar("SELECT $1::int + 1").bind(n).fetch_one(&mut conn).await.expect("query");
        assert_eq!(got, n + 1);
    }
    sqlx::raw_sql("SELECT 1; SELECT 2").execute(&mut conn).await.expect("simple query");
    let c = counts(&client, &proxy.control).await;
    assert_eq!(c.executes, 3, "{c:?}");
    assert_eq!(c.parses, 1, "sqlx prepares a statement once per connection: {c:?}");
    assert_eq!(c.simple_queries, 1, "{c:?}");
    assert_eq!(c.queries, 5, "two statements in one query string are two queries: {c:?}");
    assert_eq!(c.connections, 0, "no new connection since the reset: {c:?}");
    // The first run prepares (Parse/Describe/Sync) then executes (Bind/Execute/Sync); later runs only execute.
    assert_eq!(c.round_trips, 2 + 1 + 1 + 1, "{c:?}");

    let statements: Vec<String> = get_json(&client, &format!("{}/statements", proxy.control)).await;
    assert_eq!(statements.iter().filter(|s| s.as_str() == "SELECT $1::int + 1").count(), 3, "{statements:?}");
    assert_eq!(statements.last().map(String::as_str), Some("SELECT 1; SELECT 2"));
    conn.close().await.expect("close");
}

#[tokio::test]
async fn the_delay_is_paid_once_per_round_trip() {
    let proxy = start(&["--delay-ms", "20"]).await;
    let client = reqwest::Client::new();
    let mut conn = connect_through(&proxy.proxy).await;
    sqlx::query("SELECT 1").execute(&mut conn).await.expect("prepare");
    lab_database::proxy::reset_counts(&client, &proxy.control).await.expect("POST /reset");
    let started = Instant::now();
    for _ in 0..5 {
        sqlx::query("SELECT 1").execute(&mut conn).await.expect("query");
    }
    let took = started.elapsed();
    let c = counts(&client, &proxy.control).await;
    assert_eq!(c.round_trips, 5, "{c:?}");
    assert!(took >= Duration::from_millis(100), "five round trips at 20 ms took only {took:?}");
    assert!(took < Duration::from_secs(5), "five round trips at 20 ms took {took:?}");
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_with_a_hint() {
    let server = Server::from_url("postgres://postgres@127.0.0.1:1/postgres").expect("a URL");
    let started = Instant::now();
    let err = server.admin().await.expect_err("nothing listens on port 1");
    assert!(started.elapsed() < Duration::from_secs(6));
    let message = format!("{err:#}");
    assert!(message.contains("cargo xtask services up"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

/// As the grader runs it: Unix sockets, a read-only control API, a role of
/// the run's own that owns only its databases, all gone when stdin closes.
#[tokio::test]
async fn the_graders_proxy_is_one_socket_a_read_only_control_and_roles_that_leave_no_trace() {
    let dir = tempfile::tempdir().expect("a folder");
    let role = format!("labdb_t_role_{}", std::process::id());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pg-count-proxy"))
        .arg("--unix")
        .arg(dir.path().join(".s.PGSQL.5432"))
        .arg("--control-unix")
        .arg(dir.path().join("control.sock"))
        .args(["--watch-only", "--role", &role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn pg-count-proxy");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    tokio::time::timeout(Duration::from_secs(20), BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("the proxy prints its sockets within 20 s")
        .expect("read stdout");
    let ready: lab_protocol::ProxyReady = serde_json::from_str(&line).expect("a ProxyReady line");
    let password = ready.roles.get(&role).expect("the role's password");
    assert!(ready.proxy.starts_with("unix:") && ready.control.starts_with("unix:"), "{ready:?}");

    // The role reaches the server through the socket, and may make a database of its own.
    let url = format!("postgres://{role}:{password}@localhost:5432/postgres?host={}", dir.path().display());
    let mine = Server::from_url(&url).expect("a URL");
    let database = format!("{role}_db");
    mine.create_database(&database).await.expect("the role may create a database");
    let (client, control) =
        lab_database::proxy::control_client(&ready.control, Duration::from_secs(10)).expect("a control client");
    let before = counts(&client, &control).await;
    let mut conn = mine.connect(&database).await.expect("the owner connects");
    sqlx::query("SELECT 41 + 1").execute(&mut conn).await.expect("a query");
    let denied = sqlx::raw_sql("ALTER ROLE ALL SET random_page_cost = 40").execute(&mut conn).await;
    assert!(format!("{denied:?}").contains("must be superuser"), "{denied:?}");
    let after = counts(&client, &control).await;
    let run = after.since(&before);
    assert_eq!((run.queries, run.errors, run.connections), (1, 1, 1), "{run:?}");
    let logged = lab_database::proxy::fetch_statements(&client, &control, Some(before.statements_logged))
        .await
        .expect("GET /statements?from=");
    assert_eq!(logged, ["SELECT 41 + 1", "ALTER ROLE ALL SET random_page_cost = 40"]);

    // A transaction that wrote and committed is one write unit, however its
    // statements were sent; a rolled-back one is none.
    sqlx::raw_sql("CREATE TABLE notes (x int)").execute(&mut conn).await.expect("a table");
    let writes_before = counts(&client, &control).await;
    sqlx::raw_sql("BEGIN; INSERT INTO notes VALUES (1); INSERT INTO notes VALUES (2); COMMIT")
        .execute(&mut conn)
        .await
        .expect("one query string");
    sqlx::query("INSERT INTO notes VALUES ($1)").bind(3).execute(&mut conn).await.expect("a prepared insert");
    sqlx::raw_sql("BEGIN; INSERT INTO notes VALUES (4); ROLLBACK").execute(&mut conn).await.expect("rolled back");
    let writes = counts(&client, &control).await.since(&writes_before);
    assert_eq!(writes.write_units, 2, "{writes:?}");

    // Every reading answered is kept, in order, for whoever started the proxy.
    let readings: Vec<lab_protocol::ProxyCounts> =
        get_json(&client, &format!("{control}/readings?from={}", before.reading)).await;
    assert_eq!(readings.first(), Some(&before));
    assert_eq!(readings.get(1), Some(&after));
    let numbers: Vec<u64> = readings.iter().map(|r| r.reading).collect();
    assert_eq!(numbers, (before.reading..before.reading + 4).collect::<Vec<_>>());

    // Nothing in reach resets or severs: counters only grow.
    let queries = counts(&client, &control).await.queries;
    for path in ["/reset", "/sever"] {
        let status = client.post(format!("{control}{path}")).send().await.expect("an answer").status();
        assert!(status.is_client_error(), "POST {path} answered {status}");
    }
    assert_eq!(counts(&client, &control).await.queries, queries);
    conn.close().await.expect("close");

    // The role may copy its database as it stands; only it connects to the copy.
    let copy = format!("{database}_count");
    mine.copy_database(&database, &copy).await.expect("the owner copies its database");
    let mut conn = mine.connect(&copy).await.expect("the owner connects to the copy");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut conn).await.expect("a count");
    assert_eq!(kept, 3, "the copy holds the committed rows");
    conn.close().await.expect("close");

    // Closing stdin drops the role and its database.
    drop(child.stdin.take());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("exits").expect("status");
    assert!(exit.success(), "{exit:?}");
    let admin = Server::from_url(&std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string()))
        .expect("DATABASE_URL");
    for database in [&database, &copy] {
        assert!(!admin.database_exists(database).await.expect("a lookup"), "{database} outlived the proxy");
    }
    let mut conn = admin.admin().await.expect("admin");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname = $1")
        .bind(&role)
        .fetch_one(&mut conn)
        .await
        .expect("a count");
    assert_eq!(left, 0, "role {role} outlived the proxy");
}
