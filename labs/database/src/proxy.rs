//! A query-counting PostgreSQL wire-protocol proxy.
//!
//! It sits between a service and PostgreSQL, forwards every byte, and counts
//! what the client asks for, so the number of queries a request costs is
//! measured outside the service's code. It can also hold each round trip
//! for a fixed delay, so an N+1 pattern costs what it would cost across a
//! real network instead of over loopback.
//!
//! What counts (protocol version 3):
//!
//! | counter | message |
//! |---|---|
//! | **`queries`** | `CommandComplete` (`C`) from the server: one per statement it ran to completion, so a query string holding several statements counts each |
//! | `simple_queries` | `Query` (`Q`) from the client: one per query string, however many statements it holds |
//! | `parses` | `Parse` (`P`): a statement prepared (sqlx caches them per connection) |
//! | `binds` | `Bind` (`B`) |
//! | `executes` | `Execute` (`E`): one prepared statement run |
//! | `round_trips` | messages after which the client waits for the server: the startup packet, `Sync`, `Query`, `Flush`, a password / SASL message, `CopyDone`, `CopyFail` |
//! | `connections` | startup packets: server connections opened |
//! | `bytes_to_server`, `bytes_to_client` | bytes forwarded each way |
//! | `rows_to_client` | `DataRow` (`D`) from the server: rows it sent, whatever their width |
//! | `errors` | `ErrorResponse` (`E`) from the server |
//! | `write_units` | transactions that wrote and committed: a `CommandComplete` whose tag is `INSERT`, `UPDATE`, `DELETE` or `MERGE`, then `ReadyForQuery` back to idle with no `ROLLBACK` or error between, so an all-or-nothing write is one however its statements were sent |
//! | `statements_logged` | statements logged so far, never reset: a position for `GET /statements?from=` |
//! | `reading` | this reading's place among every `GET /counts` answered: a position for `GET /readings?from=` |
//! | `active_connections`, `peak_connections` | open now, and most open at once since the last reset |
//!
//! So `BEGIN` and `COMMIT` count as queries (sqlx sends them as `Query`),
//! a pool's liveness ping (a bare `Sync`) is a round trip but no query, and
//! a statement's first run on a connection costs one query and two round
//! trips (`Parse`/`Describe`/`Sync`, then `Bind`/`Execute`/`Sync`).
//!
//! The delay, when set, is applied once per round-trip message before it is
//! forwarded, which is where a client on a real network would wait.
//! SSL and GSS encryption requests are answered `N` by the proxy itself, so
//! the conversation stays in plain text where it can be read.
//!
//! For fault tests it can play a failing server: [`Proxy::sever`] closes
//! every open connection (a restart: the client's pooled connections die),
//! and [`Proxy::set_down`] closes new ones at once (a server that is down).
//!
//! It listens on TCP or, with [`ProxyConfig::unix`], on a Unix socket (a
//! file named `.s.PGSQL.5432`, so a client's `host` is its folder): that is
//! how the grader gives a contained driver, which has no network, its one
//! way to PostgreSQL.
//!
//! Use it in-process with [`Proxy::start`], or as the `pg-count-proxy`
//! binary, which serves [`Proxy::control`] over HTTP ([`Proxy::watch`], its
//! read-only half, when the client under test can reach it: every counter
//! only grows, so readers take differences and nobody can reset them).
//! Every `GET /counts` it answers is kept, in order, so whoever started the
//! proxy can read back what each reader was told and when
//! (`GET /readings?from=N`): a reader's own report of its differences can
//! be checked against the proxy's record of the same readings.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::{get, post, put};
use axum::serve::{Listener, ListenerExt};
use axum::{Json, Router};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::task::JoinHandle;

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;
/// Longest message the proxy accepts from a client (PostgreSQL's own limit is 1 GB).
const MAX_MESSAGE: usize = 1 << 30;

/// How the proxy listens and where it forwards.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where clients connect; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Listen on this Unix socket instead of `listen` (made readable and writable by every user).
    pub unix: Option<PathBuf>,
    /// The real server, `host:port`.
    pub upstream: String,
    /// Added to every round trip.
    pub delay: Duration,
    /// Print each statement to stderr as it runs.
    pub log_statements: bool,
    /// How many executed statements `statements()` keeps.
    pub keep_statements: usize,
}

