//! Lab 26's alerting and operations files, checked with the tools that run
//! them: the reference rules pass their unit tests and the kit's contract
//! (`labs/monitoring/alerts/contract.test.yml`), the starter's empty rules
//! are valid but fail that contract, Prometheus and Alertmanager accept
//! their configs, and the Grafana dashboard asks Prometheus only for series
//! the shop exposes (`lab_monitoring::telemetry::METRICS`).
//!
//! `promtool` and `amtool` come from Debian's `prometheus` and
//! `prometheus-alertmanager` packages. Where one is missing, a test that needs
//! it prints one `skipped:` line and passes, unless `CI` is set: the kit's CI
//! has both, so there a missing tool is a failure.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use lab_monitoring::telemetry::METRICS;
use serde_json::Value;

const SOLUTION_ALERTS: &str = "solutions/monitoring/src/alerts";
const STARTER_ALERTS: &str = "exercises/monitoring/src/alerts";
const CONTRACT: &str = "labs/monitoring/alerts/contract.test.yml";
const OPS: &str = "labs/monitoring/ops";
const DASHBOARD: &str = "labs/monitoring/ops/grafana/dashboards/shop-golden-signals.json";
/// Where docker-compose.yml mounts the rules folder, as `prometheus.yml` names it.
const CONTAINER_RULES: &str = "/etc/prometheus/rules/rules.yml";
/// Where docker-compose.yml mounts the dashboards folder, as the provider names it.
const CONTAINER_DASHBOARDS: &str = "/var/lib/grafana/dashboards";

/// The kit's root, found from the current directory (cargo runs integration
/// tests in the crate's folder).
fn root() -> PathBuf {
    lab_protocol::kit::root_from_current_dir().expect("the tests run inside the kit")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// A command for `tool`, or `None` after one line saying it is not installed
/// (a failure instead when `CI` is set).
fn installed(tool: &str, package: &str) -> Option<Command> {
    match Command::new(tool).arg("--version").output() {
        Ok(_) => Some(Command::new(tool)),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is not installed, and CI must run this test (apt-get install {package})"
            );
            println!("skipped: {tool} is not installed (apt-get install {package})");
            None
        }
        Err(err) => panic!("running {tool} --version: {err}"),
    }
}

fn promtool() -> Option<Command> {
    installed("promtool", "prometheus")
}

fn amtool() -> Option<Command> {
    installed("amtool", "prometheus-alertmanager")
}

/// Runs `command`: whether it succeeded, and everything it printed.
fn run(mut command: Command) -> (bool, String) {
    let shown = format!("{command:?}");
    let output = command.output().unwrap_or_else(|err| panic!("running {shown}: {err}"));
    let text =
        format!("{shown}\n{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Runs `command` and fails the test, with its output, unless it succeeds.
fn succeeds(command: Command) -> String {
    let (ok, text) = run(command);
    assert!(ok, "expected success:\n{text}");
    text
}

/// The kit's contract run against `rules`, the way the grader runs it: both
/// files in one scratch folder, the rules named `rules.yml`.
fn contract_against(mut promtool: Command, rules: &Path) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a scratch folder");
    std::fs::copy(root().join(CONTRACT), dir.path().join("contract.test.yml")).expect("copy the contract");
    std::fs::copy(rules, dir.path().join("rules.yml")).expect("copy the rules");
    promtool.current_dir(dir.path()).args(["test", "rules", "contract.test.yml"]);
    run(promtool)
}

#[test]
fn the_reference_rules_pass_their_own_unit_tests() {
    let Some(mut promtool) = promtool() else { return };
    promtool.current_dir(root()).args(["test", "rules"]).arg(format!("{SOLUTION_ALERTS}/rules.test.yml"));
    succeeds(promtool);
}

#[test]
fn the_reference_rules_meet_the_kits_contract() {
    let Some(promtool) = promtool() else { return };
    let (ok, text) = contract_against(promtool, &root().join(SOLUTION_ALERTS).join("rules.yml"));
    assert!(ok, "the reference rules fail the contract:\n{text}");
}

#[test]
fn the_starters_empty_rules_fail_the_contract_on_every_alert() {
    let Some(promtool) = promtool() else { return };
    let (ok, text) = contract_against(promtool, &root().join(STARTER_ALERTS).join("rules.yml"));
    assert!(!ok, "an empty rules file passes the contract, so the contract checks nothing:\n{text}");
    // Failed expectations, not a file promtool could not load: each alert is missed.
    for alert in ["HighErrorRate", "LatencyBudgetBurnFast", "LatencyBudgetBurnSlow"] {
        assert!(text.contains(alert), "no failed expectation names {alert}:\n{text}");
    }
}

#[test]
fn both_rules_files_are_valid_and_the_starters_empty_tests_run() {
    let Some(_) = promtool() else { return };
    for folder in [SOLUTION_ALERTS, STARTER_ALERTS] {
        let mut check = Command::new("promtool");
        check.current_dir(root().join(folder)).args(["check", "rules", "rules.yml"]);
        succeeds(check);
    }
    let mut tests = Command::new("promtool");
    tests.current_dir(root().join(STARTER_ALERTS)).args(["test", "rules", "rules.test.yml"]);
    succeeds(tests);
}

#[test]
fn prometheus_accepts_its_config_with_the_rules_where_the_container_mounts_them() {
    let Some(mut promtool) = promtool() else { return };
    // The config names the rules by their path in the container; a scratch copy
    // points that one line at the reference rules, so promtool checks them too.
    let config = read(&root().join(OPS).join("prometheus.yml"));
    assert_eq!(config.matches(CONTAINER_RULES).count(), 1, "prometheus.yml loads {CONTAINER_RULES} once");
    let dir = tempfile::tempdir().expect("a scratch folder");
    let rules = dir.path().join("rules.yml");
    std::fs::copy(root().join(SOLUTION_ALERTS).join("rules.yml"), &rules).expect("copy the rules");
    let scratch = dir.path().join("prometheus.yml");
    std::fs::write(&scratch, config.replace(CONTAINER_RULES, &rules.display().to_string())).expect("write the copy");
    promtool.args(["check", "config"]).arg(&scratch);
    let text = succeeds(promtool);
    assert!(text.contains("rules found") && !text.contains(" 0 rules found"), "the rules were not checked:\n{text}");
}

#[test]
fn alertmanager_accepts_its_config() {
    let Some(mut amtool) = amtool() else { return };
    amtool.arg("check-config").arg(root().join(OPS).join("alertmanager.yml"));
    succeeds(amtool);
}

/// The dashboard's panels, with row panels' nested panels.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("a panels list") {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

/// Every panel's queries, as (panel title, expr).
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for panel in panels(dashboard).into_iter().filter(|panel| panel["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            all.push((title.clone(), target["expr"].as_str().unwrap_or_default().to_string()));
        }
    }
    all
}

