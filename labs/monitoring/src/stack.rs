//! The real alerting pipeline as throwaway processes: Prometheus scraping
//! one `/metrics` endpoint and evaluating a rules file, Alertmanager, and
//! the kit's webhook receiver ([`crate::webhook`]) served in this process,
//! each on a loopback port of its own, in a scratch folder that goes with
//! the [`Stack`].
//!
//! ```ignore
//! let stack = Stack::start(StackConfig { kit, rules: Some(rules), scrape: "127.0.0.1:8080".into(), shorten_for: true }).await?;
//! stack.wait_for_scrape(Duration::from_secs(10)).await?;
//! let rate = stack.query("sum(rate(http_requests_total[1m]))").await?;
//! let paged = stack.wait_for_alert("HighErrorRate", Duration::from_secs(60)).await;
//! ```
//!
//! The programs are Debian's `prometheus` and `prometheus-alertmanager`
//! ([`installed`] says whether both are on `PATH`). Alertmanager runs the
//! kit's own `labs/monitoring/ops/alertmanager.yml`, with only its receiver
//! URL pointed at this stack's webhook and its waits shortened, so the
//! shipped file is the one exercised.
//!
//! Every wait is bounded: start-up by [`READY_TIMEOUT`], each HTTP call by
//! a few seconds, the rest by the caller's timeout. The methods are plain
//! async functions: any tokio runtime with time and I/O enabled runs them,
//! current-thread or multi-threaded (the webhook is a task spawned on it,
//! the programs are child processes it reaps).
//!
//! Prometheus applies a new scrape target at most every 5 s (a fixed
//! interval of its discovery manager), so the first scrape comes about 5 s
//! after the stack is ready: [`Stack::wait_for_scrape`] waits for it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::webhook::{Notification, Received};

/// The Prometheus server's program (Debian package `prometheus`).
pub const PROMETHEUS: &str = "prometheus";
/// Alertmanager's program (Debian package `prometheus-alertmanager`).
pub const ALERTMANAGER: &str = "prometheus-alertmanager";
/// The kit's Alertmanager config, relative to the kit's root.
pub const SHIPPED_ALERTMANAGER: &str = "labs/monitoring/ops/alertmanager.yml";
/// How long both programs have to answer `/-/ready` once started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one HTTP call to Prometheus may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How many free ports a program is tried on before a clash is an error.
const PORT_TRIES: usize = 3;
/// How many lines of a program's log an error shows.
const LOG_TAIL: usize = 15;

/// What a [`Stack`] watches.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The kit's root: [`SHIPPED_ALERTMANAGER`] is read from it.
    pub kit: PathBuf,
    /// The Prometheus rules file to evaluate (none: no rules, metrics only).
    pub rules: Option<PathBuf>,
    /// `host:port` of the `/metrics` endpoint Prometheus scrapes, as job `shop`.
    pub scrape: String,
    /// Rewrite every `for: <duration>` of the rules to `for: 0s`, so an
    /// alert fires on the first evaluation its expression holds. A live run
    /// checks that alerts are delivered (rules → Prometheus → Alertmanager →
    /// webhook) within seconds; how long each must hold is the `promtool
    /// test rules` unit tests' job, on simulated time.
    pub shorten_for: bool,
}

