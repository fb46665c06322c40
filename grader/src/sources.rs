//! What a target's sources may not do at compile time: reach outside their
//! own `src/` folder.
//!
//! A submission's `src/` is laid over a clean copy of the kit, which holds
//! the solutions, the baselines and the grader's cached counts. A file that
//! pulls one of those in at compile time (`include!` of a solution's
//! module, `sqlx::migrate!` of a solution's migrations, a `#[path]` module,
//! a path built from `CARGO_MANIFEST_DIR`) would earn points for code it
//! did not write. So before a build, every `.rs` file under the target's
//! `src/` is read, and each such macro or attribute must name a plain,
//! relative string literal that stays inside the file's folder tree (no
//! `..`, no absolute path), and nothing may name `CARGO_MANIFEST_DIR`.
//!
//! Nor may a target reach into how it is measured: inline assembly (it can
//! send valgrind's client requests, which switch callgrind's counting off)
//! and symbols named by hand (`no_mangle`, `export_name`, `link_section`:
//! a function named like the driver's uncounted digest would be left out of
//! the count; `link_name`: a call to the driver's own marker of the last
//! answer) are refused the same way, and so is `unsafe` (the driver that
//! measures shares the target's process). The labs need none of them.
//! What the running service reads is the sandbox's concern (`contain`).

use std::path::Path;

/// The macros whose first argument is a path read at compile time.
const PATH_MACROS: &[&str] = &["include!", "include_str!", "include_bytes!", "migrate!"];

/// Words that reach into the measurement, and why each is refused.
const MEASUREMENT_ESCAPES: &[(&str, &str)] = &[
    ("asm!", "inline assembly (it can switch callgrind's counting off)"),
    ("global_asm!", "inline assembly (it can switch callgrind's counting off)"),
    ("naked_asm!", "inline assembly (it can switch callgrind's counting off)"),
    ("no_mangle", "a symbol named by hand (it can hide work from callgrind's count)"),
    ("export_name", "a symbol named by hand (it can hide work from callgrind's count)"),
    ("link_section", "a symbol placed by hand"),
    ("link_name", "a symbol of another crate linked by hand (the kit's own functions are not the target's to call)"),
    ("unsafe", "unsafe code (it can write any memory of the driver's process, whose reports the grader reads)"),
];

/// The first line about a file under `src` that reaches outside it, if any
/// (`src/orders.rs:3: include!("../../...") reaches outside src/`).
pub fn escape(src: &Path) -> anyhow::Result<Option<String>> {
    let mut files = Vec::new();
    collect(src, &mut files)?;
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let shown = file.strip_prefix(src.parent().unwrap_or(src)).unwrap_or(&file).display().to_string();
        if let Some((line, what)) = escape_in(&text) {
            return Ok(Some(format!("{shown}:{line}: {what}; a submission may only read files inside its src/")));
        }
    }
    Ok(None)
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// The line number and a description of the first escape in `text`
/// (comments are left out; a string that only mentions a macro is not a call).
fn escape_in(text: &str) -> Option<(usize, String)> {
    let text = &without_comments(text);
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    if let Some(at) = text.find("CARGO_MANIFEST_DIR") {
        return Some((line_of(at), "names CARGO_MANIFEST_DIR".into()));
    }
    for (word, why) in MEASUREMENT_ESCAPES {
        let word_char = |c: char| c.is_alphanumeric() || c == '_';
        let whole = text.match_indices(word).find(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(word_char) && !after.is_some_and(word_char)
        });
        if let Some((at, _)) = whole {
            return Some((line_of(at), format!("uses {word}: {why}")));
        }
    }
    for name in PATH_MACROS {
        for (at, _) in text.match_indices(name) {
            // `include!` also matches inside `my_include!`: only whole names count.
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = text[at + name.len()..].trim_start();
            let Some(rest) = rest.strip_prefix(['(', '[', '{']) else {
                continue;
            };
            if let Some(why) = bad_path_argument(rest.trim_start()) {
                return Some((line_of(at), format!("{name}({why}")));
            }
        }
    }
    for (at, _) in text.match_indices("#[path") {
        let rest = text[at + 6..].trim_start();
        let rest = rest.strip_prefix('=').map(str::trim_start).unwrap_or(rest);
        if let Some(why) = bad_path_argument(rest) {
            return Some((line_of(at), format!("#[path = {why}")));
        }
    }
    None
}

