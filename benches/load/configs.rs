//! Equivalent configurations for each proxy: same upstream, keep-alive to it, no caching or
//! buffering, the same limits, request ids and `X-Forwarded-For`, no access logs, and the same
//! number of workers.

use std::net::SocketAddr;
use std::path::Path;

/// The limits a scenario asks every proxy for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// sluice `limits.mode`: `"requests"` or `"connections"`.
    pub(crate) mode: &'static str,
    /// sluice `limits.soft_limit`.
    pub(crate) soft: usize,
    /// Concurrent requests to the app (sluice `hard_limit`, HAProxy server `maxconn`, nginx
    /// `max_conns`).
    pub(crate) hard: usize,
    /// Requests waiting for a slot (sluice `queue.max_depth`, HAProxy `maxqueue`; nginx has
    /// no queue).
    pub(crate) depth: usize,
}

/// Where a proxy listens and forwards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addrs {
    /// The proxy's public address.
    pub(crate) listen: SocketAddr,
    /// sluice's admin address.
    pub(crate) admin: SocketAddr,
    /// The app.
    pub(crate) upstream: SocketAddr,
}

/// `proxy.toml` for sluice; `workers` is left out for binaries that predate the key.
pub(crate) fn sluice(a: &Addrs, l: &Limits, workers: Option<usize>) -> String {
    let workers = workers.map_or(String::new(), |w| format!("workers = {w}\n"));
    format!(
        r#"listen = "{listen}"

[upstream]
url = "http://{upstream}"

[limits]
mode = "{mode}"
soft_limit = {soft}
hard_limit = {hard}

[queue]
max_depth = {depth}
timeout = "30s"

[admin]
listen = "{admin}"

[server]
{workers}
[shutdown]
drain_timeout = "1s"
"#,
        listen = a.listen,
        upstream = a.upstream,
        admin = a.admin,
        mode = l.mode,
        soft = l.soft,
        hard = l.hard,
        depth = l.depth,
    )
}

/// `nginx.conf`: `max_conns` on the upstream server stands for the hard limit (nginx OSS has
/// no queue: requests beyond it fail with 502).
pub(crate) fn nginx(a: &Addrs, l: &Limits, workers: usize, dir: &Path) -> String {
    let dir = dir.display();
    format!(
        r#"worker_processes {workers};
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile 20000;
events {{
    worker_connections 16000;
}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    upstream app {{
        server {upstream} max_conns={hard};
        keepalive {keepalive};
        keepalive_requests 100000000;
        keepalive_timeout 4s;
    }}
    server {{
        listen {listen} backlog=4096;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Request-Id $request_id;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
}}
"#,
        listen = a.listen,
        upstream = a.upstream,
        hard = l.hard,
        keepalive = l.hard.max(64),
    )
}

/// `haproxy.cfg`: the server's `maxconn`/`maxqueue` are the hard limit and the queue.
pub(crate) fn haproxy(a: &Addrs, l: &Limits, workers: usize) -> String {
    format!(
        r#"global
    nbthread {workers}
    maxconn 9000

defaults
    mode http
    option http-keep-alive
    http-reuse always
    option forwardfor
    timeout connect 5s
    timeout client 600s
    timeout server 600s
    timeout queue 30s
    timeout http-request 10s
    timeout http-keep-alive 75s

frontend public
    bind {listen}
    maxconn 9000
    unique-id-format %{{+X}}o\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
    http-request set-header X-Request-Id %[unique-id]
    default_backend app

backend app
    server app {upstream} maxconn {hard} maxqueue {depth}
"#,
        listen = a.listen,
        upstream = a.upstream,
        hard = l.hard,
        depth = l.depth.max(1),
    )
}
