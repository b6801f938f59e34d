//! HTTP tests against the real server: in-process on 127.0.0.1 port 0, and the real binary
//! where signals, exit codes and log output are what is under test.

mod binary;
mod config;
mod endpoints;
mod errors;
mod healthcheck;
mod helpers;
mod logging;
mod metrics;
mod request_id;
mod shutdown;
