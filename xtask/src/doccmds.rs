//! Runs every shell command the README and the book show, as a student would.
//!
//! Every fenced `sh`, `bash` or `console` block of the README and of every
//! chapter under `docs/src` ([`files`]) is split into commands (continuation
//! lines and multi-line quotes joined; in `console` blocks only `$ ` lines).
//! Each command runs with `bash -o pipefail -c` from the kit root, with a
//! time-out, and must exit 0 (141, a pipeline stage stopped by `| head`, is
//! fine). A command ending in `&` runs in the background until its block
//! ends. Identical commands (as shown) run once, unless they name a local
//! address (they ask a running server, whose answers change). Files the
//! commands write at the kit root (`cg.out`, `cpu.svg`, ...) are removed
//! afterwards; hint state goes to a scratch folder. `curl`, `jq`, `psql`,
//! `valgrind` and `python3` are found, or installed as root on Debian.
//!
//! A block is run in another form, or not at all, by an HTML comment on the
//! line before its fence (invisible in the book, visible in the source):
//!
//! ```text
//! <!-- test: skip <reason> -->                  not run; the reason is required
//! <!-- test: server 127.0.0.1:8080 [addr...] --> each command runs in the background; the
//!                                                block is ready when every address accepts
//!                                                TCP; the processes serve the next blocks
//!                                                until another server block or the file ends
//! <!-- test: replace "from" "to" [why] -->      run with this text substituted (repeatable)
//! <!-- test: fails <reason> -->                 every command must exit non-zero, after
//!                                                building (a check the starter must fail)
//! <!-- test: timeout 600 -->                    seconds per command (default 300)
//! ```
//!
//! `XTASK_DOCS_SKIP=<text>` skips the commands that contain the text, while
//! working on a guide; the test command never sets it.
//!
//! Directives combine with `;`. `<!-- test-all: replace "from" "to" -->`
//! anywhere in a file applies to every block after it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

/// The files whose shell blocks are run, in order, relative to the kit root:
/// the README, then every chapter of the book (labs in the order of [`LABS_FIRST`]).
pub fn files(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut chapters = Vec::new();
    walk(&root.join("docs/src"), &mut chapters);
    let mut names: Vec<String> =
        chapters.iter().filter_map(|p| p.strip_prefix(root).ok()).map(|p| p.to_string_lossy().into_owned()).collect();
    let rank = |name: &str| LABS_FIRST.iter().position(|f| *f == name).unwrap_or(LABS_FIRST.len());
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    let mut out = vec!["README.md".to_string()];
    out.extend(names);
    out
}

/// Chapters run first, in this order: a student's path through the kit.
const LABS_FIRST: &[&str] = &["docs/src/labs/profiling.md", "docs/src/labs/database.md"];

/// Programs the guides use, and the Debian package that has each.
const TOOLS: &[(&str, &str)] =
    &[("curl", "curl"), ("jq", "jq"), ("psql", "postgresql-client"), ("valgrind", "valgrind"), ("python3", "python3")];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How a block is run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Marker {
    pub skip: Option<String>,
    pub server: Vec<SocketAddr>,
    pub replace: Vec<(String, String)>,
    pub fails: Option<String>,
    pub timeout: Option<Duration>,
}

/// One command of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmd {
    /// 1-based line in the file where the command starts.
    pub line: usize,
    /// As the file shows it (continuations joined).
    pub shown: String,
    /// As it runs (after `replace`, without a trailing `&`).
    pub run: String,
    pub background: bool,
}

/// A fenced shell block and how to run it.
#[derive(Debug, Clone)]
pub struct Block {
    pub file: String,
    pub line: usize,
    pub marker: Marker,
    pub commands: Vec<Cmd>,
}

