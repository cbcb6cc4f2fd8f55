//! Field codecs for `proxy.toml`: human durations and the upstream URL.
//!
//! Errors raised here are reported by `toml` with the line and column of the offending value.

/// `"30s"`, `"5m"`, `"1h 30m"`, `"250ms"` (anything `humantime` reads).
pub(super) mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| {
            D::Error::custom(format!(
                "invalid duration {text:?}: {e} (write it like \"30s\", \"5m\", \"250ms\")"
            ))
        })
    }

    pub(crate) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }
}

/// Like [`duration`], but absent or `"off"` means `None`.
pub(super) mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.is_zero() => Ok(None),
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(D::Error::custom(format!(
                "invalid duration {text:?}: {e} (write it like \"5m\", or \"off\")"
            ))),
        }
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_str("off"),
        }
    }
}

/// `http://host:port`: scheme `http`, an authority, no path beyond `/`, no query.
pub(super) mod upstream_url {
    use http::Uri;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uri, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }

    pub(crate) fn serialize<S: Serializer>(value: &Uri, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    /// Parses and checks an upstream URL, explaining what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Uri, String> {
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("invalid URL {text:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "unsupported scheme {other:?} in {text:?}: sluice forwards plain http:// \
                     to an app on the same machine"
                ));
            }
            None => return Err(format!("{text:?} needs a scheme, like \"http://{text}\"")),
        }
        if uri.authority().is_none_or(|a| a.host().is_empty()) {
            return Err(format!("{text:?} has no host"));
        }
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err(format!(
                "{text:?} has a path or query; give only scheme, host and port"
            ));
        }
        Ok(uri)
    }
}