impl ProxyConfig {
    /// Loopback, a free port, no delay.
    pub fn new(upstream: impl Into<String>) -> ProxyConfig {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            unix: None,
            upstream: upstream.into(),
            delay: Duration::ZERO,
            log_statements: false,
            keep_statements: 10_000,
        }
    }

    pub fn delay(mut self, delay: Duration) -> ProxyConfig {
        self.delay = delay;
        self
    }
}

/// A snapshot of the counters (see the module docs for what each means).
pub use lab_protocol::ProxyCounts as Counts;

#[derive(Default)]
struct Counters {
    simple_queries: AtomicU64,
    parses: AtomicU64,
    binds: AtomicU64,
    executes: AtomicU64,
    completed: AtomicU64,
    round_trips: AtomicU64,
    connections: AtomicU64,
    active: AtomicU64,
    peak: AtomicU64,
    bytes_to_server: AtomicU64,
    bytes_to_client: AtomicU64,
    rows_to_client: AtomicU64,
    errors: AtomicU64,
    write_units: AtomicU64,
}

/// The last entries logged (statements, or readings), numbered from the first ever logged.
struct Log<T> {
    /// How many were logged before `kept`'s first.
    dropped: u64,
    kept: VecDeque<T>,
    keep: usize,
}

impl<T: Clone> Log<T> {
    fn new(keep: usize) -> Log<T> {
        Log { dropped: 0, kept: VecDeque::new(), keep }
    }

    fn logged(&self) -> u64 {
        self.dropped + self.kept.len() as u64
    }

    fn push(&mut self, entry: T) {
        if self.keep == 0 {
            self.dropped += 1;
            return;
        }
        if self.kept.len() == self.keep {
            self.kept.pop_front();
            self.dropped += 1;
        }
        self.kept.push_back(entry);
    }

    /// Those numbered `from` and after (all that are kept when `from` is
    /// older or not given).
    fn from(&self, from: Option<u64>) -> Vec<T> {
        let skip = usize::try_from(from.unwrap_or(self.dropped).saturating_sub(self.dropped)).unwrap_or(usize::MAX);
        self.kept.iter().skip(skip).cloned().collect()
    }
}

/// Readings of the counters the proxy keeps for `GET /readings`.
const KEEP_READINGS: usize = 100_000;

struct Shared {
    config: ProxyConfig,
    counters: Counters,
    statements: Mutex<Log<String>>,
    /// Every `GET /counts` answered, in order.
    readings: Mutex<Log<Counts>>,
    next_connection: AtomicU64,
    /// Bumped by [`Proxy::sever`]: every connection open at that moment closes.
    severed: tokio::sync::watch::Sender<u64>,
    /// While set, new connections are closed at once, as by a server that is down.
    refusing: AtomicBool,
    /// While set, nothing a client sends reaches the server, so nothing
    /// comes back: a server cut off by the network.
    hung: AtomicBool,
}

impl Shared {
    /// The counters now, a reading of no place in the log (the next one's number).
    fn counts(&self) -> Counts {
        let next = self.readings.lock().expect("readings").logged();
        self.snapshot(next)
    }

    /// The counters now, kept in the readings log as the reading they are.
    fn read(&self) -> Counts {
        let mut readings = self.readings.lock().expect("readings");
        let counts = self.snapshot(readings.logged());
        readings.push(counts);
        counts
    }

    fn snapshot(&self, reading: u64) -> Counts {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Counts {
            queries: load(&c.completed),
            simple_queries: load(&c.simple_queries),
            parses: load(&c.parses),
            binds: load(&c.binds),
            executes: load(&c.executes),
            round_trips: load(&c.round_trips),
            connections: load(&c.connections),
            active_connections: load(&c.active),
            peak_connections: load(&c.peak),
            bytes_to_server: load(&c.bytes_to_server),
            bytes_to_client: load(&c.bytes_to_client),
            rows_to_client: load(&c.rows_to_client),
            errors: load(&c.errors),
            statements_logged: self.statements.lock().expect("statement log").logged(),
            write_units: load(&c.write_units),
            reading,
        }
    }

