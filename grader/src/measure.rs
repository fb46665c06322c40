//! How numbers are produced. Every function runs trusted driver binaries
//! (the lab's `driver/` code around the target's `app`) and parses what they
//! print, so nothing a submission prints itself is believed.
//!
//! - [`callgrind_total`]: instructions up to a run's last answer, exact and repeatable.
//! - [`ns_per_request`]: wall-clock time of a run, the fallback without valgrind (paired in rounds).
//! - [`message`]: run a trusted binary and read its last `lab_protocol` message.
//! - [`heap`]: dhat allocation and retained-heap counts.
//! - [`gate`]: do the target's answers equal the baseline's?
//! - [`crate::measure::load`]: latency percentiles under concurrent load.

pub mod load;

use std::path::Path;
use std::time::Duration;

use lab_protocol::{Exchange, HeapReport, RunReport, parse_last, parse_lines};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::process::Command;

use crate::contain::{Jail, Net};
use crate::process::{RunError, run};

/// Longest one measured run may take (callgrind slows the baseline ~50x):
/// the baseline's limit, and the target's where the baseline's time for the
/// same run is not known.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// A target's limit for a run the baseline took `baseline` for: five times
/// that plus a minute (a submission far slower than the slow baseline earns
/// nothing there anyway), never above [`RUN_LIMIT`].
pub fn scaled_limit(baseline: Duration) -> Duration {
    (baseline * 5 + Duration::from_secs(60)).min(RUN_LIMIT)
}

/// `result` with a time-out named: which run, and what its limit was.
pub fn named<T>(run: &str, result: Result<T, RunError>) -> Result<T, RunError> {
    result.map_err(|err| match err {
        RunError::Timeout(limit) => RunError::Failed(format!(
            "{run} did not finish in {} s (its limit, scaled from the baseline's time)",
            limit.as_secs()
        )),
        other => other,
    })
}

/// `valgrind --version`, if valgrind can count instructions here.
pub fn valgrind_version() -> Option<String> {
    if std::env::var_os("GRADER_NO_VALGRIND").is_some() {
        return None;
    }
    crate::environment::command_line("valgrind", &["--version"])
}

/// Arguments that pick the dataset: the same for baseline and target.
pub fn data_args(seed: u64, size: &str) -> Vec<String> {
    vec!["--seed".into(), seed.to_string(), "--size".into(), size.into()]
}

/// CPU seconds a contained run may use: its wall-clock limit.
pub fn cpu_limit(limit: Duration) -> u64 {
    limit.as_secs().max(1)
}

/// A contained command of `binary` with `args` in `cell`, its CPU time
/// bounded by its wall-clock `limit`.
pub fn contained(
    jail: &Jail,
    cell: &crate::contain::Cell,
    net: &Net,
    binary: &Path,
    args: &[String],
    limit: Duration,
) -> Result<Command, RunError> {
    jail.driver(cell, net, cpu_limit(limit), binary, args).map_err(|err| RunError::Spawn(err.to_string()))
}

/// The first `n` requests of `workload` for `seed` and `size`, as a trusted
/// driver's `requests` verb lists them (run contained, with no network).
pub async fn workload_requests(
    jail: &Jail,
    driver: &Path,
    seed: u64,
    size: &str,
    workload: &str,
    n: usize,
) -> Result<Vec<lab_protocol::Req>, RunError> {
    let mut args = vec!["requests".to_string()];
    args.extend(data_args(seed, size));
    args.extend(["--workload".into(), workload.into(), "--requests".into(), n.to_string()]);
    let cell = cell(jail)?;
    let command = contained(jail, &cell, &Net::None, driver, &args, RUN_LIMIT)?;
    let output = crate::process::run(command, RUN_LIMIT).await?;
    lab_protocol::parse_lines(&output.stdout).map_err(|err| RunError::Failed(format!("workload {err}")))
}

pub fn cell(jail: &Jail) -> Result<crate::contain::Cell, RunError> {
    jail.cell().map_err(|err| RunError::Spawn(format!("a folder for the run: {err}")))
}

