//! Every process that runs a driver (the kit's code around a target's
//! `app`, or the baseline's) runs contained, so that student code can read
//! no other file, keep nothing from one run to the next, reach nothing on
//! the network but what its lab needs, and cannot exhaust the machine.
//!
//! The kernel's and the distribution's tools do the work:
//! - **bubblewrap** (`bwrap`) gives each process a root of its own: the
//!   system's `/usr` read-only, a private `/tmp` (a size-limited tmpfs that
//!   dies with the process, so nothing survives between runs), the one
//!   binary it runs, and one writable folder (`/run/lab/out`) that the grader
//!   reads afterwards. No kit, no solutions, no other submission, no grader
//!   records are visible. Namespaces of its own for processes, IPC, the host
//!   name and the network: a driver that needs PostgreSQL (lab 24) gets one
//!   folder more, read-only, holding the grading's counting proxy's socket,
//!   and a `DATABASE_URL` naming it and a role of its side's own ([`Gate`]);
//!   one of lab 25 gets its side's upstream's and Redis's sockets the same
//!   way ([`Net::Services`]).
//! - **rlimits** on address space, processes (threads count), CPU seconds,
//!   file size and open files, and no core files.
//! - **A uid of its own** when the grader runs as root: process limits do
//!   not apply to root, so the contained process runs as an unprivileged uid
//!   that nothing else on the machine uses.
//!
//! Without a working bubblewrap, processes still get the rlimits, and the
//! record and the scorecard say the grading was not contained.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::process::Command;

/// Where a contained process finds what it is given.
pub const BIN_DIR: &str = "/run/lab/bin";
/// The one folder a contained process may write to and the grader reads.
pub const OUT_DIR: &str = "/run/lab/out";
/// Where a contained process finds a [`Gate`]'s sockets.
pub const PG_DIR: &str = "/run/lab/pg";
/// Where a contained process finds the sockets of [`Net::Services`].
pub const SVC_DIR: &str = "/run/lab/svc";

/// Which network a contained process sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Net {
    /// A network namespace of its own with only its own loopback: it can
    /// reach nothing outside itself (lab 23 serves on a Unix socket).
    None,
    /// As `None`, plus one way to PostgreSQL: a proxy's Unix socket, as a role of the run's own.
    Postgres(Gate),
    /// As `None`, plus a folder of the grading's own services' Unix sockets
    /// (lab 25: its side's upstream and Redis), read-only at [`SVC_DIR`].
    Services(PathBuf),
    /// Both: a proxy's socket to PostgreSQL as a role of the run's own, and
    /// a folder of services' sockets (lab 26: Redis and the payment stub).
    PostgresAndServices(Gate, PathBuf),
    /// The host's network, `DATABASE_URL` and `REDIS_URL` (kept for the kit's
    /// own baseline probing the server; no target runs with it).
    Host,
}

/// A folder holding a PostgreSQL proxy's Unix socket (`.s.PGSQL.5432`) and
/// its control socket, and the login role (with its password) a contained
/// process connects as. The process's `DATABASE_URL` names both, and
/// nothing else reaches the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub dir: PathBuf,
    pub role: String,
    pub password: String,
}

/// The limits every contained process gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Address space, in bytes (valgrind and tokio reserve far more than they touch).
    pub address_space: u64,
    /// Processes and threads of the process's uid.
    pub processes: u64,
    /// Largest file it may write, in bytes.
    pub file_size: u64,
    /// Open files.
    pub open_files: u64,
    /// The private `/tmp`, in bytes.
    pub scratch: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        const GIB: u64 = 1 << 30;
        Limits { address_space: 8 * GIB, processes: 512, file_size: GIB, open_files: 4096, scratch: GIB / 2 }
    }
}

#[derive(Debug)]
enum Mode {
    Bubblewrap { bwrap: PathBuf, version: String },
    Unconfined { reason: String },
}

