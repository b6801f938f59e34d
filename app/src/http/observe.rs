//! The one middleware every request passes: request id, body limit, timeout, panic recovery,
//! metrics and the request's log line. One layer instead of six keeps the hot path short: every
//! `Router::layer` wraps each route in a boxed, cloned service, about 2 300 instructions a
//! request apiece (`cargo xtask cost`); a hand-written `tower` service rather than `from_fn`
//! saves one more.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::response::Response;
use tower::{Layer, Service};

use super::request_id::{self, HEADER, RequestId};
use super::{Features, errors};
use crate::metrics::http::UNMATCHED_ROUTE;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct ObserveLayer {
    state: AppState,
    features: Features,
}

impl ObserveLayer {
    pub fn new(state: AppState, features: Features) -> Self {
        Self { state, features }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            state: self.state.clone(),
            features: self.features,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    state: AppState,
    features: Features,
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
        let features = self.features;
        Box::pin(async move { Ok(observe(state, features, request, inner).await) })
    }
}

async fn observe<S>(
    state: AppState,
    features: Features,
    mut request: Request,
    mut inner: S,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let _in_flight = features.metrics.then(|| state.metrics.start());
    let id = features
        .request_id
        .then(|| request_id::from_headers(request.headers()));
    if let Some(id) = &id {
        request.extensions_mut().insert(id.clone());
    }
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let uri = request.uri().clone(); // shares the request's bytes: no copy

    let mut too_large = false;
    if features.body_limit {
        too_large = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .is_some_and(|length| length > state.body_limit as u64);
        // What the extractors read their limit from.
        DefaultBodyLimit::max(state.body_limit).apply(&mut request);
    }
    let mut response = if too_large {
        errors::body_too_large(state.body_limit)
    } else {
        let handled = call(&mut inner, request, features.panic_recovery);
        let outcome = if features.timeout {
            tokio::time::timeout(state.request_timeout, handled)
                .await
                .map_err(|_| errors::timeout_response(state.request_timeout))
        } else {
            Ok(handled.await)
        };
        match outcome {
            Ok(Ok(response)) => response,
            // The panic hook has logged it; the client gets the JSON 500.
            Ok(Err(panic)) => errors::panic_response(panic),
            Err(timed_out) => timed_out,
        }
    };
    if let Some(id) = &id {
        response.headers_mut().insert(&HEADER, id.0.clone());
    }

    let elapsed = started.elapsed();
    let status = response.status();
    let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    if features.metrics {
        state.metrics.record(route, &method, status, elapsed);
    }
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    let request_id = id.as_ref().map(RequestId::as_str);
    let method = method.as_str();
    // The message as a plain string field, not a format string: written without `fmt`.
    if status.is_server_error() {
        tracing::warn!(target: "app::http", message = "request failed", method, route, path = uri.path(), status = status.as_u16(), latency_ms, request_id);
    } else {
        tracing::info!(target: "app::http", message = "request", method, route, path = uri.path(), status = status.as_u16(), latency_ms, request_id);
    }
    response
}

/// The handler's response, or the payload of its panic when `recover` (what tower-http's
/// `CatchPanic` does, without boxing the response body a second time).
async fn call<S>(
    inner: &mut S,
    request: Request,
    recover: bool,
) -> Result<Response, Box<dyn std::any::Any + Send + 'static>>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    if !recover {
        let Ok(response) = inner.call(request).await;
        return Ok(response);
    }
    let mut future = pin!(std::panic::catch_unwind(AssertUnwindSafe(
        || inner.call(request)
    ))?);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(Ok(response))) => Poll::Ready(Ok(response)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await
}