fn dashboard() -> Value {
    serde_json::from_str(&read(&root().join(DASHBOARD))).expect("the dashboard is JSON")
}

/// The series names a PromQL expression reads: identifiers that are not
/// functions, aggregations, keywords or label names, with string literals,
/// label matchers and range durations left out.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Keywords and aggregations, which need not be followed by "(".
    const KEYWORDS: &str = "by without on ignoring group_left group_right bool and or unless offset \
                            sum min max avg count group stddev stdvar topk bottomk quantile count_values inf nan";
    const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    let chars: Vec<char> = expr.chars().collect();
    let quote = |c: char| c == '"' || c == '\'' || c == '`';
    // The index after the string literal that opens at `from`.
    let after_string = |from: usize| {
        let mut i = from + 1;
        while i < chars.len() && chars[i] != chars[from] {
            i += if chars[i] == '\\' { 2 } else { 1 };
        }
        i + 1
    };
    // The index after the `close` that ends the bracket opening at `from`, strings skipped.
    let after_bracket = |from: usize, close: char| {
        let mut i = from + 1;
        while i < chars.len() && chars[i] != close {
            i = if quote(chars[i]) { after_string(i) } else { i + 1 };
        }
        i + 1
    };
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if quote(c) {
            i = after_string(i);
        } else if c == '{' {
            i = after_bracket(i, '}');
        } else if c == '[' {
            i = after_bracket(i, ']');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = next < chars.len() && chars[next] == '(';
            if LABEL_LISTS.contains(&word.as_str()) && called {
                i = after_bracket(next, ')');
            } else if !called && !KEYWORDS.split_whitespace().any(|keyword| keyword.eq_ignore_ascii_case(&word)) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Whether a dashboard may read `name`: a series of the monitoring contract
/// (a histogram's `_bucket`, `_sum` or `_count` included), or a recording
/// rule the reference rules define.
fn known_series(name: &str, recorded: &BTreeSet<String>) -> bool {
    if name.contains(':') {
        return recorded.contains(name);
    }
    METRICS.iter().any(|&(metric, kind, _)| {
        name == metric
            || (kind == "histogram"
                && ["_bucket", "_sum", "_count"].iter().any(|suffix| name.strip_suffix(suffix) == Some(metric)))
    })
}

#[test]
fn the_metric_name_reader_skips_functions_labels_and_ranges() {
    let expr = r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{route!~"/metrics|x", route!="/p/{id}"}[$__rate_interval])))
        / on (job) group_left sum without (status) (rate(http_requests_total{status=~"5.."}[5m])) > bool 1e3 and shop:error_ratio:rate5m"#;
    let expected = ["http_request_duration_seconds_bucket", "http_requests_total", "shop:error_ratio:rate5m"];
    assert_eq!(metric_names(expr), expected.into_iter().map(String::from).collect());
}