/// How this grading contains what it runs; one per grading.
#[derive(Debug)]
pub struct Jail {
    mode: Mode,
    /// The first uid of this grading's cells, when the grader is root.
    uid: Option<u32>,
    cells: std::sync::atomic::AtomicU32,
    /// Threads the grader's uid already runs, when not root (its cells share
    /// that uid, and RLIMIT_NPROC counts them all).
    already: u64,
    limits: Limits,
    /// Staged copies of the binaries, readable by `uid`.
    stage: tempfile::TempDir,
    staged: Mutex<Vec<(PathBuf, PathBuf)>>,
}

/// One contained process's folder (`/run/lab/out` inside, `host()`
/// outside) and, when the grader is root, its uid: each process has its own,
/// so one's process limit never counts another's (a target that forks until
/// its limit cannot starve the baseline running beside it).
#[derive(Debug)]
pub struct Cell {
    dir: tempfile::TempDir,
    inside: PathBuf,
    uid: Option<u32>,
}

impl Cell {
    /// The folder as the grader sees it.
    pub fn host(&self) -> &Path {
        self.dir.path()
    }

    /// `name` in the folder, as the contained process sees it.
    pub fn inside(&self, name: &str) -> PathBuf {
        self.inside.join(name)
    }

    /// `name` in the folder, as the grader sees it.
    pub fn outside(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Jail {
    /// Bubblewrap when it works here, else rlimits alone (and the reason).
    pub fn new() -> std::io::Result<Jail> {
        // Uids no account uses, 1,000 per grading process.
        let uid = is_root().then(|| 600_000 + (std::process::id() % 10_000) * 1_000);
        let limits = Limits::default();
        let already = if uid.is_some() { 0 } else { threads_of(current_uid()) };
        let stage = tempfile::Builder::new().prefix("grader-jail-").tempdir()?;
        readable(stage.path())?;
        let mut jail = Jail {
            mode: Mode::Unconfined { reason: String::new() },
            uid,
            cells: std::sync::atomic::AtomicU32::new(0),
            already,
            limits,
            stage,
            staged: Mutex::new(Vec::new()),
        };
        jail.mode = match which("bwrap") {
            None => Mode::Unconfined { reason: "bubblewrap (bwrap) is not installed".into() },
            Some(bwrap) => match jail.try_bwrap(&bwrap) {
                Ok(version) => Mode::Bubblewrap { bwrap, version },
                Err(reason) => Mode::Unconfined { reason },
            },
        };
        Ok(jail)
    }

    fn try_bwrap(&self, bwrap: &Path) -> Result<String, String> {
        let version = std::process::Command::new(bwrap)
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .map_err(|err| format!("bwrap --version: {err}"))?;
        let cell = self.cell().map_err(|err| err.to_string())?;
        let mut probe = std::process::Command::new(bwrap);
        probe.args(self.bwrap_args(&cell, &Net::None, &[])).arg("/usr/bin/env").arg("true");
        if let Some(uid) = cell.uid {
            std::os::unix::process::CommandExt::uid(&mut probe, uid);
            std::os::unix::process::CommandExt::gid(&mut probe, uid);
        }
        let out = probe.output().map_err(|err| format!("bwrap: {err}"))?;
        if out.status.success() {
            Ok(version)
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(format!("bwrap cannot make a sandbox here: {}", stderr.lines().next().unwrap_or("no reason given")))
        }
    }

    /// Whether processes are contained by bubblewrap.
    pub fn contained(&self) -> bool {
        matches!(self.mode, Mode::Bubblewrap { .. })
    }

    /// A services folder as a contained process sees it.
    pub fn services_dir(&self, dir: &Path) -> PathBuf {
        if self.contained() { PathBuf::from(SVC_DIR) } else { dir.to_path_buf() }
    }

    /// A gate's folder as a contained process sees it.
    pub fn gate_dir(&self, gate: &Gate) -> PathBuf {
        if self.contained() { PathBuf::from(PG_DIR) } else { gate.dir.clone() }
    }

    /// The `DATABASE_URL` a process behind `gate` connects with.
    fn gate_url(&self, gate: &Gate) -> String {
        format!(
            "postgres://{}:{}@localhost:5432/postgres?host={}",
            gate.role,
            gate.password,
            self.gate_dir(gate).display()
        )
    }

    /// One line for the record: what containment this grading had.
    pub fn describe(&self) -> String {
        let l = &self.limits;
        let limits = format!(
            "{} MiB address space, {} processes, {} MiB files, {} MiB /tmp, CPU time as the run's limit{}",
            l.address_space >> 20,
            l.processes,
            l.file_size >> 20,
            l.scratch >> 20,
            if self.uid.is_some() { ", a uid of its own per process" } else { "" }
        );
        match &self.mode {
            Mode::Bubblewrap { version, .. } => format!(
                "{version}: own root, read-only /usr and /proc, private /tmp, no kit files, no network (PostgreSQL only through the grading's proxy, a lab's upstream and Redis only through their sockets); {limits}"
            ),
            Mode::Unconfined { reason } => format!("NOT CONTAINED ({reason}); rlimits only: {limits}"),
        }
    }

    /// A fresh folder for one contained process.
    pub fn cell(&self) -> std::io::Result<Cell> {
        let dir = tempfile::Builder::new().prefix("grader-cell-").tempdir()?;
        let uid = self.uid.map(|first| first + self.cells.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1_000);
        if let Some(uid) = uid {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid))?;
        }
        let inside = if self.contained() { PathBuf::from(OUT_DIR) } else { dir.path().to_path_buf() };
        Ok(Cell { dir, inside, uid })
    }

