//! The command line: `sluice [run]`, `check`, `demo`, `reload`, `status`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::signals::Signals;
use crate::{Config, Sluice};
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Empty};

/// sluice: counts in-flight requests in front of one app, queues and sheds the excess,
/// reaps stuck streams, and exports exact gauges.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, default_value = "proxy.toml")]
    pub config: PathBuf,
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy (the default).
    Run,
    /// Validate the configuration and print it with every default filled in.
    Check,
    /// Run sluice in front of a built-in demo app (quick pages and long SSE streams).
    Demo,
    /// Ask the running sluice (via its admin listener) to re-read its config file.
    Reload,
    /// Print the running sluice's one-screen status.
    Status,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let command = cli.command.unwrap_or(Command::Run);
    // The proxy's runtime follows `server.workers`; the one-shot commands need one thread.
    let workers = match command {
        Command::Run => match load(&cli.config) {
            Ok(config) => config.server.workers,
            Err(code) => return code,
        },
        Command::Demo if cli.config.exists() => {
            Config::load(&cli.config).map_or(1, |config| config.server.workers)
        }
        _ => 1,
    };
    let runtime = match build_runtime(workers) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sluice: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match command {
            Command::Run => run(cli.config).await,
            Command::Check => check(&cli.config),
            Command::Demo => crate::demo::run(&cli.config).await,
            Command::Reload => admin_call(&cli.config, http::Method::POST, "/reload").await,
            Command::Status => admin_call(&cli.config, http::Method::GET, "/status").await,
        }
    })
}

/// One thread for `workers == 1` (every task on it: no cross-thread wake-ups), else a
/// work-stealing pool of `workers` threads (`0`: one per CPU core).
pub fn build_runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers == 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workers > 1 {
        builder.worker_threads(workers);
    }
    builder.enable_all().build()
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr (stdout carries command output); colour only on a terminal.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn load(path: &PathBuf) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|error| {
        eprintln!("sluice: {error}");
        ExitCode::from(2)
    })
}

fn check(path: &PathBuf) -> ExitCode {
    match load(path) {
        Ok(config) => {
            println!(
                "# {}: valid. Effective configuration:\n{}",
                path.display(),
                config.to_toml()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Runs until SIGTERM/SIGINT (drain, then exit 0; a second signal exits at once).
/// SIGHUP re-reads the config file.
async fn run(path: PathBuf) -> ExitCode {
    let config = match load(&path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("sluice: cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let sluice = match Sluice::start(config, Some(path)).await {
        Ok(sluice) => sluice,
        Err(error) => {
            eprintln!("sluice: {error}");
            return ExitCode::FAILURE;
        }
    };
    signals.serve(&sluice).await
}

/// Sends one request to the admin listener named in the config and prints the answer.
async fn admin_call(path: &PathBuf, method: http::Method, endpoint: &str) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mut addr: SocketAddr = config.admin.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    match fetch(addr, method, endpoint).await {
        Ok((status, body)) => {
            print!("{body}");
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("sluice: cannot reach the admin listener at {addr}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A one-shot HTTP/1.1 request over a fresh connection.
pub async fn fetch(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
) -> Result<(http::StatusCode, String), Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