    fn reset(&self) -> Counts {
        let before = self.counts();
        let c = &self.counters;
        for counter in [
            &c.simple_queries,
            &c.parses,
            &c.binds,
            &c.executes,
            &c.completed,
            &c.round_trips,
            &c.connections,
            &c.bytes_to_server,
            &c.bytes_to_client,
            &c.rows_to_client,
            &c.errors,
            &c.write_units,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
        c.peak.store(c.active.load(Ordering::SeqCst), Ordering::SeqCst);
        let mut log = self.statements.lock().expect("statement log");
        log.dropped = log.logged();
        log.kept.clear();
        before
    }

    fn sever(&self) -> serde_json::Value {
        self.severed.send_modify(|generation| *generation += 1);
        serde_json::json!({ "severed": self.counters.active.load(Ordering::SeqCst) })
    }

    fn opened(&self) {
        let c = &self.counters;
        c.connections.fetch_add(1, Ordering::SeqCst);
        let now = c.active.fetch_add(1, Ordering::SeqCst) + 1;
        c.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn record(&self, connection: u64, kind: &str, sql: &str) {
        if self.config.log_statements {
            eprintln!("[pg-count-proxy conn {connection}] {kind}: {}", one_line(sql));
        }
        self.statements.lock().expect("statement log").push(one_line(sql));
    }
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A running proxy. Dropping it stops accepting new connections.
pub struct Proxy {
    /// Its TCP address; for a Unix socket, `0.0.0.0:0` (see [`Proxy::listening`]).
    addr: SocketAddr,
    listening: String,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).field("upstream", &self.shared.config.upstream).finish()
    }
}

impl Proxy {
    /// Binds `config.listen` (or `config.unix`) and starts forwarding to
    /// `config.upstream` on the current runtime.
    pub async fn start(config: ProxyConfig) -> io::Result<Proxy> {
        let (addr, listening, bound) = match &config.unix {
            Some(path) => {
                let listener = UnixListener::bind(path)?;
                // Contained clients run as other users; the socket's folder decides who reaches it.
                std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
                (SocketAddr::from(([0, 0, 0, 0], 0)), format!("unix:{}", path.display()), Bound::Unix(listener))
            }
            None => {
                let listener = TcpListener::bind(config.listen).await?;
                let addr = listener.local_addr()?;
                (addr, addr.to_string(), Bound::Tcp(listener))
            }
        };
        let shared = Arc::new(Shared {
            statements: Mutex::new(Log::new(config.keep_statements)),
            config,
            counters: Counters::default(),
            readings: Mutex::new(Log::new(KEEP_READINGS)),
            next_connection: AtomicU64::new(1),
            severed: tokio::sync::watch::Sender::new(0),
            refusing: AtomicBool::new(false),
            hung: AtomicBool::new(false),
        });
        let accept = match bound {
            Bound::Tcp(tcp) => {
                tokio::spawn(accept_loop(tcp.tap_io(|stream| drop(stream.set_nodelay(true))), shared.clone()))
            }
            Bound::Unix(unix) => tokio::spawn(accept_loop(unix, shared.clone())),
        };
        Ok(Proxy { addr, listening, shared, accept })
    }

    /// Where clients connect, over TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where clients connect: `host:port`, or `unix:<path>`.
    pub fn listening(&self) -> &str {
        &self.listening
    }

    /// `host:port` to put in a client's connection settings.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    pub fn counts(&self) -> Counts {
        self.shared.counts()
    }

    /// Zeroes the counters and the statement log; returns the counts before.
    pub fn reset(&self) -> Counts {
        self.shared.reset()
    }

    /// Statements run since the last reset, oldest first, one line each.
    pub fn statements(&self) -> Vec<String> {
        self.shared.statements.lock().expect("statement log").from(None)
    }

    /// Closes every connection open now, both ways, as a server restart
    /// would: a client's pooled connections are dead from here on. New
    /// connections are still forwarded.
    pub fn sever(&self) {
        self.shared.sever();
    }

    /// While `down`, every new connection is closed at once (the server
    /// seems down to clients); open ones are left alone (see [`Proxy::sever`]).
    pub fn set_down(&self, down: bool) {
        self.shared.refusing.store(down, Ordering::SeqCst);
    }

    /// While `hung`, every message a client sends, on open connections and
    /// new ones, waits in the proxy: the server seems cut off (no error,
    /// no answer), which only a client's own timeout ends.
    pub fn set_hung(&self, hung: bool) {
        self.shared.hung.store(hung, Ordering::SeqCst);
    }

