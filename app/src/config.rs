//! Configuration from the environment: every knob has a default, and a bad value is refused with
//! one line that names the variable, the value and what would be accepted.
//!
//! Not `envy` or `config`: a misspelled `APP_` variable must be refused, not ignored, and every
//! error must name the variable and what it accepts; with a dozen knobs that is less code than
//! adapting either.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Every environment variable the service reads, with its default: the README's configuration
/// table.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    ("APP_HOST", "0.0.0.0", "IP address to listen on"),
    (
        "APP_PORT",
        "8080",
        "TCP port to listen on (0 picks a free one)",
    ),
    (
        "APP_LOG_FORMAT",
        "json",
        "`json` (one object per line) or `pretty`",
    ),
    (
        "APP_LOG_LEVEL",
        "info",
        "a level, or comma-separated `target=level` directives",
    ),
    (
        "APP_REQUEST_TIMEOUT",
        "8s",
        "longest a request may take before a 408",
    ),
    (
        "APP_SHUTDOWN_DELAY",
        "0s",
        "after SIGTERM, how long to keep accepting while readiness reports 503",
    ),
    (
        "APP_SHUTDOWN_GRACE",
        "8s",
        "after the listener closes, how long in-flight requests may run",
    ),
    (
        "APP_SAMPLER_INTERVAL",
        "5s",
        "how often system and process figures are refreshed (at least 100ms)",
    ),
    (
        "APP_LOG_FLUSH_INTERVAL",
        "20ms",
        "how long request log lines gather before one write to stdout (1ms to 10s)",
    ),
    (
        "APP_BODY_LIMIT",
        "65536",
        "largest accepted request body, in bytes",
    ),
    (
        "APP_DEBUG_ENDPOINTS",
        "false",
        "`true` adds /debug/sleep and /debug/panic (for tests; never in production)",
    ),
];

const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub log_format: LogFormat,
    pub log_level: String,
    pub request_timeout: Duration,
    pub shutdown_delay: Duration,
    pub shutdown_grace: Duration,
    pub sampler_interval: Duration,
    pub log_flush_interval: Duration,
    pub body_limit: usize,
    pub debug_endpoints: bool,
}

/// Why the environment cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A variable whose value cannot be used.
    #[error("invalid {variable}={value:?}: expected {expected}")]
    Invalid {
        variable: &'static str,
        value: String,
        expected: String,
    },
    /// An `APP_` variable the service does not know: most likely a typo that would otherwise
    /// leave the default silently in force.
    #[error("unknown variable {variable}: this service reads {known}; fix or remove it")]
    Unknown { variable: String, known: String },
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 8080,
            log_format: LogFormat::Json,
            log_level: "info".to_owned(),
            request_timeout: Duration::from_secs(8),
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(8),
            sampler_interval: Duration::from_secs(5),
            log_flush_interval: Duration::from_millis(20),
            body_limit: 64 * 1024,
            debug_endpoints: false,
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        reject_unknown(std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()))?;
        Self::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    /// An empty value counts as unset, as compose's `${VAR}` gives for an unset `VAR`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let read = |name: &'static str| {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .map(|value| (name, value))
        };
        Ok(Self {
            host: read("APP_HOST").map_or(Ok(defaults.host), |(n, v)| parse_host(n, &v))?,
            port: read("APP_PORT").map_or(Ok(defaults.port), |(n, v)| parse_port(n, &v))?,
            log_format: read("APP_LOG_FORMAT")
                .map_or(Ok(defaults.log_format), |(n, v)| parse_log_format(n, &v))?,
            log_level: read("APP_LOG_LEVEL")
                .map_or(Ok(defaults.log_level), |(n, v)| parse_log_level(n, &v))?,
            request_timeout: read("APP_REQUEST_TIMEOUT")
                .map_or(Ok(defaults.request_timeout), |(n, v)| {
                    parse_duration(n, &v, Duration::from_millis(1))
                })?,
            shutdown_delay: read("APP_SHUTDOWN_DELAY")
                .map_or(Ok(defaults.shutdown_delay), |(n, v)| {
                    parse_duration(n, &v, Duration::ZERO)
                })?,
            shutdown_grace: read("APP_SHUTDOWN_GRACE")
                .map_or(Ok(defaults.shutdown_grace), |(n, v)| {
                    parse_duration(n, &v, Duration::ZERO)
                })?,
            sampler_interval: read("APP_SAMPLER_INTERVAL")
                .map_or(Ok(defaults.sampler_interval), |(n, v)| {
                    parse_duration(n, &v, Duration::from_millis(100))
                })?,
            log_flush_interval: read("APP_LOG_FLUSH_INTERVAL").map_or(
                Ok(defaults.log_flush_interval),
                |(n, v)| {
                    parse_duration(n, &v, Duration::from_millis(1))
                        .and_then(|interval| at_most(n, &v, interval, Duration::from_secs(10)))
                },
            )?,
            body_limit: read("APP_BODY_LIMIT")
                .map_or(Ok(defaults.body_limit), |(n, v)| parse_bytes(n, &v))?,
            debug_endpoints: read("APP_DEBUG_ENDPOINTS")
                .map_or(Ok(defaults.debug_endpoints), |(n, v)| parse_bool(n, &v))?,
        })
    }
}

