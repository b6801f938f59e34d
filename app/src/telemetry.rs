//! Logging: JSON lines by default (what log shippers parse), human-readable on request.
//!
//! Lines are formatted on the request's thread and written by a background thread, so a slow
//! stdout (a busy log driver) never stalls a request. If that thread falls behind by more than
//! its buffer, lines are dropped and counted rather than blocking the server; the count is
//! exported as `app_log_lines_dropped_total`.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Keeps the log writer alive; dropping it flushes what is buffered.
#[derive(Debug)]
pub struct Telemetry {
    _guard: WorkerGuard,
    dropped: ErrorCounter,
}

impl Telemetry {
    /// Lines dropped because the writer could not keep up.
    pub fn dropped_lines(&self) -> ErrorCounter {
        self.dropped.clone()
    }
}

/// Installs the global subscriber. `level` has been validated by the configuration.
pub fn init(format: LogFormat, level: &str) -> Telemetry {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .thread_name("log-writer")
        .finish(BufWriter::new(std::io::stdout()));
    let dropped = writer.error_counter();
    let filter = EnvFilter::new(level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
        LogFormat::Pretty => builder.with_ansi(std::io::stdout().is_terminal()).init(),
    }
    Telemetry {
        _guard: guard,
        dropped,
    }
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