/// Reads a quoted string at the start of `s`; returns it and the rest.
fn quoted(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let rest = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &rest[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// Parses the directives of a `<!-- test: ... -->` comment into `marker`.
pub fn parse_marker(text: &str, marker: &mut Marker) -> anyhow::Result<()> {
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let word = word.trim_end_matches(';');
        let after = after.trim_start();
        // A directive runs to the next `;` outside quotes.
        let end = {
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_quotes = !in_quotes,
                    ';' if !in_quotes => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            end
        };
        let (args, next) = (after[..end].trim(), after.get(end + 1..).unwrap_or(""));
        match word {
            "skip" => {
                anyhow::ensure!(!args.is_empty(), "`skip` needs a reason");
                marker.skip = Some(args.to_string());
            }
            "fails" => {
                anyhow::ensure!(!args.is_empty(), "`fails` needs a reason");
                marker.fails = Some(args.to_string());
            }
            "server" => {
                for addr in args.split_whitespace() {
                    marker.server.push(addr.parse().with_context(|| format!("`server {addr}`: not an address"))?);
                }
                anyhow::ensure!(!marker.server.is_empty(), "`server` needs an address to wait for");
            }
            "timeout" => {
                let secs: u64 = args.parse().with_context(|| format!("`timeout {args}`: not seconds"))?;
                marker.timeout = Some(Duration::from_secs(secs));
            }
            "replace" => {
                let (from, tail) = quoted(args).context("`replace` wants two quoted strings")?;
                // Text after the two strings is the reader's explanation.
                let (to, _why) = quoted(tail).context("`replace` wants two quoted strings")?;
                marker.replace.push((from, to));
            }
            "" => {}
            other => bail!("unknown directive `{other}` (skip, server, replace, fails, timeout)"),
        }
        rest = next.trim_start();
    }
    Ok(())
}

/// Removes a trailing `# comment` outside quotes.
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return line[..i].trim_end(),
            _ => {}
        }
        prev = c;
    }
    line.trim_end()
}

/// Whether bash reads `text` as complete (no open quote).
fn complete(text: &str) -> bool {
    if !text.contains(['\'', '"']) {
        return true;
    }
    Command::new("bash")
        .args(["-n", "-c", text])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Splits a block's text into commands; `first_line` is the line of its first text line.
pub fn commands(lang: &str, body: &str, first_line: usize, marker: &Marker) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut acc = String::new();
    let mut start = 0;
    for (i, raw) in body.lines().enumerate() {
        let line = if lang == "console" {
            match raw.strip_prefix("$ ") {
                Some(command) => command,
                None if !acc.is_empty() => raw,
                None => continue,
            }
        } else {
            raw
        };
        if acc.is_empty() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            start = first_line + i;
        } else {
            acc.push('\n');
        }
        acc.push_str(line);
        if acc.ends_with('\\') || !complete(&acc) {
            continue;
        }
        let shown = acc.replace("\\\n", " ");
        let shown = shown.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut run = strip_comment(&acc).to_string();
        let background = run.ends_with('&') && !run.ends_with("&&");
        if background {
            run.pop();
        }
        for (from, to) in &marker.replace {
            run = run.replace(from.as_str(), to);
        }
        out.push(Cmd { line: start, shown, run: run.trim().to_string(), background });
        acc.clear();
    }
    out
}

