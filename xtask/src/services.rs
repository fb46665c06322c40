//! PostgreSQL and Redis for the labs that need them.
//!
//! For each service, in order: use what answers at `DATABASE_URL` /
//! `REDIS_URL` (or the defaults, which match docker-compose.yml and a local
//! trust-auth install); else `docker compose up` where a Docker engine
//! answers; else throwaway servers from installed binaries, kept under
//! `target/services/`; else, as root on Debian, install the packages and
//! start throwaway servers; else stop with one line saying what to install.
//! Every wait is bounded, so this never hangs.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::shell::{has, root};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    Up,
    Down,
    Status,
}

#[derive(Debug, Clone, Copy)]
struct Service {
    name: &'static str,
    env: &'static str,
    default_url: &'static str,
    compose: &'static str,
    package: &'static str,
}

const POSTGRES: Service = Service {
    name: "PostgreSQL",
    env: "DATABASE_URL",
    default_url: DEFAULT_DATABASE_URL,
    compose: "postgres",
    package: "postgresql",
};

const REDIS: Service = Service {
    name: "Redis",
    env: "REDIS_URL",
    default_url: DEFAULT_REDIS_URL,
    compose: "redis",
    package: "redis-server",
};

/// `(VAR, url)` pairs that child processes should see, once services are up.
static EXPORTS: OnceLock<Vec<(String, String)>> = OnceLock::new();

pub fn exports() -> &'static [(String, String)] {
    EXPORTS.get().map_or(&[], Vec::as_slice)
}

pub fn run(action: Action) -> anyhow::Result<()> {
    match action {
        Action::Up => ensure_all(),
        Action::Down => down(),
        Action::Status => {
            for service in [POSTGRES, REDIS] {
                let url = url_of(service);
                let state = if reachable(&url) { "answers" } else { "not reachable" };
                println!("{:<10} {url}  {state}", service.name);
            }
            Ok(())
        }
    }
}

/// Makes sure both services answer, and exports their URLs to child processes.
pub fn ensure_all() -> anyhow::Result<()> {
    let mut exports = Vec::new();
    for service in [POSTGRES, REDIS] {
        let url = ensure(service)?;
        exports.push((service.env.to_string(), url));
    }
    let _ = EXPORTS.set(exports);
    ensure_programs()
}

/// Programs the labs run beside the services, with the Debian package
/// that has each and what is lost without it:
/// - lab 25's grader runs a throwaway `redis-server` of its own for every
///   phase (never the machine's Redis), so it needs the program even where
///   Redis itself answers from a container;
/// - lab 26 checks scrapes and alert rules with `promtool`, and the
///   Alertmanager configuration with `amtool`, runs a real Prometheus and
///   Alertmanager for alert delivery, and its dashboard test drives
///   headless Chromium through `chromedriver`; its grader refuses to grade
///   without promtool, Prometheus and Alertmanager (a check it cannot run
///   earns nothing), while its tests skip with one line each.
///
/// Each is installed as root on Debian; elsewhere one line says what to
/// install and the rest carries on.
const PROGRAMS: &[(&str, &str, &str)] = &[
    ("redis-server", "redis-server", "lab 25 will not be graded"),
    ("promtool", "prometheus", "lab 26 will not be graded and its promtool tests are skipped"),
    ("amtool", "prometheus-alertmanager", "lab 26 will not be graded and its Alertmanager tests are skipped"),
    (
        "chromedriver",
        "chromium-driver",
        "the browser tests (lab 26's dashboard, the grader's feedback and class pages) are skipped",
    ),
];

fn ensure_programs() -> anyhow::Result<()> {
    let missing: Vec<&(&str, &str, &str)> = PROGRAMS.iter().filter(|(program, ..)| !has(program)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if crate::shell::can_apt() {
        let packages: Vec<&str> = missing.iter().map(|(_, package, _)| *package).collect();
        return crate::shell::apt_install(&packages);
    }
    for (program, package, lost) in missing {
        eprintln!("xtask: {program} is not installed (Debian/Ubuntu: apt install {package}): {lost}");
    }
    Ok(())
}

fn url_of(service: Service) -> String {
    std::env::var(service.env).ok().filter(|u| !u.is_empty()).unwrap_or_else(|| service.default_url.to_string())
}

fn ensure(service: Service) -> anyhow::Result<String> {
    let url = url_of(service);
    if reachable(&url) {
        eprintln!("xtask: {} answers at {url}", service.name);
        return Ok(url);
    }
    eprintln!("xtask: {} is not reachable at {url}; starting one", service.name);
    if docker_works() {
        let status = Command::new("docker")
            .args(["compose", "up", "-d", service.compose])
            .current_dir(root())
            .status()
            .context("running docker compose")?;
        if status.success() && wait_until_reachable(&url, Duration::from_secs(60)) {
            return Ok(url);
        }
        eprintln!("xtask: docker compose did not bring {} up; trying local binaries", service.name);
    }
    let port = port_of(&url).unwrap_or(if service.env == "DATABASE_URL" { 5432 } else { 6379 });
    if !binaries_present(service) && crate::shell::can_apt() {
        crate::shell::apt_install(&[service.package])?;
    }
    if binaries_present(service) {
        let started = match service.env {
            "DATABASE_URL" => start_postgres(port),
            _ => start_redis(port),
        };
        started.with_context(|| format!("starting a throwaway {}", service.name))?;
        if wait_until_reachable(&url, Duration::from_secs(30)) {
            eprintln!("xtask: throwaway {} answers at {url}", service.name);
            return Ok(url);
        }
    }
    bail!(
        "{} is not reachable at {url}: install it (Debian/Ubuntu: apt install {}), start Docker and run `docker compose up -d {}`, or set {} to a running server",
        service.name,
        service.package,
        service.compose,
        service.env
    )
}

/// `host:port` of a URL like `postgres://user:pw@host:5432/db`.
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = host_port.rsplit_once(':')?;
    Some((host.trim_matches(['[', ']']).to_string(), port.parse().ok()?))
}

