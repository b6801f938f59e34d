//! Every error the service answers is JSON of one shape: `{"error": code, "message": text}`.

use std::any::Any;

use axum::Json;
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: &'static str,
    pub message: String,
}

pub fn json_error(status: StatusCode, error: &'static str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error,
            message: message.into(),
        }),
    )
        .into_response()
}

pub async fn not_found(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {method} {}", uri.path()),
    )
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// A handler panicked: answer 500 and keep serving. The panic hook installed by `main` has
/// already logged the message and location; the payload is not echoed to the client.
pub fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the server hit an unexpected error; it has been logged",
    )
}

pub fn timeout_response(limit: Duration) -> Response {
    json_error(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        format!("the request took longer than {} ms", limit.as_millis()),
    )
}

pub fn body_too_large(limit: usize) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request bodies are limited to {limit} bytes"),
    )
}

/// The answers tower-http's layers give in a body of their own, in this one's JSON: the
/// timeout's empty 408 and the body limit's plain-text 413 (an extractor's 413 too). Any other
/// response, a handler's JSON 408 or 413 included, passes as it is.
pub fn in_json(
    request_timeout: Duration,
    body_limit: usize,
) -> impl FnOnce(Response) -> Response + Clone {
    move |response| {
        let is_json = || {
            response
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"application/json"))
        };
        match response.status() {
            StatusCode::REQUEST_TIMEOUT if !is_json() => timeout_response(request_timeout),
            StatusCode::PAYLOAD_TOO_LARGE if !is_json() => body_too_large(body_limit),
            _ => response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await;
        String::from_utf8(bytes.expect("a body").to_vec()).expect("UTF-8")
    }

    #[tokio::test]
    async fn tower_http_answers_become_json_and_json_ones_pass_as_they_are() {
        let map = in_json(Duration::from_millis(250), 1024);
        let plain = |status| {
            let mut response = Response::new(axum::body::Body::from("length limit exceeded"));
            *response.status_mut() = status;
            response
        };
        let timeout = map.clone()(plain(StatusCode::REQUEST_TIMEOUT));
        assert_eq!(timeout.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(timeout.headers()[CONTENT_TYPE], "application/json");
        assert!(body(timeout).await.contains("longer than 250 ms"));
        let too_large = map.clone()(plain(StatusCode::PAYLOAD_TOO_LARGE));
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body(too_large).await.contains("limited to 1024 bytes"));

        let own = json_error(StatusCode::PAYLOAD_TOO_LARGE, "mine", "a handler's own");
        assert!(body(map.clone()(own)).await.contains("a handler's own"));
        let ok = map(plain(StatusCode::OK));
        assert_eq!(body(ok).await, "length limit exceeded");
    }
}
