//! Running cargo and other programs from tasks.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::Context;

/// The kit's root folder: the one around the current directory, found as
/// cargo finds a workspace (a path compiled in would name whichever clone
/// built this binary first when clones share a target directory).
pub fn root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| match lab_protocol::kit::root_from_current_dir() {
        Ok(root) => root,
        Err(err) => {
            eprintln!("xtask: {err}");
            std::process::exit(2);
        }
    })
    .clone()
}

/// `cargo <args>` in the kit root.
pub fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(root());
    for (key, value) in crate::services::exports() {
        command.env(key, value);
    }
    command
}

/// Runs a step, failing with its name.
pub fn step(name: &str, mut command: Command) -> anyhow::Result<()> {
    eprintln!("xtask: {name}");
    let status = command.status().with_context(|| format!("starting {name}"))?;
    anyhow::ensure!(status.success(), "{name} failed ({status})");
    Ok(())
}

pub fn step_result(name: &str, result: anyhow::Result<()>) -> anyhow::Result<()> {
    eprintln!("xtask: {name}");
    result.with_context(|| format!("{name} failed"))
}

/// Whether `program` runs at all.
pub fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}
