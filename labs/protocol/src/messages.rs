//! Every message between the kit's trusted binaries and the grader.
//!
//! A driver prints one of these as one JSON line on stdout (`requests`
//! prints one [`Req`] per line); the grader parses it back with
//! [`parse_last`]. No field has a default: a field renamed on one side and
//! not the other fails the parse, naming the field.

use std::collections::BTreeMap;
use std::io::Write;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One HTTP request of a workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req {
    pub method: String,
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl Req {
    pub fn get(uri: impl Into<String>) -> Self {
        Req { method: "GET".into(), uri: uri.into(), body: None }
    }

    pub fn post(uri: impl Into<String>, body: Value) -> Self {
        Req { method: "POST".into(), uri: uri.into(), body: Some(body) }
    }

    pub fn put(uri: impl Into<String>, body: Value) -> Self {
        Req { method: "PUT".into(), uri: uri.into(), body: Some(body) }
    }

    pub fn delete(uri: impl Into<String>) -> Self {
        Req { method: "DELETE".into(), uri: uri.into(), body: None }
    }

    /// `GET /path?query`, as a person would write it in a report.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.uri)
    }
}

/// A request and the answer it got: what the correctness gate compares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub req: Req,
    pub status: u16,
    /// The JSON body, or the raw text as a JSON string when the body was not JSON.
    pub body: Value,
}

/// The function of `lab_support::digest` that hashes each answer, as
/// valgrind names it: the grader's callgrind runs leave it out of the count
/// (`--toggle-collect`), since it is the grader's check, not the target's work.
pub const UNCOUNTED_BY_CALLGRIND: &str = "lab_support::digest::answer_digest*";

/// The driver function `run` calls once its last request is answered
/// (callgrind's `--dump-after` pattern): counts end there.
pub const REQUESTS_ANSWERED: &str = "lab_support::driver::requests_answered*";

/// `serve`: the service is listening.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listening {
    pub lab: String,
    /// `http://127.0.0.1:PORT`, or `unix:/path/of/socket` with `serve --unix`.
    pub listening: String,
    /// The database the service reads, for labs that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// Lab 25's upstream (`cache-upstream`, `GET /calls`): the calls it has
/// answered since it started, counted by the upstream itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamCalls {
    /// `GET /items/{id}`
    pub reads: u64,
    /// `GET /categories/{name}/items`
    pub lists: u64,
    /// `PUT /items/{id}`
    pub writes: u64,
    /// `DELETE /items/{id}`
    pub deletes: u64,
}

impl UpstreamCalls {
    /// Every call, of any kind.
    pub fn total(&self) -> u64 {
        self.reads + self.lists + self.writes + self.deletes
    }

    /// The calls made between `earlier` and `self`.
    pub fn since(&self, earlier: &UpstreamCalls) -> UpstreamCalls {
        UpstreamCalls {
            reads: self.reads.saturating_sub(earlier.reads),
            lists: self.lists.saturating_sub(earlier.lists),
            writes: self.writes.saturating_sub(earlier.writes),
            deletes: self.deletes.saturating_sub(earlier.deletes),
        }
    }
}

/// `run`: a workload sent one request at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub lab: String,
    pub workload: String,
    pub seed: u64,
    /// Requests timed (the workload times `repeat`, warm-up excluded).
    pub requests: usize,
    pub elapsed_ns: u64,
    /// How many answers had each status.
    pub statuses: BTreeMap<u16, usize>,
    /// Per request, in order; empty for a `--totals-only` run.
    pub per_request: Vec<RequestReport>,
    /// Per request sent, in order (totals-only runs too): a digest of its
    /// status and body (`lab_support::digest`), so the answers of a counted
    /// run can be checked against the baseline's.
    pub answers: Vec<String>,
    /// Per counter: the total and the mean per request, for runs counted
    /// outside the service (a wire proxy, a stub upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<BTreeMap<String, CounterTotal>>,
}

