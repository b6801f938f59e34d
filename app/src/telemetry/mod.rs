//! Logging: JSON lines by default (what log shippers parse), human-readable on request.
//!
//! Lines are formatted on the request's thread and written to stdout in batches by a background
//! thread (see [`log_writer`]), so a slow stdout never stalls a request. Lines that do not fit
//! are dropped and counted: `app_log_lines_dropped_total`.

pub mod json_lines;
pub mod log_writer;

use std::io::IsTerminal;
use std::time::Duration;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use self::log_writer::{DroppedLines, FlushGuard};
use crate::config::LogFormat;

/// Keeps the log writer alive; dropping it flushes what is buffered.
#[derive(Debug)]
pub struct Telemetry {
    _guard: FlushGuard,
    dropped: DroppedLines,
}

impl Telemetry {
    /// Lines dropped because the writer could not keep up.
    pub fn dropped_lines(&self) -> DroppedLines {
        self.dropped.clone()
    }
}

/// Installs the global subscriber. `level` has been validated by the configuration.
pub fn init(
    format: LogFormat,
    level: &str,
    flush_interval: Duration,
) -> std::io::Result<Telemetry> {
    let (writer, dropped, guard) = log_writer::spawn(std::io::stdout(), flush_interval)?;
    // `Targets` rather than `EnvFilter`: the configuration only allows levels and
    // `target=level` directives, and leaving out EnvFilter's regex engine makes the binary
    // smaller and its link-time optimisation faster.
    let filter: Targets = level
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    match format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(json_lines::JsonLines::new(writer))
            .init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(std::io::stdout().is_terminal())
            .finish()
            .with(filter)
            .init(),
    }
    Ok(Telemetry {
        _guard: guard,
        dropped,
    })
}

/// Routes panics through the log as one structured line instead of raw stderr text.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = %message, location, "panic");
    }));
}
