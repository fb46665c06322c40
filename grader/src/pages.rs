//! HTML pages to read in a browser: a student's feedback page (one record,
//! with plots against the baseline and, given a reference record, the
//! solution) and the class page (every student of a batch).
//!
//! Pages are self-contained: CSS and charts (SVG drawn by plotters) are
//! inline, nothing is fetched and no script runs; a flamegraph is a file
//! beside its page. Records hold text from a student's run (evidence quotes
//! what their service answered) and names from their submissions, so every
//! value goes through [`esc`] on its way into a page.
//!
//! - [`feedback`]: `feedback.html` for one record, and its flamegraph files.
//! - [`class`]: `class.html` for a batch.
//! - [`plots`]: the charts.

pub mod class;
pub mod feedback;
pub mod plots;

use std::fmt::Write as _;

use crate::record::{Environment, LabRecord, Record, Status};

/// `text` safe anywhere in HTML, between tags or inside a quoted attribute;
/// control characters but tab and newline are dropped.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A file name or URL path segment from `text`: letters, digits, `-`, `_`
/// and `.` kept, anything else `_` (a name never leaves its folder).
pub fn file_part(text: &str) -> String {
    let part: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if part.trim_matches('.').is_empty() { format!("_{part}") } else { part }
}

/// `85 / 100`, with ` (+5 / 10 bonus)` when the lab has bonus checks.
fn score_text(lab: &LabRecord) -> String {
    let core = format!("{} / {}", LabRecord::round(lab.score), LabRecord::round(lab.max_score));
    if lab.bonus_max > 0.0 {
        format!("{core} (+{} / {} bonus)", LabRecord::round(lab.bonus), LabRecord::round(lab.bonus_max))
    } else {
        core
    }
}

/// The lines that say a record cannot be taken at its word: a modified kit,
/// uncontained drivers.
fn warnings(env: &Environment) -> Vec<String> {
    let mut warnings = Vec::new();
    if !env.kit_modified.is_empty() {
        warnings.push(format!(
            "KIT MODIFIED: kit-owned files differ from the kit's commit: {}",
            env.kit_modified.join(", ")
        ));
    }
    if env.containment.starts_with("NOT CONTAINED") {
        warnings.push(env.containment.clone());
    }
    warnings
}

/// `seed 7 · kit 0123abc · grader 0.1.0`: where a record comes from.
fn provenance(env: &Environment) -> String {
    let commit = env.kit_commit.as_deref().map_or("not a git checkout", |c| &c[..c.len().min(12)]);
    format!("seed {} · kit {commit} · grader {}", env.seed, env.grader_version)
}

/// The graded lab `lab` of the reference records, with the seed it was graded on.
fn reference_lab<'a>(reference: &'a [Record], lab: &str) -> Option<(&'a LabRecord, u64)> {
    reference.iter().find_map(|record| {
        let found = record.labs.iter().find(|l| l.lab == lab && l.status == Status::Graded)?;
        Some((found, record.environment.seed))
    })
}

/// A whole page: `title`, the kit's style sheet, `body`.
fn page(title: &str, body: &str) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    );
    html
}

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1160px;
  padding: 1.5rem 2rem 3rem; color: #222; background: #fafafa; line-height: 1.45; }
