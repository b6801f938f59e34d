//! One file per endpoint.

pub mod debug;
pub mod health;
pub mod info;
pub mod metrics;
pub mod root;