impl RunReport {
    /// A counter of a counted run; a missing one is an error, never a zero.
    pub fn counter(&self, name: &str) -> Result<CounterTotal, String> {
        let counts = self.counts.as_ref().ok_or_else(|| "printed no counts for a counted run".to_string())?;
        counts.get(name).copied().ok_or_else(|| format!("printed no `{name}` counter"))
    }
}

/// Counters read outside the service around one request, by name
/// (`queries`, `round_trips`, `connections`, `bytes_to_client`, `write_units`, ...).
pub type Counts = BTreeMap<String, u64>;

/// One request of a [`RunReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestReport {
    /// `GET /path?query`
    pub request: String,
    pub status: u16,
    pub ns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
}

/// One counter over a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CounterTotal {
    pub total: u64,
    pub per_request: f64,
}

/// Totals and means of every counter over `requests`.
pub fn count_totals(requests: &[Counts]) -> BTreeMap<String, CounterTotal> {
    let n = requests.len().max(1) as f64;
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for counts in requests {
        for (name, value) in counts {
            *totals.entry(name.clone()).or_default() += value;
        }
    }
    totals.into_iter().map(|(name, total)| (name, CounterTotal { total, per_request: total as f64 / n })).collect()
}

/// The heap driver: dhat's counts over the workloads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeapReport {
    /// Requests of the allocation workload.
    pub requests: usize,
    /// Heap allocations (dhat's blocks) per request.
    pub allocations_per_request: f64,
    pub bytes_per_request: f64,
    /// Requests of the leak workload counted after its warm-up.
    pub leak_requests: usize,
    /// Live heap growth per counted leak request.
    pub retained_bytes_per_request: f64,
    /// A digest of every answer (the allocation workload's, then the leak
    /// workload's, warm-up included), as in [`RunReport::answers`].
    pub answers: Vec<String>,
}

/// `seed`: a database created, loaded, migrated and analysed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedReport {
    pub lab: String,
    pub database: String,
    pub seed: u64,
    pub size: String,
    pub rows: u64,
    pub hot_rows: u64,
    pub generate_ms: u64,
    pub copy_ms: u64,
    pub load_ms: u64,
    pub migrate_ms: u64,
    pub analyze_ms: u64,
    pub total_ms: u64,
}

/// `explain`: how PostgreSQL plans the lab's canonical queries on the service's schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainReport {
    pub lab: String,
    pub database: String,
    pub passed: bool,
    pub filter: PlanVerdict,
    pub keyset: PlanVerdict,
}

/// `EXPLAIN (FORMAT JSON)` of one query, and whether an index on `orders` serves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanVerdict {
    pub query: String,
    /// Indexes on `orders` whose first column is the one the query filters or sorts on.
    pub candidate_indexes: Vec<String>,
    /// Index nodes on `orders` in the plan, as `Node Type on index_name`.
    pub index_scans: Vec<String>,
    pub seq_scan_on_orders: bool,
    /// A candidate index is used and `orders` is not read sequentially.
    pub passed: bool,
    pub plan: Value,
}

impl PlanVerdict {
    /// `Index Scan on orders_customer_idx`, `Seq Scan on orders` or `no index scan`.
    pub fn describe(&self) -> String {
        if !self.index_scans.is_empty() {
            self.index_scans.join(", ")
        } else if self.seq_scan_on_orders {
            "Seq Scan on orders".into()
        } else {
            "no index scan".into()
        }
    }
}

/// `pool-check`: what the service did with more concurrent requests than connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolReport {
    pub concurrency: usize,
    pub hold_ms: u64,
    /// How many answers had each status.
    pub statuses: BTreeMap<u16, usize>,
    /// 503 answers with an `unavailable` JSON body that came back while the table was still locked.
    pub fast_503: usize,
    /// The slowest of those, in milliseconds.
    pub slowest_503_ms: u64,
    /// Requests with no answer by 5 s after the lock was released.
    pub hung: usize,
    /// Most server connections the service held at once while the table was locked.
    pub peak_connections: i64,
    /// No request hung, some were refused fast, and fewer connections than requests were opened.
    pub passed: bool,
    /// The digest of each answer with status 200, by request: the grader
    /// compares them with the baseline's answers to the same requests.
    #[serde(default)]
    pub answered: BTreeMap<String, String>,
}

