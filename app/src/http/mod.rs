//! The HTTP surface: routes, their handlers and the layers around them.

pub mod errors;
pub mod handlers;
pub mod observe;
pub mod request_id;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;

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

/// `routes` with JSON fallbacks and the layers, outermost first: observe (request id, body
/// limit, timeout, metrics, log line), then panic recovery nearest the handlers, so that a
/// panic is counted and logged as the 500 it becomes.
pub fn app(routes: Router<AppState>, state: AppState) -> Router {
    let body_limit = state.body_limit;
    routes
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(CatchPanicLayer::custom(errors::panic_response))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(observe::ObserveLayer::new(state.clone()))
        .with_state(state)
}
