//! How well the grader's load test repeats: `grader load` on the same pair
//! (baseline and solution of lab 23) several times, each run's pooled p99
//! ratio, their spread, and wrk's p99 ratio on the same request mix.
//!
//! `cargo xtask p99 --runs 5` prints every number and fails when a run's
//! ratio is more than 15% from the runs' median, or the median more than
//! 25% from wrk's. Not part of the test command (it takes minutes of load):
//! run it after changing the load test or the lab's load mix.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail, ensure};

use crate::shell::{cargo, root, step};

/// Largest distance of a run's p99 ratio from the median of the runs.
const MAX_SPREAD: f64 = 0.15;
/// Largest distance of that median from wrk's p99 ratio.
const MAX_FROM_WRK: f64 = 0.25;

pub fn run(runs: usize, requests: usize, wrk_seconds: u64) -> anyhow::Result<()> {
    ensure!(runs >= 2, "p99 needs at least 2 runs");
    let grader = crate::selfcheck::grader()?;
    let seed = 2026u64;
    let mut ratios = Vec::new();
    for run in 1..=runs {
        let output = Command::new(&grader)
            .args(["load", "--lab", "profiling", "--target", "solution", "--quiet"])
            .args(["--requests", &requests.to_string(), "--concurrency", "8", "--seed", &seed.to_string()])
            .output()
            .context("running grader load")?;
        let text = String::from_utf8_lossy(&output.stdout);
        ensure!(output.status.success(), "grader load failed: {}", String::from_utf8_lossy(&output.stderr));
        let ratio = pooled_ratio(&text).with_context(|| format!("no p99 ratio in:\n{text}"))?;
        println!("run {run}: p99 baseline / solution {ratio:.2}x");
        ratios.push(ratio);
    }
    let median = median(&ratios);
    let worst = ratios.iter().map(|r| (r / median - 1.0).abs()).fold(0.0, f64::max);
    println!("grader load: median {median:.2}x over {runs} runs, farthest run {:.0}% from it", worst * 100.0);

    let wrk = wrk_ratio(seed, requests, wrk_seconds)?;
    let from_wrk = (median / wrk - 1.0).abs();
    println!("wrk: p99 baseline / solution {wrk:.2}x; grader load's median is {:.0}% from it", from_wrk * 100.0);
    ensure!(worst <= MAX_SPREAD, "a run is {:.0}% from the median (limit {:.0}%)", worst * 100.0, MAX_SPREAD * 100.0);
    ensure!(
        from_wrk <= MAX_FROM_WRK,
        "the median is {:.0}% from wrk's (limit {:.0}%)",
        from_wrk * 100.0,
        MAX_FROM_WRK * 100.0
    );
    Ok(())
}

/// `p99 baseline / solution: 12.3x pooled over ...` → 12.3
fn pooled_ratio(text: &str) -> Option<f64> {
    let line = text.lines().find(|line| line.starts_with("p99 baseline / "))?;
    let value = line.split(": ").nth(1)?.split('x').next()?;
    value.trim().parse().ok()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() % 2 {
        0 => (sorted[mid - 1] + sorted[mid]) / 2.0,
        _ => sorted[mid],
    }
}

/// A driver serving on a free loopback port; killed when dropped.
struct Served {
    url: String,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(driver: &Path, data: &[String]) -> anyhow::Result<Served> {
    let mut child = Command::new(driver)
        .arg("serve")
        .args(data)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", driver.display()))?;
    let mut first = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut first)?;
    let listening: lab_protocol::Listening =
        lab_protocol::parse_last(&first).map_err(|err| anyhow::anyhow!("the driver's first line {err}"))?;
    Ok(Served { url: listening.listening, child })
}