    /// The HTTP control API for this proxy (see [`control_routes`]).
    pub fn control(&self) -> Router {
        control_routes(self.shared.clone())
    }

    /// The control API's read-only half, `GET /counts` and `GET /statements`:
    /// what a client under test may reach. Counters are never reset, so a
    /// reader takes the difference of two readings.
    pub fn watch(&self) -> Router {
        watch_routes(self.shared.clone())
    }
}

/// The listener [`Proxy::start`] bound.
enum Bound {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Accepts clients until the proxy is dropped; one task per connection.
async fn accept_loop<L: Listener>(mut listener: L, shared: Arc<Shared>) {
    loop {
        let (client, _) = listener.accept().await;
        if shared.refusing.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(err) = serve_connection(client, &shared).await
                && shared.config.log_statements
            {
                eprintln!("[pg-count-proxy] connection ended: {err}");
            }
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// `GET /statements?from=N`: the statements logged from number N on
/// (`statements_logged` in a counts reading); without `from`, those since
/// the last reset.
#[derive(Debug, serde::Deserialize)]
struct From {
    from: Option<u64>,
}

/// [`watch_routes`], plus `POST /reset` (answers the counts before the
/// reset), `POST /sever` (closes every open connection, see [`Proxy::sever`])
/// and `PUT /hung` with `true` or `false` (see [`Proxy::set_hung`]).
fn control_routes(shared: Arc<Shared>) -> Router {
    watch_routes(shared.clone()).merge(
        Router::new()
            .route("/reset", post(|State(s): State<Arc<Shared>>| async move { Json(s.reset()) }))
            .route("/sever", post(|State(s): State<Arc<Shared>>| async move { Json(s.sever()) }))
            .route(
                "/hung",
                put(|State(s): State<Arc<Shared>>, Json(hung): Json<bool>| async move {
                    s.hung.store(hung, Ordering::SeqCst);
                    Json(serde_json::json!({ "hung": hung }))
                }),
            )
            .with_state(shared),
    )
}

/// `GET /counts`, `GET /statements` (JSON list, see [`From`]) and `GET /health`.
fn watch_routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/counts", get(|State(s): State<Arc<Shared>>| async move { Json(s.read()) }))
        .route(
            "/readings",
            get(|State(s): State<Arc<Shared>>, Query(q): Query<From>| async move {
                Json(s.readings.lock().expect("readings").from(q.from))
            }),
        )
        .route(
            "/statements",
            get(|State(s): State<Arc<Shared>>, Query(q): Query<From>| async move {
                Json(s.statements.lock().expect("statement log").from(q.from))
            }),
        )
        .route("/health", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .with_state(shared)
}

async fn serve_connection<S>(client: S, shared: &Arc<Shared>) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let connection = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let upstream = TcpStream::connect(&shared.config.upstream).await?;
    upstream.set_nodelay(true)?;
    let (client_read, mut client_write) = tokio::io::split(client);
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, client_read);

    // Startup: answer encryption requests ourselves, pass on the rest.
    loop {
        let len = reader.read_i32().await?;
        let len = usize::try_from(len).ok().filter(|n| (8..=MAX_MESSAGE).contains(n)).ok_or_else(bad_length)?;
        let mut body = vec![0; len - 4];
        reader.read_exact(&mut body).await?;
        let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        match code {
            SSL_REQUEST | GSSENC_REQUEST => client_write.write_all(b"N").await?,
            CANCEL_REQUEST => {
                upstream_write.write_all(&(len as i32).to_be_bytes()).await?;
                upstream_write.write_all(&body).await?;
                return Ok(());
            }
            _ => {
                round_trip(shared).await;
                let mut packet = Vec::with_capacity(len);
                packet.extend_from_slice(&(len as i32).to_be_bytes());
                packet.extend_from_slice(&body);
                shared.counters.bytes_to_server.fetch_add(len as u64, Ordering::Relaxed);
                upstream_write.write_all(&packet).await?;
                shared.opened();
                break;
            }
        }
    }

    let down_shared = shared.clone();
    let down = tokio::spawn(async move {
        let mut buf = vec![0; 64 * 1024];
        let mut frames = Frames::default();
        let mut writes = Writes::default();
        loop {
            let n = match upstream_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            down_shared.counters.bytes_to_client.fetch_add(n as u64, Ordering::Relaxed);
            // Statements are counted from the server's replies: the client
            // cannot hide one inside another's query string.
            frames.feed(&buf[..n], |kind, body| {
                let counters = &down_shared.counters;
                match kind {
                    b'C' => drop(counters.completed.fetch_add(1, Ordering::SeqCst)),
                    b'D' => drop(counters.rows_to_client.fetch_add(1, Ordering::SeqCst)),
                    b'E' => drop(counters.errors.fetch_add(1, Ordering::SeqCst)),
                    _ => {}
                }
                if writes.message(kind, body) {
                    counters.write_units.fetch_add(1, Ordering::SeqCst);
                }
            });
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    });

    let mut severed = shared.severed.subscribe();
    let result = tokio::select! {
        result = forward_messages(&mut reader, &mut upstream_write, shared, connection) => {
            let _ = upstream_write.shutdown().await;
            let _ = down.await;
            result
        }
        _ = severed.changed() => {
            // Both sockets close now, mid-statement or not, as in a server restart.
            down.abort();
            Err(io::Error::new(io::ErrorKind::ConnectionAborted, "severed by the proxy"))
        }
    };
    shared.counters.active.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Splits the server's byte stream into messages (a type byte, then a
/// big-endian length that counts itself) however the reads cut it.
#[derive(Debug, Default)]
struct Frames {
    header: [u8; 5],
    have: usize,
    remaining: usize,
    /// The first [`KEEP_BODY`] bytes of the message being read.
    body: Vec<u8>,
}

/// Enough of a message's body for a `CommandComplete` tag's verb or a `ReadyForQuery` status.
const KEEP_BODY: usize = 32;

impl Frames {
    /// Calls `on_message` with the type and the first [`KEEP_BODY`] bytes
    /// of every message that ends in `chunk`.
    fn feed(&mut self, mut chunk: &[u8], mut on_message: impl FnMut(u8, &[u8])) {
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(chunk.len());
                let keep = take.min(KEEP_BODY.saturating_sub(self.body.len()));
                self.body.extend_from_slice(&chunk[..keep]);
                self.remaining -= take;
                chunk = &chunk[take..];
                if self.remaining == 0 {
                    on_message(self.header[0], &self.body);
                    self.body.clear();
                }
                continue;
            }
            let take = (5 - self.have).min(chunk.len());
            self.header[self.have..self.have + take].copy_from_slice(&chunk[..take]);
            self.have += take;
            chunk = &chunk[take..];
            if self.have == 5 {
                let len = i32::from_be_bytes([self.header[1], self.header[2], self.header[3], self.header[4]]);
                self.remaining = usize::try_from(len).unwrap_or(4).saturating_sub(4);
                self.have = 0;
                if self.remaining == 0 {
                    on_message(self.header[0], &[]);
                }
            }
        }
    }
}

/// One connection's writes, from the server's replies: a transaction that
/// wrote (a `CommandComplete` tagged `INSERT`, `UPDATE`, `DELETE` or
/// `MERGE`) is one write unit when the server is next ready for a query
/// outside any transaction, unless it rolled back first (a `ROLLBACK` tag,
/// or an error outside an explicit transaction, which aborts the implicit one).
#[derive(Debug, Default)]
struct Writes {
    wrote: bool,
    /// The last `ReadyForQuery` said a transaction block was open.
    in_block: bool,
}

impl Writes {
    /// Whether this server message completes a write unit.
    fn message(&mut self, kind: u8, body: &[u8]) -> bool {
        match kind {
            b'C' => {
                let verb = body.split(|b| *b == b' ' || *b == 0).next().unwrap_or_default();
                match verb {
                    b"INSERT" | b"UPDATE" | b"DELETE" | b"MERGE" => self.wrote = true,
                    b"ROLLBACK" => self.wrote = false,
                    _ => {}
                }
                false
            }
            b'E' if !self.in_block => {
                self.wrote = false;
                false
            }
            b'Z' => {
                let status = body.first().copied().unwrap_or(b'I');
                self.in_block = status != b'I';
                let committed = status == b'I' && self.wrote;
                if status == b'I' {
                    self.wrote = false;
                }
                committed
            }
            _ => false,
        }
    }
}

fn bad_length() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "message length out of range")
}