/// Refuses `APP_` names that are not in [`VARIABLES`].
pub fn reject_unknown(names: impl IntoIterator<Item = String>) -> Result<(), ConfigError> {
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|name| {
            name.starts_with("APP_") && !VARIABLES.iter().any(|(known, _, _)| known == name)
        })
        .collect();
    unknown.sort();
    match unknown.into_iter().next() {
        None => Ok(()),
        Some(variable) => Err(ConfigError::Unknown {
            variable,
            known: VARIABLES
                .iter()
                .map(|(name, _, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn invalid(variable: &'static str, value: &str, expected: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        expected: expected.into(),
    }
}

fn parse_host(variable: &'static str, value: &str) -> Result<IpAddr, ConfigError> {
    value.trim().parse().map_err(|_| {
        invalid(
            variable,
            value,
            "an IP address such as 0.0.0.0, 127.0.0.1 or ::",
        )
    })
}

fn parse_port(variable: &'static str, value: &str) -> Result<u16, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(variable, value, "a port number from 0 to 65535"))
}

fn parse_log_format(variable: &'static str, value: &str) -> Result<LogFormat, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "json" => Ok(LogFormat::Json),
        "pretty" => Ok(LogFormat::Pretty),
        _ => Err(invalid(variable, value, "json or pretty")),
    }
}

/// Accepts `info` or `warn,app=debug,hyper=trace`: each directive a level, or
/// `target=level`. Stricter than tracing's own parser, which takes a typo for a target name.
fn parse_log_level(variable: &'static str, value: &str) -> Result<String, ConfigError> {
    let expected =
        "a level (trace, debug, info, warn, error, off) or directives like info,app=debug";
    let normalized = value.trim().to_ascii_lowercase();
    let valid = !normalized.is_empty()
        && normalized.split(',').all(|directive| {
            let level = match directive.split_once('=') {
                Some((target, level)) => {
                    let target_ok = !target.is_empty()
                        && target
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'));
                    if !target_ok {
                        return false;
                    }
                    level
                }
                None => directive,
            };
            LEVELS.contains(&level)
        });
    if valid {
        Ok(normalized)
    } else {
        Err(invalid(variable, value, expected))
    }
}

/// Durations are a whole number with a unit: `250ms`, `10s`, `2m`.
/// `duration`, unless it is longer than `maximum`.
fn at_most(
    variable: &'static str,
    value: &str,
    duration: Duration,
    maximum: Duration,
) -> Result<Duration, ConfigError> {
    if duration <= maximum {
        Ok(duration)
    } else {
        Err(invalid(
            variable,
            value,
            format!("a duration of at most {}ms", maximum.as_millis()),
        ))
    }
}

fn parse_duration(
    variable: &'static str,
    value: &str,
    minimum: Duration,
) -> Result<Duration, ConfigError> {
    let text = value.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let parsed = number.parse::<u64>().ok().and_then(|n| match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    });
    match parsed {
        Some(duration) if duration >= minimum => Ok(duration),
        _ if minimum.is_zero() => Err(invalid(
            variable,
            value,
            "a duration such as 500ms, 10s or 2m",
        )),
        _ => Err(invalid(
            variable,
            value,
            format!(
                "a duration of at least {}ms, such as 500ms, 10s or 2m",
                minimum.as_millis()
            ),
        )),
    }
}

fn parse_bytes(variable: &'static str, value: &str) -> Result<usize, ConfigError> {
    match value.trim().parse::<usize>() {
        Ok(bytes) if bytes > 0 => Ok(bytes),
        _ => Err(invalid(
            variable,
            value,
            "a positive number of bytes, such as 65536",
        )),
    }
}

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(variable, value, "true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let from_table = config(
            VARIABLES
                .iter()
                .map(|(n, d, _)| (*n, *d))
                .collect::<Vec<_>>()
                .as_slice(),
        )
        .expect("documented defaults parse");
        let defaults = Config::default();
        assert_eq!(from_table.host, defaults.host);
        assert_eq!(from_table.port, defaults.port);
        assert_eq!(from_table.log_format, defaults.log_format);
        assert_eq!(from_table.log_level, defaults.log_level);
        assert_eq!(from_table.request_timeout, defaults.request_timeout);
        assert_eq!(from_table.shutdown_delay, defaults.shutdown_delay);
        assert_eq!(from_table.shutdown_grace, defaults.shutdown_grace);
        assert_eq!(from_table.sampler_interval, defaults.sampler_interval);
        assert_eq!(from_table.log_flush_interval, defaults.log_flush_interval);
        assert_eq!(from_table.body_limit, defaults.body_limit);
        assert_eq!(from_table.debug_endpoints, defaults.debug_endpoints);
    }

    #[test]
    fn parses_every_kind_of_value() {
        let parsed = config(&[
            ("APP_HOST", "::1"),
            ("APP_PORT", "0"),
            ("APP_LOG_FORMAT", "PRETTY"),
            ("APP_LOG_LEVEL", "warn,app=debug"),
            ("APP_REQUEST_TIMEOUT", "250ms"),
            ("APP_SHUTDOWN_GRACE", "2m"),
            ("APP_LOG_FLUSH_INTERVAL", "10s"),
            ("APP_DEBUG_ENDPOINTS", "yes"),
        ])
        .expect("valid configuration");
        assert_eq!(parsed.log_flush_interval, Duration::from_secs(10));
        assert_eq!(parsed.host.to_string(), "::1");
        assert_eq!(parsed.port, 0);
        assert_eq!(parsed.log_format, LogFormat::Pretty);
        assert_eq!(parsed.log_level, "warn,app=debug");
        assert_eq!(parsed.request_timeout, Duration::from_millis(250));
        assert_eq!(parsed.shutdown_grace, Duration::from_mins(2));
        assert!(parsed.debug_endpoints);
    }

    #[test]
    fn a_bad_value_names_variable_value_and_what_is_accepted() {
        let error = config(&[("APP_PORT", "eighty")]).expect_err("port is not a number");
        assert_eq!(
            error.to_string(),
            r#"invalid APP_PORT="eighty": expected a port number from 0 to 65535"#
        );
        for (variable, value) in [
            ("APP_HOST", "localhost"),
            ("APP_PORT", "70000"),
            ("APP_LOG_FORMAT", "xml"),
            ("APP_LOG_LEVEL", "verbose"),
            ("APP_LOG_LEVEL", "app=loud"),
            ("APP_REQUEST_TIMEOUT", "10"),
            ("APP_REQUEST_TIMEOUT", "0s"),
            ("APP_SHUTDOWN_GRACE", "-1s"),
            ("APP_SAMPLER_INTERVAL", "10ms"),
            ("APP_LOG_FLUSH_INTERVAL", "0ms"),
            ("APP_LOG_FLUSH_INTERVAL", "11s"),
            ("APP_BODY_LIMIT", "0"),
            ("APP_DEBUG_ENDPOINTS", "maybe"),
        ] {
            let error = config(&[(variable, value)]).expect_err(value);
            let ConfigError::Invalid {
                variable: named,
                value: shown,
                ..
            } = error
            else {
                panic!("{variable}={value}: {error}");
            };
            assert_eq!((named, shown.as_str()), (variable, value));
        }
    }

    #[test]
    fn an_empty_value_means_the_default() {
        let parsed = config(&[("APP_PORT", ""), ("APP_LOG_FORMAT", " ")]).expect("empty is unset");
        assert_eq!(parsed.port, 8080);
        assert_eq!(parsed.log_format, LogFormat::Json);
    }

    #[test]
    fn unknown_app_variables_are_refused_and_others_ignored() {
        let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            reject_unknown(names(&["APP_PORT", "PATH", "HOME", "APPLE"])),
            Ok(())
        );
        let error = reject_unknown(names(&["APP_PORT", "APP_PROT"])).expect_err("typo");
        assert!(
            error
                .to_string()
                .starts_with("unknown variable APP_PROT: this service reads APP_HOST, APP_PORT,"),
            "{error}"
        );
    }
}
