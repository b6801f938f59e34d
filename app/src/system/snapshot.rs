//! The figures the sampler last read, shared with request handlers behind a cheap `Arc` swap.

use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::cgroup::ContainerLimits;

/// Facts about the host that do not change while the process runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub architecture: String,
    pub logical_cpus: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SystemFigures {
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub memory_used_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    /// Busy share of all CPUs since the previous sample, from 0 to 1.
    pub cpu_usage_ratio: f64,
    pub load_average_1m: f64,
    pub load_average_5m: f64,
    pub load_average_15m: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessFigures {
    pub pid: u32,
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    pub cpu_seconds_total: f64,
    /// Unix time the process started, in seconds.
    pub start_time_seconds: u64,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub threads: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SystemSnapshot {
    pub host: HostInfo,
    pub system: SystemFigures,
    pub process: ProcessFigures,
    pub container: Option<ContainerLimits>,
    /// Unix time of the sample, in seconds.
    pub sampled_at_seconds: f64,
}

/// The latest snapshot, readable from any thread. Readers clone an `Arc`, never the figures.
#[derive(Debug, Clone, Default)]
pub struct SharedSnapshot(Arc<RwLock<Arc<SystemSnapshot>>>);

impl SharedSnapshot {
    pub fn new(initial: SystemSnapshot) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(initial))))
    }

    pub fn latest(&self) -> Arc<SystemSnapshot> {
        Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn replace(&self, snapshot: SystemSnapshot) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(snapshot);
    }

    /// A handle that does not keep the snapshot alive, so the sampler can notice when the
    /// application that owns it is gone.
    pub(crate) fn downgrade(&self) -> std::sync::Weak<RwLock<Arc<SystemSnapshot>>> {
        Arc::downgrade(&self.0)
    }

    pub(crate) fn from_weak(weak: &std::sync::Weak<RwLock<Arc<SystemSnapshot>>>) -> Option<Self> {
        weak.upgrade().map(Self)
    }
}