fn port_of(url: &str) -> Option<u16> {
    host_port(url).map(|(_, port)| port)
}

fn reachable(url: &str) -> bool {
    let Some((host, port)) = host_port(url) else {
        return false;
    };
    let Ok(addrs) = (host.as_str(), port).to_socket_addrs() else {
        return false;
    };
    addrs.into_iter().any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}

fn wait_until_reachable(url: &str, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if reachable(url) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

/// A Docker engine answers (not only the client).
fn docker_works() -> bool {
    let Ok(mut child) = Command::new("docker").arg("info").stdout(Stdio::null()).stderr(Stdio::null()).spawn() else {
        return false;
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    false
}

fn postgres_bin(name: &str) -> Option<PathBuf> {
    if has(name) {
        return Some(PathBuf::from(name));
    }
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path()).collect();
    versions.sort();
    versions.into_iter().rev().map(|v| v.join("bin").join(name)).find(|p| p.exists())
}

fn binaries_present(service: Service) -> bool {
    match service.env {
        "DATABASE_URL" => postgres_bin("pg_ctl").is_some() && postgres_bin("initdb").is_some(),
        _ => has("redis-server"),
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn services_dir(name: &str) -> PathBuf {
    root().join("target").join("services").join(name)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (PostgreSQL refuses root).
fn as_postgres_user(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn start_postgres(port: u16) -> anyhow::Result<()> {
    let dir = services_dir("postgres");
    let data = dir.join("data");
    let initdb = postgres_bin("initdb").context("initdb not found")?;
    let pg_ctl = postgres_bin("pg_ctl").context("pg_ctl not found")?;
    std::fs::create_dir_all(&dir)?;
    if is_root() {
        Command::new("chown").args(["-R", "postgres"]).arg(&dir).status().context("chown")?;
    }
    if !data.join("PG_VERSION").exists() {
        let status = as_postgres_user(&initdb)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"])
            .stdout(Stdio::null())
            .status()
            .context("initdb")?;
        anyhow::ensure!(status.success(), "initdb failed");
    }
    let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.display());
    let status = as_postgres_user(&pg_ctl)
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("postgres.log"))
        .args(["-w", "-t", "30", "start"])
        .stdout(Stdio::null())
        .status()
        .context("pg_ctl start")?;
    anyhow::ensure!(status.success(), "pg_ctl start failed; see {}", dir.join("postgres.log").display());
    Ok(())
}

fn start_redis(port: u16) -> anyhow::Result<()> {
    let dir = services_dir("redis");
    std::fs::create_dir_all(&dir)?;
    let status = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
        ])
        .arg("--dir")
        .arg(&dir)
        .arg("--pidfile")
        .arg(dir.join("redis.pid"))
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .status()
        .context("redis-server")?;
    anyhow::ensure!(status.success(), "redis-server failed; see {}", dir.join("redis.log").display());
    Ok(())
}

/// Stops the throwaway servers this task started (not system or Docker ones).
fn down() -> anyhow::Result<()> {
    let data = services_dir("postgres").join("data");
    if data.join("postmaster.pid").exists()
        && let Some(pg_ctl) = postgres_bin("pg_ctl")
    {
        let status =
            as_postgres_user(&pg_ctl).arg("-D").arg(&data).args(["-m", "fast", "-w", "-t", "30", "stop"]).status()?;
        eprintln!("xtask: throwaway PostgreSQL stopped ({status})");
    }
    let pidfile = services_dir("redis").join("redis.pid");
    if let Ok(pid) = std::fs::read_to_string(&pidfile) {
        let status = Command::new("kill").arg(pid.trim()).status()?;
        let _ = std::fs::remove_file(&pidfile);
        eprintln!("xtask: throwaway Redis stopped ({status})");
    }
    eprintln!("xtask: Docker services, if any, stop with `docker compose down`");
    Ok(())
}

/// Bubblewrap, which the grader runs every driver in: installed as root on
/// Debian when missing. `required` (the test command, whose tests prove the
/// containment) stops without it; grading goes on, uncontained, and the
/// scorecard says so.
pub fn ensure_sandbox(required: bool) -> anyhow::Result<()> {
    if has("bwrap") {
        return Ok(());
    }
    if crate::shell::can_apt() {
        return crate::shell::apt_install(&["bubblewrap"]);
    }
    let line = "bubblewrap (bwrap) is not installed: install the bubblewrap package so the grader can contain the code it runs";
    if required {
        bail!("{line}");
    }
    eprintln!("xtask: {line}; grading without it");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_host_and_port() {
        assert_eq!(host_port(DEFAULT_DATABASE_URL), Some(("127.0.0.1".into(), 5432)));
        assert_eq!(host_port("redis://127.0.0.1:6379/0"), Some(("127.0.0.1".into(), 6379)));
        assert_eq!(host_port("postgres://u:p@db.local:6543"), Some(("db.local".into(), 6543)));
        assert_eq!(host_port("postgres://[::1]:5433/x"), Some(("::1".into(), 5433)));
        assert_eq!(host_port("not a url"), None);
    }

    #[test]
    fn a_closed_port_is_not_reachable_and_says_so_quickly() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let started = Instant::now();
        assert!(!reachable(&format!("redis://127.0.0.1:{port}")));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