async fn round_trip(shared: &Shared) {
    while shared.hung.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shared.counters.round_trips.fetch_add(1, Ordering::SeqCst);
    if !shared.config.delay.is_zero() {
        tokio::time::sleep(shared.config.delay).await;
    }
}

/// Client → server after startup: count each message, forward in batches,
/// flushing (and waiting the delay) at every message the client will wait on.
async fn forward_messages<R, W>(
    reader: &mut BufReader<R>,
    upstream: &mut W,
    shared: &Shared,
    connection: u64,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut statements: HashMap<String, String> = HashMap::new();
    let mut portals: HashMap<String, String> = HashMap::new();
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let kind = match reader.read_u8().await {
            Ok(kind) => kind,
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(err) => return Err(err),
        };
        let len = reader.read_i32().await?;
        let len = usize::try_from(len).ok().filter(|n| (4..=MAX_MESSAGE).contains(n)).ok_or_else(bad_length)?;
        let start = out.len();
        out.push(kind);
        out.extend_from_slice(&(len as i32).to_be_bytes());
        out.resize(start + 1 + len, 0);
        reader.read_exact(&mut out[start + 5..]).await?;
        let body = &out[start + 5..];
        let counters = &shared.counters;
        let waits = match kind {
            b'Q' => {
                counters.simple_queries.fetch_add(1, Ordering::SeqCst);
                shared.record(connection, "query", cstr(body, 0).0);
                true
            }
            b'P' => {
                counters.parses.fetch_add(1, Ordering::SeqCst);
                let (name, at) = cstr(body, 0);
                let (sql, _) = cstr(body, at);
                statements.insert(name.to_string(), sql.to_string());
                false
            }
            b'B' => {
                counters.binds.fetch_add(1, Ordering::SeqCst);
                let (portal, at) = cstr(body, 0);
                let (statement, _) = cstr(body, at);
                let sql = statements.get(statement).cloned().unwrap_or_default();
                portals.insert(portal.to_string(), sql);
                false
            }
            b'E' => {
                counters.executes.fetch_add(1, Ordering::SeqCst);
                let (portal, _) = cstr(body, 0);
                let sql = portals.get(portal).map_or("", String::as_str);
                shared.record(connection, "execute", sql);
                false
            }
            b'S' | b'H' | b'p' | b'c' | b'f' => true,
            _ => false,
        };
        let terminate = kind == b'X';
        let drained = reader.buffer().is_empty();
        if waits || terminate || drained || out.len() >= 256 * 1024 {
            if waits {
                round_trip(shared).await;
            }
            counters.bytes_to_server.fetch_add(out.len() as u64, Ordering::Relaxed);
            upstream.write_all(&out).await?;
            out.clear();
        }
        if terminate {
            break;
        }
    }
    if !out.is_empty() {
        upstream.write_all(&out).await?;
    }
    Ok(())
}

