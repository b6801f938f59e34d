//! The middleware every request passes, as tower layers around the whole router, outermost
//! first:
//!
//! 1. a caller's `x-request-id` this service does not keep is dropped, and tower-http's
//!    `SetRequestIdLayer` gives the request one ([`request_id::MakeId`]) where it has none;
//! 2. `PropagateRequestIdLayer` copies the id onto the response, whatever answered;
//! 3. [`Observe`]: the route label, the metrics and the log line, so that it sees the id and
//!    the answers of every layer below;
//! 4. the answers tower-http gives in plain text or with no body, in this service's JSON
//!    ([`errors::in_json`]);
//! 5. `TimeoutLayer`: 408 after `APP_REQUEST_TIMEOUT`;
//! 6. `RequestBodyLimitLayer`: 413 over `APP_BODY_LIMIT`;
//! 7. `CatchPanicLayer`: a panicking handler is a JSON 500 and the server keeps serving.
//!
//! Around the router, not with `Router::layer`, which wraps and boxes every route's service
//! and clones it on each request: measured, a body limit and panic recovery added that way cost
//! 2 381 and 2 784 instructions a request (`cargo xtask cost`). The `/metrics` route alone has
//! `CompressionLayer` (see [`super::endpoints`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body_util::Either;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use super::observe::{ObserveLayer, Templates};
use super::{Endpoint, Features, errors, request_id};
use crate::state::AppState;

/// The endpoints routed, with JSON fallbacks, inside the layers this module's documentation
/// lists; every one of them on.
pub fn app(
    endpoints: Vec<Endpoint>,
    state: &AppState,
) -> impl Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    app_with(endpoints, state, Features::ALL)
}

/// [`app`] with only some of the features: for pricing them, never for serving.
pub fn app_with(
    endpoints: Vec<Endpoint>,
    state: &AppState,
    features: Features,
) -> impl Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let templates = Templates::new(endpoints.iter().map(|(template, _)| template));
    let router = endpoints
        .into_iter()
        .fold(Router::new(), |router, (template, methods)| {
            router.route(template, methods)
        })
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .with_state(state.clone());
    let request_id = ServiceBuilder::new()
        .map_request(request_id::drop_unacceptable)
        .layer(SetRequestIdLayer::new(
            request_id::HEADER.clone(),
            request_id::MakeId,
        ))
        .into_inner();
    let body_limit = ServiceBuilder::new()
        .map_request(leave_the_limit_to_the_layer)
        .layer(RequestBodyLimitLayer::new(state.body_limit))
        .into_inner();
    ServiceBuilder::new()
        .option_layer(features.request_id.then_some(request_id))
        .option_layer(
            features
                .propagate_request_id
                .then(|| PropagateRequestIdLayer::new(request_id::HEADER.clone())),
        )
        .layer(ObserveLayer::new(
            features.metrics.then(|| Arc::clone(&state.metrics)),
            templates,
        ))
        .map_response(errors::in_json(state.request_timeout, state.body_limit))
        .option_layer(features.timeout.then(|| {
            TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.request_timeout)
        }))
        // The one conversion of the response body into axum's: the two layers below wrap it in
        // types of their own.
        .map_response(IntoResponse::into_response)
        .layer(Optional(features.body_limit.then_some(body_limit)))
        .layer(Optional(
            features
                .panic_recovery
                .then(|| CatchPanicLayer::custom(errors::panic_response)),
        ))
        .service(router)
}

/// axum's extractors apply a 2 MB limit of their own unless told otherwise; the body is already
/// limited to `APP_BODY_LIMIT` by `RequestBodyLimitLayer`, so theirs is turned off, and the
/// configured limit is the one that holds. Only on requests with a body: the extension costs
/// allocations, and a request without one has nothing to extract.
fn leave_the_limit_to_the_layer(mut request: Request) -> Request {
    use axum::body::HttpBody as _;
    if !request.body().is_end_stream() {
        DefaultBodyLimit::disable().apply(&mut request);
    }
    request
}

/// A layer `cargo xtask cost` can leave out, for one whose response body is a type of its own
/// (tower's `option_layer` needs the same type with the layer and without it). Either way the
/// body is an [`Either`], converted into axum's once, by the stack's `into_response`.
#[derive(Debug, Clone)]
struct Optional<L>(Option<L>);

impl<L, S> Layer<S> for Optional<L>
where
    L: Layer<S>,
{
    type Service = Switch<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        match &self.0 {
            Some(layer) => Switch::On(layer.layer(inner)),
            None => Switch::Off(inner),
        }
    }
}

/// The service with the layer ([`Switch::On`]) or without it.
#[derive(Debug, Clone)]
enum Switch<On, Off> {
    On(On),
    Off(Off),
}

impl<On, Off, R, A, B, E> Service<R> for Switch<On, Off>
where
    On: Service<R, Response = axum::http::Response<A>, Error = E>,
    Off: Service<R, Response = axum::http::Response<B>, Error = E>,
{
    type Response = axum::http::Response<Either<A, B>>;
    type Error = E;
    type Future = Switched<On::Future, Off::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        match self {
            Self::On(service) => service.poll_ready(cx),
            Self::Off(service) => service.poll_ready(cx),
        }
    }

    fn call(&mut self, request: R) -> Self::Future {
        match self {
            Self::On(service) => Switched::On {
                future: service.call(request),
            },
            Self::Off(service) => Switched::Off {
                future: service.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Switch`]'s future.
    #[project = SwitchedProjection]
    enum Switched<On, Off> {
        On { #[pin] future: On },
        Off { #[pin] future: Off },
    }
}

impl<On, Off, A, B, E> Future for Switched<On, Off>
where
    On: Future<Output = Result<axum::http::Response<A>, E>>,
    Off: Future<Output = Result<axum::http::Response<B>, E>>,
{
    type Output = Result<axum::http::Response<Either<A, B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            SwitchedProjection::On { future } => future
                .poll(cx)
                .map_ok(|response| response.map(Either::Left)),
            SwitchedProjection::Off { future } => future
                .poll(cx)
                .map_ok(|response| response.map(Either::Right)),
        }
    }
}
