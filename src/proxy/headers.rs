//! Header hygiene for both directions.
//!
//! Hop-by-hop fields (RFC 9110 §7.6.1) describe one connection, not the message, so they are
//! removed before a message crosses sluice: `Connection` and every field it names, plus the
//! fixed list below. This runs *before* sluice adds its own headers, so a client cannot name
//! `X-Forwarded-For` in `Connection` to erase them. Repeated fields (`Set-Cookie`) are never
//! merged or dropped: only whole names are removed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `x-request-id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(super) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(super) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(super) static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

/// The hop-by-hop fields removed whatever `Connection` says.
static HOP_BY_HOP: [&HeaderName; 8] = [
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &header::PROXY_AUTHORIZATION,
    // Answers the hop that chose the proxy (RFC 9110 §11.7.1), never a client of ours.
    &header::PROXY_AUTHENTICATE,
    &header::TE,
    &header::TRAILER,
    &header::TRANSFER_ENCODING,
    &HTTP2_SETTINGS,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION || name == header::UPGRADE || HOP_BY_HOP.contains(&name)
}

/// Removes hop-by-hop fields. With `keep_upgrade`, `Upgrade` survives (a real upgrade is
/// being forwarded) and the caller re-adds `Connection: upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none: one pass over the names instead of a lookup per field.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if let header::Entry::Occupied(connection) = headers.entry(header::CONNECTION) {
        let (_, values) = connection.remove_entry_mult();
        let named: Vec<HeaderName> = values
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .flat_map(|v| {
                v.split(',')
                    .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
                    .collect::<Vec<_>>()
            })
            .collect();
        for name in named {
            // Framing and routing fields are end-to-end by definition; naming them in
            // `Connection` must not unframe the message or strip its host.
            let protected = name == header::HOST || name == header::CONTENT_LENGTH;
            let kept_upgrade = keep_upgrade && name == header::UPGRADE;
            if !(protected || kept_upgrade) {
                headers.remove(&name);
            }
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if keep_upgrade {
        drop_h2c(headers);
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Removes `h2c` from the `Upgrade` protocols: it only asks the next hop to switch to
/// HTTP/2, which sluice does not do, and must never reach the app.
fn drop_h2c(headers: &mut HeaderMap) {
    let offered: Vec<String> = headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("h2c"))
        .map(str::to_owned)
        .collect();
    headers.remove(header::UPGRADE);
    if let Ok(value) = HeaderValue::from_str(&offered.join(", ")) {
        if !offered.is_empty() {
            headers.insert(header::UPGRADE, value);
        }
    }
}

/// True for a request that asks to switch protocols with `Connection: upgrade` and an
/// `Upgrade` other than `h2c` (which is a hop-by-hop HTTP/2 upgrade, never forwarded).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade
        && headers.get(header::UPGRADE).is_some_and(|u| {
            u.to_str()
                .is_ok_and(|u| !u.split(',').all(|p| p.trim().eq_ignore_ascii_case("h2c")))
        })
}

/// The request's id: the client's `x-request-id` if it is sane (1-128 visible ASCII
/// characters), else a new one. The header is set to the result.
pub fn settle_request_id(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(&X_REQUEST_ID) {
        let bytes = id.as_bytes();
        if !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic()) {
            return id.clone();
        }
    }
    let id = new_request_id();
    headers.insert(X_REQUEST_ID.clone(), id.clone());
    id
}

/// A process-unique id: 8 hex digits fixed at start (time and pid), then a counter.
fn new_request_id() -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16)
            });
        nanos ^ std::process::id().rotate_left(8)
    });
    let n = NEXT.fetch_add(1, Relaxed);
    // Written in place: 8 + 1 + 12 hex digits, then one copy into the value.
    let mut id = [0u8; 21];
    let digits = |out: &mut [u8], mut value: u64| {
        for byte in out.iter_mut().rev() {
            *byte = b"0123456789abcdef"[(value & 0xf) as usize];
            value >>= 4;
        }
    };
    digits(&mut id[..8], u64::from(prefix));
    id[8] = b'-';
    digits(&mut id[9..], n);
    HeaderValue::from_bytes(&id).expect("hex is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Forwarded;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_connection_named_fields_across_lines() {
        let mut h = map(&[
            ("connection", "close, x-secret"),
            ("connection", "X-Other"),
            ("x-secret", "1"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic x"),
            ("upgrade", "websocket"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["set-cookie"]);
        assert_eq!(h.get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn forwarded_for_appends_on_one_line_after_stripping() {
        let mut h = map(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("connection", "x-forwarded-for"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let client = HeaderValue::from_static("10.0.0.9");
        Forwarded::new(&h, &client, None, false).apply(&mut h);
        assert_eq!(h.get_all(&X_FORWARDED_FOR).iter().count(), 1);
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.9");
        let mut h = map(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
        ]);
        let client = HeaderValue::from_static("10.0.0.9");
        Forwarded::new(&h, &client, None, false).apply(&mut h);
        assert_eq!(h[&X_FORWARDED_FOR], "1.1.1.1, 2.2.2.2, 10.0.0.9");
    }

    #[test]
    fn upgrade_detection_ignores_h2c() {
        assert!(wants_upgrade(&map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket")
        ])));
        assert!(!wants_upgrade(&map(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c")
        ])));
        assert!(!wants_upgrade(&map(&[("upgrade", "websocket")])));
    }

    #[test]
    fn a_kept_upgrade_loses_h2c_and_a_dropped_one_is_gone() {
        let mut h = map(&[("upgrade", "h2c, websocket"), ("upgrade", "H2C")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get_all(header::UPGRADE).iter().count(), 1);
        assert_eq!(h[header::UPGRADE], "websocket");
        let mut h = map(&[("upgrade", "websocket"), ("proxy-authenticate", "Basic")]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.is_empty());
    }

    #[test]
    fn request_ids_are_kept_when_sane() {
        let mut h = map(&[("x-request-id", "abc-123")]);
        assert_eq!(settle_request_id(&mut h), "abc-123");
        let mut h = map(&[("x-request-id", "has space")]);
        let id = settle_request_id(&mut h);
        assert_ne!(id, "has space");
        assert_eq!(h[&X_REQUEST_ID], id);
    }
}