/// Every shell block of one Markdown file.
pub fn blocks(file: &str, source: &str) -> anyhow::Result<Vec<Block>> {
    let line_of = |offset: usize| source[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut pending: Option<(Marker, usize)> = None;
    let mut everywhere = Marker::default();
    let mut current: Option<(String, usize, Marker, String)> = None;
    for (event, range) in Parser::new(source).into_offset_iter() {
        match event {
            Event::Html(html) => {
                let text = html.trim();
                for (prefix, all) in [("<!-- test:", false), ("<!-- test-all:", true)] {
                    if let Some(inner) = text.strip_prefix(prefix) {
                        let inner = inner.trim_end().strip_suffix("-->").with_context(|| {
                            format!("{file}:{}: a test marker must end with --> on its line", line_of(range.start))
                        })?;
                        let mut marker = Marker::default();
                        parse_marker(inner, &mut marker)
                            .with_context(|| format!("{file}:{}: test marker", line_of(range.start)))?;
                        if all {
                            anyhow::ensure!(
                                marker.replace.len() == 1
                                    && marker == Marker { replace: marker.replace.clone(), ..Default::default() },
                                "{file}:{}: test-all takes only `replace`",
                                line_of(range.start)
                            );
                            everywhere.replace.extend(marker.replace);
                        } else {
                            pending = Some((marker, line_of(range.start)));
                        }
                    }
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let lang = info.split([' ', ',']).next().unwrap_or_default().to_string();
                let mut marker = pending.take().map(|(m, _)| m).unwrap_or_default();
                let mut replace = everywhere.replace.clone();
                replace.extend(std::mem::take(&mut marker.replace));
                marker.replace = replace;
                current = Some((lang, line_of(range.start), marker, String::new()));
            }
            Event::Text(text) => {
                if let Some((_, _, _, body)) = current.as_mut() {
                    body.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((lang, line, marker, body)) = current.take()
                    && ["sh", "bash", "console", "shell"].contains(&lang.as_str())
                {
                    let commands = commands(&lang, &body, line + 1, &marker);
                    out.push(Block { file: file.to_string(), line, marker, commands });
                }
            }
            Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::Table(_) | Tag::List(_)) => {
                if let Some((_, line)) = pending.take() {
                    bail!("{file}:{line}: a test marker must come right before a fenced shell block");
                }
            }
            _ => {}
        }
    }
    if let Some((_, line)) = pending {
        bail!("{file}:{line}: a test marker must come right before a fenced shell block");
    }
    Ok(out)
}

/// Every shell block of every file [`files`] names.
pub fn all_blocks(root: &Path) -> anyhow::Result<Vec<Block>> {
    let mut out = Vec::new();
    for file in files(root) {
        let source = std::fs::read_to_string(root.join(&file)).with_context(|| format!("reading {file}"))?;
        out.extend(blocks(&file, &source)?);
    }
    Ok(out)
}

/// A process group started by the runner, killed when dropped.
struct Running {
    child: Child,
    what: String,
}

impl Running {
    fn kill(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Runner {
    root: PathBuf,
    logs: PathBuf,
    hints: tempfile::TempDir,
    done: HashMap<String, String>,
    count: usize,
}

impl Runner {
    fn spawn(&mut self, cmd: &Cmd, file: &str) -> anyhow::Result<(Running, PathBuf)> {
        self.count += 1;
        let log = self.logs.join(format!("{:03}-{}-{}.log", self.count, file.replace('/', "_"), cmd.line));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new("bash");
        command
            .args(["-o", "pipefail", "-c", &cmd.run])
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .env("CARGO_TERM_COLOR", "never")
            .env("XTASK_HINTS_DIR", self.hints.path())
            // The run's one seed: gradings reuse the baseline counts already taken.
            .env("GRADER_SEED", crate::selfcheck::run_seed().to_string())
            .process_group(0);
        for (key, value) in crate::services::exports() {
            command.env(key, value);
        }
        let child = command.spawn().with_context(|| format!("{file}:{}: starting `{}`", cmd.line, cmd.shown))?;
        Ok((Running { child, what: format!("{file}:{}: `{}`", cmd.line, cmd.shown) }, log))
    }

    /// Runs a foreground command to its end, within `limit`; the exit status must match `fails`.
    fn run(&mut self, cmd: &Cmd, file: &str, limit: Duration, fails: bool) -> anyhow::Result<()> {
        let started = Instant::now();
        let (mut running, log) = self.spawn(cmd, file)?;
        let status = loop {
            if let Some(status) = running.child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() > limit {
                running.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = started.elapsed().as_secs_f64();
        let built = || !std::fs::read_to_string(&log).unwrap_or_default().contains("error: could not compile");
        let problem = match status {
            None => Some(format!("timed out after {} s", limit.as_secs())),
            Some(s) if !s.success() && fails && !built() => {
                Some("failed to build (an expected failure must fail later)".to_string())
            }
            Some(s) if s.success() && fails => Some("succeeded, but the guide says it fails here".to_string()),
            // 141: a stage of a pipeline ended by SIGPIPE because a later one (`head`) stopped reading.
            Some(s) if !s.success() && s.code() != Some(141) && !fails => Some(format!("exited with {s}")),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            print_tail(&log);
            bail!("{}: {problem} (log: {})", running.what, log.display());
        }
        let run = cmd.run.replace("\\\n", " ").split_whitespace().collect::<Vec<_>>().join(" ");
        let form = if strip_comment(&cmd.shown) == run { String::new() } else { format!(", run as `{run}`") };
        let failed = if fails { ", failed as expected" } else { "" };
        eprintln!("docs: {file}:{} {} ({took:.1} s{failed}{form})", cmd.line, cmd.shown);
        Ok(())
    }

    /// Starts a block's servers and waits until every address answers.
    fn serve(&mut self, block: &Block, limit: Duration) -> anyhow::Result<Vec<Running>> {
        for addr in &block.marker.server {
            anyhow::ensure!(
                !answers(addr),
                "{}:{}: {addr} is already in use; stop what listens there and run again",
                block.file,
                block.line
            );
        }
        let mut servers = Vec::new();
        let mut logs = Vec::new();
        for cmd in &block.commands {
            let (running, log) = self.spawn(cmd, &block.file)?;
            servers.push(running);
            logs.push(log);
        }
        let started = Instant::now();
        loop {
            if block.marker.server.iter().all(answers) {
                break;
            }
            for (server, log) in servers.iter_mut().zip(&logs) {
                if let Some(status) = server.child.try_wait()? {
                    print_tail(log);
                    bail!("{}: exited with {status} before {:?} answered", server.what, block.marker.server);
                }
            }
            if started.elapsed() > limit {
                print_tail(&logs[0]);
                bail!(
                    "{}:{}: nothing answered at {:?} within {} s",
                    block.file,
                    block.line,
                    block.marker.server,
                    limit.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for cmd in &block.commands {
            eprintln!("docs: {}:{} {} (serving)", block.file, cmd.line, cmd.shown);
        }
        Ok(servers)
    }

    fn file(&mut self, file: &str, blocks: &[Block]) -> anyhow::Result<()> {
        let mut servers: Vec<Running> = Vec::new();
        for block in blocks {
            if let Some(reason) = &block.marker.skip {
                eprintln!("docs: {}:{} not run: {reason}", block.file, block.line);
                continue;
            }
            let limit = block.marker.timeout.unwrap_or(DEFAULT_TIMEOUT);
            if !block.marker.server.is_empty() {
                servers.clear();
                servers = self.serve(block, limit)?;
                continue;
            }
            let mut background = Vec::new();
            for cmd in &block.commands {
                if cmd.background {
                    background.push(self.spawn(cmd, file)?.0);
                    eprintln!("docs: {file}:{} {} (in the background)", cmd.line, cmd.shown);
                    continue;
                }
                if let Ok(skip) = std::env::var("XTASK_DOCS_SKIP")
                    && !skip.is_empty()
                    && cmd.run.contains(&skip)
                {
                    eprintln!("docs: {file}:{} {} (skipped: XTASK_DOCS_SKIP)", cmd.line, cmd.shown);
                    continue;
                }
                // A command that asks a local server may answer differently each time; others run once.
                if !cmd.run.contains("localhost")
                    && !cmd.run.contains("127.0.0.1")
                    && let Some(first) = self.done.get(&key(cmd))
                {
                    eprintln!("docs: {file}:{} {} (same as {first})", cmd.line, cmd.shown);
                    continue;
                }
                self.run(cmd, file, limit, block.marker.fails.is_some())?;
                self.done.entry(key(cmd)).or_insert_with(|| format!("{file}:{}", cmd.line));
            }
            drop(background);
        }
        drop(servers);
        Ok(())
    }
}

/// What makes two commands the same: the command as shown, comment and spacing aside
/// (a block may run it in a shorter form; the others then count as run).
fn key(cmd: &Cmd) -> String {
    strip_comment(&cmd.shown).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn answers(addr: &SocketAddr) -> bool {
    TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok()
}

fn print_tail(log: &Path) {
    let Ok(file) = File::open(log) else { return };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    for line in &lines[lines.len().saturating_sub(20)..] {
        eprintln!("    | {line}");
    }
}

/// Finds the programs the guides use, installing them as root on Debian.
fn ensure_tools() -> anyhow::Result<()> {
    let missing: Vec<(&str, &str)> = TOOLS.iter().copied().filter(|(program, _)| !crate::shell::has(program)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|(_, package)| *package).collect();
    if crate::shell::can_apt() {
        return crate::shell::apt_install(&packages);
    }
    bail!(
        "the guides' commands need {}: install them (Debian/Ubuntu: apt install {})",
        missing.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", "),
        packages.join(" ")
    )
}

/// Top-level files of the kit root.
fn root_files(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the shell blocks of `only` (file paths or parts of them; every file when empty).
pub fn run(only: &[String]) -> anyhow::Result<()> {
    let root = crate::shell::root();
    let blocks = all_blocks(&root)?;
    ensure_tools()?;
    let logs = root.join("target").join("doccmds");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let before = root_files(&root);
    let mut runner = Runner {
        root: root.clone(),
        logs,
        hints: tempfile::tempdir().context("a scratch folder for hint state")?,
        done: HashMap::new(),
        count: 0,
    };
    let started = Instant::now();
    let mut result = Ok(());
    for file in files(&root) {
        if !only.is_empty() && !only.iter().any(|o| file.contains(o.as_str())) {
            continue;
        }
        let of_file: Vec<Block> = blocks.iter().filter(|b| b.file == file).cloned().collect();
        if of_file.is_empty() {
            continue;
        }
        result = runner.file(&file, &of_file);
        if result.is_err() {
            break;
        }
    }
    // Remove what the commands wrote at the kit root: new files that some command names.
    let texts: Vec<&str> = blocks.iter().flat_map(|b| b.commands.iter().map(|c| c.run.as_str())).collect();
    for name in root_files(&root) {
        if !before.contains(&name) && texts.iter().any(|t| t.contains(name.as_str())) {
            let _ = std::fs::remove_file(root.join(&name));
        }
    }
    result?;
    eprintln!("docs: {} commands ran in {:.0} s", runner.count, started.elapsed().as_secs_f64());
    Ok(())
}

/// Every block that is not run exactly as shown, and how it is run instead.
pub fn summary(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        let m = &block.marker;
        let mut how = Vec::new();
        if let Some(reason) = &m.skip {
            how.push(format!("not run: {reason}"));
        }
        if !m.server.is_empty() {
            let addrs: Vec<String> = m.server.iter().map(ToString::to_string).collect();
            how.push(format!("in the background until {} answer(s), for the blocks after it", addrs.join(" and ")));
        }
        for (from, to) in &m.replace {
            how.push(format!("with `{from}` replaced by `{to}`"));
        }
        if let Some(reason) = &m.fails {
            how.push(format!("must fail: {reason}"));
        }
        if let Some(limit) = m.timeout {
            how.push(format!("time-out {} s", limit.as_secs()));
        }
        if !how.is_empty() {
            let _ = writeln!(out, "{}:{}: {}", block.file, block.line, how.join("; "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_every_directive() {
        let mut m = Marker::default();
        parse_marker(r#"server 127.0.0.1:8080 127.0.0.1:6545; replace "a;b" "c \"d\""; timeout 9"#, &mut m).unwrap();
        assert_eq!(m.server.len(), 2);
        assert_eq!(m.replace, [("a;b".to_string(), "c \"d\"".to_string())]);
        assert_eq!(m.timeout, Some(Duration::from_secs(9)));
        assert!(parse_marker("skip", &mut Marker::default()).is_err(), "a skip needs its reason");
        assert!(parse_marker("frobnicate", &mut Marker::default()).is_err());
    }

    #[test]
    fn blocks_split_into_commands_with_markers() {
        let md = "# T\n\n<!-- test: replace \"--requests 2000\" \"--requests 20\" -->\n```sh\n# a comment\ncargo run -- a \\\n    --b  # note\nserve --requests 2000 &\npsql -c \"SELECT 1\n  FROM x\"\n```\n\n```rust\nfn main() {}\n```\n\n```console\n$ echo hi\nhi\n```\n";
        let blocks = blocks("x.md", md).unwrap();
        assert_eq!(blocks.len(), 2);
        let c = &blocks[0].commands;
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!((c[0].line, c[0].run.as_str()), (6, "cargo run -- a \\\n    --b"));
        assert!(c[1].background && c[1].run == "serve --requests 20");
        assert_eq!(c[2].line, 9);
        assert_eq!(blocks[1].commands[0].run, "echo hi");
    }

    #[test]
    fn a_marker_must_sit_on_a_shell_block() {
        assert!(blocks("x.md", "<!-- test: skip because -->\nSome text.\n").is_err());
    }

    fn run_doc(md: &str) -> anyhow::Result<()> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut runner = Runner {
            root: dir.path().into(),
            logs: dir.path().into(),
            hints: tempfile::tempdir().expect("tempdir"),
            done: HashMap::new(),
            count: 0,
        };
        runner.file("g.md", &blocks("g.md", md)?)
    }

    #[test]
    fn a_failing_command_is_named_by_file_line_and_text() {
        let err = run_doc(
            "```sh
true
false   # no
```
",
        )
        .expect_err("false fails");
        assert!(err.to_string().starts_with("g.md:3: `false # no`: exited with"), "{err}");
        assert!(
            run_doc(
                "```sh
yes | head -1
```
"
            )
            .is_ok(),
            "a SIGPIPE'd stage is no failure"
        );
    }

    #[test]
    fn a_hanging_command_is_killed_at_its_time_out() {
        let started = Instant::now();
        let err = run_doc(
            "<!-- test: timeout 1 -->
```sh
sleep 30
```
",
        )
        .expect_err("times out");
        assert!(err.to_string().contains("timed out after 1 s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn an_expected_failure_must_fail() {
        assert!(
            run_doc(
                "<!-- test: fails on purpose -->
```sh
false
```
"
            )
            .is_ok()
        );
        assert!(
            run_doc(
                "<!-- test: fails on purpose -->
```sh
true
```
"
            )
            .is_err()
        );
    }

    /// The README and the book parse, and every block either runs or says why not.
    #[test]
    fn every_shell_block_of_the_docs_runs_or_says_why_not() {
        let blocks = all_blocks(&crate::shell::root()).unwrap_or_else(|err| panic!("{err:#}"));
        assert!(blocks.len() > 20, "found only {} shell blocks", blocks.len());
        for block in &blocks {
            assert!(
                block.marker.skip.is_some() || !block.commands.is_empty(),
                "{}:{}: a shell block without a command",
                block.file,
                block.line
            );
            assert!(
                block.commands.iter().all(|c| !c.run.contains("cargo xtask test") || block.marker.skip.is_some()),
                "{}:{}: `cargo xtask test` would run itself; mark it skip",
                block.file,
                block.line
            );
        }
    }
}
