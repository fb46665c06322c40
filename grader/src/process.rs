//! Child processes with timeouts and one-line failure reasons.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::contain::Cell;

/// What a finished child printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Why a child did not finish well, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    Spawn(String),
    Timeout(Duration),
    Failed(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Spawn(reason) => write!(f, "could not start: {reason}"),
            RunError::Timeout(limit) => write!(f, "timed out after {} s", limit.as_secs()),
            RunError::Failed(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for RunError {}

/// Runs `command` to the end, or kills it at `limit`.
pub async fn run(command: Command, limit: Duration) -> Result<Output, RunError> {
    run_with_input(command, limit, None).await
}

/// As [`run`], with `input` written to the command's stdin (a pipe, so it
/// can be read once and never read again), then closed.
pub async fn run_with_input(mut command: Command, limit: Duration, input: Option<&[u8]>) -> Result<Output, RunError> {
    let stdin = if input.is_some() { Stdio::piped() } else { Stdio::null() };
    command.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().map_err(|err| RunError::Spawn(err.to_string()))?;
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        // A process that exits without reading is its own failure, reported below.
        let _ = pipe.write_all(input).await;
    }
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(err)) => return Err(RunError::Spawn(err.to_string())),
        Err(_) => return Err(RunError::Timeout(limit)),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        Ok(Output { stdout, stderr })
    } else {
        Err(RunError::Failed(failure_reason(&stderr, output.status.code())))
    }
}

/// The line a person needs from a failed run's stderr: the panic, else the last line.
pub fn failure_reason(stderr: &str, code: Option<i32>) -> String {
    // Rust's notes on how to see a backtrace name nothing that went wrong.
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE") && !l.starts_with("note: Some details")
        })
        .collect();
    if let Some(i) = lines.iter().position(|line| line.contains("panicked at")) {
        let place = lines[i].split_once("panicked at ").map_or(lines[i], |(_, rest)| rest).trim_end_matches(':');
        let message = lines.get(i + 1).copied().unwrap_or("");
        let reason = format!("panicked at {place}: {message}").trim_end_matches([':', ' ']).to_string();
        // The trusted driver names the request it was answering.
        let request = lines.iter().find_map(|line| line.strip_prefix("note: the service panicked while answering "));
        return match request {
            Some(request) => format!("{reason} (answering {request})"),
            None => reason,
        };
    }
    // Rust's message when an allocation fails (the sandbox's address-space limit, say).
    if let Some(line) = lines.iter().find(|line| line.starts_with("memory allocation of")) {
        return format!("ran out of memory: {line}");
    }
    match (lines.last(), code) {
        (Some(last), _) => (*last).to_string(),
        (None, Some(code)) => format!("exited with status {code}"),
        (None, None) => "killed by a signal".to_string(),
    }
}

/// A running service; killed when dropped.
#[derive(Debug)]
pub struct Server {
    /// What to put before a request's path: `http://127.0.0.1:PORT`, or
    /// `http://localhost` for a service on a Unix socket.
    pub url: String,
    /// A client that reaches it (through its socket when it has one).
    pub client: reqwest::Client,
    _child: Child,
    /// The folder its socket is in, kept while it runs.
    cell: Cell,
}

impl Server {
    /// A file of the service's own folder, as the grader sees it (a log it writes there, say).
    pub fn file(&self, name: &str) -> PathBuf {
        self.cell.outside(name)
    }
}

/// Reads `pipe` to its end in the background and drops what it reads.
fn drain(mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) {
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await;
    });
}

/// Starts a driver's `serve` command and waits for its [`lab_protocol::Listening`]
/// line: an address, or a Unix socket in `cell` (named as the driver sees it).
pub async fn serve(mut command: Command, limit: Duration, cell: Cell) -> Result<Server, RunError> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().map_err(|err| RunError::Spawn(err.to_string()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let listening = tokio::time::timeout(limit, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(ready) = serde_json::from_str::<lab_protocol::Listening>(&line) {
                return Some(ready.listening);
            }
        }
        None
    })
    .await;
    match listening {
        Ok(Some(listening)) => {
            let (url, client) = client_for(&listening, &cell)?;
            // Read whatever the service prints from now on, and drop it: a pipe
            // nobody reads fills up, and a service that prints (the lab 26
            // baseline's order lines) would then block on its next print.
            drain(lines.into_inner());
            if let Some(stderr) = child.stderr.take() {
                drain(stderr);
            }
            Ok(Server { url, client, _child: child, cell })
        }
        Ok(None) => {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = pipe.read_to_string(&mut stderr).await;
            }
            let code = child.wait().await.ok().and_then(|status| status.code());
            Err(RunError::Failed(failure_reason(&stderr, code)))
        }
        Err(_) => Err(RunError::Timeout(limit)),
    }
}

