//! Terminal output: progress while building and measuring, then tables.

use std::io::IsTerminal;
use std::time::Duration;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};

use crate::record::{LabRecord, Record, Status};

/// A spinner on a terminal; plain lines on stderr otherwise (CI logs).
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed}] {prefix} {msg}").expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar, quiet }
    }

    /// A new step: shown on the spinner, or printed as a line.
    pub fn phase(&self, text: impl Into<String>) {
        let text = text.into();
        match &self.bar {
            Some(bar) => {
                bar.set_prefix(text);
                bar.set_message("");
            }
            None if !self.quiet => eprintln!("  {text}"),
            None => {}
        }
    }

    /// Detail within a step (e.g. the crate being compiled); spinner only.
    pub fn detail(&self, text: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.into());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The detailed table of one lab: checks, then measurements.
pub fn lab_table(lab: &LabRecord) -> String {
    let mut out =
        format!("{} — target: {} — score {} / {}\n", lab.title, lab.target, number(lab.score), number(lab.max_score));
    if let Some(reason) = &lab.reason {
        out.push_str(&format!("{}: {reason}\n", status_word(lab.status)));
    }
    let mut checks = Table::new();
    checks
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["check", "result", "points", "evidence"]);
    for check in &lab.checks {
        checks.add_row([
            Cell::new(&check.title),
            Cell::new(if check.passed { "pass" } else { "FAIL" }),
            Cell::new(format!("{} / {}", number(check.points), number(check.max_points)))
                .set_alignment(CellAlignment::Right),
            Cell::new(&check.evidence),
        ]);
    }
    out.push_str(&checks.to_string());
    if !lab.measurements.is_empty() {
        let mut measurements = Table::new();
        measurements
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(["measurement", "baseline", "target", "ratio (95% interval)", "method"]);
        for m in &lab.measurements {
            measurements.add_row([
                Cell::new(format!("{} ({})", m.id, m.unit)),
                Cell::new(number(m.baseline)).set_alignment(CellAlignment::Right),
                Cell::new(number(m.target)).set_alignment(CellAlignment::Right),
                Cell::new(format!("{}x [{}, {}]", number(m.ratio), number(m.ratio_low), number(m.ratio_high)))
                    .set_alignment(CellAlignment::Right),
                Cell::new(&m.method),
            ]);
        }
        out.push('\n');
        out.push_str(&measurements.to_string());
    }
    out.push('\n');
    out
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Graded => "graded",
        Status::BuildFailed => "build failed",
        Status::Failed => "failed",
        Status::NotGraded => "not graded",
    }
}

/// The one-line-per-lab scorecard, with the environment under it.
pub fn scorecard(record: &Record) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["lab", "target", "score", "status", "time"]);
    for lab in &record.labs {
        table.add_row([
            Cell::new(&lab.title),
            Cell::new(&lab.target),
            Cell::new(format!("{} / {}", number(lab.score), number(lab.max_score))).set_alignment(CellAlignment::Right),
            Cell::new(match &lab.reason {
                Some(reason) => format!("{}: {reason}", status_word(lab.status)),
                None => status_word(lab.status).to_string(),
            }),
            Cell::new(format!("{:.0} s", lab.seconds)).set_alignment(CellAlignment::Right),
        ]);
    }
    let env = &record.environment;
    format!(
        "{table}\nseed {} · {} ({} cores) · load {:.2} {:.2} {:.2} · {}{}\n",
        env.seed,
        env.cpu_model,
        env.cores,
        env.load_average[0],
        env.load_average[1],
        env.load_average[2],
        env.rustc,
        env.valgrind.as_deref().map(|v| format!(" · {v}")).unwrap_or_default()
    )
}