/// `run --workload <workload> --totals-only --requests-on-stdin`: every
/// run of a lab 23 service, the gate's, callgrind's and the timed ones
/// alike, whose report carries the digests of its answers and nothing per
/// request. The count comes on stdin, so a run of N requests, a run of
/// none and a run whose answers are compared have the same arguments.
fn counted_run(data: &[String], workload: &str) -> Vec<String> {
    let mut args = vec!["run".to_string()];
    args.extend_from_slice(data);
    args.extend(["--workload".into(), workload.into(), "--totals-only".into(), "--requests-on-stdin".into()]);
    args
}

/// Instructions callgrind counted for `run --workload <workload>` of `n`
/// requests, from the process's start to its last answer, and the digests
/// of the answers that run got.
pub async fn callgrind_total(
    jail: &Jail,
    binary: &Path,
    data: &[String],
    workload: &str,
    requests: usize,
    limit: Duration,
) -> Result<(u64, Vec<String>), RunError> {
    let cell = cell(jail)?;
    let tool = [
        "--tool=callgrind".to_string(),
        // The driver's digest of each answer is the grader's check, not the
        // target's work: left out of the count (the toggle must come first,
        // or it switches collection off at start).
        format!("--toggle-collect={}", lab_protocol::UNCOUNTED_BY_CALLGRIND),
        "--collect-atstart=yes".to_string(),
        // The count closes once the last request is answered: what the
        // process does afterwards (its exit included) is not a request's work.
        format!("--dump-after={}", lab_protocol::REQUESTS_ANSWERED),
        format!("--callgrind-out-file={}", cell.inside("callgrind.out").display()),
    ];
    let args = counted_run(data, workload);
    let command = jail
        .under(&cell, &Net::None, cpu_limit(limit), ("valgrind", &tool), binary, &args)
        .map_err(|err| RunError::Spawn(err.to_string()))?;
    let run_name = format!("the callgrind run of {requests} {workload} requests");
    let input = count_on_stdin(requests);
    let output = named(&run_name, crate::process::run_with_input(command, limit, Some(input.as_bytes())).await)?;
    let count = answered_count(&cell, &output.stderr).map_err(|err| RunError::Failed(format!("{run_name}: {err}")))?;
    let report: RunReport = parse_last(&output.stdout).map_err(RunError::Failed)?;
    if report.requests != requests {
        return Err(RunError::Failed(format!("{run_name} reported {} requests", report.requests)));
    }
    Ok((count, report.answers))
}

/// The instructions counted up to the driver's last answer: valgrind's
/// total (the last `Collected` line of stderr, printed after the process
/// ended) minus callgrind's last dump (written after the process ended,
/// the work after the last answer). Both come when no code of the target
/// can run any more; a dump file written while it ran (`callgrind.out.1`)
/// is in its writable folder, so its numbers are never read. The last dump
/// must be part 2 or later: an earlier one closed at the last answer.
fn answered_count(cell: &crate::contain::Cell, stderr: &str) -> Result<u64, String> {
    let total = parse_collected(stderr)
        .ok_or("callgrind printed no instruction count (it could not write its output, or did not finish)")?;
    let last = cell.outside("callgrind.out");
    if std::fs::symlink_metadata(&last).map_err(|err| format!("callgrind's last dump: {err}"))?.is_symlink() {
        return Err("callgrind's last dump is a symbolic link".into());
    }
    let last = std::fs::read_to_string(&last).map_err(|err| format!("callgrind's last dump: {err}"))?;
    let header = |key: &str| last.lines().find_map(|line| line.strip_prefix(key).map(str::trim));
    if header("desc: Trigger:") != Some("Program termination") {
        return Err("callgrind's last dump is not the one at the process's end".into());
    }
    if header("part:").and_then(|part| part.parse::<u32>().ok()).unwrap_or(0) < 2 {
        return Err("callgrind's count was never closed at the last answer".into());
    }
    let after = parse_summary(&last).ok_or("callgrind's last dump has no summary line")?;
    total.checked_sub(after).ok_or_else(|| format!("callgrind's last dump ({after}) exceeds its total ({total})"))
}

/// The `summary: N` line of a callgrind dump (its total of the one event, Ir).
pub fn parse_summary(dump: &str) -> Option<u64> {
    dump.lines().find_map(|line| line.strip_prefix("summary:")?.trim().parse().ok())
}

