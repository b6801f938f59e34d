use axum::Json;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use crate::build_info;

#[derive(Debug, Serialize)]
pub struct Greeting {
    pub message: &'static str,
    pub version: &'static str,
    pub status: &'static str,
    pub timestamp: String,
}

/// `GET /`
pub async fn root() -> Json<Greeting> {
    Json(Greeting {
        message: "Hello from a Rust service in a minimal container",
        version: build_info::VERSION,
        status: "ok",
        timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}
