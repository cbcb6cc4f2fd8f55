//! Child processes that cannot outlive the harness, and what `/proc` says about them.
//!
//! Every child is owned by a [`Proc`] whose `Drop` stops it (SIGTERM, then SIGKILL for the
//! whole process tree), so a panic unwinding through the harness still cleans up. Children
//! stay in the harness's process group, so Ctrl-C reaches them too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A scratch directory removed on drop (configs, logs, nginx temp paths).
#[derive(Debug)]
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A fresh directory under the system temp dir.
    pub(crate) fn new(tag: &str) -> std::io::Result<ScratchDir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Relaxed);
        let path =
            std::env::temp_dir().join(format!("sluice-bench-{}-{tag}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(ScratchDir(path))
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running child process (and its descendants), stopped on drop.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr going to `log` (or discarded).
    pub(crate) fn spawn(cmd: &mut Command, log: Option<&Path>) -> std::io::Result<Proc> {
        let (out, err) = match log {
            Some(path) => {
                let file = std::fs::File::create(path)?;
                (Stdio::from(file.try_clone()?), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn()?;
        Ok(Proc { child })
    }

    /// Wraps a child spawned by the caller (with its own pipes).
    pub(crate) fn from_child(child: Child) -> Proc {
        Proc { child }
    }

    /// The root process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the root process runs.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory of the whole tree (nginx: master and workers), in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        tree(self.pid())
            .iter()
            .filter_map(|pid| rss_kib(*pid))
            .sum()
    }

    /// CPU time used so far by the whole tree: (user, system).
    pub(crate) fn cpu(&self) -> (Duration, Duration) {
        let tick = clock_tick();
        let (mut user, mut sys) = (0, 0);
        for pid in tree(self.pid()) {
            if let Some(fields) = stat_fields(pid) {
                user += fields
                    .get(11)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                sys += fields
                    .get(12)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        (
            tick * u32::try_from(user).unwrap_or(u32::MAX),
            tick * u32::try_from(sys).unwrap_or(u32::MAX),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pids = tree(self.pid());
        signal("-TERM", self.pid());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && self.is_running() {
            sleep(Duration::from_millis(20));
        }
        for pid in pids {
            if Path::new(&format!("/proc/{pid}")).exists() {
                signal("-KILL", pid);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `pid` and every descendant.
pub(crate) fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = stat_fields(child).and_then(|f| f.get(1)?.parse().ok()) {
                parents.push((child, ppid));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found
}

/// The fields of `/proc/<pid>/stat` after the command name (`state` is index 0).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// `VmRSS` of one process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn clock_tick() -> Duration {
    static TICK: OnceLock<Duration> = OnceLock::new();
    *TICK.get_or_init(|| {
        let hz = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|hz| *hz > 0)
            .unwrap_or(100);
        Duration::from_nanos(1_000_000_000 / hz)
    })
}

/// Finds `program` on `PATH` (nginx and HAProxy live in `/usr/sbin`, searched too).
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}