/// Reads callgrind's `==123== Collected : 456789` line: the last one, since
/// valgrind prints its summary after the program has exited, and a line
/// the target printed itself comes before it.
pub fn parse_collected(stderr: &str) -> Option<u64> {
    stderr.lines().rev().find_map(|line| {
        let (_, rest) = line.split_once("Collected :")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Runs a driver with `args`, contained, and reads the `lab_protocol` message it prints last.
pub async fn message<T: DeserializeOwned>(
    jail: &Jail,
    net: &Net,
    binary: &Path,
    args: &[String],
    limit: Duration,
) -> Result<T, RunError> {
    message_in(jail, &cell(jail)?, net, binary, args, limit).await
}

/// What a `run --requests-on-stdin` reads: the count, on a line of its own.
fn count_on_stdin(requests: usize) -> String {
    format!("{requests}\n")
}

/// As [`message`], in `cell`: for runs that write a file the grader reads
/// (name it to the driver with `cell.inside(..)`, read it at `cell.outside(..)`).
pub async fn message_in<T: DeserializeOwned>(
    jail: &Jail,
    cell: &crate::contain::Cell,
    net: &Net,
    binary: &Path,
    args: &[String],
    limit: Duration,
) -> Result<T, RunError> {
    message_with_input(jail, cell, net, binary, args, None, limit).await
}

/// As [`message_in`], for a `run --requests-on-stdin`: `requests` is written
/// to its stdin, so its arguments do not say how many it will serve.
pub async fn message_counting<T: DeserializeOwned>(
    jail: &Jail,
    cell: &crate::contain::Cell,
    net: &Net,
    binary: &Path,
    (args, requests): (&[String], usize),
    limit: Duration,
) -> Result<T, RunError> {
    let input = count_on_stdin(requests);
    message_with_input(jail, cell, net, binary, args, Some(input.as_bytes()), limit).await
}

async fn message_with_input<T: DeserializeOwned>(
    jail: &Jail,
    cell: &crate::contain::Cell,
    net: &Net,
    binary: &Path,
    args: &[String],
    input: Option<&[u8]>,
    limit: Duration,
) -> Result<T, RunError> {
    let command = contained(jail, cell, net, binary, args, limit)?;
    let output = crate::process::run_with_input(command, limit, input).await?;
    parse_last(&output.stdout).map_err(RunError::Failed)
}

/// Wall-clock nanoseconds per request of one `run` of the cpu mix (the
/// fallback without valgrind; pair it with the other side's in rounds), and
/// the digests of its answers.
pub async fn ns_per_request(
    jail: &Jail,
    binary: &Path,
    data: &[String],
    workload: &str,
    requests: usize,
    limit: Duration,
) -> Result<(f64, Vec<String>), RunError> {
    let args = counted_run(data, workload);
    let run_name = format!("the timed run of {requests} {workload} requests");
    let run = message_counting(jail, &cell(jail)?, &Net::None, binary, (&args, requests), limit).await;
    let summary: RunReport = named(&run_name, run)?;
    Ok((summary.elapsed_ns as f64 / requests.max(1) as f64, summary.answers))
}

/// dhat counts from the `-heap` driver: deterministic, so one run each.
pub async fn heap(
    jail: &Jail,
    binary: &Path,
    data: &[String],
    workload: &str,
    (requests, warmup, leak): (usize, usize, usize),
    limit: Duration,
) -> Result<HeapReport, RunError> {
    let mut args = data.to_vec();
    args.extend(["--workload".into(), workload.into(), "--requests".into(), requests.to_string()]);
    args.extend(["--warmup".into(), warmup.to_string(), "--leak".into(), leak.to_string()]);
    let cell = cell(jail)?;
    let command = contained(jail, &cell, &Net::None, binary, &args, limit)?;
    let output = named(&format!("dhat's run of {requests} {workload} requests"), run(command, limit).await)?;
    parse_last(&output.stdout).map_err(|err| RunError::Failed(format!("the heap driver {err}")))
}

/// The first request whose answer differs, described for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub request: String,
    pub detail: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered differently: {}", self.request, self.detail)
    }
}

/// Sends the same `workload` requests to both and compares the answers.
/// `Ok(None)` means every answer matched; the count is of requests compared.
///
/// The runs compared are like every measured run (see [`counted_run`]):
/// their answers are compared as digests. Only when they differ are both
/// sides run again writing their answers out, to say how they differ.
pub async fn gate(
    jail: &Jail,
    baseline: &Path,
    target: &Path,
    data: &[String],
    workload: &str,
    requests: usize,
) -> Result<(usize, Option<Difference>), (bool, RunError)> {
    // Both run at once; once the baseline is done, the target has the
    // measured runs' limit scaled from it, so a target that hangs costs a
    // minute or so, not the whole run limit.
    let started = std::time::Instant::now();
    let want = digests(jail, baseline, data, workload, requests);
    let got = digests(jail, target, data, workload, requests);
    tokio::pin!(want, got);
    let (want, got) = tokio::select! {
        want = &mut want => {
            let limit = scaled_limit(started.elapsed());
            let got = tokio::time::timeout_at((started + limit).into(), &mut got)
                .await
                .unwrap_or(Err(RunError::Timeout(limit)));
            (want, got)
        }
        got = &mut got => (want.await, got),
    };
    let want = want.map_err(|e| (true, e))?;
    let got = got.map_err(|e| (false, e))?;
    let Some(i) = first_mismatch(&want, &got) else {
        return Ok((want.len(), None));
    };
    let (want_answers, got_answers) = tokio::join!(
        answers(jail, baseline, data, workload, requests),
        answers(jail, target, data, workload, requests)
    );
    let want_answers = want_answers.map_err(|e| (true, e))?;
    let difference = match compare_answers(&want_answers, &got_answers.map_err(|e| (false, e))?) {
        Some(difference) => difference,
        None => Difference {
            request: want_answers.get(i).map_or_else(|| format!("request {}", i + 1), |e| e.req.label()),
            detail: "its answer differs from the baseline's, yet not when its answers are written out".into(),
        },
    };
    Ok((want.len(), Some(difference)))
}

/// The digests of one side's answers to a contained run of `workload`.
async fn digests(
    jail: &Jail,
    binary: &Path,
    data: &[String],
    workload: &str,
    requests: usize,
) -> Result<Vec<String>, RunError> {
    let args = counted_run(data, workload);
    let report: RunReport =
        message_counting(jail, &cell(jail)?, &Net::None, binary, (&args, requests), RUN_LIMIT).await?;
    Ok(report.answers)
}

/// One side's answers to a contained `run` of `workload`, written out in full.
async fn answers(
    jail: &Jail,
    binary: &Path,
    data: &[String],
    workload: &str,
    requests: usize,
) -> Result<Vec<Exchange>, RunError> {
    let cell = cell(jail)?;
    let mut args = counted_run(data, workload);
    args.extend(["--responses".into(), cell.inside("answers.jsonl").display().to_string()]);
    let _: RunReport = message_counting(jail, &cell, &Net::None, binary, (&args, requests), RUN_LIMIT).await?;
    read_answers(&cell.outside("answers.jsonl"))
}

/// Where two runs' answers (in order) first differ, an answer one of them
/// lacks included; `None` when they agree.
pub fn first_mismatch<T: PartialEq>(want: &[T], got: &[T]) -> Option<usize> {
    let shorter = want.len().min(got.len());
    want.iter().zip(got).position(|(w, g)| w != g).or((want.len() != got.len()).then_some(shorter))
}

/// Where a measured run's answers (digests, in order) first differ from the
/// baseline's run of the same requests, for a person: `None` when they agree.
pub fn compare_digests(run: &str, want: &[String], got: &[String]) -> Option<String> {
    if want.len() != got.len() {
        return Some(format!("{run}: {} answers where the baseline got {}", got.len(), want.len()));
    }
    let i = first_mismatch(want, got)?;
    Some(format!(
        "{run}: answer {} of {} differs from the baseline's (the run measured, not the gate's)",
        i + 1,
        want.len()
    ))
}

/// The exchanges a driver wrote with `--responses`, one per line.
pub fn read_answers(file: &Path) -> Result<Vec<Exchange>, RunError> {
    let text = std::fs::read_to_string(file).map_err(|err| RunError::Failed(format!("no answers written: {err}")))?;
    parse_lines(&text).map_err(|err| RunError::Failed(format!("answers file: {err}")))
}

/// Compares recorded exchanges one by one: request, status, then body.
pub fn compare_answers(want: &[Exchange], got: &[Exchange]) -> Option<Difference> {
    for (i, expected) in want.iter().enumerate() {
        let request = expected.req.label();
        let Some(actual) = got.get(i) else {
            return Some(Difference { request, detail: "no answer".into() });
        };
        if actual.req != expected.req {
            return Some(Difference { request, detail: format!("answered {} instead", actual.req.label()) });
        }
        if expected.status != actual.status {
            return Some(Difference {
                request,
                detail: format!("expected status {}, got {}", expected.status, actual.status),
            });
        }
        if let Some((path, e, a)) = first_difference(&expected.body, &actual.body, String::new()) {
            let path = if path.is_empty() { "the body".to_string() } else { path };
            return Some(Difference { request, detail: format!("{path}: expected {}, got {}", clip(&e), clip(&a)) });
        }
    }
    None
}

fn clip(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 { format!("{}…", text.chars().take(120).collect::<String>()) } else { text }
}

/// The JSON pointer of the first place two values differ, with both sides.
pub fn first_difference(expected: &Value, actual: &Value, path: String) -> Option<(String, Value, Value)> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let e = e.get(key).cloned().unwrap_or(Value::Null);
                let a = a.get(key).cloned().unwrap_or(Value::Null);
                first_difference(&e, &a, format!("{path}/{key}"))
            })
        }
        (Value::Array(e), Value::Array(a)) => {
            let shared =
                e.iter().zip(a).enumerate().find_map(|(i, (e, a))| first_difference(e, a, format!("{path}/{i}")));
            shared.or_else(|| {
                (e.len() != a.len()).then(|| (format!("{path} (length)"), Value::from(e.len()), Value::from(a.len())))
            })
        }
        (e, a) if e != a => Some((path, e.clone(), a.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_targets_limit_scales_with_the_baseline_and_a_time_out_names_its_run() {
        assert_eq!(scaled_limit(Duration::from_secs(10)), Duration::from_secs(110));
        assert_eq!(scaled_limit(Duration::from_secs(100)), RUN_LIMIT);
        let cut: Result<(), RunError> = Err(RunError::Timeout(Duration::from_secs(110)));
        let reason = named("the callgrind run of 2 day requests", cut).unwrap_err().to_string();
        assert_eq!(
            reason,
            "the callgrind run of 2 day requests did not finish in 110 s (its limit, scaled from the baseline's time)"
        );
        let failed: Result<(), RunError> = Err(RunError::Failed("panicked".into()));
        assert_eq!(named("a run", failed), Err(RunError::Failed("panicked".into())));
    }

    #[test]
    fn the_first_mismatch_counts_a_missing_answer() {
        assert_eq!(first_mismatch(&[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(first_mismatch(&[1, 2, 3], &[1, 5, 3]), Some(1));
        assert_eq!(first_mismatch(&[1, 2, 3], &[1, 2]), Some(2));
        assert_eq!(first_mismatch(&[1, 2], &[1, 2, 3]), Some(2));
    }

    #[test]
    fn callgrind_totals_are_read_from_its_summary() {
        let stderr = "==42== Events    : Ir\n==42== Collected : 123456789\n==42==\n==42== I   refs:      123,456,789\n";
        assert_eq!(parse_collected(stderr), Some(123_456_789));
        assert_eq!(parse_collected("nothing here"), None);
        let forged = format!("==2== Collected : 1000\n{stderr}");
        assert_eq!(parse_collected(&forged), Some(123_456_789), "a line printed before valgrind's summary");
    }

    #[test]
    fn the_count_up_to_the_last_answer_is_valgrinds_total_less_its_dump_at_the_end() {
        let jail = Jail::new().expect("a jail");
        let cell = jail.cell().expect("a cell");
        let stderr = "==42== Collected : 1000\n";
        let dump =
            |part: u32, trigger: &str| format!("part: {part}\ndesc: Trigger: {trigger}\nsummary: 300\ntotals: 300\n");
        let write = |text: String| std::fs::write(cell.outside("callgrind.out"), text).expect("write");
        write(dump(2, "Program termination"));
        // Whatever a file written while the target ran says, it is not read.
        std::fs::write(cell.outside("callgrind.out.1"), "part: 1\nsummary: 1\n").expect("write");
        assert_eq!(answered_count(&cell, stderr), Ok(700));
        let err = |e: Result<u64, String>| e.expect_err("refused");
        assert!(err(answered_count(&cell, "the process was cut short")).contains("no instruction count"));
        write(dump(1, "Program termination"));
        assert!(err(answered_count(&cell, stderr)).contains("never closed at the last answer"));
        write(dump(2, "--dump-after=x"));
        assert!(err(answered_count(&cell, stderr)).contains("not the one at the process's end"));
        std::fs::remove_file(cell.outside("callgrind.out")).expect("remove");
        std::os::unix::fs::symlink(cell.outside("callgrind.out.1"), cell.outside("callgrind.out")).expect("link");
        assert!(err(answered_count(&cell, stderr)).contains("symbolic link"));
    }

    #[test]
    fn the_first_difference_names_its_json_pointer() {
        let want = json!({ "orders": 31, "top": [{ "customer": "C1", "spent": "10.00" }] });
        let got = json!({ "orders": 31, "top": [{ "customer": "C1", "spent": "10.01" }] });
        assert_eq!(
            first_difference(&want, &got, String::new()),
            Some(("/top/0/spent".into(), json!("10.00"), json!("10.01")))
        );
        assert_eq!(first_difference(&want, &want, String::new()), None);
        let shorter = json!({ "orders": 31, "top": [] });
        assert_eq!(first_difference(&want, &shorter, String::new()).map(|d| d.0), Some("/top (length)".into()));
    }

    #[test]
    fn the_gate_names_the_request_that_differed() {
        let exchange = |uri: &str, status: u16, orders: u64| Exchange {
            req: lab_protocol::Req::get(uri),
            status,
            body: json!({ "orders": orders }),
        };
        let want = vec![exchange("/a", 200, 1), exchange("/reports/customers?region=north", 200, 31)];
        let same = want.clone();
        assert_eq!(compare_answers(&want, &same), None);
        let off_by_one = vec![exchange("/a", 200, 1), exchange("/reports/customers?region=north", 200, 32)];
        let difference = compare_answers(&want, &off_by_one).expect("a difference");
        assert_eq!(difference.request, "GET /reports/customers?region=north");
        assert_eq!(difference.detail, "/orders: expected 31, got 32");
        let wrong_status = vec![exchange("/a", 500, 1)];
        assert_eq!(compare_answers(&want, &wrong_status).expect("differs").detail, "expected status 200, got 500");
        assert_eq!(compare_answers(&want, &want[..1]).expect("differs").detail, "no answer");
    }
}

/// Counts of the trusted baseline, kept between grading runs.
///
/// Callgrind's and dhat's counts of one binary on one input repeat exactly,
/// so a run that grades several targets on the same seed (the self-check,
/// a class) measures the baseline once. The key is the binary's bytes and
/// the arguments; only the kit's own baseline is ever cached, never a
/// target's.
pub mod baseline_cache {
    use std::future::Future;
    use std::path::{Path, PathBuf};

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::process::RunError;

    fn file(target_dir: &Path, binary: &Path, key: &str) -> Option<PathBuf> {
        let bytes = std::fs::read(binary).ok()?;
        let hash = crate::build::fnv(&[bytes.as_slice(), b"\0", key.as_bytes()].concat());
        Some(target_dir.join("grader").join("baseline-counts").join(format!("{hash:016x}.json")))
    }

    /// The cached value for `binary` and `key`, or `measure`'s, then kept.
    pub async fn get<T, F>(target_dir: &Path, binary: &Path, key: &str, measure: F) -> Result<T, RunError>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, RunError>>,
    {
        let path = file(target_dir, binary, key);
        if let Some(kept) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok())
            && let Ok(value) = serde_json::from_str(&kept)
        {
            return Ok(value);
        }
        let value = measure.await?;
        if let Some(path) = path
            && let Some(dir) = path.parent()
            && std::fs::create_dir_all(dir).is_ok()
            && let Ok(text) = serde_json::to_string(&value)
        {
            // Written whole then renamed, so a reader never sees half a file
            // (under a name of this process's: two gradings may write at once).
            let partial = path.with_extension(format!("partial.{}", std::process::id()));
            if std::fs::write(&partial, text).is_ok() {
                let _ = std::fs::rename(&partial, &path);
            }
        }
        Ok(value)
    }
}
