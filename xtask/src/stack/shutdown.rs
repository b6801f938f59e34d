//! The shutdown settings, defined once: the `x-shutdown` block of compose.yaml, which compose
//! itself reads through YAML anchors. `deploy` puts the same values in the ECS task
//! definition, `roll` waits by them, and the tidy tests check that the Dockerfiles' HEALTHCHECK
//! and docs/zero-downtime.md state them too.
//!
//! Read from the compose file compiled into xtask, so every command sees the settings of the
//! checkout it was built from. Only the block's own shape is parsed (`  key: &anchor 5s`): a
//! YAML library would be a dependency for four lines.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

const COMPOSE: &str = include_str!("../../../compose.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shutdown {
    /// After SIGTERM: readiness 503, still accepting.
    pub(crate) delay: Duration,
    /// After the listener closes: how long in-flight requests may run.
    pub(crate) grace: Duration,
    /// When the engine sends SIGKILL.
    pub(crate) stop_timeout: Duration,
    /// How often the engine runs the binary's health check.
    pub(crate) health_interval: Duration,
}

impl Shutdown {
    /// The settings of this checkout's compose.yaml (checked by the tests, so never invalid in
    /// a build that passed them).
    pub(crate) fn get() -> &'static Self {
        static SETTINGS: OnceLock<Shutdown> = OnceLock::new();
        SETTINGS.get_or_init(|| {
            Self::parse(COMPOSE).unwrap_or_else(|e| panic!("compose.yaml, x-shutdown: {e:#}"))
        })
    }

    fn parse(compose: &str) -> Result<Self> {
        let block = compose
            .split_once("\nx-shutdown:\n")
            .context("no top-level `x-shutdown:` block")?
            .1;
        let mut values = std::collections::BTreeMap::new();
        for line in block.lines() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some(entry) = line.strip_prefix("  ") else {
                break;
            };
            let (key, value) = entry
                .split_once(':')
                .with_context(|| format!("`{line}` is not `key: &anchor value`"))?;
            let value = value.trim();
            let value = value
                .strip_prefix('&')
                .and_then(|anchored| anchored.split_once(' '))
                .map_or(value, |(_, value)| value.trim());
            values.insert(key.trim(), seconds(value).with_context(|| key.to_owned())?);
        }
        let mut take = |key: &str| {
            values
                .remove(key)
                .with_context(|| format!("no `{key}` in the block"))
        };
        let settings = Self {
            delay: take("delay")?,
            grace: take("grace")?,
            stop_timeout: take("stop-timeout")?,
            health_interval: take("health-interval")?,
        };
        if let Some(key) = values.keys().next() {
            bail!("unknown setting `{key}`");
        }
        ensure!(
            settings.stop_timeout > settings.delay + settings.grace,
            "stop-timeout ({:?}) must exceed delay + grace ({:?}), or the engine kills a \
             replica that is still draining",
            settings.stop_timeout,
            settings.delay + settings.grace
        );
        ensure!(
            (5..=300).contains(&settings.health_interval.as_secs()),
            "health-interval ({:?}) is outside ECS's 5 to 300 s",
            settings.health_interval
        );
        ensure!(
            settings.stop_timeout <= Duration::from_mins(2),
            "stop-timeout ({:?}) is above ECS's limit of 120 s",
            settings.stop_timeout
        );
        Ok(settings)
    }
}

/// `5s`: whole seconds, the one unit compose, Docker's HEALTHCHECK and ECS all accept.
fn seconds(value: &str) -> Result<Duration> {
    let Some(number) = value.strip_suffix('s') else {
        bail!("`{value}` is not whole seconds such as `5s`");
    };
    let secs: u64 = number
        .parse()
        .with_context(|| format!("`{value}` is not whole seconds such as `5s`"))?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compose_file_defines_them() {
        let settings = Shutdown::get();
        assert!(settings.stop_timeout > settings.delay + settings.grace);
        assert!(!settings.health_interval.is_zero());
    }

    #[test]
    fn a_block_that_breaks_the_rules_is_refused() {
        let block = |stop: &str| {
            format!(
                "services:\nx-shutdown:\n  delay: &d 2s\n  grace: &g 5s\n  stop-timeout: &s {stop}\n  health-interval: &h 5s\nservices:\n"
            )
        };
        assert_eq!(
            Shutdown::parse(&block("10s")).expect("valid").stop_timeout,
            Duration::from_secs(10)
        );
        let error = format!(
            "{:#}",
            Shutdown::parse(&block("7s")).expect_err("7 ≤ 2 + 5")
        );
        assert!(error.contains("must exceed delay + grace"), "{error}");
        let error = format!(
            "{:#}",
            Shutdown::parse(&block("1m")).expect_err("not seconds")
        );
        assert!(
            error.contains("stop-timeout: `1m` is not whole seconds"),
            "{error}"
        );
        assert!(Shutdown::parse("services:\n").is_err());
    }
}
