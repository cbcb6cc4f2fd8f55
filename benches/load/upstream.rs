//! The upstream app every contender forwards to: sluice's demo app (`/hello` answers a 13-byte
//! body, `/slow?ms=N` waits, `/events` streams SSE), in its own process on a single-threaded
//! runtime (like the Node app it stands for), so it never shares a runtime with a proxy.
//!
//! The harness re-runs its own executable with `SLUICE_BENCH_ROLE=upstream`; the child prints
//! its address and lives until its stdin closes (which happens when the harness exits, however
//! it exits).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{ChildStdin, Command, Stdio};

use crate::procs::Proc;

const ROLE: &str = "SLUICE_BENCH_ROLE";

/// True when this process was started as the upstream child.
pub(crate) fn is_child() -> bool {
    std::env::var(ROLE).is_ok_and(|r| r == "upstream")
}

/// The child's `main`: serve until stdin closes.
pub(crate) fn child_main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("upstream runtime");
    let addr = runtime
        .block_on(sluice::demo::spawn_app(SocketAddr::from((
            [127, 0, 0, 1],
            0,
        ))))
        .expect("upstream binds");
    println!("{addr}");
    let _ = std::io::stdout().flush();
    // The runtime serves on its own thread while this one waits for the parent to go away.
    let _serving = std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// A running upstream child.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    _stdin: ChildStdin,
    _proc: Proc,
}

impl Upstream {
    /// Starts the upstream child and waits for its address.
    pub(crate) fn start() -> std::io::Result<Upstream> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(ROLE, "upstream")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let proc = Proc::from_child(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line.trim().parse().map_err(|_| {
            std::io::Error::other(format!("upstream child printed {line:?}, not an address"))
        })?;
        Ok(Upstream {
            addr,
            _stdin: stdin,
            _proc: proc,
        })
    }
}
