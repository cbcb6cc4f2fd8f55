//! Configuration: the shipped `proxy.toml` documents the real defaults, and every bad file is
//! refused with a message naming the key (and line), before anything listens.

use std::process::Command;

use sluice::Config;
use sluice::config::LimitMode;

#[test]
fn the_shipped_proxy_toml_parses_to_the_defaults() {
    let shipped = Config::load(concat!(env!("CARGO_MANIFEST_DIR"), "/proxy.toml"))
        .expect("proxy.toml is valid");
    assert_eq!(
        shipped,
        Config::default(),
        "proxy.toml and the code disagree on a default"
    );
}

#[test]
fn every_key_in_the_defaults_is_documented_in_proxy_toml() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/proxy.toml")).unwrap();
    let effective = Config::default().to_toml();
    for line in effective.lines().filter(|l| l.contains(" = ")) {
        let key = line.split(" = ").next().unwrap().trim();
        assert!(
            shipped.lines().any(|l| l
                .trim_start()
                .trim_start_matches("# ")
                .starts_with(&format!("{key} "))),
            "key `{key}` is not documented in proxy.toml"
        );
    }
}

#[test]
fn an_empty_file_means_all_defaults() {
    assert_eq!(Config::from_toml("").unwrap(), Config::default());
}

#[test]
fn a_full_file_is_read() {
    let c = Config::from_toml(
        r#"
        listen = "127.0.0.1:8081"
        [upstream]
        url = "http://10.0.0.2:3000/"
        connect_timeout = "250ms"
        [limits]
        mode = "connections"
        soft_limit = 20
        hard_limit = 25
        exempt_paths = ["/health", "/ready"]
        [queue]
        max_depth = 0
        timeout = "1m 30s"
        [shed]
        retry_after = "2s"
        [reaper]
        idle_timeout = "5m"
        "#,
    )
    .unwrap();
    assert_eq!(c.limits.mode, LimitMode::Connections);
    assert_eq!(c.limits.hard_limit, 25);
    assert_eq!(c.queue.timeout, std::time::Duration::from_secs(90));
    assert_eq!(
        c.upstream.connect_timeout,
        std::time::Duration::from_millis(250)
    );
    assert_eq!(
        c.reaper.idle_timeout,
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(c.limits.exempt_paths, ["/health", "/ready"]);
}

/// Each bad file, and what its error must mention.
const BAD: &[(&str, &str, &[&str])] = &[
    ("syntax error", "[limits\nhard_limit = 1\n", &["line 1"]),
    (
        "unknown key",
        "[limits]\nhard_limit = 10\nsoft_limt = 5\n",
        &["soft_limt", "line 3"],
    ),
    ("unknown table", "[limitz]\nhard_limit = 10\n", &["limitz"]),
    (
        "wrong type",
        "[limits]\nhard_limit = \"many\"\n",
        &["hard_limit", "line 2"],
    ),
    (
        "negative limit",
        "[limits]\nhard_limit = -1\n",
        &["hard_limit", "line 2"],
    ),
    (
        "bad duration",
        "[queue]\ntimeout = \"30 parsecs\"\n",
        &["timeout", "line 2", "30 parsecs"],
    ),
    (
        "soft above hard",
        "[limits]\nsoft_limit = 300\nhard_limit = 250\n",
        &["limits.soft_limit", "line 2", "hard_limit"],
    ),
    (
        "zero hard limit",
        "[limits]\nsoft_limit = 0\nhard_limit = 0\n",
        &["limits.hard_limit", "line 3"],
    ),
    (
        "unparsable URL",
        "[upstream]\nurl = \"http://exa mple\"\n",
        &["url", "line 2"],
    ),
    (
        "https upstream",
        "[upstream]\nurl = \"https://app.internal\"\n",
        &["url", "https"],
    ),
    (
        "URL with a path",
        "[upstream]\nurl = \"http://app:3000/api\"\n",
        &["url", "path"],
    ),
    (
        "bad mode",
        "[limits]\nmode = \"sockets\"\n",
        &["mode", "sockets"],
    ),
    (
        "bad listen",
        "listen = \"localhost\"\n",
        &["listen", "line 1"],
    ),
    (
        "relative exempt path",
        "[limits]\nexempt_paths = [\"health\"]\n",
        &["limits.exempt_paths", "line 2"],
    ),
];

#[test]
fn bad_files_name_the_key_and_line() {
    for (what, text, needles) in BAD {
        let error = Config::from_toml(text).expect_err(what).to_string();
        for needle in *needles {
            assert!(
                error.contains(needle),
                "{what}: error does not mention {needle:?}:\n{error}"
            );
        }
    }
}

fn sluice(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("sluice-test-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_prints_the_effective_config_and_exits_zero() {
    let path = write_temp("good", "[limits]\nsoft_limit = 20\nhard_limit = 25\n");
    let out = sluice(&["check", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hard_limit = 25") && stdout.contains("max_request_duration = \"30m\""),
        "{stdout}"
    );
}

#[test]
fn a_bad_file_stops_sluice_before_it_listens() {
    let path = write_temp("bad", "[limits]\nsoft_limit = 300\nhard_limit = 250\n");
    for args in [vec!["check"], vec![], vec!["run"]] {
        let mut args = args.clone();
        args.extend(["--config", path.to_str().unwrap()]);
        let out = sluice(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("limits.soft_limit (line 2)"), "{stderr}");
    }
    let out = sluice(&["--config", "/nonexistent/proxy.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));
}
