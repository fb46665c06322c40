//! A Redis proxy that counts the commands a service sends, and can take
//! Redis away: refuse connections (Redis down) or accept them and never
//! answer (Redis hung), then bring it back.
//!
//! It sits between a service and any Redis (the kit's, a container's, a
//! throwaway one), so what a service costs Redis is counted per service,
//! outside its code, even on a server others use too. A command is one RESP
//! array (`*N` then N bulk strings) or one inline line, read off the
//! client's bytes as they pass; a pipeline of five commands counts five.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use anyhow::{Context, bail};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::{AbortHandle, JoinHandle};

/// What the proxy does with a service's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every byte passes both ways.
    Pass,
    /// Redis is down: every connection is closed at once.
    Refuse,
    /// Redis hangs: connections are accepted, commands read (and counted), nothing is answered.
    Silent,
}

/// Where the real Redis is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Tcp(String),
    Unix(PathBuf),
}

#[derive(Debug)]
struct Shared {
    target: Target,
    mode: AtomicU8,
    commands: AtomicU64,
    connections: AtomicU64,
    /// Every relay running now, so a change of mode can end them.
    live: Mutex<Vec<AbortHandle>>,
}

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct RedisProxy {
    addr: SocketAddr,
    /// The service's URL with its host and port replaced by the proxy's.
    url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl RedisProxy {
    /// A proxy on a free loopback port in front of the Redis at `url`
    /// (`redis://[user@]host:port[/db]`, or `redis+unix:///path` / `unix:///path`).
    pub async fn start(url: &str) -> anyhow::Result<RedisProxy> {
        let (target, credentials, database) = split(url)?;
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the Redis proxy")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            mode: AtomicU8::new(Mode::Pass as u8),
            commands: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            live: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let relay = tokio::spawn(relay(client, accepting.clone()));
                let mut live = accepting.live.lock();
                live.retain(|handle| !handle.is_finished());
                live.push(relay.abort_handle());
            }
        });
        let url = format!("redis://{credentials}{addr}{database}");
        Ok(RedisProxy { addr, url, shared, task })
    }

    /// The URL a service reaches Redis through the proxy with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Commands the services sent through the proxy so far (answered or not).
    pub fn commands(&self) -> u64 {
        self.shared.commands.load(Ordering::SeqCst)
    }

    /// Connections the services opened so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Switches mode; every open connection is closed, so none outlives the change.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
        for handle in self.shared.live.lock().drain(..) {
            handle.abort();
        }
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.task.abort();
        for handle in self.shared.live.lock().drain(..) {
            handle.abort();
        }
    }
}

fn mode(shared: &Shared) -> Mode {
    match shared.mode.load(Ordering::SeqCst) {
        0 => Mode::Pass,
        1 => Mode::Refuse,
        _ => Mode::Silent,
    }
}

/// `url` as (where Redis is, `user:password@` or "", `/db` or "").
fn split(url: &str) -> anyhow::Result<(Target, String, String)> {
    for scheme in ["redis+unix://", "unix://"] {
        if let Some(path) = url.strip_prefix(scheme) {
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            let database = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("db="))
                .map(|db| format!("/{db}"))
                .unwrap_or_default();
            return Ok((Target::Unix(path.into()), String::new(), database));
        }
    }
    let Some(rest) = url.strip_prefix("redis://") else {
        bail!("{url:?} is not a redis:// or redis+unix:// URL");
    };
    let (authority, path) = rest.split_once('/').map_or((rest, String::new()), |(a, p)| (a, format!("/{p}")));
    let (credentials, host) =
        authority.rsplit_once('@').map_or((String::new(), authority), |(c, h)| (format!("{c}@"), h));
    if host.is_empty() {
        bail!("{url:?} names no host");
    }
    let host = if host.contains(':') { host.to_string() } else { format!("{host}:6379") };
    Ok((Target::Tcp(host), credentials, path))
}