/// `text` with every comment's characters replaced by spaces (newlines
/// kept, so line numbers hold); string and character literals are kept.
fn without_comments(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let next = chars.get(i + 1).copied();
        match chars[i] {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    match (chars[i], chars.get(i + 1).copied()) {
                        ('/', Some('*')) => {
                            depth += 1;
                            out.push_str("  ");
                            i += 2;
                        }
                        ('*', Some('/')) => {
                            depth -= 1;
                            out.push_str("  ");
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (c, _) => {
                            out.push(blank(c));
                            i += 1;
                        }
                    }
                }
            }
            'r' if raw_string_at(&chars, i).is_some() => {
                // A raw string (`r"…"`, `r#"…"#`, `br"…"`): copied whole, up to its own closing.
                let end = raw_string_at(&chars, i).unwrap_or(chars.len());
                out.extend(&chars[i..end]);
                i = end;
            }
            '"' => {
                // A string: copied as it is, escapes included, to its closing quote.
                out.push('"');
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i]);
                        i += 1;
                    }
                    out.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    out.push('"');
                    i += 1;
                }
            }
            '\'' if next == Some('\\') || chars.get(i + 2) == Some(&'\'') => {
                // A character literal (`'"'`, `'\''`): copied whole, so its quote starts no string.
                let end = (i + 2..chars.len()).find(|&j| chars[j] == '\'' && (j > i + 2 || next != Some('\\')));
                let end = end.unwrap_or(chars.len() - 1);
                out.extend(&chars[i..=end]);
                i = end + 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Where the raw string starting at `chars[i]` (an `r`) ends, if one does.
fn raw_string_at(chars: &[char], i: usize) -> Option<usize> {
    let before = i.checked_sub(1).map(|j| chars[j]);
    if before.is_some_and(|c| (c.is_alphanumeric() || c == '_') && c != 'b') {
        return None;
    }
    let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
    let open = i + 1 + hashes;
    if chars.get(open) != Some(&'"') {
        return None;
    }
    let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
    (open + 1..chars.len()).find(|&j| chars[j..].starts_with(&closing)).map(|j| j + closing.len()).or(Some(chars.len()))
}

/// Why the argument at the start of `rest` is not a plain relative path
/// that stays below its folder; `None` when it is.
fn bad_path_argument(rest: &str) -> Option<String> {
    let literal = string_literal(rest);
    let Some(path) = literal else {
        let shown: String = rest.chars().take(40).take_while(|c| *c != '\n').collect();
        return Some(format!("{shown}…) is not a plain string literal"));
    };
    let escapes = path.starts_with('/')
        || path.starts_with('\\')
        || path.chars().nth(1) == Some(':')
        || path.split(['/', '\\']).any(|part| part == "..");
    escapes.then(|| format!("\"{path}\") reaches outside its folder"))
}

/// The contents of the string literal (plain or raw) at the start of `rest`.
fn string_literal(rest: &str) -> Option<String> {
    if let Some(body) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next()?),
                other => out.push(other),
            }
        }
        return None;
    }
    let raw = rest.strip_prefix('r')?;
    let hashes = raw.chars().take_while(|c| *c == '#').count();
    let body = raw[hashes..].strip_prefix('"')?;
    let end = format!("\"{}", "#".repeat(hashes));
    body.find(&end).map(|n| body[..n].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_src_are_allowed() {
        for text in [
            "pub static MIGRATOR: Migrator = sqlx::migrate!(\"src/migrations\");",
            "const SQL: &str = include_str!(\"queries/report.sql\");",
            "const RAW: &[u8] = include_bytes!(r#\"data/table.bin\"#);",
            "#[path = \"helpers/extra.rs\"]\nmod extra;",
            "fn my_include() {} // include! is only a word here: include!(\"../x\")",
            "/* a block comment: include!(\"../../x\") /* nested */ CARGO_MANIFEST_DIR */ fn f() {}",
            "let quote = '\"'; let s = \"it's fine\"; // include!(\"../y\")",
            "let s = \"../not a path macro\";",
            "fn basm() {} fn no_mangled_name() {} let casm = 1; // asm!(\"nop\")",
            "fn not_unsafe_here() {} // unsafe { }",
        ] {
            assert_eq!(escape_in(text), None, "{text}");
        }
    }

    #[test]
    fn reaching_outside_src_is_found_with_its_line() {
        let cases = [
            ("mod x;\ninclude!(\"../../../solutions/database/src/orders.rs\");", 2, "reaches outside"),
            ("pub static M: Migrator = sqlx::migrate!(\"../../solutions/database/src/migrations\");", 1, "migrate!"),
            ("const A: &str = include_str!(\"/etc/passwd\");", 1, "reaches outside"),
            ("const A: &str = include_str!(concat!(\"..\", \"/x\"));", 1, "not a plain string literal"),
            ("macro_rules! grab { ($p:literal) => { include!($p) } }", 1, "not a plain string literal"),
            ("\n\n#[path = \"../../../solutions/profiling/src/reports.rs\"]\nmod reports;", 3, "#[path"),
            ("const D: &str = env!(\"CARGO_MANIFEST_DIR\");", 1, "CARGO_MANIFEST_DIR"),
            ("fn f() {\n    unsafe { core::arch::asm!(\"nop\") }\n}", 2, "inline assembly"),
            ("#[unsafe(export_name = \"lab_support::digest::answer_digest_x\")]\nfn work() {}", 1, "named by hand"),
            ("#[unsafe(no_mangle)]\npub fn work() {}", 1, "named by hand"),
            (
                "unsafe extern \"Rust\" {\n    #[link_name = \"_ZN11lab_support6driver17requests_answered\"]\n    fn mark();\n}",
                2,
                "linked by hand",
            ),
            ("fn f(p: *const u64) -> u64 {\n    unsafe { p.read() }\n}", 2, "unsafe code"),
            ("const A: &[u8] = include_bytes! [r\"..\\\\x\"];", 1, "reaches outside"),
            ("// a comment\nlet c = '\"'; include!(\"../z.rs\");", 2, "reaches outside"),
            ("let s = r#\"a\"//\"#; include!(\"../hidden.rs\");", 1, "reaches outside"),
        ];
        for (text, line, words) in cases {
            let (found, what) = escape_in(text).unwrap_or_else(|| panic!("not found in {text}"));
            assert_eq!(found, line, "{text}");
            assert!(what.contains(words), "{what}");
        }
    }

    #[test]
    fn a_folder_is_read_file_by_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("nested")).expect("mkdir");
        std::fs::write(src.join("lib.rs"), "mod nested;").expect("write");
        assert_eq!(escape(&src).expect("read"), None);
        std::fs::write(src.join("nested/mod.rs"), "\ninclude!(\"../../../x.rs\");").expect("write");
        let line = escape(&src).expect("read").expect("found");
        assert!(line.starts_with("src/nested/mod.rs:2: include!(\"../../../x.rs\") reaches outside"), "{line}");
    }
}
