//! `cargo xtask hint <lab>`: a lab's hints, one at a time, only when asked.
//!
//! Hints are data in `labs/<lab>/hints.toml` (`[[hint]]` with `check`,
//! optional `title`, and Markdown `text`); their order in the file is the
//! order they are revealed in. What a clone has been shown is remembered in
//! `<kit>/.hints/<lab>.toml` (git-ignored; `XTASK_HINTS_DIR` moves it, which
//! the docs runner uses so tests never touch a student's state).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// What the student asked for.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab: profiling, database, ...
    pub lab: String,
    /// Only hints for this rubric check (ids are in labs/<lab>/rubric.toml).
    #[arg(long)]
    pub check: Option<String>,
    /// List the hints shown so far, and how many each check has left.
    #[arg(long, conflicts_with_all = ["reset", "again"])]
    pub list: bool,
    /// Show the Nth hint already shown again (numbers as in --list).
    #[arg(long, conflicts_with = "reset")]
    pub again: Option<usize>,
    /// Forget which hints were shown.
    #[arg(long)]
    pub reset: bool,
}

/// A mistake in what was asked for: one line, exit code 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// One hint of a lab.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    pub check: String,
    pub title: Option<String>,
    pub text: String,
    /// `<check>/<n>`: the n-th hint of its check, stable when other checks' hints move.
    pub key: String,
}

/// Parses a hints file; `checks` are the rubric's check ids with their titles.
pub fn parse(source: &str, checks: &[(String, String)]) -> anyhow::Result<Vec<Hint>> {
    let table: toml::Table = toml::from_str(source).context("hints.toml is not valid TOML")?;
    let list = table.get("hint").and_then(|h| h.as_array()).context("hints.toml has no [[hint]] tables")?;
    let mut hints: Vec<Hint> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let item = item.as_table().with_context(|| format!("hint {} is not a table", i + 1))?;
        for key in item.keys() {
            anyhow::ensure!(
                ["check", "title", "text"].contains(&key.as_str()),
                "hint {} has an unknown key `{key}`",
                i + 1
            );
        }
        let field = |name: &str| item.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let check = field("check").with_context(|| format!("hint {} has no `check`", i + 1))?;
        anyhow::ensure!(
            checks.iter().any(|(id, _)| *id == check),
            "hint {} names check `{check}`, which the rubric does not have",
            i + 1
        );
        let text = field("text").with_context(|| format!("hint {} has no `text`", i + 1))?;
        anyhow::ensure!(!text.trim().is_empty(), "hint {} has an empty `text`", i + 1);
        let n = hints.iter().filter(|h| h.check == check).count() + 1;
        hints.push(Hint { key: format!("{check}/{n}"), check, title: field("title"), text });
    }
    Ok(hints)
}

/// The rubric's `(id, title)` of every check, in rubric order, and which are gates.
fn rubric_checks(source: &str) -> anyhow::Result<Vec<(String, String, bool)>> {
    let table: toml::Table = toml::from_str(source).context("rubric.toml is not valid TOML")?;
    let checks = table.get("check").and_then(|c| c.as_array()).context("rubric.toml has no [[check]]")?;
    Ok(checks
        .iter()
        .filter_map(|c| c.as_table())
        .filter_map(|c| {
            let id = c.get("id")?.as_str()?.to_string();
            let title = c.get("title").and_then(|t| t.as_str()).unwrap_or_default().to_string();
            let gate = c.get("kind").and_then(|k| k.as_str()) == Some("gate");
            Some((id, title, gate))
        })
        .collect())
}

/// A lab's hints and checks, read from the kit.
#[derive(Debug)]
pub struct Lab {
    pub name: String,
    pub checks: Vec<(String, String)>,
    pub gates: Vec<String>,
    pub hints: Vec<Hint>,
}

impl Lab {
    pub fn load(root: &Path, name: &str) -> anyhow::Result<Lab> {
        let dir = root.join("labs").join(name);
        let rubric = std::fs::read_to_string(dir.join("rubric.toml")).map_err(|_| {
            let known = known_labs(root).join(", ");
            Usage(format!("no lab `{name}` (labs with hints: {known})"))
        })?;
        let all = rubric_checks(&rubric).with_context(|| format!("reading labs/{name}/rubric.toml"))?;
        let checks: Vec<(String, String)> = all.iter().map(|(id, title, _)| (id.clone(), title.clone())).collect();
        let gates = all.iter().filter(|(_, _, gate)| *gate).map(|(id, _, _)| id.clone()).collect();
        let source = std::fs::read_to_string(dir.join("hints.toml"))
            .map_err(|_| Usage(format!("lab `{name}` has no hints (labs/{name}/hints.toml)")))?;
        let hints = parse(&source, &checks).with_context(|| format!("reading labs/{name}/hints.toml"))?;
        Ok(Lab { name: name.to_string(), checks, gates, hints })
    }

