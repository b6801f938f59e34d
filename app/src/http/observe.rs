//! The one middleware every request passes: request id, body limit, timeout, metrics and the
//! request's log line. One layer instead of five keeps the hot path short; a hand-written
//! `tower` service rather than `from_fn` saves a boxed clone of the inner route per request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::response::Response;
use tower::{Layer, Service};

use super::errors;
use super::request_id::{self, HEADER};
use crate::metrics::http::UNMATCHED_ROUTE;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct ObserveLayer {
    state: AppState,
}

impl ObserveLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was polled ready handles this request; a fresh clone stays for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move { Ok(observe(state, request, inner).await) })
    }
}

async fn observe<S>(state: AppState, mut request: Request, mut inner: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let _in_flight = state.metrics.start();
    let id = request_id::from_headers(request.headers());
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let uri = request.uri().clone(); // shares the request's bytes: no copy

    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let mut response = if declared_length.is_some_and(|length| length > state.body_limit as u64) {
        errors::body_too_large(state.body_limit)
    } else if let Ok(Ok(response)) =
        tokio::time::timeout(state.request_timeout, inner.call(request)).await
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
        tracing::warn!(target: "app::http", method = %method, route, path = uri.path(), status = status.as_u16(), latency_ms, request_id = id.as_str(), "request failed");
    } else {
        tracing::info!(target: "app::http", method = %method, route, path = uri.path(), status = status.as_u16(), latency_ms, request_id = id.as_str(), "request");
    }
    response
}
