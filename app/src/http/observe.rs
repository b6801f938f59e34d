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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::HttpBody as _;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Method;
use axum::http::header::CONTENT_LENGTH;
use axum::http::uri::PathAndQuery;
use axum::response::Response;
use tokio::time::Sleep;
use tower::Service;

use super::request_id::{self, HEADER, RequestId};
use super::{Features, errors};
use crate::metrics::http::{HttpMetrics, InFlightOwned, UNMATCHED_ROUTE};
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
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let shared = Arc::clone(&self.shared);
        let features = shared.features;
        let in_flight = features.metrics.then(|| shared.metrics.start_owned());
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
        let (handler, answered) = if too_large {
            (None, Some(errors::body_too_large(shared.body_limit)))
        } else if features.panic_recovery {
            // The router only builds its future here; the handler runs when it is polled.
            match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
                Ok(handler) => (Some(handler), None),
                Err(panic) => (None, Some(errors::panic_response(panic))),
            }
        } else {
            (Some(self.inner.call(request)), None)
        };
        Observed {
            handler,
            deadline: None,
            answered,
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
    /// One request through [`Observe`]: the handler's future, polled under panic recovery and
    /// the timeout, then the bookkeeping. A named future rather than a boxed `async` block,
    /// which costs an allocation and several copies of the handler's future a request.
    pub struct Observed<F> {
        #[pin]
        handler: Option<F>,
        // Armed only if the handler does not answer on its first poll: a timer is set up for
        // the slow requests alone, with the deadline counted from the request's start.
        #[pin]
        deadline: Option<Sleep>,
        // An answer given without the handler: a body too large, a panic building its future.
        answered: Option<Response>,
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
        let mut this = self.project();
        let Some(request) = this.request.as_ref() else {
            panic!("an observed request polled after it answered");
        };
        let features = request.shared.features;
        let response = if let Some(response) = this.answered.take() {
            response
        } else if let Some(handler) = this.handler.as_mut().as_pin_mut() {
            let polled = if features.panic_recovery {
                std::panic::catch_unwind(AssertUnwindSafe(|| handler.poll(cx)))
            } else {
                Ok(handler.poll(cx))
            };
            match polled {
                Ok(Poll::Ready(Ok(response))) => response,
                // The panic hook has logged it; the client gets the JSON 500.
                Err(panic) => errors::panic_response(panic),
                Ok(Poll::Pending) if !features.timeout => return Poll::Pending,
                Ok(Poll::Pending) => {
                    let limit = request.shared.request_timeout;
                    if this.deadline.is_none() {
                        this.deadline.set(Some(tokio::time::sleep_until(
                            (request.started + limit).into(),
                        )));
                    }
                    match this
                        .deadline
                        .as_mut()
                        .as_pin_mut()
                        .map(|sleep| sleep.poll(cx))
                    {
                        Some(Poll::Ready(())) => errors::timeout_response(limit),
                        _ => return Poll::Pending,
                    }
                }
            }
        } else {
            panic!("an observed request has neither a handler nor an answer");
        };
        // Drop the handler's future (and the timer) now, as the `async` version did on return.
        this.handler.set(None);
        this.deadline.set(None);
        let Some(request) = this.request.take() else {
            unreachable!("checked above");
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
    /// The response header, the metrics and the log line.
    fn finish(self, mut response: Response) -> Response {
        let features = self.shared.features;
        let route = self.route;
        if let Some(id) = &self.id {
            response.headers_mut().insert(&HEADER, id.0.clone());
        }
        let elapsed = self.started.elapsed();
        let status = response.status();
        if features.metrics {
            self.shared
                .metrics
                .record(route, &self.method, status, elapsed);
        }
        let latency_ms = elapsed.as_micros() as f64 / 1000.0;
        let request_id = self.id.as_ref().map(RequestId::as_str);
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