/// `rows-read`: rows of `orders` PostgreSQL read per request, from its own statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowsReadReport {
    pub lab: String,
    pub workload: String,
    pub requests: usize,
    pub orders_rows_read_per_request: f64,
    pub per_request: Vec<RowsRead>,
}

/// One request of a [`RowsReadReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsRead {
    pub request: String,
    pub orders_rows_read: i64,
    /// A digest of the answer (as in [`RunReport::answers`]): the rows read
    /// count only when the answer is the baseline's.
    pub answer: String,
}

/// `drop`: a database removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub lab: String,
    pub dropped: String,
}

/// `copy`: a database made as a copy of another, as it stood.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copied {
    pub lab: String,
    pub database: String,
    pub from: String,
    pub ms: u64,
}

/// A counting proxy's first line: where it listens and where it is controlled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyReady {
    /// `host:port` the service connects to, or `unix:/dir/.s.PGSQL.5432`.
    pub proxy: String,
    /// `http://host:port` of the control API (`/counts`, `/reset`, `/statements`), or `unix:/path`.
    pub control: String,
    pub upstream: String,
    pub delay_ms: u64,
    /// Roles the proxy made for this run (`--role`), each with its password;
    /// they and their databases are dropped when the proxy's stdin closes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub roles: std::collections::BTreeMap<String, String>,
}

/// What decides how a lab database behaves beyond its data (`pg-count-proxy`'s `GET /database`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseState {
    pub database: String,
    /// Settings that apply to its owner's sessions in it, one line each (`ALTER DATABASE`/`ALTER ROLE` ... `SET`).
    pub settings: Vec<String>,
    /// `CREATE INDEX` statements of its indexes, sorted.
    pub indexes: Vec<String>,
}

/// A PostgreSQL wire proxy's counters (see `lab_database::proxy` for what each means).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyCounts {
    /// Statements the server ran to completion (its `CommandComplete` replies).
    pub queries: u64,
    pub simple_queries: u64,
    pub parses: u64,
    pub binds: u64,
    pub executes: u64,
    pub round_trips: u64,
    pub connections: u64,
    pub active_connections: u64,
    pub peak_connections: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    /// Rows the server sent (its `DataRow` messages), whatever their width.
    pub rows_to_client: u64,
    /// Errors the server sent (its `ErrorResponse` messages).
    #[serde(default)]
    pub errors: u64,
    /// Statements logged so far, never reset: `GET /statements?from=N` lists those after the first N.
    #[serde(default)]
    pub statements_logged: u64,
    /// Transactions that wrote and committed, explicit or implicit: read
    /// from the server's replies (a write's `CommandComplete`, then
    /// `ReadyForQuery` back to idle with no rollback or error between).
    #[serde(default)]
    pub write_units: u64,
    /// This reading's place among every `GET /counts` the proxy answered
    /// (the first is 0): `GET /readings?from=N` lists them from the Nth.
    #[serde(default)]
    pub reading: u64,
}

impl ProxyCounts {
    /// What happened between `before` and `self` (gauges are taken from `self`).
    pub fn since(&self, before: &ProxyCounts) -> ProxyCounts {
        ProxyCounts {
            queries: self.queries.saturating_sub(before.queries),
            simple_queries: self.simple_queries.saturating_sub(before.simple_queries),
            parses: self.parses.saturating_sub(before.parses),
            binds: self.binds.saturating_sub(before.binds),
            executes: self.executes.saturating_sub(before.executes),
            round_trips: self.round_trips.saturating_sub(before.round_trips),
            connections: self.connections.saturating_sub(before.connections),
            active_connections: self.active_connections,
            peak_connections: self.peak_connections,
            bytes_to_server: self.bytes_to_server.saturating_sub(before.bytes_to_server),
            bytes_to_client: self.bytes_to_client.saturating_sub(before.bytes_to_client),
            rows_to_client: self.rows_to_client.saturating_sub(before.rows_to_client),
            errors: self.errors.saturating_sub(before.errors),
            statements_logged: self.statements_logged,
            write_units: self.write_units.saturating_sub(before.write_units),
            reading: self.reading,
        }
    }
}

