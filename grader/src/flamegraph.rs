//! A target's flamegraph, drawn by the grader.
//!
//! The driver samples a run with pprof and writes the stacks in the
//! collapsed format (`thread;outer;...;inner samples`, a line each). That
//! file is written from inside the target's process, so it is the target's
//! to forge: the grader reads a bounded amount, keeps only well-formed
//! lines, and draws the SVG itself with inferno (which escapes every name),
//! so nothing the target wrote reaches a feedback page unescaped.

use std::path::Path;

/// The largest stacks file read, and the most lines kept.
const MAX_BYTES: u64 = 8 << 20;
const MAX_LINES: usize = 50_000;

/// The SVG of the stacks in `file`, titled `title`.
pub fn draw(file: &Path, title: &str) -> Result<String, String> {
    let meta = std::fs::symlink_metadata(file).map_err(|err| format!("no stacks written: {err}"))?;
    if !meta.is_file() {
        return Err("the stacks file is not a plain file".into());
    }
    if meta.len() > MAX_BYTES {
        return Err(format!("the stacks file holds {} bytes, more than the {MAX_BYTES} read", meta.len()));
    }
    let text = std::fs::read_to_string(file).map_err(|err| format!("reading the stacks: {err}"))?;
    let lines = stack_lines(&text)?;
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "samples".into();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().copied(), &mut svg)
        .map_err(|err| format!("drawing the flamegraph: {err}"))?;
    String::from_utf8(svg).map_err(|_| "the flamegraph is not UTF-8".to_string())
}

/// The well-formed lines of a collapsed stacks file: frames without control
/// characters, then a positive sample count. Anything else is an error.
fn stack_lines(text: &str) -> Result<Vec<&str>, String> {
    let lines: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
    if lines.is_empty() {
        return Err("the profiled run took no samples".into());
    }
    if lines.len() > MAX_LINES {
        return Err(format!("{} stack lines, more than the {MAX_LINES} kept", lines.len()));
    }
    for (i, line) in lines.iter().enumerate() {
        let bad = |why: &str| Err(format!("stacks line {}: {why}", i + 1));
        let Some((frames, count)) = line.rsplit_once(' ') else {
            return bad("no sample count");
        };
        if !count.parse::<u64>().is_ok_and(|n| n > 0) {
            return bad("the sample count is not a positive number");
        }
        if frames.is_empty() || frames.split(';').any(str::is_empty) || frames.chars().any(char::is_control) {
            return bad("an empty frame or a control character");
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_become_an_svg_with_every_name_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stacks");
        std::fs::write(&file, "main;report;parse_log 30\nmain;<script>alert(1)</script> 2\n").unwrap();
        let svg = draw(&file, "year-long reports").unwrap();
        assert!(svg.contains("<svg") && svg.contains("parse_log") && svg.contains("year-long reports"));
        assert!(!svg.contains("<script>alert"), "a frame's name reached the SVG unescaped");
    }

    #[test]
    fn a_forged_or_empty_stacks_file_is_refused_with_its_reason() {
        assert!(stack_lines("").unwrap_err().contains("no samples"));
        assert!(stack_lines("main;f x\n").unwrap_err().contains("line 1"));
        assert!(stack_lines("main;f 3\nmain;;g 1\n").unwrap_err().contains("line 2"));
        assert!(stack_lines("main;f\u{1b}[2J 1\n").unwrap_err().contains("control"));
        assert!(stack_lines("main;f 0\n").unwrap_err().contains("positive"));
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("stacks")).unwrap();
        assert!(draw(&dir.path().join("stacks"), "t").unwrap_err().contains("not a plain file"));
    }
}
