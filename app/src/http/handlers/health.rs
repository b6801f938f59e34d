use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::build_info;
use crate::state::AppState;

#[derive(Debug, Serialize)]
pub struct Liveness {
    pub status: &'static str,
    pub uptime_seconds: u64,
    pub version: &'static str,
}

/// `GET /health`: the process is alive and serving. What `app healthcheck` asks.
pub async fn live(State(state): State<AppState>) -> Json<Liveness> {
    Json(Liveness {
        status: "ok",
        uptime_seconds: state.uptime().as_secs(),
        version: build_info::VERSION,
    })
}

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: &'static str,
}

/// `GET /health/ready`: 200 while the instance wants traffic, 503 from the moment shutdown
/// begins, so a load balancer drains it before the listener closes.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    if state.readiness.is_ready() {
        (StatusCode::OK, Json(Readiness { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "shutting_down",
            }),
        )
    }
}
