//! The contenders: the app directly, sluice (and optionally a baseline sluice binary), nginx
//! and HAProxy, each started as its own process with an equivalent configuration.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::configs::{self, Addrs, Limits};
use crate::procs::{Proc, ScratchDir, which};
use crate::settings::Settings;

/// Who is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No proxy: the ceiling.
    Direct,
    /// sluice, the binary under test.
    Sluice,
    /// Another sluice binary (`SLUICE_BENCH_BASELINE`), for before/after in one run.
    Baseline,
    /// nginx.
    Nginx,
    /// HAProxy.
    Haproxy,
}

impl Kind {
    /// The name in tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Sluice => "sluice",
            Kind::Baseline => "sluice (baseline)",
            Kind::Nginx => "nginx",
            Kind::Haproxy => "haproxy",
        }
    }

    /// nginx and HAProxy: what sluice is compared with.
    pub(crate) fn is_peer(self) -> bool {
        matches!(self, Kind::Nginx | Kind::Haproxy)
    }

    /// The contenders of a scenario that can run here (a note is printed for the others).
    pub(crate) fn available(settings: &Settings, wanted: &[Kind]) -> Vec<Kind> {
        wanted
            .iter()
            .copied()
            .filter(|kind| match kind {
                Kind::Baseline => settings.baseline_bin.is_some(),
                Kind::Nginx | Kind::Haproxy => {
                    let found = which(kind.name()).is_some();
                    if !found {
                        println!("note: {} is not installed; skipped", kind.name());
                    }
                    found
                }
                Kind::Direct | Kind::Sluice => true,
            })
            .collect()
    }
}

/// A started contender.
#[derive(Debug)]
pub(crate) struct Contender {
    /// Which one.
    pub(crate) kind: Kind,
    /// Where clients connect.
    pub(crate) addr: SocketAddr,
    /// sluice's admin listener.
    pub(crate) admin: Option<SocketAddr>,
    // Dropped before the directory its config lives in.
    proc: Option<Proc>,
    _dir: Option<ScratchDir>,
}

impl Contender {
    /// Starts `kind` in front of `upstream` with `limits`, and waits until it answers.
    pub(crate) fn start(
        kind: Kind,
        settings: &Settings,
        upstream: SocketAddr,
        limits: &Limits,
    ) -> Result<Contender, String> {
        if kind == Kind::Direct {
            return Ok(Contender {
                kind,
                addr: upstream,
                admin: None,
                proc: None,
                _dir: None,
            });
        }
        let dir = ScratchDir::new(kind.name().split(' ').next().unwrap_or("proxy"))
            .map_err(|e| format!("scratch dir: {e}"))?;
        let addrs = Addrs {
            listen: free_port()?,
            admin: free_port()?,
            upstream,
        };
        let path = dir.path();
        let log = path.join("out.log");
        let mut command = match kind {
            Kind::Sluice | Kind::Baseline => {
                let bin = match kind {
                    Kind::Baseline => settings.baseline_bin.clone().expect("checked"),
                    _ => settings.sluice_bin.clone(),
                };
                let file = path.join("proxy.toml");
                let workers =
                    supports_workers(&bin, &addrs, limits, &file).then_some(settings.workers);
                write(&file, &configs::sluice(&addrs, limits, workers))?;
                let mut c = Command::new(bin);
                c.arg("run").arg("--config").arg(&file);
                c
            }
            Kind::Nginx => {
                let file = path.join("nginx.conf");
                write(
                    &file,
                    &configs::nginx(&addrs, limits, settings.workers, path),
                )?;
                let mut c = Command::new(which("nginx").expect("checked"));
                c.arg("-p").arg(path).arg("-e").arg(path.join("error.log"));
                c.arg("-c").arg(&file);
                c
            }
            Kind::Haproxy => {
                let file = path.join("haproxy.cfg");
                write(&file, &configs::haproxy(&addrs, limits, settings.workers))?;
                let mut c = Command::new(which("haproxy").expect("checked"));
                c.arg("-db").arg("-f").arg(&file);
                c
            }
            Kind::Direct => unreachable!(),
        };
        let proc = Proc::spawn(&mut command, Some(&log))
            .map_err(|e| format!("cannot start {}: {e}", kind.name()))?;
        let mut contender = Contender {
            kind,
            addr: addrs.listen,
            admin: matches!(kind, Kind::Sluice | Kind::Baseline).then_some(addrs.admin),
            proc: Some(proc),
            _dir: Some(dir),
        };
        contender.wait_ready(&log)?;
        Ok(contender)
    }

    fn wait_ready(&mut self, log: &std::path::Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if get_ok(self.addr, "/hello") {
                return Ok(());
            }
            if let Some(proc) = self.proc.as_mut() {
                if !proc.is_running() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = std::fs::read_to_string(log).unwrap_or_default();
        Err(format!("{} did not start:\n{output}", self.kind.name()))
    }

    /// The proxy's process tree (none for `direct`).
    pub(crate) fn proc(&self) -> Option<&Proc> {
        self.proc.as_ref()
    }
}

/// True if this sluice binary knows `server.workers` (older ones reject unknown keys).
fn supports_workers(bin: &std::path::Path, a: &Addrs, l: &Limits, file: &std::path::Path) -> bool {
    if write(file, &configs::sluice(a, l, Some(1))).is_err() {
        return false;
    }
    Command::new(bin)
        .arg("check")
        .arg("--config")
        .arg(file)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn write(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}

/// One blocking `GET` over a fresh connection; true on `200`.
pub(crate) fn get_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