/// Prometheus, Alertmanager and the webhook, running; all of it (processes
/// and scratch folder) goes when this value does.
pub struct Stack {
    // Declared before `dir`: the programs are stopped before their folder goes.
    prometheus: Program,
    alertmanager: Program,
    webhook: Webhook,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("prometheus", &self.prometheus.url)
            .field("alertmanager", &self.alertmanager.url)
            .field("webhook", &self.webhook.url)
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// `Ok` when both programs are on `PATH`; else one line saying which is
/// missing and the Debian packages to install.
pub fn installed() -> Result<(), String> {
    let missing: Vec<&str> = [PROMETHEUS, ALERTMANAGER].into_iter().filter(|program| !on_path(program)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!("{} not on PATH (apt-get install prometheus prometheus-alertmanager)", missing.join(" and ")))
}

fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs).any(|dir| {
        std::fs::metadata(dir.join(program)).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}

impl Stack {
    /// Starts the webhook, then Alertmanager, then Prometheus, and returns
    /// once both programs answer `/-/ready` (at most [`READY_TIMEOUT`]; the
    /// error then ends with their logs).
    pub async fn start(config: StackConfig) -> anyhow::Result<Stack> {
        let deadline = Instant::now() + READY_TIMEOUT;
        if config.scrape.contains('/') || !config.scrape.contains(':') {
            bail!("scrape must be host:port of a /metrics endpoint, not {:?}", config.scrape);
        }
        let dir = tempfile::Builder::new().prefix("lab-alerting-").tempdir().context("making the stack's folder")?;
        let http = reqwest::Client::builder().no_proxy().timeout(HTTP_TIMEOUT).build()?;

        let webhook = Webhook::start().await?;
        let shipped_path = config.kit.join(SHIPPED_ALERTMANAGER);
        let shipped = std::fs::read_to_string(&shipped_path)
            .with_context(|| format!("reading the kit's {}", shipped_path.display()))?;
        let alertmanager_config = alertmanager_config(&shipped, &format!("{}/alerts", webhook.url))
            .with_context(|| format!("deriving the stack's Alertmanager config from {SHIPPED_ALERTMANAGER}"))?;
        write(&dir.path().join("alertmanager.yml"), &alertmanager_config)?;
        let alertmanager = launch(ALERTMANAGER, dir.path(), &http, deadline, |dir, listen| {
            vec![
                flag("--config.file=", dir.join("alertmanager.yml")),
                flag("--storage.path=", dir.join("alertmanager-data")),
                flag("--web.listen-address=", listen),
                flag("--web.external-url=", format!("http://{listen}")),
                flag("--cluster.listen-address=", ""),
            ]
        })
        .await?;

        let rules = match &config.rules {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading the rules {}", path.display()))?;
                let copy = dir.path().join("rules.yml");
                write(&copy, &if config.shorten_for { shorten_for(&text) } else { text })?;
                Some(copy)
            }
            None => None,
        };
        let alertmanager_at = alertmanager.url.trim_start_matches("http://");
        write(
            &dir.path().join("prometheus.yml"),
            &prometheus_config(&config.scrape, rules.as_deref(), alertmanager_at),
        )?;
        let prometheus = launch(PROMETHEUS, dir.path(), &http, deadline, |dir, listen| {
            vec![
                flag("--config.file=", dir.join("prometheus.yml")),
                flag("--storage.tsdb.path=", dir.join("prometheus-data")),
                flag("--web.listen-address=", listen),
                flag("--web.external-url=", format!("http://{listen}")),
            ]
        })
        .await?;
        Ok(Stack { prometheus, alertmanager, webhook, http, dir })
    }

    /// Prometheus's base URL (`http://127.0.0.1:PORT`).
    pub fn prometheus_url(&self) -> &str {
        &self.prometheus.url
    }

    /// Alertmanager's base URL: also its `externalURL` in every notification it sends.
    pub fn alertmanager_url(&self) -> &str {
        &self.alertmanager.url
    }

    /// An instant PromQL query now: each series of the vector answer with
    /// its labels and value (a scalar answer is one entry with no labels).
    pub async fn query(&self, promql: &str) -> anyhow::Result<Vec<(BTreeMap<String, String>, f64)>> {
        let url =
            reqwest::Url::parse_with_params(&format!("{}/api/v1/query", self.prometheus.url), [("query", promql)])?;
        let response = self.http.get(url).send().await.with_context(|| format!("asking Prometheus {promql:?}"))?;
        let status = response.status();
        let answer: QueryAnswer =
            response.json().await.with_context(|| format!("Prometheus's answer ({status}) to {promql:?}"))?;
        let data = match answer {
            QueryAnswer { status, data: Some(data), .. } if status == "success" => data,
            QueryAnswer { error_type, error, .. } => bail!("Prometheus refused {promql:?}: {error_type}: {error}"),
        };
        let value = |pair: (f64, String)| {
            pair.1.parse::<f64>().with_context(|| format!("a sample value {:?} of {promql:?}", pair.1))
        };
        match data.result_type.as_str() {
            "vector" => {
                let samples: Vec<VectorSample> = serde_json::from_value(data.result)?;
                samples.into_iter().map(|sample| Ok((sample.metric, value(sample.value)?))).collect()
            }
            "scalar" => Ok(vec![(BTreeMap::new(), value(serde_json::from_value(data.result)?)?)]),
            other => bail!("{promql:?} is a {other}, not an instant vector"),
        }
    }

    /// Waits until Prometheus has scraped the `shop` job successfully
    /// (`up{job="shop"} == 1`), at most `timeout`; the error says what the
    /// last scrape failed with.
    pub async fn wait_for_scrape(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer");
        loop {
            match tokio::time::timeout_at(deadline, self.query(r#"up{job="shop"}"#)).await {
                Ok(Ok(samples)) if samples.iter().any(|(_, up)| *up == 1.0) => return Ok(()),
                Ok(Ok(samples)) => last = format!("up = {:?}", samples.iter().map(|(_, up)| up).collect::<Vec<_>>()),
                Ok(Err(err)) => last = format!("{err:#}"),
                Err(_) => {}
            }
            if Instant::now() + Duration::from_millis(200) >= deadline {
                let scrape_error = tokio::time::timeout(HTTP_TIMEOUT, self.last_scrape_error()).await.ok().flatten();
                bail!(
                    "Prometheus did not scrape job shop within {timeout:?} ({last}); its last scrape error: {}",
                    scrape_error.as_deref().unwrap_or("none reported")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What the `shop` target's last scrape failed with, as `/api/v1/targets` says.
    async fn last_scrape_error(&self) -> Option<String> {
        let targets: serde_json::Value =
            self.http.get(format!("{}/api/v1/targets", self.prometheus.url)).send().await.ok()?.json().await.ok()?;
        let active = targets["data"]["activeTargets"].as_array()?;
        let shop = active.iter().find(|target| target["labels"]["job"] == "shop")?;
        shop["lastError"].as_str().filter(|error| !error.is_empty()).map(str::to_string)
    }

    /// Every notification the webhook has received so far, oldest first.
    pub fn received(&self) -> Vec<Notification> {
        self.webhook.received.all()
    }

    /// The first notification in which the alert `name` fires, waiting up
    /// to `timeout` for one.
    pub async fn wait_for_alert(&self, name: &str, timeout: Duration) -> Option<Notification> {
        self.webhook.received.wait_for_alert(name, timeout).await
    }
}

#[derive(Deserialize)]
struct QueryAnswer {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    /// `[unix seconds, "value"]`.
    value: (f64, String),
}

/// The webhook receiver served by a task of this process.
struct Webhook {
    url: String,
    received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Webhook {
    async fn start() -> anyhow::Result<Webhook> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the webhook")?;
        let url = format!("http://{}", listener.local_addr()?);
        let (router, received) = crate::webhook::router();
        let task = tokio::spawn(lab_support::serve::serve(listener, router, lab_support::serve::Limits::default()));
        Ok(Webhook { url, received, task })
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One of the two programs, serving on `url`, its output in `log`.
struct Program {
    url: String,
    log: PathBuf,
    child: Child,
}

impl Drop for Program {
    /// Kills the program and reaps it (within half a second), so its
    /// files are closed before the stack's folder is removed.
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        for _ in 0..50 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `--name=value` as one argument.
fn flag(name: &str, value: impl Into<OsString>) -> OsString {
    let mut flag = OsString::from(name);
    flag.push(value.into());
    flag
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A loopback port that was free a moment ago (bound, then released: the
/// program binds it itself, and [`launch`] retries if another took it first).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts `program` with the arguments `args(dir, listen address)` and
/// waits until it answers `/-/ready`; a port taken in between is retried
/// on another.
async fn launch(
    program: &'static str,
    dir: &Path,
    http: &reqwest::Client,
    deadline: Instant,
    args: impl Fn(&Path, &str) -> Vec<OsString>,
) -> anyhow::Result<Program> {
    let log = dir.join(format!("{program}.log"));
    for attempt in 1..=PORT_TRIES {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let output = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(program)
            .args(args(dir, &listen))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {program} (apt-get install prometheus prometheus-alertmanager)"))?;
        let mut started = Program { url: format!("http://{listen}"), log: log.clone(), child };
        match wait_ready(&mut started, http, deadline).await {
            Ok(()) => return Ok(started),
            Err(Stopped::PortTaken) if attempt < PORT_TRIES => continue,
            Err(Stopped::PortTaken) => bail!("{program}: {PORT_TRIES} free ports were taken before it could bind them"),
            Err(Stopped::Failed(why)) => bail!("{program} {why}; the end of its log:\n{}", tail(&started.log)),
        }
    }
    unreachable!("the last attempt returns")
}

enum Stopped {
    PortTaken,
    Failed(String),
}

async fn wait_ready(program: &mut Program, http: &reqwest::Client, deadline: Instant) -> Result<(), Stopped> {
    let ready = format!("{}/-/ready", program.url);
    loop {
        if let Ok(Some(status)) = program.child.try_wait() {
            if tail(&program.log).contains("address already in use") {
                return Err(Stopped::PortTaken);
            }
            return Err(Stopped::Failed(format!("exited ({status}) before it was ready")));
        }
        let asked = http.get(&ready).timeout(Duration::from_secs(1)).send();
        // Ready, and still running: a program that lost its port to another
        // server exits at once, and that server's answer must not count.
        if let Ok(Ok(answer)) = tokio::time::timeout_at(deadline, asked).await
            && answer.status().is_success()
            && matches!(program.child.try_wait(), Ok(None))
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Stopped::Failed(format!(
                "did not answer {ready} within {} s of the stack starting",
                READY_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last lines of a program's log, after its earlier `level=error`
/// lines (the one that explains a failure may come well before the end).
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(LOG_TAIL);
    let earlier = lines[..from].iter().filter(|line| line.contains("level=error"));
    earlier.chain(&lines[from..]).copied().collect::<Vec<_>>().join("\n")
}

/// A line of block-style YAML read as `key: value`: the key's column, the
/// key, and the value with any comment left on.
fn yaml_key(line: &str) -> Option<(usize, &str, &str)> {
    let body = line.trim_start();
    let mut column = line.len() - body.len();
    let body = match body.strip_prefix("- ") {
        Some(rest) => {
            column += 2 + (rest.len() - rest.trim_start().len());
            rest.trim_start()
        }
        None => body,
    };
    let (key, value) = body.split_once(':')?;
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (plain && (value.is_empty() || value.starts_with(' '))).then_some((column, key, value.trim()))
}

/// `line` with its value replaced by `value` (a comment after it is dropped).
fn with_value(line: &str, key: &str, value: &str) -> String {
    let head = &line[..line.find(&format!("{key}:")).expect("yaml_key found the key") + key.len() + 1];
    format!("{head} {value}")
}

/// The rules with every `for: <duration>` made `for: 0s` (see
/// [`StackConfig::shorten_for`]).
///
/// A line-by-line rewrite rather than a YAML round trip, which keeps the
/// file as written (comments, block scalars) and needs no YAML library. It
/// assumes the rules are block-style YAML, as Prometheus's documentation
/// writes them: `for:` is a key on a line of its own (in a rule's mapping,
/// possibly as a list item's first key), not inside a flow mapping
/// `{alert: X, for: 5m}`. Lines of block scalars (`expr: |` and its
/// indented lines) are left alone, so a PromQL line that starts with `for:`
/// would not be touched; quoted scalars spread over several lines are not
/// tracked (no rule file of the kit has one).
fn shorten_for(rules: &str) -> String {
    let mut out = String::with_capacity(rules.len());
    // The column of the key that opened a block scalar (`expr: |`): deeper lines are its text.
    let mut scalar_of: Option<usize> = None;
    for line in rules.lines() {
        let indent = line.len() - line.trim_start().len();
        let inside = scalar_of.is_some_and(|column| line.trim().is_empty() || indent > column);
        if !inside {
            scalar_of = None;
        }
        match yaml_key(line).filter(|_| !inside) {
            Some((_, "for", _)) => out.push_str(&with_value(line, "for", "0s")),
            Some((column, _, value)) => {
                let value = value.split(" #").next().unwrap_or_default().trim();
                if value.starts_with('|') || value.starts_with('>') {
                    scalar_of = Some(column);
                }
                out.push_str(line);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The kit's Alertmanager config with every webhook `url:` pointed at
/// `webhook` and the route's waits shortened (group_wait and
/// group_interval 1 s, repeat_interval 1 h), as text, line by line: the
/// rest of the file (routing, grouping, `send_resolved`) is the kit's.
fn alertmanager_config(shipped: &str, webhook: &str) -> anyhow::Result<String> {
    let replacements = [
        ("url", quoted(webhook)),
        ("group_wait", "1s".into()),
        ("group_interval", "1s".into()),
        ("repeat_interval", "1h".into()),
    ];
    let mut seen = [false; 4];
    let mut out = String::from("# Derived by lab_monitoring::stack from the kit's alertmanager.yml.\n");
    for line in shipped.lines() {
        let found = yaml_key(line).and_then(|(_, key, _)| replacements.iter().position(|(name, _)| *name == key));
        match found {
            Some(n) => {
                seen[n] = true;
                out.push_str(&with_value(line, replacements[n].0, &replacements[n].1));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if let Some(n) = seen.iter().position(|seen| !seen) {
        bail!("it has no `{}:` line for the stack to rewrite", replacements[n].0);
    }
    Ok(out)
}

/// A YAML double-quoted scalar (JSON's string syntax is a subset of it).
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The stack's Prometheus config: everything once a second, one job
/// `shop`, the rules, and this stack's Alertmanager.
fn prometheus_config(scrape: &str, rules: Option<&Path>, alertmanager: &str) -> String {
    let rule_files = match rules {
        Some(path) => format!("rule_files:\n  - {}\n", quoted(&path.display().to_string())),
        None => "rule_files: []\n".to_string(),
    };
    format!(
        "# Written by lab_monitoring::stack for one throwaway run.\n\
         global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         {rule_files}\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [{}]\n\
         scrape_configs:\n  - job_name: shop\n    metrics_path: /metrics\n    static_configs:\n      - targets: [{}]\n",
        quoted(alertmanager),
        quoted(scrape),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kit() -> PathBuf {
        lab_protocol::kit::root_from_current_dir().expect("the tests run inside the kit")
    }

    #[test]
    fn every_for_duration_becomes_zero_and_nothing_else_changes() {
        let rules = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          up\n          for: 5m\n        for: 2m # a blip does not page\n        labels:\n          severity: page\n      - for: 15m\n        alert: B\n        expr: vector(1)\n        keep_firing_for: 5m\n";
        let expected = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          up\n          for: 5m\n        for: 0s\n        labels:\n          severity: page\n      - for: 0s\n        alert: B\n        expr: vector(1)\n        keep_firing_for: 5m\n";
        assert_eq!(shorten_for(rules), expected);
    }

    #[test]
    fn the_solutions_rules_keep_their_alerts_with_every_for_zero() {
        let text = std::fs::read_to_string(kit().join("solutions/monitoring/src/alerts/rules.yml")).expect("the rules");
        let short = shorten_for(&text);
        let fors = |text: &str| text.lines().filter(|l| l.trim_start().starts_with("for:")).count();
        assert_eq!(fors(&short), 3, "the three alerts each keep one for:");
        assert!(short.lines().filter(|l| l.trim_start().starts_with("for:")).all(|l| l.trim() == "for: 0s"));
        assert_eq!(short.lines().count(), text.lines().count());
    }

    #[test]
    fn the_shipped_alertmanager_config_is_pointed_at_the_webhook_with_short_waits() {
        let shipped = std::fs::read_to_string(kit().join(SHIPPED_ALERTMANAGER)).expect("the shipped config");
        let derived = alertmanager_config(&shipped, "http://127.0.0.1:1234/alerts").expect("derived");
        assert!(derived.contains("      - url: \"http://127.0.0.1:1234/alerts\"\n"), "{derived}");
        for line in ["  group_wait: 1s\n", "  group_interval: 1s\n", "  repeat_interval: 1h\n", "send_resolved: true"] {
            assert!(derived.contains(line), "no {line:?} in:\n{derived}");
        }
        assert!(!derived.contains("host.docker.internal"), "{derived}");
        let missing = alertmanager_config("route:\n  receiver: x\n", "http://h/alerts").unwrap_err();
        assert!(format!("{missing:#}").contains("`url:`"), "{missing:#}");
    }

    #[test]
    fn the_derived_configs_pass_amtool_and_promtool_when_installed() {
        let shipped = std::fs::read_to_string(kit().join(SHIPPED_ALERTMANAGER)).expect("the shipped config");
        let dir = tempfile::tempdir().expect("a scratch folder");
        let alertmanager = dir.path().join("alertmanager.yml");
        write(&alertmanager, &alertmanager_config(&shipped, "http://127.0.0.1:1234/alerts").unwrap()).unwrap();
        let rules = dir.path().join("rules.yml");
        let text = std::fs::read_to_string(kit().join("solutions/monitoring/src/alerts/rules.yml")).unwrap();
        write(&rules, &shorten_for(&text)).unwrap();
        let prometheus = dir.path().join("prometheus.yml");
        write(&prometheus, &prometheus_config("127.0.0.1:8080", Some(&rules), "127.0.0.1:9093")).unwrap();
        for (tool, args) in [
            ("amtool", &["check-config", "alertmanager.yml"][..]),
            ("promtool", &["check", "config", "prometheus.yml"]),
        ] {
            match std::process::Command::new(tool).args(args).current_dir(dir.path()).output() {
                Ok(out) => assert!(
                    out.status.success(),
                    "{tool} {args:?}:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(_) if std::env::var_os("CI").is_none() => {
                    println!("skipped: {tool} is not installed (apt-get install prometheus prometheus-alertmanager)");
                }
                Err(err) => panic!("{tool} is needed on CI: {err}"),
            }
        }
    }

    #[test]
    fn installed_is_one_line_naming_the_debian_packages_when_a_program_is_missing() {
        match installed() {
            Ok(()) => assert!(on_path(PROMETHEUS) && on_path(ALERTMANAGER)),
            Err(line) => {
                assert!(!line.contains('\n'), "{line}");
                assert!(line.contains("apt-get install prometheus prometheus-alertmanager"), "{line}");
            }
        }
        assert!(!on_path("surely-no-such-program-here"));
    }

    #[test]
    fn rules_prometheus_cannot_load_fail_the_start_with_the_end_of_its_log() {
        if let Err(missing) = installed() {
            assert!(std::env::var_os("CI").is_none(), "CI must run this test: {missing}");
            println!("skipped: {missing}");
            return;
        }
        let dir = tempfile::tempdir().expect("a scratch folder");
        let rules = dir.path().join("rules.yml");
        write(&rules, "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: up ===\n").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let started = std::time::Instant::now();
        let config = StackConfig { kit: kit(), rules: Some(rules), scrape: "127.0.0.1:9".into(), shorten_for: true };
        let err = format!("{:#}", runtime.block_on(Stack::start(config)).unwrap_err());
        assert!(err.starts_with("prometheus exited"), "{err}");
        assert!(err.contains("Broken") || err.contains("parse error"), "the log's end names the problem: {err}");
        assert!(started.elapsed() < Duration::from_secs(10), "a program that exits is not waited for");
    }

    #[test]
    fn the_stack_and_its_futures_can_move_between_threads() {
        fn send<T: Send>(_: &T) {}
        fn shared<T: Send + Sync>() {}
        shared::<Stack>();
        let config = StackConfig { kit: kit(), rules: None, scrape: "127.0.0.1:9".into(), shorten_for: false };
        send(&Stack::start(config));
        let stack: Option<&Stack> = None;
        if let Some(stack) = stack {
            send(&stack.query("up"));
            send(&stack.wait_for_scrape(Duration::ZERO));
            send(&stack.wait_for_alert("A", Duration::ZERO));
        }
    }

    #[test]
    fn a_scrape_target_that_is_not_host_and_port_is_refused_before_anything_starts() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let config =
            StackConfig { kit: kit(), rules: None, scrape: "http://127.0.0.1:8080".into(), shorten_for: false };
        let err = runtime.block_on(Stack::start(config)).unwrap_err();
        assert!(err.to_string().contains("host:port"), "{err:#}");
    }
}
