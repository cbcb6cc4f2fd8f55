//! WebSocket upgrades: forwarded with `Connection: upgrade`, joined only on the app's `101`,
//! and while open the tunnel holds one slot, listed as `tunnel`. Closing either side
//! releases the slot and closes the other side.

mod support;

use support::*;

/// Opens a tunnel to the app's `/ws` echo route; returns the client and the `101`.
async fn open_tunnel(h: &Harness) -> (RawClient, RawResponse) {
    let mut client = RawClient::connect(h.addr()).await;
    client.send(ws_request("/ws").as_bytes()).await;
    let response = client.response().await;
    (client, response)
}

async fn echo(client: &mut RawClient, text: &str) -> String {
    client.send(text.as_bytes()).await;
    String::from_utf8(client.read_exact_n(text.len()).await).unwrap()
}

#[tokio::test]
async fn a_websocket_is_tunneled_and_holds_one_slot_until_the_client_closes() {
    let h = Harness::start(|_| {}).await;
    let (mut client, response) = open_tunnel(&h).await;
    assert_eq!(response.status(), 101, "{}", response.head);
    assert_eq!(response.fields("upgrade"), ["websocket"]);
    assert_eq!(response.fields("connection"), ["upgrade"]);
    assert_eq!(response.fields("x-request-id").len(), 1);

    assert_eq!(echo(&mut client, "ping").await, "ping");
    assert_eq!(echo(&mut client, "again").await, "again");
    assert_eq!(h.snapshot().active, 1, "an open tunnel holds one slot");
    let listing = admin_get(h.sluice.admin_addr(), "/requests").await.1;
    assert!(
        listing.contains("\"state\": \"tunnel\"") && listing.contains("/ws"),
        "{listing}"
    );
    let m = h.metrics().await;
    assert_eq!(m.get("sluice_active_requests"), 1.0);

    drop(client);
    tokio::time::timeout(PATIENCE, h.app.wait_ws_closed(1))
        .await
        .expect("the app's side closed too");
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("completed"), 1.0);
}

#[tokio::test]
async fn the_app_closing_the_tunnel_closes_the_client_and_frees_the_slot() {
    let h = Harness::start(|_| {}).await;
    let (mut client, response) = open_tunnel(&h).await;
    assert_eq!(response.status(), 101);
    assert_eq!(echo(&mut client, "hello").await, "hello");
    client.send(b"bye").await;
    let rest = client.closed().await;
    assert!(rest.is_empty(), "nothing after bye: {rest:?}");
    h.app.wait_ws_closed(1).await;
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("completed"), 1.0);
}

#[tokio::test]
async fn a_tunnel_counts_against_the_hard_limit() {
    let h = Harness::start(|c| {
        c.limits.soft_limit = 1;
        c.limits.hard_limit = 1;
    })
    .await;
    let (mut client, response) = open_tunnel(&h).await;
    assert_eq!(response.status(), 101);
    let addr = h.addr();
    let queued = tokio::spawn(async move { send(addr, get("/fast?after-tunnel")).await });
    h.wait_until("a request queued behind the tunnel", |s| s.queued == 1)
        .await;
    assert_eq!(h.app.hits("/fast?after-tunnel"), 0);
    assert_eq!(echo(&mut client, "still").await, "still");
    drop(client);
    let status = queued.await.unwrap().unwrap().status();
    assert_eq!(status, 200, "admitted once the tunnel closed");
    h.assert_settled().await;
}

#[tokio::test]
async fn an_upgrade_the_app_declines_is_an_ordinary_response_on_a_live_connection() {
    let h = Harness::start(|_| {}).await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(ws_request("/fast").as_bytes()).await;
    let response = client.response().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "fast");
    assert!(response.fields("upgrade").is_empty());
    // Not switched: the connection still carries HTTP.
    client
        .send(b"GET /fast?next HTTP/1.1\r\nHost: a\r\n\r\n")
        .await;
    assert_eq!(client.response().await.status(), 200);
    drop(client);
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("completed"), 2.0);
}

#[tokio::test]
async fn the_app_sees_the_upgrade_request_with_its_own_connection_field() {
    let app = RawApp::start(None, |_| Reply::ok("no")).await;
    let h = Harness::start_raw(app, |_| {}).await;
    raw_exchange(h.addr(), &ws_request("/ws?room=1")).await;
    let seen = &h.app.log()[0];
    assert_eq!(seen.line(), "GET /ws?room=1 HTTP/1.1");
    assert_eq!(seen.fields("upgrade"), ["websocket"]);
    assert_eq!(seen.fields("connection"), ["upgrade"]);
    assert_eq!(
        seen.fields("sec-websocket-key"),
        ["dGhlIHNhbXBsZSBub25jZQ=="]
    );
    assert_eq!(seen.fields("sec-websocket-version"), ["13"]);
}

#[tokio::test]
async fn upgrade_without_connection_upgrade_is_not_an_upgrade() {
    let app = RawApp::start(None, |_| Reply::ok("ok")).await;
    let h = Harness::start_raw(app, |_| {}).await;
    raw_exchange(
        h.addr(),
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
    )
    .await;
    let seen = &h.app.log()[0];
    assert!(seen.fields("upgrade").is_empty(), "{}", seen.head);
}

#[tokio::test]
async fn an_app_that_switches_protocols_unasked_gets_a_502() {
    let app = RawApp::start(None, |_| {
        Reply::Send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n".to_vec())
    })
    .await;
    let h = Harness::start_raw(app, |_| {}).await;
    let response = raw_exchange(h.addr(), "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(response.status(), 502, "{}", response.head);
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("upstream_error"), 1.0);
}

#[tokio::test]
async fn an_app_that_hangs_up_on_an_upgrade_gets_a_502_and_leaks_nothing() {
    let app = RawApp::start(None, |_| Reply::Close).await;
    let h = Harness::start_raw(app, |_| {}).await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(ws_request("/ws").as_bytes()).await;
    let response = client.response().await;
    assert_eq!(response.status(), 502, "the app hung up on the upgrade");
    drop(client);
    h.assert_settled().await;
}
