//! What this binary is: values fixed at compile time by `build.rs`.

use chrono::{DateTime, SecondsFormat, Utc};

pub const NAME: &str = env!("CARGO_PKG_NAME");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_REVISION: &str = env!("APP_GIT_REVISION");
pub const RUSTC_VERSION: &str = env!("APP_RUSTC_VERSION");
pub const PROFILE: &str = env!("APP_BUILD_PROFILE");
const BUILD_EPOCH: &str = env!("APP_BUILD_EPOCH");

/// Build time in RFC 3339 UTC.
pub fn build_time() -> String {
    BUILD_EPOCH
        .parse::<i64>()
        .ok()
        .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0))
        .map_or_else(
            || "unknown".to_owned(),
            |time| time.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
}

/// The line `app --version` prints.
pub fn version_line() -> String {
    format!(
        "{NAME} {VERSION} (revision {GIT_REVISION}, built {})",
        build_time()
    )
}
