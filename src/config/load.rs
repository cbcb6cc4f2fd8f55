//! Reading and checking `proxy.toml`: parse, then validate.

use std::path::{Path, PathBuf};

use super::model::Config;

/// Why a configuration was refused. The message always names the key; the line where known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path that was tried.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, a wrong type or a bad value (toml reports line and column).
    #[error("{origin}: {message}")]
    Parse {
        /// The file name, or `<string>`.
        origin: String,
        /// toml's report, which quotes the offending line.
        message: String,
    },
    /// A value that parsed but breaks a rule.
    #[error("{origin}: {key}{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        /// The file name, or `<string>`.
        origin: String,
        /// The dotted key, e.g. `limits.soft_limit`.
        key: &'static str,
        /// 1-based line of the key, when it is written in the file.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Parses and validates a configuration held in a string (tests use this).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::parse_named(text, "<string>")
    }

    /// Reads, parses and validates the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_named(&text, &path.display().to_string())
    }

    fn parse_named(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate().map_err(|v| ConfigError::Invalid {
            origin: origin.to_owned(),
            key: v.key,
            line: line_of(text, v.key),
            message: v.message,
        })?;
        Ok(config)
    }

    /// Checks the rules that span several keys or that types cannot express.
    pub fn validate(&self) -> Result<(), Violation> {
        let rule = |ok: bool, key: &'static str, message: String| {
            if ok {
                Ok(())
            } else {
                Err(Violation { key, message })
            }
        };
        let l = &self.limits;
        rule(
            l.hard_limit > 0,
            "limits.hard_limit",
            "must be at least 1".into(),
        )?;
        rule(
            l.hard_limit <= MAX_LIMIT,
            "limits.hard_limit",
            format!("must be at most {MAX_LIMIT}"),
        )?;
        rule(
            l.soft_limit <= l.hard_limit,
            "limits.soft_limit",
            format!(
                "{} is above limits.hard_limit ({}); soft_limit must be <= hard_limit",
                l.soft_limit, l.hard_limit
            ),
        )?;
        for path in &l.exempt_paths {
            rule(
                path.starts_with('/'),
                "limits.exempt_paths",
                format!("{path:?} must be an absolute path starting with '/'"),
            )?;
        }
        rule(
            self.queue.max_depth <= MAX_LIMIT,
            "queue.max_depth",
            format!("must be at most {MAX_LIMIT}"),
        )?;
        rule(
            !self.queue.timeout.is_zero() || self.queue.max_depth == 0,
            "queue.timeout",
            "must be above 0 when queue.max_depth > 0".into(),
        )?;
        rule(
            self.server.max_header_bytes >= 8192,
            "server.max_header_bytes",
            "must be at least 8192".into(),
        )?;
        rule(
            self.server.max_headers > 0,
            "server.max_headers",
            "must be at least 1".into(),
        )?;
        rule(
            !self.server.header_read_timeout.is_zero(),
            "server.header_read_timeout",
            "must be above 0".into(),
        )?;
        rule(
            self.server.h2_max_concurrent_streams > 0,
            "server.h2_max_concurrent_streams",
            "must be at least 1".into(),
        )?;
        rule(
            self.server.workers <= 1024,
            "server.workers",
            "must be at most 1024 (0 = one per CPU core)".into(),
        )?;
        rule(
            !self.reaper.max_request_duration.is_zero(),
            "reaper.max_request_duration",
            "must be above 0".into(),
        )?;
        rule(
            !self.upstream.connect_timeout.is_zero(),
            "upstream.connect_timeout",
            "must be above 0".into(),
        )?;
        rule(
            self.listen != self.admin.listen || self.listen.port() == 0,
            "admin.listen",
            format!("must differ from listen ({})", self.listen),
        )?;
        Ok(())
    }

    /// The effective configuration, every key spelled out, as TOML (for `sluice check`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Highest accepted `hard_limit` and `queue.max_depth` (tokio's semaphore allows more; no
/// single machine needs it).
pub const MAX_LIMIT: usize = 1 << 20;

/// A broken rule found by [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The dotted key, e.g. `limits.soft_limit`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Finds the 1-based line that sets `dotted` (`table.key` or a top-level `key`) in a flat
/// TOML file, by tracking `[table]` headers. Inline tables and dotted keys are not searched.
fn line_of(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = header.trim().to_owned();
        } else if current == table
            && line
                .split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        {
            return Some(index + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn finds_keys_by_table() {
        let text = "listen = \"1\"\n[limits]\n# c\nsoft_limit = 3\n[queue]\nsoft_limit = 9\n";
        assert_eq!(line_of(text, "limits.soft_limit"), Some(4));
        assert_eq!(line_of(text, "queue.soft_limit"), Some(6));
        assert_eq!(line_of(text, "listen"), Some(1));
        assert_eq!(line_of(text, "limits.hard_limit"), None);
    }
}
