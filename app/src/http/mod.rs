//! The HTTP surface: routes, their handlers and the layers around them.

pub mod errors;
pub mod handlers;
pub mod observe;
pub mod request_id;

use axum::Router;
use axum::routing::{MethodRouter, get};

use self::observe::{Observe, Templates};

use crate::state::AppState;

/// One endpoint: its route template and its handlers.
pub type Endpoint = (&'static str, MethodRouter<AppState>);

/// The service's endpoints: the one table both the router and the route labels are built from.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        ("/", get(handlers::root::root)),
        ("/health", get(handlers::health::live)),
        ("/health/ready", get(handlers::health::ready)),
        ("/info", get(handlers::info::info)),
        ("/metrics", get(handlers::metrics::metrics)),
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

/// The endpoints routed, with JSON fallbacks, inside [`observe::Observe`]: request id, body
/// limit, timeout, panic recovery, metrics and the log line, so that a panic is counted and
/// logged as the 500 it becomes.
pub fn app(endpoints: Vec<Endpoint>, state: &AppState) -> Observe<Router> {
    app_with(endpoints, state, Features::ALL)
}

/// [`app`] with only some of the features: for pricing them, never for serving.
pub fn app_with(endpoints: Vec<Endpoint>, state: &AppState, features: Features) -> Observe<Router> {
    let templates = Templates::new(endpoints.iter().map(|(template, _)| template));
    let router = endpoints
        .into_iter()
        .fold(Router::new(), |router, (template, methods)| {
            router.route(template, methods)
        })
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .with_state(state.clone());
    Observe::new(router, state, features, templates)
}