    /// `binary` copied where the contained uid can read it (once per grading).
    fn staged(&self, binary: &Path) -> std::io::Result<PathBuf> {
        let mut staged = self.staged.lock().expect("the stage list is never poisoned");
        if let Some((_, copy)) = staged.iter().find(|(original, _)| original == binary) {
            return Ok(copy.clone());
        }
        let dir = self.stage.path().join(staged.len().to_string());
        std::fs::create_dir(&dir)?;
        readable(&dir)?;
        let copy = dir.join(binary.file_name().unwrap_or(OsStr::new("driver")));
        std::fs::copy(binary, &copy)?;
        readable(&copy)?;
        staged.push((binary.to_path_buf(), copy.clone()));
        Ok(copy)
    }

    /// A command running `binary` (a driver) with `args`, contained, its
    /// writable folder `cell`, with `cpu_seconds` of CPU time.
    pub fn driver(
        &self,
        cell: &Cell,
        net: &Net,
        cpu_seconds: u64,
        binary: &Path,
        args: &[impl AsRef<OsStr>],
    ) -> std::io::Result<Command> {
        self.program(cell, net, cpu_seconds, None, binary, args)
    }

    /// As [`Jail::driver`], with the driver run under `tool` (valgrind) and
    /// its arguments before the driver's.
    pub fn under(
        &self,
        cell: &Cell,
        net: &Net,
        cpu_seconds: u64,
        tool: (&str, &[String]),
        binary: &Path,
        args: &[impl AsRef<OsStr>],
    ) -> std::io::Result<Command> {
        self.program(cell, net, cpu_seconds, Some(tool), binary, args)
    }

