//! Request smuggling (RFC 9112 §6.1, §6.3, §11.2): a message whose length two parsers could
//! read differently is refused, or re-framed so the app sees exactly one unambiguous
//! message, and the client connection is closed after it. Every case is written on a raw
//! socket and checked against the bytes the app received.

mod support;

use support::*;

/// A scripted app that answers every complete request with `200 ok`.
async fn harness() -> Harness<RawApp> {
    Harness::start_raw(RawApp::start(None, |_| Reply::ok("ok")).await, |_| {}).await
}

/// Sends `request` (which may carry a smuggled second request) and returns the first
/// response, after checking the connection is then closed.
async fn send_and_expect_close(h: &Harness<RawApp>, request: &str) -> RawResponse {
    let mut client = RawClient::connect(h.addr()).await;
    client.send(request.as_bytes()).await;
    let response = client.response().await;
    let rest = client.closed().await;
    assert!(
        !String::from_utf8_lossy(&rest).contains("HTTP/1.1"),
        "a second response followed: {}",
        String::from_utf8_lossy(&rest)
    );
    response
}

/// No message reached the app with two framings, two lengths, or a transfer coding.
fn assert_unambiguous(seen: &RawRequest) {
    let cl = seen.fields("content-length");
    let te = seen.fields("transfer-encoding");
    assert!(cl.len() <= 1, "several Content-Length: {}", seen.head);
    assert!(cl.is_empty() || te.is_empty(), "CL and TE: {}", seen.head);
    assert!(
        te.iter().all(|v| v.eq_ignore_ascii_case("chunked")),
        "{}",
        seen.head
    );
}

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

#[tokio::test]
async fn content_length_with_transfer_encoding_is_reframed_and_the_connection_closes() {
    let h = harness().await;
    for (order, fields) in [
        (
            "CL first",
            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        ),
        (
            "TE first",
            "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
        ),
    ] {
        let response = send_and_expect_close(
            &h,
            &format!(
                "POST /cl-te HTTP/1.1\r\nHost: a\r\n{fields}\r\n5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"
            ),
        )
        .await;
        assert_eq!(response.status(), 200, "{order}");
        let seen = h.app.log().pop().unwrap();
        assert_unambiguous(&seen);
        assert_eq!(seen.line(), "POST /cl-te HTTP/1.1");
        let body = String::from_utf8_lossy(&seen.body);
        assert!(
            body == "hello" || body == "5\r\nhello\r\n0\r\n\r\n",
            "{order}: the chunked body, decoded by its chunks: {body:?}"
        );
    }
    assert!(h.app.log().iter().all(|r| !r.line().contains("smuggled")));
    h.assert_settled().await;
}

#[tokio::test]
async fn differing_content_lengths_are_400_and_never_forwarded() {
    let h = harness().await;
    for fields in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 0x5\r\n",
        "Content-Length: 5 5\r\n",
    ] {
        let response = send_and_expect_close(
            &h,
            &format!("POST /cl-cl HTTP/1.1\r\nHost: a\r\n{fields}\r\nhello!{SMUGGLED}"),
        )
        .await;
        assert_eq!(response.status(), 400, "{fields:?}");
    }
    assert!(h.app.log().is_empty(), "{:?}", h.app.log());
    h.assert_settled().await;
}

#[tokio::test]
async fn identical_duplicate_content_lengths_reach_the_app_as_one() {
    let h = harness().await;
    let response = raw_exchange(
        h.addr(),
        "POST /dup HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert_eq!(response.status(), 200);
    let seen = &h.app.log()[0];
    assert_eq!(seen.fields("content-length"), ["5"]);
    assert_eq!(seen.body, b"hello");
}

#[tokio::test]
async fn transfer_codings_other_than_a_single_chunked_are_refused() {
    let h = harness().await;
    for (fields, status) in [
        // RFC 9112 §6.3: chunked must be last in a request, else 400.
        ("Transfer-Encoding: gzip\r\n", 400),
        ("Transfer-Encoding: chunked, gzip\r\n", 400),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
            400,
        ),
        ("Transfer-Encoding: xchunked\r\n", 400),
        // Chunked may be applied only once (§6.1).
        ("Transfer-Encoding: chunked, chunked\r\n", 400),
        // A coding sluice cannot pass on (it removes Transfer-Encoding): §6.1, 501.
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
        (
            "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
            501,
        ),
    ] {
        let response = send_and_expect_close(
            &h,
            &format!(
                "POST /te HTTP/1.1\r\nHost: a\r\n{fields}\r\n5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"
            ),
        )
        .await;
        assert_eq!(response.status(), status, "{fields:?}: {}", response.head);
    }
    assert!(h.app.log().is_empty(), "{:?}", h.app.log());
    h.assert_settled().await;
}

#[tokio::test]
async fn malformed_field_syntax_is_400_and_never_forwarded() {
    let h = harness().await;
    for fields in [
        // Whitespace before the colon (RFC 9112 §5.1).
        "Transfer-Encoding : chunked\r\n",
        // Obsolete line folding (§5.2) hiding a second coding.
        "Transfer-Encoding: gzip\r\n chunked\r\n",
        "X-Ok: 1\r\n\tTransfer-Encoding: chunked\r\n",
        // Control characters in a value.
        "X-Nul: a\0b\r\n",
        "X-Cr: a\rb\r\n",
    ] {
        let response = send_and_expect_close(
            &h,
            &format!(
                "POST /bad HTTP/1.1\r\nHost: a\r\n{fields}Content-Length: 0\r\n\r\n{SMUGGLED}"
            ),
        )
        .await;
        assert_eq!(response.status(), 400, "{fields:?}: {}", response.head);
    }
    let response = send_and_expect_close(
        &h,
        "POST /old HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(response.status(), 400, "HTTP/1.0 has no chunked");
    assert!(h.app.log().is_empty(), "{:?}", h.app.log());
    h.assert_settled().await;
}

#[tokio::test]
async fn malformed_chunking_is_400_the_app_never_sees_a_complete_message() {
    let h = harness().await;
    for body in [
        "zz\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        "5\nhello\n0\n\n",
    ] {
        let response = send_and_expect_close(
            &h,
            &format!(
                "POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}{SMUGGLED}"
            ),
        )
        .await;
        assert_eq!(response.status(), 400, "{body:?}: {}", response.head);
        assert!(
            response.text().contains("bad_request"),
            "{}",
            response.text()
        );
    }
    for seen in h.app.log() {
        assert!(!seen.complete, "the app got a complete message: {seen:?}");
        assert!(!seen.line().contains("smuggled"));
    }
    let m = h.assert_settled().await;
    assert_eq!(
        m.outcome("upstream_error"),
        0.0,
        "the client's fault, not the app's"
    );
}

#[tokio::test]
async fn a_bare_lf_message_is_reframed_with_crlf() {
    let h = harness().await;
    let response = raw_exchange(h.addr(), "GET /lf HTTP/1.1\nHost: a\nX-A: 1\n\n").await;
    assert_eq!(response.status(), 200);
    let seen = &h.app.log()[0];
    assert!(seen.head.starts_with("GET /lf HTTP/1.1\r\n"));
    assert!(
        !seen.head.replace("\r\n", "").contains('\n'),
        "{:?}",
        seen.head
    );
}
