//! The class page, `class.html`: the distribution of total scores, each
//! check's pass rate, each measurement's speedups (a dot per student, the
//! solution's beside them), a table of students linking to their feedback
//! pages and, only when asked for, a leaderboard of speedups. Without the
//! leaderboard no student is ranked: the table is in name order.

use std::fmt::Write as _;

use super::plots::{self, Speedups};
use super::{esc, file_part, page, provenance, reference_lab, score_text, warnings};
use crate::record::{LabRecord, Record, Status};
use crate::report::status_word;

/// The page's file name.
pub const PAGE: &str = "class.html";

/// What the class page shows.
#[derive(Debug, Clone, Copy)]
pub struct Class<'a> {
    /// Each student's name (their folder under `students/`) and record.
    pub students: &'a [(String, Record)],
    /// Submissions that could not be read, and why.
    pub unreadable: &'a [(String, String)],
    /// The solution's records (a lab each), for its ratios.
    pub reference: &'a [Record],
    /// Rank students by speedup.
    pub leaderboard: bool,
}

/// Where a student's feedback page is, from the class page.
pub fn feedback_link(student: &str) -> String {
    format!("students/{}/{}", file_part(student), super::feedback::PAGE)
}

/// Every lab any record holds, `(id, title)`, in the order first seen.
fn labs(students: &[(String, Record)]) -> Vec<(String, String)> {
    let mut labs: Vec<(String, String)> = Vec::new();
    for lab in students.iter().flat_map(|(_, record)| &record.labs) {
        if !labs.iter().any(|(id, _)| *id == lab.lab) {
            labs.push((lab.lab.clone(), lab.title.clone()));
        }
    }
    labs
}

/// Each student's record of `lab`, when they have one.
fn of_lab<'a>(students: &'a [(String, Record)], lab: &'a str) -> impl Iterator<Item = (&'a str, &'a LabRecord)> {
    students.iter().filter_map(move |(name, record)| Some((name.as_str(), record.labs.iter().find(|l| l.lab == lab)?)))
}

/// The class page.
pub fn html(class: &Class) -> anyhow::Result<String> {
    let Class { students, unreadable, reference, leaderboard } = *class;
    let labs = labs(students);
    let mut body = String::new();
    let _ = writeln!(body, "<header>\n<h1>Class results</h1>");
    let lab_titles: Vec<&str> = labs.iter().map(|(_, title)| title.as_str()).collect();
    let _ = writeln!(
        body,
        "<p class=\"meta\">{} students graded, {} unreadable · {}{}</p>",
        students.len(),
        unreadable.len(),
        esc(&lab_titles.join(", ")),
        students.first().map(|(_, r)| format!(" · {}", esc(&provenance(&r.environment)))).unwrap_or_default()
    );
    let mut flagged: Vec<&str> = students
        .iter()
        .filter(|(_, record)| !warnings(&record.environment).is_empty())
        .map(|(name, _)| name.as_str())
        .collect();
    flagged.dedup();
    if !flagged.is_empty() {
        let names: Vec<String> = flagged.iter().map(|n| esc(n)).collect();
        let _ = writeln!(
            body,
            "<p class=\"warning\">Records with a warning (a modified kit or uncontained drivers): {}</p>",
            names.join(", ")
        );
    }
    body.push_str("</header>\n");

    // Totals.
    let totals: Vec<f64> = students.iter().map(|(_, r)| r.labs.iter().map(|l| l.score).sum()).collect();
    let max = students.iter().map(|(_, r)| r.labs.iter().map(|l| l.max_score).sum::<f64>()).fold(0.0, f64::max);
    let _ = writeln!(body, "<h2>Scores</h2>");
    if totals.is_empty() {
        let _ = writeln!(body, "<p class=\"none\">No student has a record yet.</p>");
    } else {
        let mut sorted = totals.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let mean = totals.iter().sum::<f64>() / totals.len() as f64;
        let _ = writeln!(
            body,
            "<figure class=\"wide\" id=\"scores\">{}<figcaption>Total scores of {} students (core checks, out of {}): \
             median {}, mean {}.</figcaption></figure>",
            plots::score_histogram(&totals, max)?,
            totals.len(),
            LabRecord::round(max),
            LabRecord::round(median),
            LabRecord::round(mean)
        );
    }

    // Pass rates.
    let _ = writeln!(body, "<h2 id=\"checks\">Checks passed</h2>\n<div class=\"plots\">");
    for (lab, title) in &labs {
        let records: Vec<&LabRecord> = of_lab(students, lab).map(|(_, l)| l).collect();
        let mut rates: Vec<(String, usize, usize)> = Vec::new();
        for check in records.iter().flat_map(|l| &l.checks) {
            if rates.iter().any(|(id, _, _)| *id == check.id) {
                continue;
            }
            let with: Vec<bool> = records.iter().filter_map(|l| l.check(&check.id)).map(|c| c.passed).collect();
            rates.push((check.id.clone(), with.iter().filter(|p| **p).count(), with.len()));
        }
        // The chart names each check by its title (shortened); the table keeps them apart.
        let labelled: Vec<(String, usize, usize)> = rates
            .iter()
            .map(|(id, passed, of)| {
                let title = records.iter().find_map(|l| l.check(id)).map_or(id.clone(), |c| c.title.clone());
                (shorten(&title, 44), *passed, *of)
            })
            .collect();
        if labelled.is_empty() {
            let _ = writeln!(body, "<p class=\"none\">{}: no checks recorded.</p>", esc(title));
            continue;
        }
        let _ = writeln!(
            body,
            "<figure class=\"wide\" id=\"pass-{}\">{}<figcaption>{}: the share of students who passed each check.</figcaption></figure>",
            esc(&file_part(lab)),
            plots::pass_rates(&labelled)?,
            esc(title)
        );
    }
    body.push_str("</div>\n");

    // Speedups.
    let _ = writeln!(body, "<h2 id=\"speedups\">Speedups</h2>");
    for (lab, title) in &labs {
        let solution = reference_lab(reference, lab).map(|(l, _)| l);
        let mut rows: Vec<Speedups> = Vec::new();
        for (_, record) in of_lab(students, lab) {
            for m in &record.measurements {
                let at = match rows.iter().position(|row| row.measurement == m.id) {
                    Some(at) => at,
                    None => {
                        let solution = solution.and_then(|s| s.measurement(&m.id)).map(|s| s.ratio);
                        rows.push(Speedups { measurement: m.id.clone(), ratios: Vec::new(), solution });
                        rows.len() - 1
                    }
                };
                rows[at].ratios.push(m.ratio);
            }
        }
        match plots::speedups(&rows)? {
            Some(chart) => {
                let _ = writeln!(
                    body,
                    "<figure class=\"wide\" id=\"speedups-{}\">{chart}<figcaption>{}: each dot is one student's \
                     ratio of the baseline's value to theirs (right of 1x is better than the baseline){}.</figcaption></figure>",
                    esc(&file_part(lab)),
                    esc(title),
                    if solution.is_some() { "; the cross is the solution's" } else { "" }
                );
            }
            None => {
                let _ = writeln!(
                    body,
                    "<p class=\"none\">{}: no measurements yet (no student passed the correctness gate).</p>",
                    esc(title)
                );
            }
        }
    }

    // Students.
    let _ =
        writeln!(body, "<h2 id=\"students\">Students</h2>\n<table class=\"students\">\n<thead><tr><th>student</th>");
    for (_, title) in &labs {
        let _ = write!(body, "<th class=\"num\">{}</th>", esc(title));
    }
    body.push_str("<th class=\"num\">total</th></tr></thead>\n<tbody>\n");
    for ((name, record), total) in students.iter().zip(&totals) {
        let _ = write!(body, "<tr><td><a href=\"{}\">{}</a></td>", esc(&feedback_link(name)), esc(name));
        for (lab, _) in &labs {
            let cell = match record.labs.iter().find(|l| l.lab == *lab) {
                Some(l) if l.status == Status::Graded => score_text(l),
                Some(l) => format!("{} ({})", score_text(l), status_word(l.status)),
                None => String::new(),
            };
            let _ = write!(body, "<td class=\"num\">{}</td>", esc(&cell));
        }
        let _ = writeln!(body, "<td class=\"num score\">{}</td></tr>", LabRecord::round(*total));
    }
    body.push_str("</tbody>\n</table>\n");
    if !unreadable.is_empty() {
        let _ = writeln!(body, "<h3>Not graded: the submission could not be read</h3>\n<ul>");
        for (name, why) in unreadable {
            let _ = writeln!(body, "<li><strong>{}</strong>: {}</li>", esc(name), esc(why));
        }
        body.push_str("</ul>\n");
    }

    if leaderboard {
        board(&mut body, students, &labs);
    }
    Ok(page("Class results", &body))
}

