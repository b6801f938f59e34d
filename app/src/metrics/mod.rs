//! Prometheus metrics: request series recorded by the HTTP middleware, and the text exposition
//! that `/metrics` serves.

pub mod exposition;
pub mod families;
pub mod http;
