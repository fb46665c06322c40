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

/// Whether packages can be installed here: root, on Debian, with apt-get.
pub fn can_apt() -> bool {
    let root =
        Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    root && std::path::Path::new("/etc/debian_version").exists() && has("apt-get")
}

/// `apt-get update` then `apt-get install` of `packages`, without questions.
pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    eprintln!("xtask: installing {} with apt-get", packages.join(" "));
    let update = Command::new("apt-get").args(["update", "-qq"]).status().context("apt-get update")?;
    anyhow::ensure!(update.success(), "apt-get update failed");
    let status = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("apt-get install")?;
    anyhow::ensure!(status.success(), "apt-get install {} failed", packages.join(" "));
    Ok(())
}
