//! `proxy.toml`: the model, its codecs, and loading with validation.
//!
//! Parse, then validate: [`Config::from_toml`] for strings (tests), [`Config::load`] for files.
//! Unknown keys are rejected; every error names the key, and the line where it is known.

mod de;
mod load;
mod model;

pub use load::{ConfigError, MAX_LIMIT, Violation};
pub use model::{
    AdminConfig, Config, LimitMode, LimitsConfig, QueueConfig, ReaperConfig, ServerConfig,
    ShedConfig, ShutdownConfig, UpstreamConfig,
};
