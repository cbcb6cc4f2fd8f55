//! The Fly.io deployment in `deploy/fly`: its config is valid and consistent with fly.toml, and
//! the entrypoint forwards signals, drains sluice, and stops the app.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sluice::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/fly")
        .join(file)
}

#[test]
fn the_fly_config_is_valid_and_agrees_with_fly_toml() {
    let config = Config::load(deploy("proxy.toml")).expect("deploy/fly/proxy.toml is valid");
    let fly: toml::Table = std::fs::read_to_string(deploy("fly.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let service = fly["http_service"].as_table().unwrap();
    assert_eq!(
        i64::from(config.listen.port()),
        service["internal_port"].as_integer().unwrap()
    );
    assert_eq!(
        i64::from(config.admin.listen.port()),
        fly["metrics"]["port"].as_integer().unwrap()
    );
    assert_eq!(fly["kill_signal"].as_str(), Some("SIGTERM"));
    let kill_timeout = Duration::from_secs(fly["kill_timeout"].as_integer().unwrap() as u64);
    assert!(
        kill_timeout > config.shutdown.drain_timeout,
        "Fly would kill sluice mid-drain"
    );
    let check = service["checks"].as_array().unwrap()[0]["path"]
        .as_str()
        .unwrap();
    assert!(
        config.limits.exempt_paths.iter().any(|p| p == check),
        "Fly's health check must not need a slot"
    );
    let fly_hard = service["concurrency"]["hard_limit"].as_integer().unwrap() as usize;
    assert!(
        fly_hard >= config.limits.hard_limit + config.queue.max_depth,
        "Fly's own hard limit must not refuse requests before sluice queues them"
    );
    assert!(
        config.server.trust_forwarded_headers,
        "behind Fly's proxy, keep its X-Forwarded-Proto"
    );
}

/// Runs the entrypoint with `app` as the app command and a loopback config; returns the child
/// once sluice is listening.
async fn entrypoint(
    app: &[&str],
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
) {
    let name = app
        .join(" ")
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let config = std::env::temp_dir().join(format!(
        "sluice-entrypoint-{}-{name:x}.toml",
        std::process::id()
    ));
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[shutdown]\ndrain_timeout = \"5s\"\n",
    )
    .unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_sluice")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(deploy("entrypoint.sh"))
        .args(app)
        .env("PATH", path)
        .env("SLUICE_CONFIG", &config)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bash runs the entrypoint");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    wait_for(&mut lines, "sluice listening").await;
    (child, lines)
}

async fn wait_for(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    needle: &str,
) {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(needle) {
                return;
            }
        }
        panic!("entrypoint ended before {needle:?}");
    });
    found
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} from the entrypoint"));
}

#[tokio::test]
async fn sigterm_drains_sluice_then_stops_the_app_and_exits_zero() {
    // The "app" waits on stdin forever: only the entrypoint can stop it.
    let (mut child, mut lines) = entrypoint(&["bash", "-c", "read -r line; sleep 60"]).await;
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for(&mut lines, "drained cleanly").await;
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn when_the_app_dies_sluice_is_drained_and_the_entrypoint_fails() {
    let (mut child, mut lines) = entrypoint(&["bash", "-c", "read -r line"]).await;
    // Ending the app's stdin ends the app.
    child.stdin.take().unwrap().shutdown().await.unwrap();
    wait_for(&mut lines, "the app exited").await;
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "Fly restarts a machine whose app died"
    );
}
