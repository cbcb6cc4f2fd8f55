//! [`Forwarded`]: the `X-Forwarded-*` fields sluice sets on a request it forwards.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::headers::{X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};

/// `X-Forwarded-For` (the client appended to any earlier value, on one line),
/// `X-Forwarded-Proto` and `X-Forwarded-Host`. With `trust_incoming`, proto and host sent by
/// a trusted edge (Fly's proxy) are kept; otherwise they are replaced by what sluice saw.
///
/// Each field *replaces* the client's of the same name. They are written straight into the
/// request head sent to the app ([`Forwarded::replaces`], [`Forwarded::fields`]), so the
/// client's header map is never grown (and reallocated) for them.
#[derive(Debug)]
pub struct Forwarded {
    // (name, value): `None` removes the client's field and sends none.
    set: [Option<(&'static HeaderName, Option<HeaderValue>)>; 3],
}

impl Forwarded {
    /// The fields for a request with `headers` from `client` (its address as a value),
    /// addressed to `host`.
    pub fn new(
        headers: &HeaderMap,
        client: &HeaderValue,
        host: Option<&HeaderValue>,
        trust_incoming: bool,
    ) -> Self {
        let mut chain = String::new();
        for prior in headers.get_all(&X_FORWARDED_FOR).iter() {
            if let Ok(prior) = prior.to_str() {
                let prior = prior.trim();
                if !prior.is_empty() {
                    chain.push_str(prior);
                    chain.push_str(", ");
                }
            }
        }
        let for_value = if chain.is_empty() {
            // The usual case: the client's address alone, made once per connection.
            Some(client.clone())
        } else {
            chain.push_str(client.to_str().unwrap_or_default());
            HeaderValue::from_str(&chain).ok()
        };
        let mut set = [None, None, None];
        set[0] = Some((&X_FORWARDED_FOR, for_value));
        if !(trust_incoming && headers.contains_key(&X_FORWARDED_PROTO)) {
            set[1] = Some((&X_FORWARDED_PROTO, Some(HeaderValue::from_static("http"))));
        }
        if !(trust_incoming && headers.contains_key(&X_FORWARDED_HOST)) {
            set[2] = Some((&X_FORWARDED_HOST, host.cloned()));
        }
        Forwarded { set }
    }

    /// Whether the client's field `name` is replaced (and so not forwarded as sent).
    pub fn replaces(&self, name: &HeaderName) -> bool {
        self.set.iter().flatten().any(|(set, _)| *set == name)
    }

    /// The fields to send.
    pub fn fields(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.set
            .iter()
            .flatten()
            .filter_map(|(name, value)| Some((*name, value.as_ref()?)))
    }

    /// Sets the fields in `headers` (for a request sent by hyper's client: upgrades).
    pub fn apply(self, headers: &mut HeaderMap) {
        for (name, value) in self.set.into_iter().flatten() {
            match value {
                Some(value) => headers.insert(name.clone(), value),
                None => headers.remove(name),
            };
        }
    }
}
