//! The machine fingerprint stored with every record.

use std::process::Command;

use crate::record::Environment;

pub fn capture(
    seed: u64,
    valgrind: Option<String>,
    kit: &std::path::Path,
    editable: &[String],
    containment: String,
) -> Environment {
    let state = crate::provenance::kit_state(kit, editable);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Environment {
        cpu_model,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average: load_average(),
        rustc: command_line("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
        seed,
        valgrind,
        grader_version: env!("CARGO_PKG_VERSION").into(),
        kit: kit.display().to_string(),
        kit_commit: state.commit,
        kit_modified: state.modified,
        containment,
    }
}

/// The 1, 5 and 15 minute load averages (zeros where the OS does not say).
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|f| f.parse().unwrap_or(0.0));
    [fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0)]
}

/// First line a command prints, if it runs.
pub fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().next().map(|line| line.trim().to_string())
}

/// A fresh seed for this run: answers hard-coded for one seed fail the next.
pub fn fresh_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    // Mix in the pid and keep it short enough to type back with --seed.
    (nanos ^ (u64::from(std::process::id()) << 17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 34
}
