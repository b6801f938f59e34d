//! Endpoints that misbehave on purpose, for tests: a slow request and a panicking handler.

use std::time::Duration;

use axum::Json;
use axum::extract::Query;
use serde::{Deserialize, Serialize};

const MAX_SLEEP_MS: u64 = 60_000;

#[derive(Debug, Deserialize)]
pub struct SleepQuery {
    pub ms: u64,
}

#[derive(Debug, Serialize)]
pub struct Slept {
    pub slept_ms: u64,
}

/// `GET /debug/sleep?ms=N`: answers after N milliseconds (at most a minute).
pub async fn sleep(Query(query): Query<SleepQuery>) -> Json<Slept> {
    let ms = query.ms.min(MAX_SLEEP_MS);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(Slept { slept_ms: ms })
}

/// `GET /debug/panic`: panics, to prove the server survives it.
pub async fn panic() -> Json<Slept> {
    panic!("deliberate panic from /debug/panic");
}
