//! Where a request may go: only to the app, by path and query. Absolute-form targets,
//! `CONNECT` and `Upgrade: h2c` never take it anywhere else, and `Host` follows RFC 9112
//! §3.2 (exactly one, valid; an absolute target's host, never its userinfo, replaces it).

mod support;

use support::*;

/// An app that answers every request with a small `200`.
async fn ok_app() -> Harness<RawApp> {
    Harness::start_raw(RawApp::start(None, |_| Reply::ok("ok")).await, |_| {}).await
}

#[tokio::test]
async fn absolute_form_targets_only_ever_reach_the_app_by_path_and_query() {
    let h = ok_app().await;
    for (target, host) in [
        ("http://evil.example:9999/steal?x=1", "evil.example:9999"),
        ("https://evil.example/steal?x=1", "evil.example"),
        ("ftp://evil.example/steal?x=1", "evil.example"),
    ] {
        let response = raw_exchange(
            h.addr(),
            &format!("GET {target} HTTP/1.1\r\nHost: good.example\r\n\r\n"),
        )
        .await;
        assert_eq!(response.status(), 200, "{target}: {}", response.head);
        let seen = h.app.log().pop().unwrap();
        assert_eq!(seen.line(), "GET /steal?x=1 HTTP/1.1", "{target}");
        // RFC 9112 §3.2.2: the target's authority is the host; there is exactly one.
        assert_eq!(seen.fields("host"), [host], "{target}");
    }
    assert_eq!(
        h.app.log().len(),
        3,
        "every request went to the app, and only there"
    );
}

#[tokio::test]
async fn an_absolute_target_with_an_empty_path_reaches_the_app_as_slash() {
    // Found by the fuzzer: a `#` right after the authority leaves the path empty, and an
    // empty request target went upstream. RFC 9112 §3.2.1: an empty path is sent as "/".
    let h = ok_app().await;
    for (target, line) in [
        ("http://app.example", "GET / HTTP/1.1"),
        ("http://app.example#frag:@81/x?y", "GET / HTTP/1.1"),
        ("http://app.example?q=1", "GET /?q=1 HTTP/1.1"),
    ] {
        let response = raw_exchange(
            h.addr(),
            &format!("GET {target} HTTP/1.1\r\nHost: app.example\r\n\r\n"),
        )
        .await;
        assert_eq!(response.status(), 200, "{target}: {}", response.head);
        assert_eq!(h.app.log().pop().unwrap().line(), line, "{target}");
    }
}

#[tokio::test]
async fn connect_is_refused_with_405_and_never_forwarded() {
    let h = ok_app().await;
    let mut client = RawClient::connect(h.addr()).await;
    client
        .send(b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
        .await;
    let response = client.response().await;
    assert_eq!(response.status(), 405);
    assert!(response.text().contains("method_not_allowed"));
    // The connection was not turned into a tunnel: it still speaks HTTP.
    client.send(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(client.response().await.status(), 200);
    let log = h.app.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].line(), "GET /after HTTP/1.1");
    drop(client);
    let m = h.assert_settled().await;
    assert_eq!(m.get("sluice_rejected_requests_total{status=\"405\"}"), 1.0);
}