/// Longest the grader waits for one answer from a service: a request the
/// service never answers is an error, not a grading that hangs.
pub const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// An HTTP client for loopback services, with [`REQUEST_LIMIT`] on every request.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(REQUEST_LIMIT).build().expect("a client without TLS builds")
}

/// The base URL and client for what a driver announced. A Unix socket must
/// be in the service's own folder: the grader connects to nothing else.
fn client_for(listening: &str, cell: &Cell) -> Result<(String, reqwest::Client), RunError> {
    let Some(path) = listening.strip_prefix("unix:") else {
        return Ok((listening.to_string(), http_client()));
    };
    let name = std::path::Path::new(path)
        .strip_prefix(cell.inside(""))
        .map_err(|_| RunError::Failed(format!("announced a socket outside its folder: {path}")))?;
    let socket = cell.host().join(name);
    let client = reqwest::Client::builder()
        .unix_socket(socket)
        .timeout(REQUEST_LIMIT)
        .build()
        .map_err(|err| RunError::Spawn(format!("a client for the service's socket: {err}")))?;
    Ok(("http://localhost".to_string(), client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_reported_with_its_place_and_message() {
        let stderr = "\nthread 'main' panicked at exercises/profiling/src/reports.rs:12:9:\nindex out of bounds: the len is 3 but the index is 7\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            failure_reason(stderr, Some(101)),
            "panicked at exercises/profiling/src/reports.rs:12:9: index out of bounds: the len is 3 but the index is 7"
        );
    }

    #[test]
    fn a_panic_names_the_request_the_driver_was_answering() {
        let stderr = "thread 'main' panicked at exercises/profiling/src/reports.rs:12:9:\nattempt to divide by zero\nnote: run with `RUST_BACKTRACE=1`\nnote: the service panicked while answering GET /reports/daily?from=2026-01-01\n";
        assert_eq!(
            failure_reason(stderr, Some(101)),
            "panicked at exercises/profiling/src/reports.rs:12:9: attempt to divide by zero (answering GET /reports/daily?from=2026-01-01)"
        );
    }

    #[test]
    fn without_a_panic_the_last_line_is_the_reason() {
        assert_eq!(
            failure_reason("starting\nerror: binding 127.0.0.1:1: denied\n", Some(1)),
            "error: binding 127.0.0.1:1: denied"
        );
        assert_eq!(failure_reason("", Some(3)), "exited with status 3");
        assert_eq!(failure_reason("", None), "killed by a signal");
    }

    #[tokio::test]
    async fn a_child_that_hangs_is_killed_at_its_limit() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let started = std::time::Instant::now();
        let result = run(command, Duration::from_millis(200)).await;
        assert_eq!(result.unwrap_err(), RunError::Timeout(Duration::from_millis(200)));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_served_child_that_prints_a_lot_is_never_blocked_on_its_pipes() {
        let jail = crate::contain::Jail::new().expect("a jail");
        let cell = jail.cell().expect("a cell");
        let done = cell.outside("done");
        // Far more than a pipe holds (64 KiB), on both streams, after the Listening line.
        let script = format!(
            "echo '{{\"lab\":\"x\",\"listening\":\"http://127.0.0.1:9\"}}'; \
             head -c 300000 /dev/zero >&2; head -c 300000 /dev/zero; touch {}; sleep 30",
            done.display()
        );
        let mut command = Command::new("sh");
        command.args(["-c", &script]);
        let _server = serve(command, Duration::from_secs(10), cell).await.expect("it announced itself");
        let started = std::time::Instant::now();
        while !done.exists() {
            assert!(started.elapsed() < Duration::from_secs(10), "the child is stuck writing to a full pipe");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_failing_child_gives_its_last_stderr_line() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo working; echo 'error: no data' >&2; exit 4"]);
        assert_eq!(run(command, Duration::from_secs(10)).await.unwrap_err(), RunError::Failed("error: no data".into()));
    }

    #[test]
    fn an_abort_is_named_by_its_message_not_by_rusts_note_on_backtraces() {
        let stderr = "memory allocation of 268435456 bytes failed\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(failure_reason(stderr, None), "ran out of memory: memory allocation of 268435456 bytes failed");
    }
}
