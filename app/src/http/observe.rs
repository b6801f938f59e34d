//! The one middleware every request passes: request id, body limit, timeout, panic recovery,
//! metrics and the request's log line.
//!
//! It wraps the whole router rather than being a `Router::layer`: such a layer wraps every route
//! in a boxed service that is cloned, with a boxed future, on each request, about 2 000
//! instructions (`cargo xtask cost`). Outside the router the request has no `MatchedPath` yet, so
//! the route template the metrics and the log line are labelled by comes from [`Templates`], a
//! matcher built from the same endpoint table as the router, by the same matcher crate axum uses
//! (`matchit`): the same path gets the same template, and label cardinality stays bounded.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::HttpBody as _;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::uri::PathAndQuery;
use axum::response::Response;
use tower::Service;

use super::request_id::{self, HEADER, RequestId};
use super::{Features, errors};
use crate::metrics::http::{HttpMetrics, UNMATCHED_ROUTE};
use crate::state::AppState;

/// The route templates of the endpoint table, for labelling a request before routing.
#[derive(Debug)]
pub struct Templates(matchit::Router<&'static str>);

impl Templates {
    /// # Panics
    /// On a template the router would refuse too (a conflict, a bad parameter), at start-up.
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a &'static str>) -> Self {
        let mut router = matchit::Router::new();
        for &template in templates {
            if let Err(error) = router.insert(template, template) {
                panic!("route template {template:?}: {error}");
            }
        }
        Self(router)
    }

    /// The template `path` matches, or [`UNMATCHED_ROUTE`].
    pub fn label(&self, path: &str) -> &'static str {
        self.0
            .at(path)
            .map_or(UNMATCHED_ROUTE, |matched| *matched.value)
    }
}

/// What every request's observation reads: one reference count per request, not one per field.
#[derive(Debug)]
struct Shared {
    metrics: Arc<HttpMetrics>,
    request_timeout: Duration,
    body_limit: usize,
    features: Features,
    templates: Templates,
}

/// The router (or any service), observed.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Observe<S> {
    pub fn new(inner: S, state: &AppState, features: Features, templates: Templates) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                metrics: Arc::clone(&state.metrics),
                request_timeout: state.request_timeout,
                body_limit: state.body_limit,
                features,
                templates,
            }),
        }
    }
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let shared = Arc::clone(&self.shared);
        let features = shared.features;
        let id = features
            .request_id
            .then(|| request_id::ensure(request.headers_mut()));
        let method = request.method().clone();
        // The path's bytes, shared with the request: one reference count, no copy.
        let path = request.uri().path_and_query().cloned();
        let route = shared.templates.label(request.uri().path());

        let mut too_large = false;
        if features.body_limit && !request.body().is_end_stream() {
            too_large = request
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<u64>().ok())
                .is_some_and(|length| length > shared.body_limit as u64);
            // What the extractors read their limit from. A request with no body (most of them:
            // every GET without one) has nothing to limit, and is spared the extension.
            DefaultBodyLimit::max(shared.body_limit).apply(&mut request);
        }
        // The router only builds its future here; the handler runs when it is polled.
        let handled = (!too_large).then(|| {
            if features.panic_recovery {
                std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)))
                    .map(|future| recovering(future, true))
            } else {
                Ok(recovering(self.inner.call(request), false))
            }
        });
        Box::pin(async move {
            let _in_flight = features.metrics.then(|| shared.metrics.start());
            let mut response = match handled {
                None => errors::body_too_large(shared.body_limit),
                Some(Err(panic)) => errors::panic_response(panic),
                Some(Ok(handled)) => {
                    let outcome = if features.timeout {
                        tokio::time::timeout(shared.request_timeout, handled)
                            .await
                            .map_err(|_| errors::timeout_response(shared.request_timeout))
                    } else {
                        Ok(handled.await)
                    };
                    match outcome {
                        Ok(Ok(response)) => response,
                        // The panic hook has logged it; the client gets the JSON 500.
                        Ok(Err(panic)) => errors::panic_response(panic),
                        Err(timed_out) => timed_out,
                    }
                }
            };
            if let Some(id) = &id {
                response.headers_mut().insert(&HEADER, id.0.clone());
            }

            let elapsed = started.elapsed();
            let status = response.status();
            if features.metrics {
                shared.metrics.record(route, &method, status, elapsed);
            }
            let latency_ms = elapsed.as_micros() as f64 / 1000.0;
            let request_id = id.as_ref().map(RequestId::as_str);
            let method = method.as_str();
            // The message as a plain string field, not a format string: written without `fmt`.
            if status.is_server_error() {
                tracing::warn!(target: "app::http", message = "request failed", method, route, path = path.as_ref().map_or("/", PathAndQuery::path), status = status.as_u16(), latency_ms, request_id);
            } else {
                tracing::info!(target: "app::http", message = "request", method, route, path = path.as_ref().map_or("/", PathAndQuery::path), status = status.as_u16(), latency_ms, request_id);
            }
            Ok(response)
        })
    }
}

/// The handler's response, or the payload of its panic when `recover` (what tower-http's
/// `CatchPanic` does, without boxing the response body a second time).
async fn recovering<F>(
    future: F,
    recover: bool,
) -> Result<Response, Box<dyn std::any::Any + Send + 'static>>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    if !recover {
        let Ok(response) = future.await;
        return Ok(response);
    }
    let mut future = pin!(future);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(Ok(response))) => Poll::Ready(Ok(response)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_labelled_by_the_template_it_matches_or_as_unmatched() {
        let templates = Templates::new(&["/", "/health", "/health/ready", "/items/{id}"]);
        assert_eq!(templates.label("/"), "/");
        assert_eq!(templates.label("/health"), "/health");
        assert_eq!(templates.label("/health/ready"), "/health/ready");
        assert_eq!(templates.label("/items/42"), "/items/{id}");
        for unknown in ["/health/", "/healthz", "/items", "", "/health/ready/x"] {
            assert_eq!(templates.label(unknown), UNMATCHED_ROUTE, "{unknown:?}");
        }
    }
}
