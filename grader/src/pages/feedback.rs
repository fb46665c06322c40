//! A student's feedback page, `feedback.html`: per lab the score, each check
//! with its points, evidence and (when not passed) the command for its next
//! hint, a chart per measurement (the baseline, yours and the solution's),
//! the latency CDF of each measurement that kept its per-request values, and
//! the flamegraph of the target's hottest workload, written beside the page
//! as `flamegraph-<lab>.svg`. What a record lacks (an older record, a lab
//! that takes no flamegraph) is said in a sentence, never drawn empty.

use std::fmt::Write as _;

use super::plots::{self, BASELINE, SOLUTION, YOURS};
use super::{esc, file_part, page, provenance, reference_lab, score_text, warnings};
use crate::record::{Check, Flamegraph, LabRecord, Measurement, Record, Status};
use crate::report::status_word;

/// The page's file name.
pub const PAGE: &str = "feedback.html";

/// The file a lab's flamegraph is written to, beside the page.
pub fn flamegraph_file(lab: &str) -> String {
    format!("flamegraph-{}.svg", file_part(lab))
}

/// A lab's flamegraph, unless it has none (or an empty one).
fn flamegraph(lab: &LabRecord) -> Option<&Flamegraph> {
    lab.flamegraph.as_ref().filter(|f| !f.svg.trim().is_empty())
}

/// The feedback page of `record` under `heading` and the files that go
/// beside it, as `(file name, contents)`: the page first, then each lab's
/// flamegraph. `reference` holds records of the solution (any number, a lab
/// each or more); a lab with no graded reference is drawn without one.
pub fn files(record: &Record, reference: &[Record], heading: &str) -> anyhow::Result<Vec<(String, String)>> {
    let env = &record.environment;
    let mut body = String::new();
    let _ = writeln!(body, "<header>\n<h1>{}</h1>\n<p class=\"meta\">{}</p>", esc(heading), esc(&provenance(env)));
    for warning in warnings(env) {
        let _ = writeln!(body, "<p class=\"warning\">{}</p>", esc(&warning));
    }
    body.push_str("<table class=\"summary\">\n<thead><tr><th>lab</th><th class=\"num\">score</th><th>status</th></tr></thead>\n<tbody>\n");
    for lab in &record.labs {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"#lab-{}\">{}</a></td><td class=\"num score\">{}</td><td>{}</td></tr>",
            esc(&file_part(&lab.lab)),
            esc(&lab.title),
            esc(&score_text(lab)),
            status_word(lab.status)
        );
    }
    body.push_str("</tbody>\n</table>\n</header>\n");

    let mut files = Vec::new();
    for lab in &record.labs {
        lab_section(&mut body, lab, reference, env.seed)?;
        if let Some(flamegraph) = flamegraph(lab) {
            files.push((flamegraph_file(&lab.lab), flamegraph.svg.clone()));
        }
    }
    let _ = writeln!(body, "<footer><p class=\"meta\">{}</p></footer>", esc(&env.containment));
    files.insert(0, (PAGE.to_string(), page(heading, &body)));
    Ok(files)
}