#[tokio::test]
async fn an_h2c_upgrade_is_stripped_and_answered_over_http1() {
    let h = ok_app().await;
    let mut client = RawClient::connect(h.addr()).await;
    client
        .send(
            b"GET /u HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        )
        .await;
    let response = client.response().await;
    assert_eq!(response.status(), 200, "never 101: {}", response.head);
    assert!(response.head.starts_with("HTTP/1.1 "));
    let seen = &h.app.log()[0];
    for name in ["upgrade", "http2-settings", "connection"] {
        assert!(!seen.names().contains(&name.to_owned()), "{}", seen.head);
    }
    // Still HTTP/1.1 afterwards.
    client.send(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(client.response().await.status(), 200);
}

#[tokio::test]
async fn h2c_is_never_offered_upstream_even_next_to_a_real_upgrade() {
    let h = ok_app().await;
    raw_exchange(
        h.addr(),
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n",
    )
    .await;
    let seen = &h.app.log()[0];
    assert_eq!(seen.fields("upgrade"), ["websocket"], "{}", seen.head);
    assert_eq!(seen.fields("connection"), ["upgrade"]);
}

#[tokio::test]
async fn a_request_without_host_is_400_except_from_http_1_0_which_gets_an_empty_one() {
    let h = ok_app().await;
    let missing = raw_exchange(h.addr(), "GET /no-host HTTP/1.1\r\n\r\n").await;
    assert_eq!(missing.status(), 400, "RFC 9112 §3.2");
    assert!(missing.text().contains("bad_request"));
    assert!(h.app.log().is_empty());
    let old = raw_exchange(h.addr(), "GET /old HTTP/1.0\r\n\r\n").await;
    assert_eq!(old.status(), 200);
    let seen = &h.app.log()[0];
    assert_eq!(seen.line(), "GET /old HTTP/1.1");
    assert_eq!(
        seen.fields("host"),
        [""],
        "an HTTP/1.1 message always has one Host"
    );
    assert!(seen.fields("x-forwarded-host").is_empty());
}

#[tokio::test]
async fn several_hosts_or_an_invalid_host_are_400_and_never_forwarded() {
    let h = ok_app().await;
    for fields in [
        "Host: a.example\r\nHost: b.example\r\n",
        "Host: user@evil.example\r\n",
        "Host: a b\r\n",
        "Host: a.example/path\r\n",
    ] {
        let response = raw_exchange(h.addr(), &format!("GET /h HTTP/1.1\r\n{fields}\r\n")).await;
        assert_eq!(response.status(), 400, "{fields:?}");
    }
    assert!(h.app.log().is_empty(), "{:?}", h.app.log());
    let m = h.assert_settled().await;
    assert_eq!(m.get("sluice_rejected_requests_total{status=\"400\"}"), 4.0);
}

/// sluice remembers a connection's first valid `Host` so the same value is not validated
/// again; a different or repeated `Host` later on that connection is still checked.
#[tokio::test]
async fn a_kept_alive_connection_gets_every_host_checked_not_just_its_first() {
    let h = ok_app().await;
    for (later, status) in [
        ("Host: b.example\r\n", 200),
        ("Host: user@evil.example\r\n", 400),
        ("Host: a.example\r\nHost: a.example\r\n", 400),
        ("Host: a b\r\n", 400),
    ] {
        let mut client = RawClient::connect(h.addr()).await;
        client
            .send(b"GET /first HTTP/1.1\r\nHost: a.example\r\n\r\n")
            .await;
        assert_eq!(client.response().await.status(), 200);
        client
            .send(format!("GET /later HTTP/1.1\r\n{later}\r\n").as_bytes())
            .await;
        assert_eq!(client.response().await.status(), status, "{later:?}");
    }
    let paths: Vec<_> = h.app.log().iter().map(|r| r.line().to_owned()).collect();
    assert_eq!(
        paths.iter().filter(|l| l.starts_with("GET /later")).count(),
        1
    );
    let m = h.assert_settled().await;
    assert_eq!(m.get("sluice_rejected_requests_total{status=\"400\"}"), 3.0);
}

#[tokio::test]
async fn userinfo_in_an_absolute_target_never_becomes_the_host() {
    let h = ok_app().await;
    let response = raw_exchange(
        h.addr(),
        "GET http://user:pw@evil.example:81/x HTTP/1.1\r\nHost: good.example\r\n\r\n",
    )
    .await;
    assert_eq!(response.status(), 200);
    let seen = &h.app.log()[0];
    assert_eq!(seen.line(), "GET /x HTTP/1.1");
    assert_eq!(seen.fields("host"), ["evil.example:81"]);
}