    fn program(
        &self,
        cell: &Cell,
        net: &Net,
        cpu_seconds: u64,
        tool: Option<(&str, &[String])>,
        binary: &Path,
        args: &[impl AsRef<OsStr>],
    ) -> std::io::Result<Command> {
        let mut argv: Vec<OsString> = Vec::new();
        if let Some((program, tool_args)) = tool {
            argv.push(program.into());
            argv.extend(tool_args.iter().map(OsString::from));
        }
        let mut command = match &self.mode {
            Mode::Bubblewrap { bwrap, .. } => {
                let copy = self.staged(binary)?;
                let inside = Path::new(BIN_DIR).join(copy.file_name().unwrap_or(OsStr::new("driver")));
                let mut command = Command::new(bwrap);
                command.args(self.bwrap_args(cell, net, &[(copy.as_path(), inside.as_path())]));
                argv.push(inside.into());
                argv.extend(args.iter().map(|a| a.as_ref().to_os_string()));
                command.args(argv);
                command
            }
            Mode::Unconfined { .. } => {
                argv.push(binary.into());
                argv.extend(args.iter().map(|a| a.as_ref().to_os_string()));
                let mut command = Command::new(&argv[0]);
                command.args(&argv[1..]).current_dir(cell.host()).env("TMPDIR", cell.host());
                if let Net::Postgres(gate) | Net::PostgresAndServices(gate, _) = net {
                    command.env("DATABASE_URL", self.gate_url(gate));
                }
                command
            }
        };
        if let Some(uid) = cell.uid {
            command.uid(uid).gid(uid);
        }
        limit(&mut command, self.limits, self.already + self.limits.processes, cpu_seconds);
        Ok(command)
    }

    fn bwrap_args(&self, cell: &Cell, net: &Net, binds: &[(&Path, &Path)]) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut add = |items: &[&OsStr]| args.extend(items.iter().map(|s| s.to_os_string()));
        add(&["--unshare-all".as_ref(), "--unshare-user".as_ref()]);
        if *net == Net::Host {
            add(&["--share-net".as_ref()]);
        }
        add(&[
            "--die-with-parent".as_ref(),
            "--new-session".as_ref(),
            "--ro-bind".as_ref(),
            "/usr".as_ref(),
            "/usr".as_ref(),
        ]);
        // Merged-/usr systems link these into /usr; others have real folders.
        for top in ["bin", "sbin", "lib", "lib32", "lib64"] {
            let host = Path::new("/").join(top);
            match std::fs::read_link(&host) {
                Ok(link) => add(&["--symlink".as_ref(), link.as_os_str(), host.as_os_str()]),
                Err(_) if host.is_dir() => add(&["--ro-bind".as_ref(), host.as_os_str(), host.as_os_str()]),
                Err(_) => {}
            }
        }
        // What the dynamic loader and name lookup read; nothing secret.
        for file in ["/etc/ld.so.cache", "/etc/hosts", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"] {
            add(&["--ro-bind-try".as_ref(), file.as_ref(), file.as_ref()]);
        }
        let scratch = self.limits.scratch.to_string();
        // Read-only, so no process can write its own memory (or a
        // neighbour's) through /proc/<pid>/mem: the driver measuring the
        // target shares its process.
        add(&["--proc".as_ref(), "/proc".as_ref(), "--remount-ro".as_ref(), "/proc".as_ref()]);
        add(&["--dev".as_ref(), "/dev".as_ref()]);
        add(&["--size".as_ref(), scratch.as_ref(), "--tmpfs".as_ref(), "/tmp".as_ref()]);
        for (host, inside) in binds {
            add(&["--ro-bind".as_ref(), host.as_os_str(), inside.as_os_str()]);
        }
        match net {
            // Read-only: connecting to a socket needs no write access to its mount.
            Net::Postgres(gate) => add(&["--ro-bind".as_ref(), gate.dir.as_os_str(), PG_DIR.as_ref()]),
            Net::Services(dir) => add(&["--ro-bind".as_ref(), dir.as_os_str(), SVC_DIR.as_ref()]),
            Net::PostgresAndServices(gate, dir) => add(&[
                "--ro-bind".as_ref(),
                gate.dir.as_os_str(),
                PG_DIR.as_ref(),
                "--ro-bind".as_ref(),
                dir.as_os_str(),
                SVC_DIR.as_ref(),
            ]),
            Net::None | Net::Host => {}
        }
        add(&["--bind".as_ref(), cell.host().as_os_str(), OUT_DIR.as_ref(), "--chdir".as_ref(), "/tmp".as_ref()]);
        add(&["--clearenv".as_ref()]);
        for (key, value) in [("PATH", "/usr/bin:/bin"), ("HOME", "/tmp"), ("TMPDIR", "/tmp"), ("LANG", "C.UTF-8")] {
            add(&["--setenv".as_ref(), key.as_ref(), value.as_ref()]);
        }
        match net {
            Net::Host => {
                for key in ["DATABASE_URL", "REDIS_URL"] {
                    if let Some(value) = std::env::var_os(key) {
                        add(&["--setenv".as_ref(), key.as_ref(), value.as_os_str()]);
                    }
                }
            }
            Net::Postgres(gate) | Net::PostgresAndServices(gate, _) => {
                let url = self.gate_url(gate);
                add(&["--setenv".as_ref(), "DATABASE_URL".as_ref(), url.as_ref()]);
            }
            Net::None | Net::Services(_) => {}
        }
        add(&["--disable-userns".as_ref(), "--".as_ref()]);
        args
    }
}