/// The leaderboard: per lab, the students whose lab was graded, ranked by
/// the geometric mean of their ratios to the baseline.
fn board(out: &mut String, students: &[(String, Record)], labs: &[(String, String)]) {
    let _ = writeln!(out, "<h2 id=\"leaderboard\">Leaderboard</h2>");
    for (lab, title) in labs {
        let graded: Vec<(&str, &LabRecord)> =
            of_lab(students, lab).filter(|(_, l)| l.status == Status::Graded && !l.measurements.is_empty()).collect();
        let ids: Vec<&str> =
            graded.first().map(|(_, l)| l.measurements.iter().map(|m| m.id.as_str()).collect()).unwrap_or_default();
        if ids.is_empty() {
            let _ = writeln!(out, "<p class=\"none\">{}: nobody to rank yet.</p>", esc(title));
            continue;
        }
        let mut ranked: Vec<(&str, f64, &LabRecord)> = graded
            .iter()
            .map(|(name, l)| {
                let logs: Vec<f64> =
                    l.measurements.iter().map(|m| m.ratio).filter(|r| r.is_finite() && *r > 0.0).map(f64::ln).collect();
                let mean = if logs.is_empty() { 0.0 } else { (logs.iter().sum::<f64>() / logs.len() as f64).exp() };
                (*name, mean, *l)
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let _ = write!(
            out,
            "<h3>{}</h3>\n<table class=\"leaderboard\">\n<thead><tr><th class=\"num\">#</th><th>student</th>\
             <th class=\"num\">geometric mean</th>",
            esc(title)
        );
        for id in &ids {
            let _ = write!(out, "<th class=\"num\">{}</th>", esc(id));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for (rank, (name, mean, l)) in (1..).zip(&ranked) {
            let _ = write!(
                out,
                "<tr><td class=\"num\">{rank}</td><td>{}</td><td class=\"num\">{}</td>",
                esc(name),
                plots::ratio(*mean)
            );
            for id in &ids {
                let cell = l.measurement(id).map(|m| plots::ratio(m.ratio)).unwrap_or_default();
                let _ = write!(out, "<td class=\"num\">{cell}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
}

/// `text` cut to `chars` characters, with an ellipsis when cut.
fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let cut: String = text.chars().take(chars - 1).collect();
        format!("{}…", cut.trim_end())
    }
}
