//! Graceful shutdown: readiness flips to 503 at the first signal, then the listener closes and
//! in-flight requests get a bounded grace period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this instance should receive new traffic (`/health/ready`).
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn new() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn begin_draining(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

/// SIGTERM (what `docker stop`, Kubernetes and ECS send) and SIGINT (Ctrl-C), registered the
/// moment this is created: a signal that arrives while the app is still starting is not lost,
/// and does not kill the process with the default disposition.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Must be called inside the Tokio runtime.
    pub fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the next signal and returns its name.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