/// Lab 26's probe (`monitoring-probe`): one check of a served instance,
/// read from outside it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The check's id (`metrics`, `logs`, ...).
    pub check: String,
    /// What the target got wrong, one sentence each; empty when it passed.
    pub failures: Vec<String>,
    /// What the check saw or could not do (a tool that is not installed), for the record.
    pub notes: Vec<String>,
}

/// Prints `message` as one JSON line on stdout and flushes it.
pub fn print<T: Serialize>(message: &T) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, message)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The last JSON object line of `stdout`, read as `T`; the error is one line.
pub fn parse_last<T: DeserializeOwned>(stdout: &str) -> Result<T, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .ok_or_else(|| "printed no result".to_string())?;
    serde_json::from_str(line).map_err(|err| format!("printed a result the grader cannot read ({err})"))
}

/// Every line of `text`, each read as `T` (e.g. a workload's [`Req`]s or a file of [`Exchange`]s).
pub fn parse_lines<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| serde_json::from_str(line).map_err(|err| format!("line {} cannot be read ({err})", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_field_fails_the_parse_and_names_the_field() {
        let line = r#"{"requests":40,"blocks_per_request":12.0,"bytes_per_request":1.0,"leak_requests":4,"retained_bytes_per_request":0.0}"#;
        let err = parse_last::<HeapReport>(line).unwrap_err();
        assert!(err.contains("allocations_per_request"), "{err}");
    }

    #[test]
    fn the_last_json_line_is_the_result() {
        let stdout =
            "seeding\n{\"lab\":\"database\",\"dropped\":\"a\"}\nnoise\n{\"lab\":\"database\",\"dropped\":\"b\"}\n";
        assert_eq!(parse_last::<Dropped>(stdout).unwrap().dropped, "b");
        assert_eq!(parse_last::<Dropped>("no json here").unwrap_err(), "printed no result");
    }

    #[test]
    fn counter_totals_are_sums_and_means_and_a_missing_one_is_an_error() {
        let one = Counts::from([("queries".to_string(), 3), ("connections".to_string(), 1)]);
        let two = Counts::from([("queries".to_string(), 1), ("connections".to_string(), 0)]);
        let totals = count_totals(&[one, two]);
        assert_eq!(totals["queries"], CounterTotal { total: 4, per_request: 2.0 });
        assert_eq!(totals["connections"], CounterTotal { total: 1, per_request: 0.5 });
        let report = RunReport {
            lab: "database".into(),
            workload: "list".into(),
            seed: 1,
            requests: 2,
            elapsed_ns: 10,
            statuses: BTreeMap::new(),
            per_request: Vec::new(),
            answers: vec!["0123456789abcdef".into(); 2],
            counts: Some(totals),
        };
        assert_eq!(report.counter("queries").unwrap().total, 4);
        assert_eq!(report.counter("querys").unwrap_err(), "printed no `querys` counter");
    }

    #[test]
    fn every_line_of_a_workload_is_a_request() {
        let text = "{\"method\":\"GET\",\"uri\":\"/a\"}\n\n{\"method\":\"POST\",\"uri\":\"/b\",\"body\":{}}\n";
        let reqs: Vec<Req> = parse_lines(text).unwrap();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[1].label(), "POST /b");
        assert!(parse_lines::<Req>("{\"uri\":\"/a\"}").unwrap_err().starts_with("line 1"));
    }
}