#[allow(unsafe_code)] // pre_exec: only setrlimit, which is async-signal-safe, between fork and exec.
fn limit(command: &mut Command, limits: Limits, processes: u64, cpu_seconds: u64) {
    let set = [
        (libc::RLIMIT_AS, limits.address_space),
        (libc::RLIMIT_NPROC, processes),
        (libc::RLIMIT_CPU, cpu_seconds.max(1)),
        (libc::RLIMIT_FSIZE, limits.file_size),
        (libc::RLIMIT_NOFILE, limits.open_files),
        (libc::RLIMIT_CORE, 0),
    ];
    // SAFETY: the closure calls only setrlimit, async-signal-safe, on values copied in.
    unsafe {
        command.pre_exec(move || {
            for (resource, value) in set {
                let bound = libc::rlimit { rlim_cur: value, rlim_max: value };
                if libc::setrlimit(resource, &bound) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

fn is_root() -> bool {
    current_uid() == 0
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// Threads every process of `uid` has now (what RLIMIT_NPROC counts).
fn threads_of(uid: u32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .filter_map(|e| std::fs::read_dir(e.path().join("task")).ok())
        .map(|tasks| tasks.count() as u64)
        .sum()
}

/// Lets every cell's uid read (and run) `path`, and none write it.
fn readable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::process::{RunError, run};

    const LIMIT: Duration = Duration::from_secs(30);

    fn jail(limits: Limits) -> Jail {
        let mut jail = Jail::new().expect("a stage folder");
        jail.limits = limits;
        assert!(jail.contained(), "these tests need bubblewrap (apt-get install bubblewrap): {}", jail.describe());
        jail
    }

    async fn sh(jail: &Jail, cell: &Cell, net: &Net, script: &str) -> Result<String, RunError> {
        let command = jail.driver(cell, net, 20, Path::new("/bin/bash"), &["-c", script]).expect("a command");
        run(command, LIMIT).await.map(|out| out.stdout)
    }

    #[tokio::test]
    async fn a_contained_process_sees_no_kit_file_and_keeps_nothing_in_tmp() {
        let jail = jail(Limits::default());
        let kit_file = std::env::current_dir().unwrap().join("Cargo.toml");
        assert!(kit_file.exists());
        let cell = jail.cell().unwrap();
        let script = format!(
            "test ! -e {kit} && test ! -e /work && echo kept > /tmp/note && echo out > {out}/answer && \
             ! echo x > /usr/x 2>/dev/null && echo ok",
            kit = kit_file.display(),
            out = OUT_DIR
        );
        assert_eq!(sh(&jail, &cell, &Net::None, &script).await.unwrap().trim(), "ok");
        assert_eq!(std::fs::read_to_string(cell.outside("answer")).unwrap(), "out\n");
        let next = jail.cell().unwrap();
        assert_eq!(sh(&jail, &next, &Net::None, "test ! -e /tmp/note && echo fresh").await.unwrap().trim(), "fresh");
        assert!(!next.outside("answer").exists(), "each process has a folder of its own");
    }

    #[tokio::test]
    async fn a_contained_process_cannot_write_its_own_memory_through_proc() {
        let jail = jail(Limits::default());
        let cell = jail.cell().unwrap();
        // Opening for writing is where a read-only /proc refuses; a writable
        // one would open it (and a write at offset 0 would then fail alone).
        let script = "( exec 3<>/proc/self/mem ) 2>/tmp/err; grep -q 'Read-only file system' /tmp/err && echo refused";
        assert_eq!(sh(&jail, &cell, &Net::None, script).await.unwrap().trim(), "refused");
        let readable = "head -c 1 /proc/self/status >/dev/null && echo readable";
        assert_eq!(sh(&jail, &cell, &Net::None, readable).await.unwrap().trim(), "readable");
    }

    #[tokio::test]
    async fn without_network_a_contained_process_reaches_no_loopback_service() {
        let jail = jail(Limits::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connect = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
        let shared = sh(&jail, &jail.cell().unwrap(), &Net::Host, &connect).await;
        assert_eq!(shared.unwrap().trim(), "connected", "the probe itself must be able to connect");
        let alone = sh(&jail, &jail.cell().unwrap(), &Net::None, &connect).await;
        assert!(alone.is_err(), "connected without a network: {alone:?}");
    }

    #[tokio::test]
    async fn a_services_folder_is_reachable_and_read_only() {
        use std::os::unix::fs::PermissionsExt;
        let jail = jail(Limits::default());
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("service.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
        let net = Net::Services(dir.path().to_path_buf());
        let script = format!(
            "perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Peer => \"{SVC_DIR}/service.sock\") or exit 1' \
             && ! touch {SVC_DIR}/planted 2>/dev/null && echo ok"
        );
        let out = sh(&jail, &jail.cell().unwrap(), &net, &script).await;
        assert_eq!(out.unwrap().trim(), "ok");
        assert!(accepted.await.unwrap(), "the connection reached the service");
        assert!(!dir.path().join("planted").exists());
    }

    #[tokio::test]
    async fn a_fork_loop_a_memory_hog_and_a_busy_loop_meet_their_limits() {
        let limits = Limits { processes: 24, address_space: 256 << 20, ..Limits::default() };
        let jail = jail(limits);
        let forks = sh(
            &jail,
            &jail.cell().unwrap(),
            &Net::None,
            "/bin/sh -c 'i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done; wait'",
        )
        .await;
        assert!(matches!(&forks, Err(RunError::Failed(reason)) if reason.contains("Cannot fork")), "{forks:?}");
        let hog =
            sh(&jail, &jail.cell().unwrap(), &Net::None, "x=$(head -c 400000000 /dev/zero | tr '\\0' a); echo ${#x}")
                .await;
        assert!(matches!(&hog, Err(RunError::Failed(_))), "{hog:?}");
        let cell = jail.cell().unwrap();
        let command =
            jail.driver(&cell, &Net::None, 1, Path::new("/bin/bash"), &["-c", "while :; do :; done"]).unwrap();
        let busy = run(command, LIMIT).await;
        assert!(matches!(&busy, Err(RunError::Failed(_))), "the CPU limit, not the wall clock, ends it: {busy:?}");
    }

    #[tokio::test]
    async fn a_process_cut_at_its_limit_leaves_nothing_running() {
        let jail = jail(Limits::default());
        let cell = jail.cell().unwrap();
        let script = "(setsid sleep 61.25 &); sleep 61.25";
        let command = jail.driver(&cell, &Net::None, 20, Path::new("/bin/bash"), &["-c", script]).unwrap();
        let cut = run(command, Duration::from_secs(1)).await;
        assert!(matches!(cut, Err(RunError::Timeout(_))), "{cut:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let left: Vec<_> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .filter(|cmdline| cmdline.starts_with(b"sleep\x0061.25"))
            .collect();
        assert!(left.is_empty(), "{} sleeps outlived their sandbox", left.len());
    }
}
