//! Host, process and container figures, refreshed by a background sampler so that no request
//! ever pays for reading `/proc`.

pub mod cgroup;
pub mod sampler;
pub mod snapshot;