fn lab_section(out: &mut String, lab: &LabRecord, reference: &[Record], seed: u64) -> anyhow::Result<()> {
    let id = esc(&file_part(&lab.lab));
    let _ = writeln!(
        out,
        "<section class=\"lab\" id=\"lab-{id}\">\n<h2>{} <span class=\"score\">{}</span></h2>",
        esc(&lab.title),
        esc(&score_text(lab))
    );
    if lab.status != Status::Graded {
        let reason = lab.reason.as_deref().unwrap_or("no reason recorded");
        let _ = writeln!(out, "<p class=\"status\">{}: {}</p>", status_word(lab.status), esc(reason));
    }
    if !lab.categories.is_empty() {
        let parts: Vec<String> = lab
            .categories
            .iter()
            .map(|c| format!("{} {} / {}", esc(&c.title), LabRecord::round(c.points), LabRecord::round(c.max_points)))
            .collect();
        let _ = writeln!(out, "<p class=\"meta\">{}</p>", parts.join(" · "));
    }
    checks(out, &lab.checks);

    let solution = reference_lab(reference, &lab.lab);
    let _ = writeln!(out, "<h3>Measurements</h3>");
    if lab.measurements.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"none\">Nothing was measured in this lab{}.</p>",
            match lab.status {
                Status::Graded => " (the correctness gate comes first)",
                _ => ": it was not fully graded",
            }
        );
    } else {
        let _ = writeln!(out, "<p class=\"key\">{}</p>", key(solution.is_some()));
        let _ = writeln!(out, "<p class=\"meta\">{}</p>", esc(&reference_note(reference, solution, &lab.lab, seed)));
        out.push_str("<div class=\"plots\">\n");
        for m in &lab.measurements {
            let theirs = solution.and_then(|(s, _)| s.measurement(&m.id));
            let chart = plots::measurement_bars(m, theirs)?;
            let _ = writeln!(
                out,
                "<figure class=\"measurement\" id=\"m-{id}-{}\">{}<figcaption><strong>{}</strong> · {}</figcaption></figure>",
                esc(&file_part(&m.id)),
                chart.unwrap_or_else(|| "<p class=\"none\">No value was recorded.</p>".into()),
                esc(&m.id),
                esc(&measurement_note(m))
            );
        }
        out.push_str("</div>\n");
    }

    let _ = writeln!(out, "<h3>Per-request latency</h3>");
    let with_values: Vec<&Measurement> = lab.measurements.iter().filter(|m| m.distribution.is_some()).collect();
    if with_values.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"none\">No per-request distributions in this record for this lab: its measurements are \
             counts, it was not measured, or the record was written before the grader kept them.</p>"
        );
    } else {
        out.push_str("<div class=\"plots\">\n");
        for m in with_values {
            let Some(d) = &m.distribution else { continue };
            let theirs = solution.and_then(|(s, _)| s.measurement(&m.id)).and_then(|s| s.distribution.as_ref());
            let chart = plots::cdf(d, theirs)?;
            let mut caption = format!("{}: {}. ", m.id, d.what);
            for (name, values) in [("baseline", &d.baseline), ("yours", &d.target)]
                .into_iter()
                .chain(theirs.map(|s| ("solution", &s.target)))
            {
                if let (Some(p50), Some(p99)) = (values.get(50), values.get(99)) {
                    let unit = &d.unit;
                    let _ = write!(
                        caption,
                        "{name} p50 {} {unit}, p99 {} {unit}; ",
                        plots::number(*p50),
                        plots::number(*p99)
                    );
                }
            }
            let _ = writeln!(
                out,
                "<figure class=\"cdf\" id=\"cdf-{id}-{}\">{}<figcaption>{}</figcaption></figure>",
                esc(&file_part(&m.id)),
                chart.unwrap_or_else(|| "<p class=\"none\">Its per-request values are empty.</p>".into()),
                esc(caption.trim_end_matches("; "))
            );
        }
        out.push_str("</div>\n");
    }

    let _ = writeln!(out, "<h3>Flamegraph</h3>");
    match flamegraph(lab) {
        Some(flamegraph) => {
            let file = esc(&flamegraph_file(&lab.lab));
            let _ = writeln!(
                out,
                "<p>Where your service spent its time on {}: each box is a function, as wide as its share \
                 of the samples, with the functions it called above it. <a href=\"{file}\">Open it on its own</a> \
                 to zoom into a box or search for a name.</p>\n\
                 <figure class=\"wide flamegraph\"><a href=\"{file}\"><img src=\"{file}\" alt=\"flamegraph of {}\"></a></figure>",
                esc(&flamegraph.workload),
                esc(&lab.title)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<p class=\"none\">No flamegraph for this lab: it takes none, the target did not pass the \
                 correctness gate, or the record was written before the grader took them.</p>"
            );
        }
    }
    out.push_str("</section>\n");
    Ok(())
}

/// The checks as a table: mark, title, points, evidence and the next hint's command.
fn checks(out: &mut String, checks: &[Check]) {
    out.push_str(
        "<table class=\"checks\">\n<thead><tr><th></th><th>check</th><th class=\"num\">points</th><th>evidence</th></tr></thead>\n<tbody>\n",
    );
    for check in checks {
        let (class, mark) = if check.passed { ("pass", "✓") } else { ("fail", "✗") };
        let mut title = esc(&check.title);
        if check.bonus {
            title.push_str(" <em>(bonus, not added to the score)</em>");
        }
        let hint = match (&check.hint, check.passed) {
            (Some(hint), false) => format!("<p class=\"hint\">Next hint: <code>{}</code></p>", esc(hint)),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\" id=\"check-{}\"><td class=\"mark\">{mark}</td><td>{title}</td>\
             <td class=\"num\">{} / {}</td><td><div class=\"evidence\">{}</div>{hint}</td></tr>",
            esc(&file_part(&check.id)),
            LabRecord::round(check.points),
            LabRecord::round(check.max_points),
            esc(&check.evidence)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The colour key of the charts.
fn key(with_solution: bool) -> String {
    let swatch = |color: plotters::prelude::RGBColor, name: &str| {
        format!("<span style=\"background: rgb({}, {}, {})\"></span>{name}", color.0, color.1, color.2)
    };
    let mut key = format!("{} {}", swatch(BASELINE, "baseline"), swatch(YOURS, "yours"));
    if with_solution {
        key.push(' ');
        key.push_str(&swatch(SOLUTION, "solution"));
    }
    key
}

/// Where the solution's numbers come from, or why there are none.
fn reference_note(reference: &[Record], solution: Option<(&LabRecord, u64)>, lab: &str, seed: u64) -> String {
    match solution {
        None if reference.is_empty() => "No solution record was given: the charts show the baseline and yours.".into(),
        None => format!("The solution's record has no graded {lab}: the charts show the baseline and yours."),
        Some((_, theirs)) if theirs != seed => format!(
            "The solution was graded on seed {theirs}, this record on seed {seed}: its numbers come from other data."
        ),
        Some(_) => format!("The solution was graded on the same seed ({seed})."),
    }
}

/// `instructions/request · callgrind (exact) · ratio 16.0x, exact`.
fn measurement_note(m: &Measurement) -> String {
    let spread = if m.samples > 1 {
        format!("interval {} to {} over {} rounds", plots::ratio(m.ratio_low), plots::ratio(m.ratio_high), m.samples)
    } else {
        "one exact count".into()
    };
    format!("{} · {} · baseline / yours {} ({spread})", m.unit, m.method, plots::ratio(m.ratio))
}
