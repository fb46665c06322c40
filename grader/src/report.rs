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

/// `85 / 100`, with `(+5 / 10 bonus)` when the rubric has bonus checks.
fn score_text(lab: &LabRecord) -> String {
    let core = format!("{} / {}", number(lab.score), number(lab.max_score));
    if lab.bonus_max > 0.0 {
        format!("{core} (+{} / {} bonus)", number(lab.bonus), number(lab.bonus_max))
    } else {
        core
    }
}

/// The detailed table of one lab: checks, then measurements, wrapped to the terminal.
pub fn lab_table(lab: &LabRecord) -> String {
    lab_table_width(lab, None)
}

/// [`lab_table`] wrapped to `width` columns (`None`: the terminal's, or no wrapping off a terminal).
pub fn lab_table_width(lab: &LabRecord, width: Option<u16>) -> String {
    let fit = |table: &mut Table| {
        table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
        if let Some(width) = width {
            table.set_width(width);
        }
    };
    let mut out = format!("{} — target: {} — score {}\n", lab.title, lab.target, score_text(lab));
    if let Some(reason) = &lab.reason {
        out.push_str(&format!("{}: {reason}\n", status_word(lab.status)));
    }
    let mut checks = Table::new();
    fit(&mut checks);
    checks.set_header(["check", "result", "points", "evidence"]);
    for check in &lab.checks {
        let title = if check.bonus { format!("{} (bonus)", check.title) } else { check.title.clone() };
        let evidence = match &check.hint {
            Some(hint) => format!("{}\nnext hint: {hint}", check.evidence),
            None => check.evidence.clone(),
        };
        checks.add_row([
            Cell::new(title),
            Cell::new(if check.passed { "pass" } else { "FAIL" }),
            Cell::new(format!("{} / {}", number(check.points), number(check.max_points)))
                .set_alignment(CellAlignment::Right),
            Cell::new(evidence),
        ]);
    }
    out.push_str(&checks.to_string());
    if !lab.categories.is_empty() {
        let parts: Vec<String> = lab
            .categories
            .iter()
            .map(|c| format!("{} {} / {}", c.title, number(c.points), number(c.max_points)))
            .collect();
        out.push_str(&format!("\nby category: {}", parts.join(" · ")));
    }
    if !lab.measurements.is_empty() {
        let mut measurements = Table::new();
        fit(&mut measurements);
        measurements.set_header(["measurement", "baseline", "target", "ratio (95% interval)", "method"]);
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

/// A lab's status as words: `graded`, `build failed`, `failed`, `not graded`.
pub fn status_word(status: Status) -> &'static str {
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
            Cell::new(score_text(lab)).set_alignment(CellAlignment::Right),
            Cell::new(match &lab.reason {
                Some(reason) => format!("{}: {reason}", status_word(lab.status)),
                None => status_word(lab.status).to_string(),
            }),
            Cell::new(format!("{:.0} s", lab.seconds)).set_alignment(CellAlignment::Right),
        ]);
    }
    let env = &record.environment;
    let kit = match (&env.kit_commit, env.kit_modified.len()) {
        (None, _) => format!("{} (not a git checkout: kit files not verified)", env.kit),
        (Some(commit), 0) => format!("{} at {}", env.kit, &commit[..commit.len().min(12)]),
        (Some(commit), n) => format!(
            "{} at {} — KIT MODIFIED: {n} kit-owned {} from the commit: {}",
            env.kit,
            &commit[..commit.len().min(12)],
            if n == 1 { "file differs" } else { "files differ" },
            env.kit_modified.join(", ")
        ),
    };
    format!(
        "{table}\nseed {} · {} ({} cores) · load {:.2} {:.2} {:.2} · {}{}\nkit graded: {}\ndrivers ran in: {}\n",
        env.seed,
        env.cpu_model,
        env.cores,
        env.load_average[0],
        env.load_average[1],
        env.load_average[2],
        env.rustc,
        env.valgrind.as_deref().map(|v| format!(" · {v}")).unwrap_or_default(),
        kit,
        env.containment
    )
}

/// The class at a glance: a row per student, a column per lab (its score,
/// or why it has none), the total and the grading time; submissions that
/// could not be read last, with why.
pub fn class_table(students: &[(String, Record)], unreadable: &[(String, String)]) -> String {
    let mut labs: Vec<String> = Vec::new();
    for (_, record) in students {
        for lab in &record.labs {
            if !labs.contains(&lab.lab) {
                labs.push(lab.lab.clone());
            }
        }
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    let mut header = vec!["student".to_string()];
    header.extend(labs.iter().cloned());
    header.extend(["total".to_string(), "time".to_string()]);
    table.set_header(header);
    for (student, record) in students {
        let mut row = vec![Cell::new(student)];
        for lab in &labs {
            row.push(match record.labs.iter().find(|l| l.lab == *lab) {
                Some(l) if l.status == Status::Graded => Cell::new(score_text(l)).set_alignment(CellAlignment::Right),
                Some(l) => Cell::new(status_word(l.status)),
                None => Cell::new(""),
            });
        }
        let total: f64 = record.labs.iter().map(|l| l.score).sum();
        let seconds: f64 = record.labs.iter().map(|l| l.seconds).sum();
        row.push(Cell::new(number(total)).set_alignment(CellAlignment::Right));
        row.push(Cell::new(format!("{seconds:.0} s")).set_alignment(CellAlignment::Right));
        table.add_row(row);
    }
    for (student, why) in unreadable {
        let mut row = vec![Cell::new(student)];
        row.extend(labs.iter().map(|_| Cell::new("")));
        row.push(Cell::new(format!("not graded: {why}")));
        row.push(Cell::new(""));
        table.add_row(row);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::Target;
    use crate::hints::Hints;
    use crate::labs::{attach_hints, score};
    use crate::record::Environment;

    fn record() -> LabRecord {
        let rubric = crate::labs::tests::rubric();
        let mut record = score(&rubric, &Target::Solution, crate::labs::tests::findings(4.0, 0.0, Some(1.5)));
        attach_hints(&mut record, &Hints::parse("[[hint]]\ncheck = \"cpu\"\ntext = \"a\"\n").expect("parses"));
        record.seconds = 61.0;
        record
    }

    #[test]
    fn the_lab_table_keeps_its_shape() {
        insta::assert_snapshot!(lab_table_width(&record(), Some(120)));
    }

    #[test]
    fn the_json_record_keeps_its_fields() {
        let whole = Record {
            labs: vec![record()],
            environment: Environment {
                cpu_model: "Test CPU".into(),
                cores: 2,
                load_average: [0.5, 0.25, 0.0],
                rustc: "rustc 1.95.0".into(),
                seed: 7,
                valgrind: Some("valgrind-3.19.0".into()),
                grader_version: "0.1.0".into(),
                kit: "/work/kit".into(),
                kit_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                kit_modified: Vec::new(),
                containment: "bubblewrap 0.8.0: own root, private /tmp, no kit files".into(),
            },
        };
        insta::assert_json_snapshot!(whole);
        assert!(scorecard(&whole).contains("kit graded: /work/kit at 0123456789ab\n"));
        let mut modified = whole.clone();
        modified.environment.kit_modified = vec!["labs/demo/rubric.toml".into()];
        assert!(scorecard(&modified).contains(
            "at 0123456789ab — KIT MODIFIED: 1 kit-owned file differs from the commit: labs/demo/rubric.toml"
        ));
    }
}
