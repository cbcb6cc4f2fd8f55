//! The binary under signals: SIGTERM drains and exits 0, a second signal exits at once,
//! SIGHUP and `sluice reload` re-read the file. Each test spawns `sluice` as a process and
//! follows its log lines (the signal that something happened), never sleeps.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use http::StatusCode;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

struct Process {
    child: Child,
    log: Lines<BufReader<ChildStderr>>,
    proxy: SocketAddr,
    admin: SocketAddr,
    config: PathBuf,
}

fn config_text(app: SocketAddr, hard: usize) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[upstream]\nurl = \"http://{app}\"\n\
         [limits]\nsoft_limit = 1\nhard_limit = {hard}\n[shutdown]\ndrain_timeout = \"20s\"\n"
    )
}

impl Process {
    async fn start(app: SocketAddr, name: &str, hard: usize) -> Process {
        let config =
            std::env::temp_dir().join(format!("sluice-signals-{}-{name}.toml", std::process::id()));
        std::fs::write(&config, config_text(app, hard)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["--config", config.to_str().unwrap()])
            .env("SLUICE_LOG", "info")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let log = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut process = Process {
            child,
            log,
            proxy: app,
            admin: app,
            config,
        };
        let line = process.wait_for_log("sluice listening").await;
        let field = |name: &str| {
            line.split(&format!("{name}="))
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        process.proxy = field("proxy_addr");
        process.admin = field("admin_addr");
        process
    }

    /// Reads log lines until one contains `needle`.
    async fn wait_for_log(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.log.next_line().await.unwrap() {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("sluice exited before logging {needle:?}");
        });
        found
            .await
            .unwrap_or_else(|_| panic!("no log line with {needle:?}"))
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("sluice exits")
            .unwrap()
            .code()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
    }
}

#[tokio::test]
async fn sigterm_drains_in_flight_streams_then_exits_zero() {
    let app = TestApp::start().await;
    let mut sluice = Process::start(app.addr, "term", 5).await;
    let mut stream = send(sluice.proxy, get("/hold/t")).await.unwrap();
    let mut held = app.held("t").await;

    sluice.signal("TERM");
    sluice.wait_for_log("draining").await;
    assert_eq!(
        admin_get(sluice.admin, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    held.push("data: finishing\n\n").await;
    assert_eq!(
        next_chunk(stream.body_mut()).await.as_deref(),
        Some("data: finishing\n\n")
    );
    held.end();
    assert_eq!(
        next_chunk(stream.body_mut()).await,
        None,
        "the stream ended cleanly"
    );
    sluice.wait_for_log("drained cleanly").await;
    assert_eq!(sluice.exit_code().await, Some(0));
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let app = TestApp::start().await;
    let mut sluice = Process::start(app.addr, "twice", 5).await;
    let _stream = send(sluice.proxy, get("/hold/x")).await.unwrap();
    let _held = app.held("x").await;
    sluice.signal("INT");
    sluice.wait_for_log("draining").await;
    sluice.signal("TERM");
    // The stream is still open and the drain timeout is 20 s away: only the second signal
    // can end the process now.
    assert_eq!(sluice.exit_code().await, Some(130));
}

#[tokio::test]
async fn sighup_rereads_the_file_and_admits_the_queue_under_the_new_limit() {
    let app = TestApp::start().await;
    let mut sluice = Process::start(app.addr, "hup", 1).await;
    let _a = send(sluice.proxy, get("/hold/a")).await.unwrap();
    let mut a = app.held("a").await;
    let proxy = sluice.proxy;
    let queued = tokio::spawn(async move { send(proxy, get("/hold/b")).await.unwrap() });

    std::fs::write(&sluice.config, config_text(app.addr, 2)).unwrap();
    // The queued request may not have arrived yet; either way it must end up admitted.
    sluice.signal("HUP");
    let line = sluice.wait_for_log("configuration reloaded").await;
    assert!(line.contains("applied: limits.hard_limit"), "{line}");
    let mut b = app.held("b").await;
    let b_response = queued.await.unwrap();
    assert_eq!(b_response.status(), StatusCode::OK);
    let metrics = Metrics::parse(&admin_get(sluice.admin, "/metrics").await.1);
    assert_eq!(metrics.get("sluice_hard_limit"), 2.0);
    assert_eq!(metrics.get("sluice_active_requests"), 2.0);

    // An invalid file: logged, and the running limits stay.
    std::fs::write(&sluice.config, "[limits]\nhard_limit = 0\n").unwrap();
    sluice.signal("HUP");
    let line = sluice.wait_for_log("reload rejected").await;
    assert!(line.contains("limits.hard_limit"), "{line}");
    let metrics = Metrics::parse(&admin_get(sluice.admin, "/metrics").await.1);
    assert_eq!(metrics.get("sluice_hard_limit"), 2.0);
    a.end();
    b.end();
    drop(b_response);
}

#[tokio::test]
async fn the_reload_command_reports_what_changed() {
    let app = TestApp::start().await;
    let sluice = Process::start(app.addr, "cmd", 3).await;
    // `sluice reload` finds the admin listener through the config file: point a copy of the
    // file at the running admin address.
    let text = config_text(app.addr, 9).replace(
        "[admin]\nlisten = \"127.0.0.1:0\"",
        &format!("[admin]\nlisten = \"{}\"", sluice.admin),
    );
    let client_config = sluice.config.with_extension("client.toml");
    std::fs::write(&client_config, &text).unwrap();
    std::fs::write(
        &sluice.config,
        config_text(app.addr, 9).replace(
            "listen = \"127.0.0.1:0\"\n[admin]",
            "listen = \"127.0.0.1:1\"\n[admin]",
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["reload", "--config", client_config.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout,
        "applied: limits.hard_limit; needs restart: listen\n"
    );

    std::fs::write(&sluice.config, "[queue]\ntimeout = \"soon\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["reload", "--config", client_config.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("running limits kept"),
        "{out:?}"
    );
    let metrics = Metrics::parse(&admin_get(sluice.admin, "/metrics").await.1);
    assert_eq!(metrics.get("sluice_hard_limit"), 9.0);
    let status = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["status", "--config", client_config.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("active         0 / 9"),
        "{status:?}"
    );
    let _ = std::fs::remove_file(client_config);
}
