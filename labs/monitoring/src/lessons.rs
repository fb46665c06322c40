//! The lab's lessons as tests: each runs the implementation's own driver
//! binary as a process (`serve`, logs to a file) and one of the
//! [`checks`](crate::checks) on it, over real HTTP on loopback: its
//! `/metrics` text, its log file, its health answers, its dashboard's event
//! stream, and what the payment stub and a PostgreSQL proxy saw. The
//! grader runs the same checks through `monitoring-probe`.
//!
//! A crate runs them with one line:
//!
//! ```ignore
//! lab_monitoring::lesson_tests!(env!("CARGO_BIN_EXE_solution-monitoring"));
//! ```
//!
//! The baseline's own tests show each of them failing on it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lab_database::proxy::{Proxy, ProxyConfig};
use lab_protocol::Listening;
use lab_support::Size;

use crate::checks::{self, Endpoint, HANG, Probe};
use crate::data::Shop;
use crate::db::ShopDb;
use crate::payments::{Address, Running};

/// One implementation serving as a process of its own, on a seeded
/// database (reached through a counting proxy whose control API is served
/// on loopback), a payment stub and a Redis prefix of its own, logging to a
/// file. All of it goes when this does.
pub struct Served {
    pub probe: Probe,
    pub proxy: Proxy,
    pub payments: Running,
    child: Child,
    _control: tokio::task::JoinHandle<()>,
    _db: ShopDb,
    _dir: tempfile::TempDir,
    prefix: String,
}

impl Served {
    /// Starts `binary serve` on a fresh seeded database.
    pub async fn start(binary: &str, seed: u64) -> Served {
        let db = ShopDb::fresh(seed, Size::Tiny).await.unwrap_or_else(|err| panic!("{err:#}"));
        let proxy = Proxy::start(ProxyConfig::new(db.server.host_port())).await.expect("the proxy starts");
        let control_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let control_addr = control_listener.local_addr().expect("an address");
        let control_app = proxy.control();
        let control = tokio::spawn(async move {
            let _ = axum::serve(control_listener, control_app).await;
        });
        let payments = Running::start(Duration::from_millis(1)).await.expect("the payment stub starts");
        let dir = tempfile::tempdir().expect("a scratch folder");
        let log = dir.path().join("service.log");
        let prefix = lab_caching::store::unique_prefix("mon");
        let mut child = Command::new(binary)
            .args(["serve", "--seed", &seed.to_string(), "--size", "tiny", "--addr", "127.0.0.1:0"])
            .args(["--database", &db.name, "--via", &proxy.host_port()])
            .args(["--payments", &payments.addr.to_string(), "--redis-prefix", &prefix])
            .arg("--log-file")
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {binary}: {err}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            lines.find_map(|line| line.ok().filter(|l| l.starts_with('{')))
        });
        let line = tokio::time::timeout(HANG, line).await.ok().and_then(Result::ok).flatten();
        let Some(listening) = line.and_then(|l| serde_json::from_str::<Listening>(&l).ok()) else {
            let _ = child.kill();
            panic!("{binary} serve printed no Listening line within {} s", HANG.as_secs());
        };
        let address = listening.listening.trim_start_matches("http://").parse::<Address>();
        let address = address.unwrap_or_else(|err| panic!("{binary} listens at {}: {err}", listening.listening));
        let probe = Probe {
            service: Endpoint::new(&address),
            log,
            payments: payments.client.clone(),
            database: Endpoint::new(&Address::Tcp(control_addr)),
            shop: Shop::generate(seed, Size::Tiny),
            seed,
            kit: lab_protocol::kit::root_from_current_dir().unwrap_or_else(|err| panic!("{err}")),
        };
        Served { probe, proxy, payments, child, _control: control, _db: db, _dir: dir, prefix }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = lab_caching::store::forget_blocking(&lab_caching::store::url(), &self.prefix);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    crate::contract::runtime()
}

/// Serves `binary`, runs check `check` on it and panics with its failures.
fn lesson(binary: &str, seed: u64, check: &str) {
    runtime().block_on(async {
        let served = Served::start(binary, seed).await;
        let report = checks::run(check, &served.probe).await.unwrap_or_else(|err| panic!("{err:#}"));
        for note in &report.notes {
            eprintln!("{check}: {note}");
        }
        if report.notes.iter().any(|note| note.starts_with("skipped")) && std::env::var_os("CI").is_some() {
            panic!("{check}: a tool the kit's CI must have is missing: {:?}", report.notes);
        }
        assert!(report.failures.is_empty(), "{check}: {}", report.failures.join("; "));
    });
}

/// `/metrics` passes promtool, has every series the lab names, and counts
/// exactly the traffic sent, by method, route template and status, with
/// labels that stay bounded ([`checks::metrics`]).
pub fn metrics_count_the_traffic_sent(binary: &str) {
    lesson(binary, 11, "metrics");
}

/// One JSON log line ends each request, with its id, route, status and
/// latency, and the caller's id and trace ([`checks::logs`]).
pub fn every_request_logs_one_json_line_with_its_context(binary: &str) {
    lesson(binary, 13, "logs");
}

/// Request ids kept or made and echoed; a caller's trace goes on to the
/// payment provider ([`checks::request_ids`]).
pub fn request_ids_and_traces_go_through(binary: &str) {
    lesson(binary, 14, "request_ids");
}

/// Liveness and readiness, readiness failing fast without the database and
/// cached briefly ([`checks::health`]).
pub fn readiness_fails_fast_and_is_cached_briefly(binary: &str) {
    lesson(binary, 15, "health");
}

/// The dashboard's event stream counts the traffic live ([`checks::dashboard`]).
pub fn the_dashboard_streams_live_numbers(binary: &str) {
    lesson(binary, 17, "dashboard");
}

/// Runs the lab's lesson checks against the driver binary `$binary`.
#[macro_export]
macro_rules! lesson_tests {
    ($binary:expr) => {
        $crate::lesson_tests!(@tests $binary, );
    };
    ($binary:expr, ignored) => {
        $crate::lesson_tests!(@tests $binary, #[ignore = "a lesson check: passes once the lab is done"]);
    };
    (@tests $binary:expr, $(#[$attr:meta])?) => {
        #[test] $(#[$attr])?
        fn metrics_count_the_traffic_sent() {
            $crate::lessons::metrics_count_the_traffic_sent($binary);
        }
        #[test] $(#[$attr])?
        fn every_request_logs_one_json_line_with_its_context() {
            $crate::lessons::every_request_logs_one_json_line_with_its_context($binary);
        }
        #[test] $(#[$attr])?
        fn request_ids_and_traces_go_through() {
            $crate::lessons::request_ids_and_traces_go_through($binary);
        }
        #[test] $(#[$attr])?
        fn readiness_fails_fast_and_is_cached_briefly() {
            $crate::lessons::readiness_fails_fast_and_is_cached_briefly($binary);
        }
        #[test] $(#[$attr])?
        fn the_dashboard_streams_live_numbers() {
            $crate::lessons::the_dashboard_streams_live_numbers($binary);
        }
    };
}
