//! The reference service: a small, observable axum application built to run in a minimal
//! container. `main.rs` wires configuration, telemetry and the [`startup::Application`].

pub mod build_info;
pub mod config;
mod dependencies;
pub mod healthcheck;
pub mod http;
pub mod metrics;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod system;
pub mod telemetry;