#[test]
fn every_dashboard_panel_reads_prometheus_and_only_the_shops_series() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "shop-golden-signals");
    assert_eq!(dashboard["title"], "Shop: golden signals");
    assert_eq!(dashboard["schemaVersion"], 39);
    let recorded: BTreeSet<String> = read(&root().join(SOLUTION_ALERTS).join("rules.yml"))
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- record:"))
        .map(|name| name.trim().to_string())
        .collect();
    let prometheus = serde_json::json!({"type": "prometheus", "uid": "prometheus"});
    let mut used = BTreeSet::new();
    for panel in panels(&dashboard).into_iter().filter(|panel| panel["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        assert_eq!(panel["datasource"], prometheus, "panel {title:?}'s datasource");
        let targets = panel["targets"].as_array().filter(|targets| !targets.is_empty());
        let targets = targets.unwrap_or_else(|| panic!("panel {title:?} has no queries"));
        for target in targets {
            if let Some(datasource) = target.get("datasource") {
                assert_eq!(datasource, &prometheus, "a query of panel {title:?}");
            }
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "panel {title:?} has a query with no expr");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "panel {title:?} reads no series: {expr}");
            for name in names {
                assert!(known_series(&name, &recorded), "panel {title:?} reads {name}, which the shop does not expose");
                used.insert(name.trim_end_matches("_bucket").to_string());
            }
        }
    }
    // The golden signals, the process and the business each have a panel.
    for metric in [
        "http_requests_total",
        "http_request_duration_seconds",
        "http_requests_in_flight",
        "db_pool_connections",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "shop_orders_total",
    ] {
        assert!(used.contains(metric), "no panel shows {metric}");
    }
}

#[test]
fn every_dashboard_query_is_promql_that_promtool_parses() {
    let Some(mut promtool) = promtool() else { return };
    // Each query as a recording rule in a scratch file, Grafana's
    // $__rate_interval replaced by a duration Prometheus knows.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (title, expr)) in queries(&dashboard()).iter().enumerate() {
        rules.push_str(&format!("      # {title}\n      - record: dashboard:query_{n}\n        expr: |\n"));
        for line in expr.replace("$__rate_interval", "1m").lines() {
            rules.push_str(&format!("          {line}\n"));
        }
    }
    let dir = tempfile::tempdir().expect("a scratch folder");
    std::fs::write(dir.path().join("dashboard.yml"), rules).expect("write the scratch rules");
    promtool.current_dir(dir.path()).args(["check", "rules", "dashboard.yml"]);
    succeeds(promtool);
}

#[test]
fn grafana_provisioning_points_at_prometheus_and_the_dashboards_folder() {
    let ops = root().join(OPS);
    let datasource = read(&ops.join("grafana/provisioning/datasources/prometheus.yml"));
    for line in ["type: prometheus", "uid: prometheus", "url: http://prometheus:9090"] {
        assert!(datasource.contains(line), "the data source has no `{line}`:\n{datasource}");
    }
    let provider = read(&ops.join("grafana/provisioning/dashboards/dashboards.yml"));
    for line in ["type: file".to_string(), format!("path: {CONTAINER_DASHBOARDS}")] {
        assert!(provider.contains(&line), "the dashboard provider has no `{line}`:\n{provider}");
    }
    // docker-compose.yml mounts the folders where the files above expect them.
    let compose = read(&root().join("docker-compose.yml"));
    for mount in [
        format!("./{OPS}/grafana/dashboards:{CONTAINER_DASHBOARDS}"),
        format!("./{OPS}/grafana/provisioning:/etc/grafana/provisioning"),
        format!("./{OPS}/prometheus.yml:/etc/prometheus/prometheus.yml"),
        format!("./{STARTER_ALERTS}:{}", CONTAINER_RULES.trim_end_matches("/rules.yml")),
        format!("./{OPS}/alertmanager.yml:/etc/alertmanager/alertmanager.yml"),
    ] {
        assert!(compose.contains(&mount), "docker-compose.yml does not mount {mount}");
    }
}

#[test]
fn every_alerting_and_ops_yaml_file_begins_with_a_comment() {
    let root = root();
    let mut files = vec![
        root.join(SOLUTION_ALERTS).join("rules.yml"),
        root.join(SOLUTION_ALERTS).join("rules.test.yml"),
        root.join(STARTER_ALERTS).join("rules.yml"),
        root.join(STARTER_ALERTS).join("rules.test.yml"),
        root.join(CONTRACT),
    ];
    let mut folders = vec![root.join(OPS)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("an ops folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 9, "the ops folder lost its YAML files: {files:?}");
    for file in files {
        assert!(read(&file).starts_with("# "), "{} does not begin with a comment saying what it is", file.display());
    }
}