/// wrk's p99 ratio, baseline over solution, with the load test's mix:
/// each service in turn, 8 connections, `seconds` each after a warm-up.
fn wrk_ratio(seed: u64, requests: usize, seconds: u64) -> anyhow::Result<f64> {
    ensure_wrk()?;
    step(
        "building the lab 23 drivers (release)",
        cargo(&["build", "--release", "--quiet", "-p", "baseline-profiling", "-p", "solution-profiling", "--bins"]),
    )?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), Into::into);
    let release = Path::new(&target_dir).join("release");
    let data: Vec<String> = ["--seed", &seed.to_string(), "--size", "medium"].map(String::from).to_vec();
    let list = Command::new(release.join("baseline-profiling"))
        .arg("requests")
        .args(&data)
        .args(["--workload", "load", "--requests", &requests.to_string()])
        .output()
        .context("listing the load mix")?;
    ensure!(list.status.success(), "the driver's requests verb failed");
    let script = tempfile::NamedTempFile::with_suffix(".lua")?;
    write_script(&String::from_utf8_lossy(&list.stdout), script.as_file())?;
    let mut p99 = Vec::new();
    for driver in ["baseline-profiling", "solution-profiling"] {
        let served = serve(&release.join(driver), &data)?;
        let script = script.path().to_str().context("a utf-8 path")?;
        let wrk = |duration: &str| {
            Command::new("wrk")
                .args(["-t", "2", "-c", "8", "-d", duration, "--latency", "-s", script, &served.url])
                .output()
                .context("running wrk")
        };
        wrk("2s")?;
        let output = wrk(&format!("{seconds}s"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        ensure!(output.status.success(), "wrk failed: {}", String::from_utf8_lossy(&output.stderr));
        let ms = wrk_p99_ms(&text).with_context(|| format!("no 99% line in wrk's output:\n{text}"))?;
        println!("wrk {driver}: p99 {ms:.2} ms");
        p99.push(ms);
    }
    Ok(p99[0] / p99[1].max(0.001))
}

/// A wrk script that sends the requests (the driver's `requests` lines) in turn.
fn write_script(lines: &str, mut out: &std::fs::File) -> anyhow::Result<()> {
    let requests: Vec<lab_protocol::Req> =
        lab_protocol::parse_lines(lines).map_err(|err| anyhow::anyhow!("the request list {err}"))?;
    writeln!(out, "local requests = {{}}\nlocal n = 0\nfunction init(args)")?;
    for lab_protocol::Req { method, uri, body } in &requests {
        match body {
            Some(body) => writeln!(
                out,
                "  table.insert(requests, wrk.format({method:?}, {uri:?}, {{[\"Content-Type\"] = \"application/json\"}}, {}))",
                lua_string(&body.to_string())
            )?,
            None => writeln!(out, "  table.insert(requests, wrk.format({method:?}, {uri:?}))")?,
        }
    }
    writeln!(out, "end\nfunction request()\n  n = n % #requests + 1\n  return requests[n]\nend")?;
    Ok(())
}

/// A Lua long string holding `text` exactly.
fn lua_string(text: &str) -> String {
    let mut level = String::new();
    while text.contains(&format!("]{level}]")) {
        level.push('=');
    }
    format!("[{level}[{text}]{level}]")
}

/// `     99%    1.23ms` → 1.23 (wrk prints us, ms or s).
fn wrk_p99_ms(text: &str) -> Option<f64> {
    let line = text.lines().find(|line| line.trim_start().starts_with("99%"))?;
    let value = line.split_whitespace().nth(1)?;
    let (number, scale) = match value {
        v if v.ends_with("us") => (&v[..v.len() - 2], 0.001),
        v if v.ends_with("ms") => (&v[..v.len() - 2], 1.0),
        v if v.ends_with('s') => (&v[..v.len() - 1], 1000.0),
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// wrk from the path, or installed as root on Debian.
fn ensure_wrk() -> anyhow::Result<()> {
    if crate::shell::has("wrk") {
        return Ok(());
    }
    if crate::shell::can_apt() {
        return crate::shell::apt_install(&["wrk"]);
    }
    bail!("wrk is not installed: install it (Debian/Ubuntu: apt install wrk)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbers_are_read_from_both_tools() {
        let footer = "p99 baseline / solution: 12.3x pooled over 5 rounds (rounds 10.1x to 14.0x)\nseed 1";
        assert_eq!(pooled_ratio(footer), Some(12.3));
        let wrk = "  Latency Distribution\n     50%  635.91us\n     99%    1.50ms\n";
        assert_eq!(wrk_p99_ms(wrk), Some(1.5));
        assert_eq!(wrk_p99_ms("     99%  250.00us"), Some(0.25));
        assert_eq!(wrk_p99_ms("     99%    2.10s"), Some(2100.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(lua_string("a]]b"), "[=[a]]b]=]");
    }
}