async fn relay(client: TcpStream, shared: Arc<Shared>) {
    match mode(&shared) {
        Mode::Refuse => drop(client),
        Mode::Silent => {
            let (mut from_client, _kept_open) = client.into_split();
            let mut counter = CommandCounter::default();
            let mut buffer = vec![0_u8; 16 * 1024];
            while let Ok(n @ 1..) = from_client.read(&mut buffer).await {
                shared.commands.fetch_add(counter.feed(&buffer[..n]), Ordering::SeqCst);
            }
        }
        Mode::Pass => {
            let (client_read, client_write) = client.into_split();
            match &shared.target {
                Target::Tcp(address) => {
                    let Ok(server) = TcpStream::connect(address).await else { return };
                    let (server_read, server_write) = server.into_split();
                    pipe(client_read, client_write, server_read, server_write, &shared).await;
                }
                Target::Unix(path) => {
                    let Ok(server) = UnixStream::connect(path).await else { return };
                    let (server_read, server_write) = server.into_split();
                    pipe(client_read, client_write, server_read, server_write, &shared).await;
                }
            }
        }
    }
}

/// Copies both ways, counting the commands on the way to Redis, until either side closes.
async fn pipe(
    mut client_read: impl AsyncRead + Unpin,
    mut client_write: impl AsyncWrite + Unpin,
    mut server_read: impl AsyncRead + Unpin,
    mut server_write: impl AsyncWrite + Unpin,
    shared: &Shared,
) {
    let to_server = async {
        let mut counter = CommandCounter::default();
        let mut buffer = vec![0_u8; 16 * 1024];
        while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
            shared.commands.fetch_add(counter.feed(&buffer[..n]), Ordering::SeqCst);
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    let to_client = tokio::io::copy(&mut server_read, &mut client_write);
    tokio::select! {
        _ = to_server => {}
        _ = to_client => {}
    }
}

/// Reads RESP commands off a client's byte stream, in pieces of any size.
#[derive(Debug, Default)]
pub struct CommandCounter {
    state: Parse,
    /// The header line read so far (`*3`, `$5`, or an inline command).
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Parse {
    /// Between commands.
    #[default]
    Start,
    /// In an array header (`*N\r\n`).
    ArrayHeader,
    /// In an inline command's line.
    Inline,
    /// Expecting the next element's `$len\r\n`; `left` elements to go.
    BulkHeader { left: u64 },
    /// Skipping an element's bytes and its `\r\n`; then `left` elements to go.
    BulkBody { skip: u64, left: u64 },
}

impl CommandCounter {
    /// Feeds the next bytes; how many commands began in them.
    pub fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut commands = 0;
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                Parse::Start => {
                    self.line.clear();
                    match bytes[i] {
                        b'*' => self.state = Parse::ArrayHeader,
                        b'\r' | b'\n' => {}
                        _ => {
                            self.state = Parse::Inline;
                            self.line.push(bytes[i]);
                        }
                    }
                    i += 1;
                }
                Parse::ArrayHeader | Parse::Inline | Parse::BulkHeader { .. } => {
                    let byte = bytes[i];
                    i += 1;
                    if byte != b'\n' {
                        if byte != b'\r' {
                            self.line.push(byte);
                        }
                        continue;
                    }
                    let number = std::str::from_utf8(&self.line).ok().and_then(|text| text.trim().parse::<i64>().ok());
                    self.state = match self.state {
                        Parse::ArrayHeader => {
                            commands += 1;
                            match number {
                                Some(n) if n > 0 => Parse::BulkHeader { left: n as u64 },
                                _ => Parse::Start,
                            }
                        }
                        Parse::Inline => {
                            if !self.line.iter().all(u8::is_ascii_whitespace) {
                                commands += 1;
                            }
                            Parse::Start
                        }
                        Parse::BulkHeader { left } => {
                            // `$len`: the element's bytes then `\r\n`; `$-1` (null) has none.
                            let len = self.line.strip_prefix(b"$").and_then(|digits| {
                                std::str::from_utf8(digits).ok().and_then(|d| d.trim().parse::<i64>().ok())
                            });
                            match len {
                                Some(len) if len >= 0 => Parse::BulkBody { skip: len as u64 + 2, left: left - 1 },
                                _ if left > 1 => Parse::BulkHeader { left: left - 1 },
                                _ => Parse::Start,
                            }
                        }
                        _ => Parse::Start,
                    };
                    self.line.clear();
                }
                Parse::BulkBody { skip, left } => {
                    let take = skip.min((bytes.len() - i) as u64);
                    i += take as usize;
                    self.state = match (skip - take, left) {
                        (0, 0) => Parse::Start,
                        (0, left) => Parse::BulkHeader { left },
                        (skip, left) => Parse::BulkBody { skip, left },
                    };
                }
            }
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_counted_whatever_the_pieces() {
        let pipeline: &[u8] =
            b"*3\r\n$3\r\nSET\r\n$3\r\nk*1\r\n$10\r\n*2\r\n$1\r\n12\r\n*2\r\n$3\r\nGET\r\n$3\r\nk*1\r\nPING\r\n*1\r\n$4\r\nEXEC\r\n";
        assert_eq!(CommandCounter::default().feed(pipeline), 4);
        for piece in 1..pipeline.len() {
            let mut counter = CommandCounter::default();
            let counted: u64 = pipeline.chunks(piece).map(|chunk| counter.feed(chunk)).sum();
            assert_eq!(counted, 4, "in pieces of {piece} bytes");
        }
        assert_eq!(CommandCounter::default().feed(b"*2\r\n$4\r\nECHO\r\n$-1\r\n*1\r\n$4\r\nPING\r\n"), 2);
    }

    #[test]
    fn urls_keep_their_credentials_and_database() {
        let (target, credentials, database) = split("redis://user:pw@10.0.0.1:6380/3").unwrap();
        assert_eq!(
            (target, credentials.as_str(), database.as_str()),
            (Target::Tcp("10.0.0.1:6380".into()), "user:pw@", "/3")
        );
        let (target, _, database) = split("redis://localhost").unwrap();
        assert_eq!((target, database.as_str()), (Target::Tcp("localhost:6379".into()), ""));
        let (target, _, database) = split("redis+unix:///run/redis.sock?db=2").unwrap();
        assert_eq!((target, database.as_str()), (Target::Unix("/run/redis.sock".into()), "/2"));
        assert!(split("not a url").is_err());
    }

    #[tokio::test]
    async fn the_proxy_counts_passes_refuses_and_goes_silent() {
        let proxy = RedisProxy::start(&crate::store::url()).await.unwrap();
        let key = format!("{}k", crate::store::unique_prefix("proxy"));
        let mut redis = crate::store::connect(proxy.url()).await.unwrap_or_else(|err| panic!("{err:#}"));
        let before = proxy.commands();
        let _: () = redis::cmd("SET").arg(&key).arg("v").arg("EX").arg(60).query_async(&mut redis).await.unwrap();
        let value: String = redis::cmd("GET").arg(&key).query_async(&mut redis).await.unwrap();
        assert_eq!((value.as_str(), proxy.commands() - before), ("v", 2));

        proxy.set_mode(Mode::Refuse);
        assert!(crate::store::connect(proxy.url()).await.is_err(), "a refused connection is an error");

        proxy.set_mode(Mode::Silent);
        let before = proxy.commands();
        let mut silent = TcpStream::connect(proxy.addr()).await.unwrap();
        silent.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
        let mut answer = [0_u8; 16];
        let read = tokio::time::timeout(std::time::Duration::from_millis(300), silent.read(&mut answer)).await;
        assert!(read.is_err(), "a silent Redis answers nothing: {read:?}");
        assert_eq!(proxy.commands() - before, 1, "the unanswered command is counted");

        proxy.set_mode(Mode::Pass);
        let mut redis = crate::store::connect(proxy.url()).await.unwrap();
        let _: () = redis::cmd("DEL").arg(&key).query_async(&mut redis).await.unwrap();
    }
}
