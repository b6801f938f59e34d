//! What this service records of every request: the route label, the metrics and the log line.
//!
//! It is one layer of the stack around the whole router (see [`super::layers`]), inside the
//! request id's layers, so the line carries the id, and outside the timeout, body limit and
//! panic recovery, so that their 408, 413 and 500 are counted and logged like any answer.
//! Outside the router the request has no `MatchedPath` yet, so the route template the metrics
//! and the log line are labelled by comes from [`Templates`], a matcher built from the same
//! endpoint table as the router, by the same matcher crate axum uses (`matchit`): the same path
//! gets the same template, and label cardinality stays bounded.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::Method;
use axum::http::uri::PathAndQuery;
use axum::response::Response;
use tower::{Layer, Service};
use tower_http::request_id::RequestId;

use super::request_id;
use crate::metrics::http::{HttpMetrics, InFlightOwned, UNMATCHED_ROUTE};

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
    /// `None` only when `cargo xtask cost` prices the metrics.
    metrics: Option<Arc<HttpMetrics>>,
    templates: Templates,
}

/// Wraps a service in [`Observe`].
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

impl ObserveLayer {
    pub fn new(metrics: Option<Arc<HttpMetrics>>, templates: Templates) -> Self {
        Self {
            shared: Arc::new(Shared { metrics, templates }),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A service (the layers inside it and the router), observed.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let shared = Arc::clone(&self.shared);
        let in_flight = shared.metrics.as_ref().map(HttpMetrics::start_owned);
        let id = request.extensions().get::<RequestId>().cloned();
        let method = request.method().clone();
        // The path's bytes, shared with the request: one reference count, no copy.
        let path = request.uri().path_and_query().cloned();
        let route = shared.templates.label(request.uri().path());
        Observed {
            inner: self.inner.call(request),
            request: Some(Finished {
                started,
                shared,
                id,
                method,
                path,
                route,
                _in_flight: in_flight,
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// One request through [`Observe`]: the inner service's future, then the bookkeeping. A
    /// named future rather than a boxed `async` block, which costs an allocation and several
    /// copies of the inner future a request.
    pub struct Observed<F> {
        #[pin]
        inner: F,
        request: Option<Finished>,
    }
}

impl<F> std::fmt::Debug for Observed<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

impl<F> Future for Observed<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Poll::Ready(Ok(response)) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        let Some(request) = this.request.take() else {
            panic!("an observed request polled after it answered");
        };
        Poll::Ready(Ok(request.finish(response)))
    }
}

/// What the request's bookkeeping needs once the response exists.
struct Finished {
    started: Instant,
    shared: Arc<Shared>,
    id: Option<RequestId>,
    method: Method,
    path: Option<PathAndQuery>,
    route: &'static str,
    /// Counts the request as in flight until it is dropped: answered or cancelled.
    _in_flight: Option<InFlightOwned>,
}

impl Finished {
    /// The metrics and the log line.
    fn finish(self, response: Response) -> Response {
        let route = self.route;
        let elapsed = self.started.elapsed();
        let status = response.status();
        if let Some(metrics) = &self.shared.metrics {
            metrics.record(route, &self.method, status, elapsed);
        }
        let latency_ms = elapsed.as_micros() as f64 / 1000.0;
        let request_id = self.id.as_ref().map(request_id::as_str);
        let method = self.method.as_str();
        let path = self.path.as_ref().map_or("/", PathAndQuery::path);
        // The message as a plain string field, not a format string: written without `fmt`.
        if status.is_server_error() {
            tracing::warn!(target: "app::http", message = "request failed", method, route, path, status = status.as_u16(), latency_ms, request_id);
        } else {
            tracing::info!(target: "app::http", message = "request", method, route, path, status = status.as_u16(), latency_ms, request_id);
        }
        response
    }
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
