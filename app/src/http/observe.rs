//! The one middleware every request passes: request id, body limit, timeout, metrics and the
//! request's log line. One layer instead of five keeps the hot path short.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;

use super::errors;
use super::request_id::{self, HEADER};
use crate::metrics::http::UNMATCHED_ROUTE;
use crate::state::AppState;

pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let _in_flight = state.metrics.start();
    let id = request_id::from_headers(request.headers());
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let path = request.uri().path().to_owned();

    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let mut response = if declared_length.is_some_and(|length| length > state.body_limit as u64) {
        errors::body_too_large(state.body_limit)
    } else if let Ok(response) =
        tokio::time::timeout(state.request_timeout, next.run(request)).await
    {
        response
    } else {
        errors::timeout_response(state.request_timeout)
    };
    response.headers_mut().insert(&HEADER, id.0.clone());

    let elapsed = started.elapsed();
    let status = response.status();
    let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    state.metrics.record(route, &method, status, elapsed);
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    if status.is_server_error() {
        tracing::warn!(target: "app::http", method = %method, route, path, status = status.as_u16(), latency_ms, request_id = id.as_str(), "request failed");
    } else {
        tracing::info!(target: "app::http", method = %method, route, path, status = status.as_u16(), latency_ms, request_id = id.as_str(), "request");
    }
    response
}
