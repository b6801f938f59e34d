//! The application: built from configuration (binding its port), then run until told to stop.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::ServiceExt as _;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::build_info;
use crate::config::Config;
use crate::http::{self, Endpoint, Features};
use crate::metrics::http::HttpMetrics;
use crate::shutdown::{Readiness, Signals};
use crate::state::AppState;
use crate::system::sampler::Sampler;
use crate::telemetry;
use crate::telemetry::log_writer::DroppedLines;

/// Exit status for a configuration the service refuses to start with.
pub const EXIT_CONFIG: u8 = 2;

/// `app serve`: configuration from the environment, telemetry, the runtime, then the
/// application until a signal stops it. `features` is [`Features::ALL`] but when pricing them.
pub fn serve(features: Features) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let telemetry = match telemetry::init(
        config.log_format,
        &config.log_level,
        config.log_flush_interval,
    ) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: cannot start the log writer: {error}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::log_panics();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        // Before anything else, so a signal during start-up is handled, not fatal.
        let signals =
            Signals::register().map_err(|error| format!("cannot listen for signals: {error}"))?;
        let application = Application::build_with_features(
            &config,
            Some(telemetry.dropped_lines()),
            http::endpoints_with(features),
            features,
        )
        .await
        .map_err(|error| {
            format!(
                "cannot listen on {}:{}: {error}; set APP_HOST/APP_PORT to a free address",
                config.host, config.port
            )
        })?;
        tracing::info!(
            address = %application.address(),
            version = build_info::VERSION,
            revision = build_info::GIT_REVISION,
            "listening"
        );
        application
            .run_until_signalled(signals)
            .await
            .map_err(|error| format!("server failed: {error}"))
    });
    // Dropping the runtime first ends its threads; dropping `telemetry` then flushes the logs.
    drop(runtime);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            drop(telemetry);
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    /// Routed and wrapped in the layers when serving begins.
    endpoints: Vec<Endpoint>,
    features: Features,
    state: AppState,
    shutdown_delay: Duration,
    shutdown_grace: Duration,
}

impl Application {
    /// Binds the listener and assembles the service. Port 0 binds a free port; see [`Self::address`].
    pub async fn build(
        config: &Config,
        dropped_log_lines: Option<DroppedLines>,
    ) -> io::Result<Self> {
        Self::build_with_endpoints(config, dropped_log_lines, http::endpoints()).await
    }

    /// As [`Self::build`], serving `endpoints` (tests add their own).
    pub async fn build_with_endpoints(
        config: &Config,
        dropped_log_lines: Option<DroppedLines>,
        endpoints: Vec<Endpoint>,
    ) -> io::Result<Self> {
        Self::build_with_features(config, dropped_log_lines, endpoints, Features::ALL).await
    }

    /// As [`Self::build_with_endpoints`], with only some of the production features: for pricing
    /// them (`cargo xtask cost`), never for serving.
    pub async fn build_with_features(
        config: &Config,
        dropped_log_lines: Option<DroppedLines>,
        endpoints: Vec<Endpoint>,
        features: Features,
    ) -> io::Result<Self> {
        let started = Instant::now();
        let listener = TcpListener::bind((config.host, config.port)).await?;
        let address = listener.local_addr()?;
        let state = AppState {
            started,
            readiness: Readiness::new(),
            metrics: Arc::new(HttpMetrics::new()),
            snapshot: Sampler::new().start(config.sampler_interval),
            dropped_log_lines,
            request_timeout: config.request_timeout,
            body_limit: config.body_limit,
        };
        let mut endpoints = endpoints;
        if config.debug_endpoints {
            endpoints.extend(http::debug_endpoints());
        }
        Ok(Self {
            listener,
            address,
            endpoints,
            features,
            state,
            shutdown_delay: config.shutdown_delay,
            shutdown_grace: config.shutdown_grace,
        })
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the first signal, then: readiness turns 503, the listener stays open for the
    /// shutdown delay (so load balancers see the 503), closes, and in-flight requests get up to
    /// the grace period to finish. A second signal ends the wait at once.
    pub async fn run_until_signalled(self, mut signals: Signals) -> io::Result<()> {
        let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
        let first = async move {
            let name = signals.recv().await;
            tracing::info!(signal = name, "shutdown requested");
            tokio::spawn(async move {
                let name = signals.recv().await;
                tracing::warn!(
                    signal = name,
                    "second signal: exiting without waiting for in-flight requests"
                );
                let _ = second_tx.send(());
            });
        };
        self.run_until_stopped(first, async move {
            let _ = second_rx.await;
        })
        .await
    }

    /// Serves until `shutdown` resolves, then drains as [`Self::run_until_signalled`] describes;
    /// `abort` cuts the draining short.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        abort: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let readiness = self.state.readiness.clone();
        let delay = self.shutdown_delay;
        let (closed_tx, mut closed_rx) = watch::channel(false);
        let stop_accepting = async move {
            shutdown.await;
            readiness.begin_draining();
            if !delay.is_zero() {
                tracing::info!(
                    delay_ms = delay.as_millis(),
                    "readiness is 503; still accepting during the shutdown delay"
                );
                tokio::time::sleep(delay).await;
            }
            tracing::info!("listener closed; waiting for in-flight requests");
            let _ = closed_tx.send(true);
        };
        let listener = self.listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        let service = http::app_with(self.endpoints, &self.state, self.features);
        let server = axum::serve(listener, service.into_make_service())
            .with_graceful_shutdown(stop_accepting);
        let grace = self.shutdown_grace;
        let metrics = Arc::clone(&self.state.metrics);
        let grace_over = async move {
            if closed_rx.wait_for(|closed| *closed).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = server.into_future() => {
                tracing::info!("all requests finished; exiting");
                result
            }
            () = abort => Ok(()),
            () = grace_over => {
                tracing::warn!(
                    in_flight = metrics.in_flight(),
                    grace_ms = grace.as_millis(),
                    "shutdown grace period over; abandoning in-flight requests"
                );
                Ok(())
            }
        }
    }
}