/// The NUL-terminated string at `at`, and the offset after its NUL.
fn cstr(body: &[u8], at: usize) -> (&str, usize) {
    let rest = body.get(at..).unwrap_or_default();
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    (std::str::from_utf8(&rest[..end]).unwrap_or("<not utf-8>"), at + end + 1)
}

/// A client for a proxy's control URL, and the base to put paths after:
/// `http://host:port` as it is, `unix:<path>` through that socket.
pub fn control_client(control: &str, timeout: Duration) -> anyhow::Result<(reqwest::Client, String)> {
    let builder = reqwest::Client::builder().timeout(timeout);
    Ok(match control.strip_prefix("unix:") {
        Some(path) => (builder.unix_socket(path).build()?, "http://localhost".to_string()),
        None => (builder.build()?, control.to_string()),
    })
}

/// Fetches a running proxy's counts from its control URL (`http://host:port`).
pub async fn fetch_counts(client: &reqwest::Client, control: &str) -> anyhow::Result<Counts> {
    let url = format!("{}/counts", control.trim_end_matches('/'));
    Ok(client.get(&url).send().await?.error_for_status()?.json().await?)
}

/// Zeroes a running proxy's counters and statement log; returns the counts before.
pub async fn reset_counts(client: &reqwest::Client, control: &str) -> anyhow::Result<Counts> {
    let url = format!("{}/reset", control.trim_end_matches('/'));
    Ok(client.post(&url).send().await?.error_for_status()?.json().await?)
}

