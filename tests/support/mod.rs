//! What the system tests share, by concern:
//!
//! - [`harness`]: the runner: each test with what it needs, ignored with its reason where that
//!   is missing (a failure under `CI=true`).
//! - [`files`]: the repository's root and build directory, and scratch paths no other test uses.
//! - [`process`]: running `cargo xtask`, helper programs and servers; their output as text.
//! - [`needs`]: whether a test can run here (a Docker engine, a tool), skipping loudly when it
//!   cannot, and the lock every test that uses the engine holds.
//! - [`http`]: one HTTP client for the servers the tests start, and waiting until one answers.
//! - [`moto`]: moto's server, the AWS API the shipping tests call through the real AWS CLI.
//! - [`registry`]: a real registry on loopback, anonymous, with a password or with tokens.
//! - [`proxy`]: a reverse proxy on loopback that can answer for its server.

pub(crate) mod files;
pub(crate) mod harness;
pub(crate) mod http;
pub(crate) mod moto;
pub(crate) mod needs;
pub(crate) mod process;
pub(crate) mod proxy;
pub(crate) mod registry;
