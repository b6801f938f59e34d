//! The HTTP surface: routes, their handlers and the layers around them.

pub mod errors;
pub mod handlers;
pub mod layers;
pub mod observe;
pub mod request_id;

use axum::routing::{MethodRouter, get};
use tower_http::compression::CompressionLayer;

pub use self::layers::{app, app_with};

use crate::state::AppState;

/// One endpoint: its route template and its handlers.
pub type Endpoint = (&'static str, MethodRouter<AppState>);

/// The service's endpoints: the one table both the router and the route labels are built from.
pub fn endpoints() -> Vec<Endpoint> {
    endpoints_with(Features::ALL)
}

/// [`endpoints`], with only some of the features: for pricing them, never for serving.
pub fn endpoints_with(features: Features) -> Vec<Endpoint> {
    let mut metrics = get(handlers::metrics::metrics);
    if features.compression {
        // Prometheus asks for gzip, which takes a scrape from about 9.5 kB of text to 1.4 kB
        // (`cargo xtask cost` measures it). On this one route: a layer on the whole router would
        // wrap every answer's body for the one that gains from it.
        metrics = metrics.layer(CompressionLayer::new());
    }
    vec![
        ("/", get(handlers::root::root)),
        ("/health", get(handlers::health::live)),
        ("/health/ready", get(handlers::health::ready)),
        ("/info", get(handlers::info::info)),
        ("/metrics", metrics),
    ]
}

/// Diagnostic endpoints for tests and demonstrations, mounted only when
/// `APP_DEBUG_ENDPOINTS=true`.
pub fn debug_endpoints() -> Vec<Endpoint> {
    vec![
        ("/debug/sleep", get(handlers::debug::sleep)),
        ("/debug/panic", get(handlers::debug::panic)),
    ]
}

/// The production features around every request: tower-http's layers, the metrics and the
/// compression of `/metrics`. The service always runs with all of them ([`Features::ALL`]); each
/// can be left out only so that `cargo xtask cost` can price it (`app/examples/priced.rs`). The
/// log line is priced with `APP_LOG_LEVEL=off` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches, not a state machine
pub struct Features {
    /// The caller's unacceptable id dropped, then `SetRequestIdLayer`.
    pub request_id: bool,
    /// `PropagateRequestIdLayer`.
    pub propagate_request_id: bool,
    /// `RequestBodyLimitLayer`.
    pub body_limit: bool,
    /// `TimeoutLayer`.
    pub timeout: bool,
    /// `CatchPanicLayer`.
    pub panic_recovery: bool,
    /// `CompressionLayer`, on `/metrics`.
    pub compression: bool,
    /// The service's own request metrics (the log line and the route label stay).
    pub metrics: bool,
}

impl Features {
    pub const ALL: Self = Self {
        request_id: true,
        propagate_request_id: true,
        body_limit: true,
        timeout: true,
        panic_recovery: true,
        compression: true,
        metrics: true,
    };

    /// Every feature's name, as `priced` takes it.
    pub const NAMES: [&str; 7] = [
        "request-id",
        "propagate-request-id",
        "body-limit",
        "timeout",
        "panic-recovery",
        "compression",
        "metrics",
    ];

    /// All features but the one named (`none`: all of them), or `None` for a name not in
    /// [`Self::NAMES`].
    pub fn without(name: &str) -> Option<Self> {
        let mut features = Self::ALL;
        let switch = match name {
            "none" => return Some(features),
            "request-id" => &mut features.request_id,
            "propagate-request-id" => &mut features.propagate_request_id,
            "body-limit" => &mut features.body_limit,
            "timeout" => &mut features.timeout,
            "panic-recovery" => &mut features.panic_recovery,
            "compression" => &mut features.compression,
            "metrics" => &mut features.metrics,
            _ => return None,
        };
        *switch = false;
        Some(features)
    }
}