/// The statements a running proxy logged from number `from` on (see [`Counts`]'
/// `statements_logged`), or since its last reset.
pub async fn fetch_statements(
    client: &reqwest::Client,
    control: &str,
    from: Option<u64>,
) -> anyhow::Result<Vec<String>> {
    let from = from.map(|n| format!("?from={n}")).unwrap_or_default();
    let url = format!("{}/statements{from}", control.trim_end_matches('/'));
    Ok(client.get(&url).send().await?.error_for_status()?.json().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strings_are_read_up_to_their_nul() {
        let body = b"stmt\0SELECT 1\0rest";
        let (name, at) = cstr(body, 0);
        let (sql, _) = cstr(body, at);
        assert_eq!((name, sql), ("stmt", "SELECT 1"));
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Write units in a stream of server messages, fed `cut` bytes at a time.
    fn units(stream: &[(u8, &str)], cut: usize) -> u64 {
        let bytes: Vec<u8> = stream.iter().flat_map(|(kind, body)| message(*kind, body.as_bytes())).collect();
        let (mut frames, mut writes, mut units) = (Frames::default(), Writes::default(), 0);
        for piece in bytes.chunks(cut) {
            frames.feed(piece, |kind, body| units += u64::from(writes.message(kind, body)));
        }
        units
    }

    #[test]
    fn a_write_unit_is_a_transaction_that_wrote_and_committed() {
        let autocommits =
            [(b'C', "SELECT 1\0"), (b'Z', "I"), (b'C', "INSERT 0 1\0"), (b'Z', "I"), (b'C', "UPDATE 1\0"), (b'Z', "I")];
        let block = [
            (b'C', "BEGIN\0"),
            (b'Z', "T"),
            (b'C', "INSERT 0 1\0"),
            (b'Z', "T"),
            (b'C', "UPDATE 1\0"),
            (b'Z', "T"),
            (b'C', "COMMIT\0"),
            (b'Z', "I"),
        ];
        // Two writes in one simple query run in one implicit transaction.
        let one_query = [(b'C', "INSERT 0 1\0"), (b'C', "UPDATE 1\0"), (b'Z', "I")];
        let rolled_back =
            [(b'C', "BEGIN\0"), (b'Z', "T"), (b'C', "INSERT 0 1\0"), (b'Z', "T"), (b'C', "ROLLBACK\0"), (b'Z', "I")];
        let failed = [(b'C', "INSERT 0 1\0"), (b'E', "SERROR\0"), (b'Z', "I")];
        for cut in [1, 3, 7, 1000] {
            assert_eq!(units(&autocommits, cut), 2, "cut {cut}");
            assert_eq!(units(&block, cut), 1, "cut {cut}");
            assert_eq!(units(&one_query, cut), 1, "cut {cut}");
            assert_eq!(units(&rolled_back, cut), 0, "cut {cut}");
            assert_eq!(units(&failed, cut), 0, "cut {cut}");
        }
    }

    #[test]
    fn server_messages_are_found_however_the_reads_cut_them() {
        let mut stream = message(b'T', b"row description");
        stream.extend(message(b'D', b"a row"));
        stream.extend(message(b'C', b"SELECT 1\0"));
        stream.extend(message(b'C', b"SELECT 1\0"));
        stream.extend(message(b'Z', b"I"));
        for cut in 1..stream.len() {
            let mut frames = Frames::default();
            let mut kinds = Vec::new();
            for piece in stream.chunks(cut) {
                frames.feed(piece, |kind, _| kinds.push(kind));
            }
            assert_eq!(kinds, b"TDCCZ", "cut every {cut} bytes");
        }
    }

    #[test]
    fn counts_since_subtract_counters_but_keep_gauges() {
        let before = Counts { queries: 3, connections: 1, active_connections: 1, ..Counts::default() };
        let after =
            Counts { queries: 10, connections: 2, active_connections: 2, peak_connections: 2, ..Counts::default() };
        let diff = after.since(&before);
        assert_eq!((diff.queries, diff.connections, diff.active_connections, diff.peak_connections), (7, 1, 2, 2));
    }
}
