//! End-to-end tests of the images, the stack and shipping, driven through `cargo xtask`, Docker
//! and the real tools. One binary, so that the tests that use the Docker engine take turns
//! whatever their area (see [`support::needs::docker_exclusive`]).

mod cost;
mod daemonless;
mod ecs;
mod fresh;
mod images;
mod inspect;
mod oci_save;
mod report;
mod ship;
mod stack;
mod support;
mod workflows;