    fn title_of(&self, check: &str) -> &str {
        self.checks.iter().find(|(id, _)| id == check).map_or("", |(_, t)| t.as_str())
    }
}

fn known_labs(root: &Path) -> Vec<String> {
    let mut labs: Vec<String> = std::fs::read_dir(root.join("labs"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().join("hints.toml").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    labs.sort();
    labs
}

/// Keys of the hints shown so far, in the order they were shown.
#[derive(Debug, Default, PartialEq)]
pub struct Seen(pub Vec<String>);

impl Seen {
    fn path(dir: &Path, lab: &str) -> PathBuf {
        dir.join(format!("{lab}.toml"))
    }

    pub fn load(dir: &Path, lab: &str) -> anyhow::Result<Seen> {
        let path = Seen::path(dir, lab);
        let Ok(source) = std::fs::read_to_string(&path) else {
            return Ok(Seen::default());
        };
        let table: toml::Table = toml::from_str(&source).with_context(|| format!("reading {}", path.display()))?;
        let shown = table.get("shown").and_then(|s| s.as_array()).cloned().unwrap_or_default();
        Ok(Seen(shown.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()))
    }

    pub fn save(&self, dir: &Path, lab: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut table = toml::Table::new();
        table.insert("shown".into(), toml::Value::Array(self.0.iter().cloned().map(toml::Value::String).collect()));
        let text = format!(
            "# Hints of lab {lab} shown in this clone (cargo xtask hint {lab} --reset forgets them).\n{}",
            toml::to_string(&table)?
        );
        let path = Seen::path(dir, lab);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// The next hint not yet shown, of one check or of any.
pub fn next<'a>(lab: &'a Lab, seen: &Seen, check: Option<&str>) -> Option<&'a Hint> {
    lab.hints.iter().filter(|h| check.is_none_or(|c| h.check == c)).find(|h| !seen.0.contains(&h.key))
}

/// A hint as the terminal shows it.
pub fn render(lab: &Lab, hint: &Hint) -> String {
    let of_check = lab.hints.iter().filter(|h| h.check == hint.check).count();
    let n = lab.hints.iter().take_while(|h| h.key != hint.key).filter(|h| h.check == hint.check).count() + 1;
    let mut out = format!("Hint {n} of {of_check} for `{}` ({})", hint.check, lab.title_of(&hint.check));
    if let Some(title) = &hint.title {
        let _ = write!(out, ": {title}");
    }
    let _ = write!(out, "\n\n{}\n", hint.text.trim());
    out
}

fn list(lab: &Lab, seen: &Seen) -> String {
    let mut out = String::new();
    if seen.0.is_empty() {
        let _ = writeln!(out, "No hints of lab {} shown yet.", lab.name);
    }
    for (i, key) in seen.0.iter().enumerate() {
        if let Some(hint) = lab.hints.iter().find(|h| &h.key == key) {
            let _ = writeln!(out, "{:>2}. [{}] {}", i + 1, hint.check, hint.title.as_deref().unwrap_or("(untitled)"));
        }
    }
    let _ = writeln!(out);
    for (id, title) in &lab.checks {
        let total = lab.hints.iter().filter(|h| &h.check == id).count();
        if total == 0 {
            continue;
        }
        let shown = lab.hints.iter().filter(|h| &h.check == id && seen.0.contains(&h.key)).count();
        let _ = writeln!(out, "{id:<14} {shown} of {total} shown  {title}");
    }
    out
}

/// Where shown hints are remembered.
fn state_dir(root: &Path) -> PathBuf {
    std::env::var_os("XTASK_HINTS_DIR").map_or_else(|| root.join(".hints"), PathBuf::from)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::shell::root();
    let lab = Lab::load(&root, &args.lab)?;
    if let Some(check) = &args.check
        && !lab.hints.iter().any(|h| &h.check == check)
    {
        let ids: Vec<&str> =
            lab.checks.iter().map(|(id, _)| id.as_str()).filter(|id| !lab.gates.iter().any(|g| g == id)).collect();
        return Err(
            Usage(format!("lab {} has no hints for check `{check}` (checks: {})", lab.name, ids.join(", "))).into()
        );
    }
    let dir = state_dir(&root);
    let mut seen = Seen::load(&dir, &lab.name)?;
    if args.reset {
        seen.0.clear();
        seen.save(&dir, &lab.name)?;
        println!("Forgot the hints shown for lab {}.", lab.name);
        return Ok(());
    }
    if args.list {
        print!("{}", list(&lab, &seen));
        return Ok(());
    }
    if let Some(n) = args.again {
        let hint = seen
            .0
            .get(n.wrapping_sub(1))
            .and_then(|key| lab.hints.iter().find(|h| &h.key == key))
            .ok_or_else(|| Usage(format!("hint {n} has not been shown yet (see --list)")))?;
        print!("{}", render(&lab, hint));
        return Ok(());
    }
    match next(&lab, &seen, args.check.as_deref()) {
        Some(hint) => {
            print!("{}", render(&lab, hint));
            seen.0.push(hint.key.clone());
            seen.save(&dir, &lab.name)?;
            let left = lab.hints.iter().filter(|h| !seen.0.contains(&h.key)).count();
            eprintln!(
                "\n({left} hint(s) left for lab {}; `--check <id>` for one check, `--list` for those shown, `--again N` to reread one)",
                lab.name
            );
        }
        None => match &args.check {
            Some(check) => println!("Every hint for `{check}` has been shown; `--list` and `--again N` reread them."),
            None => println!("Every hint of lab {} has been shown; `--list` and `--again N` reread them.", lab.name),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks() -> Vec<(String, String)> {
        vec![("cpu".into(), "CPU".into()), ("leak".into(), "Leak".into())]
    }

    const SAMPLE: &str = r#"
[[hint]]
check = "cpu"
title = "first"
text = "look"

[[hint]]
check = "leak"
text = "measure"

[[hint]]
check = "cpu"
text = "fix"
"#;

    #[test]
    fn hints_come_one_at_a_time_in_file_order() {
        let hints = parse(SAMPLE, &checks()).expect("parses");
        let lab = Lab { name: "x".into(), checks: checks(), gates: vec![], hints };
        let mut seen = Seen::default();
        let mut order = Vec::new();
        while let Some(hint) = next(&lab, &seen, None) {
            order.push(hint.key.clone());
            seen.0.push(hint.key.clone());
        }
        assert_eq!(order, ["cpu/1", "leak/1", "cpu/2"]);
        assert!(render(&lab, &lab.hints[2]).starts_with("Hint 2 of 2 for `cpu` (CPU)"));
    }

    #[test]
    fn a_check_filter_skips_other_checks_hints() {
        let hints = parse(SAMPLE, &checks()).expect("parses");
        let lab = Lab { name: "x".into(), checks: checks(), gates: vec![], hints };
        let seen = Seen(vec!["cpu/1".into()]);
        assert_eq!(next(&lab, &seen, Some("cpu")).map(|h| h.key.as_str()), Some("cpu/2"));
        assert_eq!(next(&lab, &seen, Some("leak")).map(|h| h.key.as_str()), Some("leak/1"));
    }

    #[test]
    fn a_hint_naming_a_check_the_rubric_lacks_is_refused() {
        let bad = "[[hint]]\ncheck = \"cpuu\"\ntext = \"x\"\n";
        let err = parse(bad, &checks()).expect_err("unknown check");
        assert!(err.to_string().contains("`cpuu`"), "{err}");
    }

    #[test]
    fn shown_hints_are_remembered_across_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seen = Seen(vec!["cpu/1".into(), "leak/1".into()]);
        seen.save(dir.path(), "x").expect("save");
        assert_eq!(Seen::load(dir.path(), "x").expect("load"), seen);
        assert_eq!(Seen::load(dir.path(), "other").expect("load"), Seen::default());
    }

    #[test]
    fn an_unknown_lab_is_a_usage_error() {
        let err = Lab::load(&crate::shell::root(), "no-such-lab").expect_err("unknown lab");
        assert!(err.downcast_ref::<Usage>().is_some(), "{err}");
    }

    /// Every lab's hints name real checks, and every check but the gate has one.
    #[test]
    fn every_non_gate_check_of_every_lab_has_a_hint() {
        let root = crate::shell::root();
        let mut labs: Vec<String> = std::fs::read_dir(root.join("labs"))
            .expect("labs/")
            .flatten()
            .filter(|e| e.path().join("rubric.toml").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        labs.sort();
        assert!(labs.contains(&"profiling".to_string()) && labs.contains(&"database".to_string()), "{labs:?}");
        for name in labs {
            let lab = Lab::load(&root, &name).unwrap_or_else(|err| panic!("{name}: {err:#}"));
            for (id, _) in &lab.checks {
                if lab.gates.contains(id) {
                    continue;
                }
                assert!(lab.hints.iter().any(|h| &h.check == id), "labs/{name}/hints.toml has no hint for `{id}`");
            }
        }
    }
}