h1 { margin: 0 0 .2rem; font-size: 1.7rem; }
h2 { margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid #ddd; font-size: 1.35rem; }
h3 { margin: 1.4rem 0 .5rem; font-size: 1.08rem; }
.meta { color: #666; font-size: .9rem; margin: 0; }
.warning { background: #fde8e8; border-left: 4px solid #c62828; padding: .5rem .8rem; font-weight: 600; }
.status { background: #fff4e5; border-left: 4px solid #e65100; padding: .5rem .8rem; }
.none { color: #555; font-style: italic; }
.score { font-variant-numeric: tabular-nums; color: #1f77b4; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .55rem; border-bottom: 1px solid #e4e4e4; }
th { background: #f0f0f0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail td.mark { color: #c62828; } tr.pass td.mark { color: #2e7d32; }
td.mark { font-weight: 700; text-align: center; width: 1.5rem; }
.evidence { white-space: pre-wrap; overflow-wrap: anywhere; }
.hint { margin: .3rem 0 0; color: #444; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; background: #eef; padding: 0 .25rem;
  border-radius: 3px; font-size: .86rem; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0 0 1rem; background: #fff; border: 1px solid #e0e0e0; border-radius: 4px; padding: .4rem;
  width: fit-content; max-width: 100%; box-sizing: border-box; }
.plots figure { margin: 0; }
figure svg, figure img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #444; max-width: 460px; margin-top: .2rem; }
figure.wide figcaption { max-width: 720px; }
.key span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .25rem 0 .8rem; vertical-align: -1px; }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::Target;
    use crate::hints::Hints;
    use crate::labs::tests::{findings, rubric};
    use crate::labs::{attach_hints, not_graded, score};
    use crate::record::{Distribution, Flamegraph};

    fn environment(seed: u64) -> Environment {
        Environment {
            cpu_model: "Test CPU".into(),
            cores: 2,
            load_average: [0.5, 0.25, 0.0],
            rustc: "rustc 1.95.0".into(),
            seed,
            valgrind: None,
            grader_version: "0.1.0".into(),
            kit: "/work/kit".into(),
            kit_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            kit_modified: Vec::new(),
            containment: "bubblewrap 0.8.0".into(),
        }
    }

    /// A graded demo lab with a speedup of `cpu_ratio` whose leak check
    /// fails with a hint, and nothing but counts (no distribution, no flamegraph).
    fn record(cpu_ratio: f64) -> Record {
        let mut lab = score(&rubric(), &Target::Exercise, findings(cpu_ratio, 100.0, Some(1.5)));
        attach_hints(&mut lab, &Hints::parse("[[hint]]\ncheck = \"leak\"\ntext = \"a\"\n").expect("parses"));
        Record { labs: vec![lab], environment: environment(7) }
    }

    fn solution() -> Record {
        let lab = score(&rubric(), &Target::Solution, findings(16.0, 0.0, Some(2.0)));
        Record { labs: vec![lab], environment: environment(7) }
    }

    /// The feedback page alone.
    fn feedback_page(record: &Record, reference: &[Record]) -> String {
        let files = feedback::files(record, reference, "Feedback: ana").expect("builds");
        assert_eq!(files[0].0, "feedback.html");
        files[0].1.clone()
    }

    /// The texts of a page's `<svg>` charts.
    fn chart_texts(html: &str) -> Vec<String> {
        html.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_string()))
            .collect()
    }

    #[test]
    fn escaping_leaves_no_markup_and_no_way_out_of_an_attribute() {
        let text = esc("<script>alert('x')</script> & \"quoted\"\u{1b}[31m\nnext");
        assert_eq!(text, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;[31m\nnext");
        assert_eq!(file_part("../a b/c.svg"), ".._a_b_c.svg");
        assert_eq!(file_part(".."), "_..");
    }

    #[test]
    fn the_feedback_page_has_every_check_its_hint_and_a_chart_per_measurement() {
        let record = record(4.0);
        let html = feedback_page(&record, &[]);
        let lab = &record.labs[0];
        assert!(html.contains(&format!("{} / {}", lab.score, lab.max_score)), "the score");
        for check in &lab.checks {
            assert!(html.contains(&esc(&check.title)), "{} missing", check.title);
        }
        let leak = lab.check("leak").expect("a leak check");
        assert!(!leak.passed);
        let hint = leak.hint.as_deref().expect("a hint for a failed check");
        assert!(html.contains(&format!("Next hint: <code>{}</code>", esc(hint))), "{html}");
        assert_eq!(html.matches("Next hint").count(), 1, "passed checks show none");
        assert_eq!(html.matches("<figure class=\"measurement\"").count(), lab.measurements.len());
        assert_eq!(html.matches("<svg").count(), lab.measurements.len(), "a chart each, nothing else");
        let texts = chart_texts(&html);
        for series in ["baseline", "yours", "instructions/request"] {
            assert!(texts.iter().any(|t| t == series), "{series} in {texts:?}");
        }
        assert!(!texts.iter().any(|t| t == "solution"), "no reference, no solution: {texts:?}");
        assert!(html.contains("No solution record was given"));

        let html = feedback_page(&record, &[solution()]);
        let texts = chart_texts(&html);
        assert!(texts.iter().any(|t| t == "solution"), "{texts:?}");
        assert!(texts.iter().any(|t| t.ends_with("· 16.0x")), "the solution's ratio: {texts:?}");
        assert!(html.contains("graded on the same seed (7)"));
    }

    #[test]
    fn a_record_without_distributions_or_a_flamegraph_says_so_and_draws_nothing_for_them() {
        let record = record(4.0);
        let files = feedback::files(&record, &[], "Feedback").expect("builds");
        assert_eq!(files.len(), 1, "no flamegraph file");
        let html = &files[0].1;
        assert!(html.contains("No per-request distributions in this record for this lab"), "{html}");
        assert!(html.contains("No flamegraph for this lab"), "{html}");
        assert!(!html.contains("class=\"cdf\"") && !html.contains("<img"), "{html}");

        // A lab not graded says why, and measured nothing.
        let mut other = not_graded(&rubric(), &Target::Exercise, "redis-server is not installed".into());
        other.lab = "other".into();
        let html = feedback_page(&Record { labs: vec![other], environment: environment(7) }, &[]);
        assert!(html.contains("not graded: redis-server is not installed"), "{html}");
        assert!(html.contains("Nothing was measured in this lab: it was not fully graded"), "{html}");
    }

    #[test]
    fn a_distribution_is_a_cdf_per_side_and_a_flamegraph_a_file_beside_the_page() {
        let mut record = record(4.0);
        let mut reference = solution();
        let values = |scale: f64| (1..=200).map(|i| scale * f64::from(i)).collect::<Vec<f64>>();
        let lab = &mut record.labs[0];
        lab.measurements[0].distribution = Some(Distribution::of("one lookup", "ms", &values(1.0), &values(0.1)));
        lab.flamegraph = Some(Flamegraph { workload: "year-long reports".into(), svg: "<svg></svg>".into() });
        reference.labs[0].measurements[0].distribution =
            Some(Distribution::of("one lookup", "ms", &values(1.0), &values(0.01)));
        let files = feedback::files(&record, &[reference], "Feedback").expect("builds");
        assert_eq!(files[1], ("flamegraph-demo.svg".to_string(), "<svg></svg>".to_string()));
        let html = &files[0].1;
        assert!(html.contains("<img src=\"flamegraph-demo.svg\""), "{html}");
        assert!(html.contains("year-long reports"));
        assert_eq!(html.matches("<figure class=\"cdf\"").count(), 1);
        let cdf = &html[html.find("<figure class=\"cdf\"").unwrap()..];
        let cdf = &cdf[..cdf.find("</figure>").unwrap()];
        let texts = chart_texts(cdf);
        for series in ["baseline", "yours", "solution", "ms", "requests at most"] {
            assert!(texts.iter().any(|t| t == series), "{series} in {texts:?}");
        }
        assert!(cdf.contains("yours p50 10.00 ms, p99 19.80 ms"), "{cdf}");
        assert!(!html.contains("No per-request distributions"));
    }

    #[test]
    fn everything_a_student_controls_is_escaped() {
        let mut record = record(4.0);
        let attack = "<script>alert(1)</script><img src=x onerror=alert(2)>\" onload=\"alert(3)";
        let lab = &mut record.labs[0];
        lab.checks[1].evidence = format!("the service answered {attack}");
        lab.checks[2].hint = Some(attack.into());
        lab.reason = Some(attack.into());
        lab.status = Status::Failed;
        lab.measurements[0].id = attack.into();
        lab.measurements[0].unit = attack.into();
        lab.measurements[0].method = attack.into();
        lab.measurements[0].distribution = Some(Distribution::of(attack, attack, &[1.0, 2.0], &[1.0]));
        lab.flamegraph = Some(Flamegraph { workload: attack.into(), svg: "<svg/>".into() });
        record.environment.containment = format!("NOT CONTAINED: {attack}");
        let html = feedback_page(&record, &[]);
        for raw in ["<script", "<img src=x", "\" onload="] {
            assert!(!html.contains(raw), "{raw} got through:\n{html}");
        }
        assert!(html.contains("the service answered &lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");

        let students = vec![(attack.to_string(), record.clone()), ("ben".to_string(), self::record(2.0))];
        let unreadable = vec![(attack.to_string(), attack.to_string())];
        let class = class::Class { students: &students, unreadable: &unreadable, reference: &[], leaderboard: true };
        let html = class::html(&class).expect("builds");
        for raw in ["<script", "<img src=x", "\" onload="] {
            assert!(!html.contains(raw), "{raw} got through:\n{html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        // The link stays inside students/.
        assert!(html.contains(&format!("href=\"students/{}/feedback.html\"", esc(&file_part(attack)))), "{html}");
    }

    #[test]
    fn the_class_page_charts_the_batch_and_ranks_nobody_unless_asked() {
        let students: Vec<(String, Record)> =
            [("ana", 4.0), ("ben", 16.0), ("cy", 1.0)].into_iter().map(|(n, r)| (n.to_string(), record(r))).collect();
        let reference = [solution()];
        let class = class::Class { students: &students, unreadable: &[], reference: &reference, leaderboard: false };
        let html = class::html(&class).expect("builds");
        for id in ["id=\"scores\"", "id=\"pass-demo\"", "id=\"speedups-demo\""] {
            let at = html.find(id).unwrap_or_else(|| panic!("no {id}"));
            assert!(html[at..].trim_start_matches(|c| c != '>').get(1..5) == Some("<svg"), "{id} holds a chart");
        }
        for name in ["ana", "ben", "cy"] {
            assert!(html.contains(&format!("<a href=\"students/{name}/feedback.html\">{name}</a>")), "{name}");
        }
        let texts = chart_texts(&html);
        for label in
            ["students", "the solution", "a student", "the baseline (1x)", "cpu_per_request", "Heap kept per request"]
        {
            assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
        }
        assert!(!html.contains("Leaderboard"), "no ranking by default");

        let class = class::Class { leaderboard: true, ..class };
        let html = class::html(&class).expect("builds");
        let board = &html[html.find("id=\"leaderboard\"").expect("a leaderboard")..];
        let (ben, ana, cy) = (board.find(">ben<").unwrap(), board.find(">ana<").unwrap(), board.find(">cy<").unwrap());
        assert!(ben < ana && ana < cy, "ranked by speedup: {board}");
    }
}
