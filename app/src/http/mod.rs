//! The HTTP surface: routes, their handlers and the layers around them.

pub mod errors;
pub mod handlers;
pub mod observe;
pub mod request_id;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// The service's endpoints, without layers: tests can add routes before [`app`] wraps them.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(handlers::root::root))
        .route("/health", get(handlers::health::live))
        .route("/health/ready", get(handlers::health::ready))
        .route("/info", get(handlers::info::info))
        .route("/metrics", get(handlers::metrics::metrics))
}

/// Diagnostic endpoints for tests and demonstrations, mounted only when
/// `APP_DEBUG_ENDPOINTS=true`.
pub fn debug_routes() -> Router<AppState> {
    Router::new()
        .route("/debug/sleep", get(handlers::debug::sleep))
        .route("/debug/panic", get(handlers::debug::panic))
}

/// The production features around every request. The service always runs with all of them
/// ([`Features::ALL`]); each can be left out only so that `cargo xtask cost` can price it
/// (`app/examples/priced.rs`). The log line is priced with `APP_LOG_LEVEL=off` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // five independent switches, not a state machine
pub struct Features {
    pub request_id: bool,
    pub body_limit: bool,
    pub timeout: bool,
    pub metrics: bool,
    pub panic_recovery: bool,
}

impl Features {
    pub const ALL: Self = Self {
        request_id: true,
        body_limit: true,
        timeout: true,
        metrics: true,
        panic_recovery: true,
    };

    /// Every feature's name, as `priced` takes it.
    pub const NAMES: [&str; 5] = [
        "request-id",
        "body-limit",
        "timeout",
        "metrics",
        "panic-recovery",
    ];

    /// All features but the one named (`none`: all of them), or `None` for a name not in
    /// [`Self::NAMES`].
    pub fn without(name: &str) -> Option<Self> {
        let mut features = Self::ALL;
        let switch = match name {
            "none" => return Some(features),
            "request-id" => &mut features.request_id,
            "body-limit" => &mut features.body_limit,
            "timeout" => &mut features.timeout,
            "metrics" => &mut features.metrics,
            "panic-recovery" => &mut features.panic_recovery,
            _ => return None,
        };
        *switch = false;
        Some(features)
    }
}

/// `routes` with JSON fallbacks and the one layer around them, [`observe`]: request id, body
/// limit, timeout, panic recovery, metrics and the log line, so that a panic is counted and
/// logged as the 500 it becomes.
pub fn app(routes: Router<AppState>, state: AppState) -> Router {
    app_with(routes, state, Features::ALL)
}

/// [`app`] with only some of the features: for pricing them, never for serving.
pub fn app_with(endpoints: Router<AppState>, state: AppState, features: Features) -> Router {
    endpoints
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(observe::ObserveLayer::new(state.clone(), features))
        .with_state(state)
}
