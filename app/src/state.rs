//! What every handler can reach: shared, cheap to clone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::telemetry::log_writer::DroppedLines;

use crate::metrics::http::HttpMetrics;
use crate::shutdown::Readiness;
use crate::system::snapshot::SharedSnapshot;

#[derive(Debug, Clone)]
pub struct AppState {
    pub started: Instant,
    pub readiness: Readiness,
    pub metrics: Arc<HttpMetrics>,
    pub snapshot: SharedSnapshot,
    /// Present when logs go through the background writer.
    pub dropped_log_lines: Option<DroppedLines>,
    pub request_timeout: Duration,
    pub body_limit: usize,
}

impl AppState {
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}
