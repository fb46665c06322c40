//! The result record in the formats of the platforms instructors grade on:
//! Gradescope's autograder `results.json`, the GitHub Classroom
//! autograding result (what its grading reporter reads), JUnit XML for any
//! CI, Markdown a student can read (and a workflow's step summary), and a
//! CSV gradebook of several records.
//!
//! Every export is a view of one [`Record`]: it adds nothing the record does
//! not hold, so a score reads the same everywhere. A lab that was not fully
//! graded, a kit whose own files were modified and drivers that ran
//! uncontained are said in every format, never dropped.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::record::{Check, LabRecord, Record, Status};
use crate::report::status_word;

/// Gradescope's visibility of a test or of the whole result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Visibility {
    Visible,
    Hidden,
    AfterDueDate,
    AfterPublished,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Visible => "visible",
            Visibility::Hidden => "hidden",
            Visibility::AfterDueDate => "after_due_date",
            Visibility::AfterPublished => "after_published",
        }
    }
}

/// What a Gradescope export shows.
#[derive(Debug, Clone, Copy)]
pub struct GradescopeOptions {
    pub visibility: Visibility,
    /// Add a leaderboard entry per measurement (its ratio to the baseline).
    pub leaderboard: bool,
}

/// Problems with the record as a whole that every export states: a kit
/// whose own files differ from its commit, drivers that ran uncontained.
fn warnings(record: &Record) -> Vec<String> {
    let env = &record.environment;
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

/// A check's evidence, with the command for its next hint when it has one.
fn check_text(check: &Check) -> String {
    let mut text = check.evidence.clone();
    if check.bonus {
        text = format!(
            "bonus, reported beside the score and never added to it: {} / {}. {text}",
            check.points, check.max_points
        );
    }
    if let Some(hint) = &check.hint {
        text.push_str(&format!("\nnext hint: {hint}"));
    }
    text
}

/// The points a check adds to the total (a bonus check adds none).
fn counted(check: &Check) -> (f64, f64) {
    if check.bonus { (0.0, 0.0) } else { (check.points, check.max_points) }
}

/// `Lab 23: profiling · <check title>`.
fn test_name(lab: &LabRecord, check: &Check) -> String {
    format!("{} · {}", lab.title, check.title)
}

/// The line that says a lab was not fully graded, when it was not.
fn not_graded(lab: &LabRecord) -> Option<String> {
    (lab.status != Status::Graded).then(|| {
        format!("{} {}: {}", lab.title, status_word(lab.status), lab.reason.as_deref().unwrap_or("no reason recorded"))
    })
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Gradescope's autograder `results.json`: one test per check (score,
/// max_score, status, output, tags, visibility), the total as `score`, the
/// record's summary as `output`, and optionally leaderboard entries.
pub fn gradescope(record: &Record, options: GradescopeOptions) -> Value {
    let visibility = options.visibility.as_str();
    let mut tests = Vec::new();
    let mut leaderboard = Vec::new();
    let (mut score, mut seconds) = (0.0, 0.0);
    for (l, lab) in record.labs.iter().enumerate() {
        score += lab.score;
        seconds += lab.seconds;
        if let Some(line) = not_graded(lab) {
            tests.push(json!({
                "name": format!("{} · graded", lab.title),
                "number": format!("{}.0", l + 1),
                "score": 0.0,
                "max_score": 0.0,
                "status": "failed",
                "output": line,
                "tags": [lab.lab],
                "visibility": visibility,
            }));
        }
        for (c, check) in lab.checks.iter().enumerate() {
            let (points, max) = counted(check);
            let mut tags = vec![lab.lab.clone()];
            tags.extend(check.category.clone());
            tests.push(json!({
                "name": test_name(lab, check),
                "number": format!("{}.{}", l + 1, c + 1),
                "score": round2(points),
                "max_score": round2(max),
                "status": if check.passed { "passed" } else { "failed" },
                "output": check_text(check),
                "tags": tags,
                "visibility": visibility,
            }));
        }
        if options.leaderboard {
            for m in &lab.measurements {
                leaderboard.push(json!({
                    "name": format!("{} {} (x baseline)", lab.lab, m.id),
                    "value": round2(m.ratio),
                    "order": "desc",
                }));
            }
        }
    }
    let env = &record.environment;
    let mut output = String::new();
    for warning in warnings(record) {
        let _ = writeln!(output, "**{warning}**\n");
    }
    for lab in &record.labs {
        let _ = writeln!(output, "- {}: {} / {} ({})", lab.title, lab.score, lab.max_score, status_word(lab.status));
    }
    let _ = write!(
        output,
        "\nseed {} · kit {} · grader {}",
        env.seed,
        env.kit_commit.as_deref().unwrap_or("not a git checkout"),
        env.grader_version
    );
    let mut results = json!({
        "score": round2(score),
        "execution_time": seconds.round() as u64,
        "output": output,
        "output_format": "md",
        "test_output_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "extra_data": {
            "seed": env.seed,
            "kit_commit": env.kit_commit,
            "kit_modified": env.kit_modified,
            "containment": env.containment,
            "grader_version": env.grader_version,
        },
        "tests": tests,
    });
    if options.leaderboard {
        results["leaderboard"] = Value::Array(leaderboard);
    }
    results
}

/// The GitHub Classroom autograding result, as its grading reporter reads
/// it from a runner (`<RUNNER>_RESULTS`, base64): version 1, a status of
/// `pass`, `fail` or `error`, `max_score`, and one test per check with its
/// `score` (the reporter adds them up). `error` when a lab was not fully
/// graded or the record carries a warning.
pub fn classroom(record: &Record) -> Value {
    let warnings = warnings(record);
    let mut tests = Vec::new();
    let (mut max_score, mut all_passed, mut error) = (0.0, true, !warnings.is_empty());
    for warning in &warnings {
        tests
            .push(json!({ "name": "the grading can be trusted", "status": "error", "score": 0.0, "message": warning }));
    }
    for lab in &record.labs {
        max_score += lab.max_score;
        if let Some(line) = not_graded(lab) {
            error = true;
            tests.push(
                json!({ "name": format!("{} · graded", lab.title), "status": "error", "score": 0.0, "message": line }),
            );
        }
        for check in &lab.checks {
            let (points, _) = counted(check);
            all_passed &= check.passed || check.bonus;
            tests.push(json!({
                "name": test_name(lab, check),
                "status": if check.passed { "pass" } else { "fail" },
                "score": round2(points),
                "message": check_text(check),
            }));
        }
    }
    let status = if error {
        "error"
    } else if all_passed {
        "pass"
    } else {
        "fail"
    };
    json!({ "version": 1, "status": status, "max_score": round2(max_score), "tests": tests })
}

/// The step output line a workflow appends to `$GITHUB_OUTPUT`:
/// `result=<base64 of the Classroom result>`, which the reporter's
/// `<RUNNER>_RESULTS: ${{ steps.<runner>.outputs.result }}` passes on.
pub fn classroom_output(record: &Record) -> String {
    use base64::Engine as _;
    let text = classroom(record).to_string();
    format!("result={}\n", base64::engine::general_purpose::STANDARD.encode(text))
}

/// JUnit XML: a `testsuite` per lab (its score and the seed as
/// properties), a `testcase` per check, a `failure` for a check not passed
/// and an `error` for a lab not fully graded or a record with a warning.
pub fn junit(record: &Record) -> anyhow::Result<String> {
    use quick_xml::Writer;
    use quick_xml::events::{BytesDecl, BytesText, Event};

    let warnings = warnings(record);
    // Each warning is a case of its own, in error.
    let (cases, failures, errors) = record
        .labs
        .iter()
        .map(junit_counts)
        .fold((warnings.len(), 0, warnings.len()), |(cases, failures, errors), (c, f, e)| {
            (cases + c, failures + f, errors + e)
        });
    let seconds: f64 = record.labs.iter().map(|lab| lab.seconds).sum();

    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let (cases, failures, errors) = (cases.to_string(), failures.to_string(), errors.to_string());
    let time = format!("{seconds:.3}");
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", "grader"),
            ("tests", cases.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("time", time.as_str()),
        ])
        .write_inner_content(|w| {
            if !warnings.is_empty() {
                let count = warnings.len().to_string();
                w.create_element("testsuite")
                    .with_attributes([
                        ("name", "the grading"),
                        ("tests", count.as_str()),
                        ("failures", "0"),
                        ("errors", count.as_str()),
                        ("skipped", "0"),
                        ("time", "0"),
                    ])
                    .write_inner_content(|w| {
                        for warning in &warnings {
                            w.create_element("testcase")
                                .with_attributes([
                                    ("classname", "grader"),
                                    ("name", "the grading can be trusted"),
                                    ("time", "0"),
                                ])
                                .write_inner_content(|w| {
                                    w.create_element("error")
                                        .with_attributes([("message", xml_text(warning).as_str()), ("type", "warning")])
                                        .write_empty()?;
                                    Ok(())
                                })?;
                        }
                        Ok(())
                    })?;
            }
            for lab in &record.labs {
                let (tests, failed, errored) = junit_counts(lab);
                let (tests, failed, errored) = (tests.to_string(), failed.to_string(), errored.to_string());
                let time = format!("{:.3}", lab.seconds);
                let name = format!("{} ({})", lab.title, lab.target);
                let classname = format!("grader.{}", lab.lab);
                w.create_element("testsuite")
                    .with_attributes([
                        ("name", xml_text(&name).as_str()),
                        ("tests", tests.as_str()),
                        ("failures", failed.as_str()),
                        ("errors", errored.as_str()),
                        ("skipped", "0"),
                        ("time", time.as_str()),
                    ])
                    .write_inner_content(|w| {
                        let env = &record.environment;
                        let properties = [
                            ("score", lab.score.to_string()),
                            ("max_score", lab.max_score.to_string()),
                            ("status", status_word(lab.status).to_string()),
                            ("seed", env.seed.to_string()),
                            ("kit_commit", env.kit_commit.clone().unwrap_or_default()),
                        ];
                        w.create_element("properties").write_inner_content(|w| {
                            for (name, value) in &properties {
                                w.create_element("property")
                                    .with_attributes([("name", *name), ("value", xml_text(value).as_str())])
                                    .write_empty()?;
                            }
                            Ok(())
                        })?;
                        if let Some(line) = not_graded(lab) {
                            w.create_element("testcase")
                                .with_attributes([("classname", classname.as_str()), ("name", "graded"), ("time", "0")])
                                .write_inner_content(|w| {
                                    let kind = status_word(lab.status).replace(' ', "_");
                                    w.create_element("error")
                                        .with_attributes([
                                            ("message", xml_text(&line).as_str()),
                                            ("type", kind.as_str()),
                                        ])
                                        .write_empty()?;
                                    Ok(())
                                })?;
                        }
                        for check in &lab.checks {
                            let name = xml_text(&format!("{}: {}", check.id, check.title));
                            let case = w.create_element("testcase").with_attributes([
                                ("classname", classname.as_str()),
                                ("name", name.as_str()),
                                ("time", "0"),
                            ]);
                            if check.passed {
                                case.write_empty()?;
                            } else {
                                let message = format!("{} / {} points", check.points, check.max_points);
                                case.write_inner_content(|w| {
                                    w.create_element("failure")
                                        .with_attributes([("message", message.as_str()), ("type", "check")])
                                        .write_text_content(BytesText::new(&xml_text(&check_text(check))))?;
                                    Ok(())
                                })?;
                            }
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    let mut xml = String::from_utf8(writer.into_inner())?;
    xml.push('\n');
    Ok(xml)
}

/// A lab's JUnit suite counts: cases (a check each, and one for a lab not
/// fully graded), failures (checks not passed) and errors (that one case).
fn junit_counts(lab: &LabRecord) -> (usize, usize, usize) {
    let not_graded = usize::from(lab.status != Status::Graded);
    (lab.checks.len() + not_graded, lab.checks.iter().filter(|c| !c.passed).count(), not_graded)
}

/// Text XML 1.0 may hold: control characters other than tab, newline and
/// carriage return are dropped (escaping is the writer's).
fn xml_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')).collect()
}

/// A check's mark in Markdown: passed, or not.
fn mark(check: &Check) -> &'static str {
    if check.passed { "✅" } else { "❌" }
}

/// Markdown a table cell can hold: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// The record as Markdown a student can read: each lab's score, each check
/// with its points, evidence and the command for its next hint, the
/// measurements against the baseline, and any warning the record carries.
/// Also a GitHub Actions step summary (`>> "$GITHUB_STEP_SUMMARY"`).
pub fn markdown(record: &Record) -> String {
    let mut out = String::new();
    for warning in warnings(record) {
        let _ = writeln!(out, "> **{}**\n", cell(&warning));
    }
    for lab in &record.labs {
        let _ = writeln!(out, "## {}: {} / {}\n", lab.title, lab.score, lab.max_score);
        if let Some(line) = not_graded(lab) {
            let _ = writeln!(out, "**{}**\n", cell(&line));
        }
        let _ = writeln!(out, "| | check | points | evidence |\n|---|---|---:|---|");
        for check in &lab.checks {
            let title = if check.bonus { format!("{} (bonus)", check.title) } else { check.title.clone() };
            let mut evidence = cell(&check.evidence);
            if let Some(hint) = &check.hint {
                evidence.push_str(&format!("<br>next hint: `{}`", cell(hint)));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} / {} | {} |",
                mark(check),
                cell(&title),
                round2(check.points),
                round2(check.max_points),
                evidence
            );
        }
        if !lab.measurements.is_empty() {
            let _ = writeln!(out, "\n| measurement | baseline | yours | ratio (95% interval) |\n|---|---:|---:|---:|");
            for m in &lab.measurements {
                let _ = writeln!(
                    out,
                    "| {} ({}) | {} | {} | {}x [{}, {}] |",
                    cell(&m.id),
                    cell(&m.unit),
                    round2(m.baseline),
                    round2(m.target),
                    round2(m.ratio),
                    round2(m.ratio_low),
                    round2(m.ratio_high)
                );
            }
        }
        out.push('\n');
    }
    let env = &record.environment;
    let _ = writeln!(
        out,
        "seed {} · kit {} · grader {} · {}",
        env.seed,
        env.kit_commit.as_deref().unwrap_or("not a git checkout"),
        env.grader_version,
        cell(&env.containment)
    );
    out
}

/// A CSV gradebook: one row per student, a column per lab and per check
/// (`<lab>/<check>` points) and the total; a lab a student's record lacks
/// is left empty, and a lab not fully graded says so in `<lab> status`.
pub fn gradebook(students: &[(String, Record)]) -> anyhow::Result<String> {
    // Every lab and check that any record names, in the order first seen.
    let mut labs: Vec<(String, Vec<String>)> = Vec::new();
    for (_, record) in students {
        for lab in &record.labs {
            let at = match labs.iter().position(|(id, _)| *id == lab.lab) {
                Some(at) => at,
                None => {
                    labs.push((lab.lab.clone(), Vec::new()));
                    labs.len() - 1
                }
            };
            for check in &lab.checks {
                if !labs[at].1.contains(&check.id) {
                    labs[at].1.push(check.id.clone());
                }
            }
        }
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["student".to_string()];
    for (lab, checks) in &labs {
        header.push(format!("{lab} score"));
        header.push(format!("{lab} status"));
        header.extend(checks.iter().map(|check| format!("{lab}/{check}")));
    }
    header.extend(["total".to_string(), "max".to_string(), "seed".to_string(), "warnings".to_string()]);
    csv.write_record(&header)?;
    for (student, record) in students {
        let mut row = vec![student.clone()];
        let (mut total, mut max) = (0.0, 0.0);
        for (id, checks) in &labs {
            match record.labs.iter().find(|lab| lab.lab == *id) {
                Some(lab) => {
                    total += lab.score;
                    max += lab.max_score;
                    row.push(lab.score.to_string());
                    row.push(status_word(lab.status).to_string());
                    for check in checks {
                        row.push(lab.check(check).map(|c| round2(c.points).to_string()).unwrap_or_default());
                    }
                }
                None => row.extend(std::iter::repeat_n(String::new(), checks.len() + 2)),
            }
        }
        row.extend([
            round2(total).to_string(),
            max.to_string(),
            record.environment.seed.to_string(),
            warnings(record).join("; "),
        ]);
        csv.write_record(&row)?;
    }
    Ok(String::from_utf8(csv.into_inner()?)?)
}

#[cfg(test)]
mod tests {
    //! Each export is read back into the platform's documented shape,
    //! written here from the platform's documentation and not from the code
    //! above: unknown fields and values outside a documented set fail.
    use super::*;
    use crate::build::Target;
    use crate::hints::Hints;
    use crate::labs::{attach_hints, not_graded as lab_not_graded, score};
    use crate::record::Environment;
    use serde::Deserialize;

    // The shapes below list every documented field, read or not: a field
    // the platform does not know must fail to parse.

    fn environment() -> Environment {
        Environment {
            cpu_model: "Test CPU".into(),
            cores: 2,
            load_average: [0.5, 0.25, 0.0],
            rustc: "rustc 1.95.0".into(),
            seed: 7,
            valgrind: None,
            grader_version: "0.1.0".into(),
            kit: "/work/kit".into(),
            kit_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            kit_modified: Vec::new(),
            containment: "bubblewrap 0.8.0".into(),
        }
    }

    /// A graded lab that fails one check (its evidence holds characters XML
    /// escapes and one it cannot hold), and a lab that was not graded.
    fn record() -> Record {
        let rubric = crate::labs::tests::rubric();
        let mut graded = score(&rubric, &Target::Solution, crate::labs::tests::findings(4.0, 100.0, Some(1.5)));
        attach_hints(&mut graded, &Hints::parse("[[hint]]\ncheck = \"leak\"\ntext = \"a\"\n").expect("parses"));
        graded.checks[2].evidence.push_str(" <kept> & \"quoted\" \u{1b}[31mred");
        graded.seconds = 61.0;
        let mut other = lab_not_graded(&rubric, &Target::Exercise, "redis-server is not installed".into());
        other.lab = "other".into();
        other.title = "Other lab".into();
        Record { labs: vec![graded, other], environment: environment() }
    }

    fn sum_counted(record: &Record) -> (f64, f64) {
        let labs = record.labs.iter();
        (labs.clone().map(|lab| lab.score).sum(), labs.map(|lab| lab.max_score).sum())
    }

    // Gradescope, "Autograder Specifications": the results.json format.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "documented fields the tests need not read")]
    struct GsResults {
        score: Option<f64>,
        execution_time: Option<u64>,
        output: Option<String>,
        output_format: Option<GsFormat>,
        test_output_format: Option<GsFormat>,
        test_name_format: Option<GsFormat>,
        visibility: Option<GsVisibility>,
        stdout_visibility: Option<GsVisibility>,
        extra_data: Option<serde_json::Map<String, Value>>,
        tests: Vec<GsTest>,
        leaderboard: Option<Vec<GsLeaderboard>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "documented fields the tests need not read")]
    struct GsTest {
        score: Option<f64>,
        max_score: Option<f64>,
        status: Option<GsStatus>,
        name: Option<String>,
        name_format: Option<GsFormat>,
        number: Option<String>,
        output: Option<String>,
        output_format: Option<GsFormat>,
        tags: Option<Vec<String>>,
        visibility: Option<GsVisibility>,
        extra_data: Option<serde_json::Map<String, Value>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "documented fields the tests need not read")]
    struct GsLeaderboard {
        name: String,
        value: Value,
        order: Option<GsOrder>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum GsFormat {
        Text,
        Html,
        SimpleFormat,
        Md,
        Ansi,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum GsVisibility {
        Hidden,
        AfterDueDate,
        AfterPublished,
        Visible,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum GsStatus {
        Passed,
        Failed,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum GsOrder {
        Asc,
        Desc,
    }

    #[test]
    fn the_gradescope_results_have_the_documented_shape_and_the_record_s_total() {
        let record = record();
        let options = GradescopeOptions { visibility: Visibility::AfterPublished, leaderboard: true };
        let results: GsResults = serde_json::from_value(gradescope(&record, options)).expect("documented shape");
        let (total, _) = sum_counted(&record);
        assert_eq!(results.score, Some(round2(total)));
        let tests_total: f64 = results.tests.iter().filter_map(|t| t.score).sum();
        assert!((tests_total - total).abs() < 0.05, "the tests add up to {tests_total}, the record to {total}");
        assert_eq!(results.visibility, Some(GsVisibility::AfterPublished));
        for test in &results.tests {
            assert!(test.score.unwrap_or(0.0) <= test.max_score.unwrap_or(0.0) + 1e-9, "{test:?}");
            assert!(test.name.as_deref().is_some_and(|n| !n.is_empty()), "{test:?}");
        }
        // Every check of both labs, and a test saying the second was not graded.
        let checks: usize = record.labs.iter().map(|lab| lab.checks.len()).sum();
        assert_eq!(results.tests.len(), checks + 1);
        let not_graded = results.tests.iter().find(|t| t.name.as_deref() == Some("Other lab · graded")).expect("named");
        assert_eq!(not_graded.status, Some(GsStatus::Failed));
        assert!(not_graded.output.as_deref().unwrap_or_default().contains("redis-server is not installed"));
        // The bonus check adds nothing to the total and says why.
        let bonus =
            results.tests.iter().find(|t| t.name.as_deref().is_some_and(|n| n.ends_with("skewed mix"))).unwrap();
        assert_eq!((bonus.score, bonus.max_score), (Some(0.0), Some(0.0)));
        assert!(bonus.output.as_deref().unwrap_or_default().contains("never added"));
        // A failed check names its next hint.
        let leak =
            results.tests.iter().find(|t| t.name.as_deref() == Some("Demo lab · Heap kept per request")).unwrap();
        assert!(leak.output.as_deref().unwrap_or_default().contains("next hint: "), "{leak:?}");
        let board = results.leaderboard.expect("asked for");
        assert_eq!(board.len(), record.labs[0].measurements.len());
        assert!(board.iter().all(|entry| entry.order == Some(GsOrder::Desc) && entry.value.is_number()));
        // No leaderboard unless asked for.
        let plain = gradescope(&record, GradescopeOptions { visibility: Visibility::Visible, leaderboard: false });
        assert!(plain.get("leaderboard").is_none());
    }

    // GitHub Classroom: what autograding-grading-reporter reads from each
    // runner's `<RUNNER>_RESULTS` (base64 JSON).
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "documented fields the tests need not read")]
    struct ClassroomResult {
        version: u8,
        status: ClassroomStatus,
        max_score: f64,
        tests: Vec<ClassroomTest>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "documented fields the tests need not read")]
    struct ClassroomTest {
        name: String,
        status: ClassroomStatus,
        score: Option<f64>,
        message: Option<String>,
        line_no: Option<u32>,
        execution_time: Option<String>,
        test_code: Option<String>,
        filename: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum ClassroomStatus {
        Pass,
        Fail,
        Error,
    }

    #[test]
    fn the_classroom_result_has_the_reporter_s_shape_and_its_sum_is_the_score() {
        use base64::Engine as _;
        let mut record = record();
        let line = classroom_output(&record);
        let encoded = line.strip_prefix("result=").and_then(|l| l.strip_suffix('\n')).expect("one output line");
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
        let result: ClassroomResult = serde_json::from_slice(&decoded).expect("the reporter's shape");
        assert_eq!(result.version, 1);
        // A lab not graded is an error, not a plain failure.
        assert_eq!(result.status, ClassroomStatus::Error);
        let (total, max) = sum_counted(&record);
        assert_eq!(result.max_score, max);
        let reported: f64 = result.tests.iter().filter_map(|t| t.score).sum();
        assert!((reported - total).abs() < 0.05, "the reporter would add up {reported}, the record says {total}");

        record.labs.truncate(1);
        let result: ClassroomResult = serde_json::from_value(classroom(&record)).expect("shape");
        assert_eq!(result.status, ClassroomStatus::Fail, "one check fails");
        for check in &mut record.labs[0].checks {
            check.passed = true;
        }
        let result: ClassroomResult = serde_json::from_value(classroom(&record)).expect("shape");
        assert_eq!(result.status, ClassroomStatus::Pass);
        record.environment.kit_modified = vec!["labs/demo/rubric.toml".into()];
        let result: ClassroomResult = serde_json::from_value(classroom(&record)).expect("shape");
        assert_eq!(result.status, ClassroomStatus::Error, "a modified kit is never a pass");
        assert!(result.tests[0].message.as_deref().unwrap_or_default().contains("labs/demo/rubric.toml"));
    }

    /// The elements and attributes of JUnit XML as CI servers read it
    /// (the Ant/Jenkins schema): `testsuites` of `testsuite`s of
    /// `testcase`s, each with at most one `failure` or `error`, counts that
    /// match, names everywhere.
    #[test]
    fn the_junit_xml_is_well_formed_with_counts_that_match_its_cases() {
        use quick_xml::Reader;
        use quick_xml::events::Event;
        let record = record();
        let xml = junit(&record).expect("writes");
        let mut reader = Reader::from_str(&xml);
        let mut path: Vec<String> = Vec::new();
        let (mut suites, mut cases, mut failures, mut errors) = (Vec::new(), 0usize, 0usize, 0usize);
        let mut root: Option<(usize, usize, usize)> = None;
        let mut texts = String::new();
        let allowed = |parent: Option<&str>, name: &str| match name {
            "testsuites" => parent.is_none(),
            "testsuite" => parent == Some("testsuites"),
            "properties" | "testcase" => parent == Some("testsuite"),
            "property" => parent == Some("properties"),
            "failure" | "error" | "skipped" => parent == Some("testcase"),
            _ => false,
        };
        loop {
            let event = reader.read_event().expect("well-formed XML");
            let (element, empty) = match &event {
                Event::Start(e) => (Some(e.clone()), false),
                Event::Empty(e) => (Some(e.clone()), true),
                _ => (None, false),
            };
            if let Some(e) = element {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert!(allowed(path.last().map(String::as_str), &name), "<{name}> inside {path:?}");
                let attrs: std::collections::BTreeMap<String, String> = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("attribute");
                        (String::from_utf8(a.key.as_ref().to_vec()).unwrap(), a.unescape_value().unwrap().into_owned())
                    })
                    .collect();
                let number = |key: &str| attrs.get(key).and_then(|v| v.parse::<usize>().ok());
                match name.as_str() {
                    "testsuites" => {
                        root = Some((number("tests").unwrap(), number("failures").unwrap(), number("errors").unwrap()))
                    }
                    "testsuite" => {
                        assert!(attrs.get("name").is_some_and(|n| !n.is_empty()));
                        suites.push((
                            number("tests").unwrap(),
                            number("failures").unwrap(),
                            number("errors").unwrap(),
                            0,
                            0,
                            0,
                        ));
                    }
                    "testcase" => {
                        assert!(attrs.contains_key("name") && attrs.contains_key("classname"), "{attrs:?}");
                        cases += 1;
                        suites.last_mut().unwrap().3 += 1;
                    }
                    "failure" => {
                        assert!(attrs.contains_key("message"));
                        failures += 1;
                        suites.last_mut().unwrap().4 += 1;
                    }
                    "error" => {
                        assert!(attrs.contains_key("message"));
                        errors += 1;
                        suites.last_mut().unwrap().5 += 1;
                    }
                    "property" => assert!(attrs.contains_key("name") && attrs.contains_key("value")),
                    _ => {}
                }
                if !empty {
                    path.push(name);
                }
            }
            match event {
                Event::End(_) => {
                    path.pop();
                }
                Event::Text(text) => texts.push_str(&text.unescape().expect("text")),
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(root, Some((cases, failures, errors)));
        for (tests, failed, errored, seen_cases, seen_failures, seen_errors) in suites {
            assert_eq!((tests, failed, errored), (seen_cases, seen_failures, seen_errors));
        }
        let checks: usize = record.labs.iter().map(|lab| lab.checks.len()).sum();
        assert_eq!(cases, checks + 1, "every check, and the lab that was not graded");
        assert!(texts.contains("<kept> & \"quoted\" [31mred"), "evidence kept, escaped, minus the control character");
    }

    #[test]
    fn the_markdown_feedback_has_every_check_its_hint_and_the_warnings() {
        let mut record = record();
        record.environment.kit_modified = vec!["labs/demo/rubric.toml".into()];
        let text = markdown(&record);
        assert!(text.starts_with("> **KIT MODIFIED"), "{text}");
        for lab in &record.labs {
            assert!(text.contains(&format!("## {}: {} / {}", lab.title, lab.score, lab.max_score)), "{text}");
            for check in &lab.checks {
                assert!(text.contains(&cell(&check.title)), "{} missing", check.title);
            }
        }
        assert!(text.contains("next hint: `"), "{text}");
        assert!(text.contains("**Other lab not graded: redis-server is not installed**"), "{text}");
        // Table rows stay rows: evidence with a pipe or a newline is escaped.
        assert!(!text.lines().any(|line| line.starts_with("| ") && !line.ends_with(" |")), "{text}");
    }

    #[test]
    fn the_gradebook_has_a_row_per_student_a_column_per_check_and_totals() {
        let full = record();
        let mut first_only = record();
        first_only.labs.truncate(1);
        let csv = gradebook(&[("ana".into(), full.clone()), ("ben, jr".into(), first_only)]).expect("writes");
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
        assert_eq!(rows.len(), 2);
        let col =
            |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name} in {header:?}"));
        assert_eq!(rows[1][col("student")], "ben, jr");
        for check in &full.labs[0].checks {
            assert_eq!(rows[0][col(&format!("demo/{}", check.id))], round2(check.points).to_string());
        }
        assert_eq!(rows[0][col("other status")], "not graded");
        assert_eq!(rows[1][col("other status")], "", "a lab a record lacks is left empty");
        assert_eq!(rows[0][col("total")], round2(sum_counted(&full).0).to_string());
        assert_eq!(rows[0][col("seed")], "7");
    }
}
