//! The yardstick `cargo xtask cost` measures the service against: axum answering `/` and
//! `/health` with the same JSON as the service, and nothing else. No layers, no logs, no
//! metrics, no request id, no timeout: what the production features are priced above.
//!
//! Built with the service's profile and static linking, and configured as the service is
//! (`APP_HOST`, `APP_PORT`), so that the comparison is fair. Ctrl-C or SIGTERM stops it.

use std::net::IpAddr;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use app::build_info;
use app::http::handlers::health::Liveness;
use app::http::handlers::root::root;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let host: IpAddr = std::env::var("APP_HOST")
        .ok()
        .and_then(|host| host.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let port: u16 = std::env::var("APP_PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(8080);
    let started = Instant::now();
    let health = move || async move {
        Json(Liveness {
            status: "ok",
            uptime_seconds: started.elapsed().as_secs(),
            version: build_info::VERSION,
        })
    };
    let router = Router::new()
        .route("/", get(root))
        .route("/health", get(health));
    let mut terminate = signal(SignalKind::terminate())?;
    let listener = TcpListener::bind((host, port)).await?;
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await
}
