//! The background sampler: one thread that refreshes the shared snapshot on an interval.
//!
//! Reading `/proc` through sysinfo costs milliseconds; a handler that did it per request would
//! serve a few hundred requests a second instead of a hundred thousand.

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sysinfo::{
    CpuRefreshKind, MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System,
};

use super::cgroup;
use super::snapshot::{HostInfo, ProcessFigures, SharedSnapshot, SystemFigures, SystemSnapshot};

#[derive(Debug)]
pub struct Sampler {
    system: Option<System>,
    pid: Option<Pid>,
    host: HostInfo,
}

impl Sampler {
    pub fn new() -> Self {
        let system = System::new().ok();
        let host = HostInfo {
            hostname: System::host_name().unwrap_or_default(),
            os: System::long_os_version().unwrap_or_default(),
            kernel: System::kernel_version().unwrap_or_default(),
            architecture: System::cpu_arch(),
            logical_cpus: thread::available_parallelism().map_or(1, std::num::NonZero::get),
        };
        Self {
            system,
            pid: sysinfo::get_current_pid().ok(),
            host,
        }
    }

    /// Reads every figure once.
    pub fn sample(&mut self) -> SystemSnapshot {
        let mut snapshot = SystemSnapshot {
            host: self.host.clone(),
            container: cgroup::read_limits(),
            sampled_at_seconds: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |elapsed| elapsed.as_secs_f64()),
            ..SystemSnapshot::default()
        };
        let Some(system) = self.system.as_mut() else {
            return snapshot;
        };
        system.refresh_memory_specifics(MemoryRefreshKind::everything());
        system.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        let load = System::load_average().unwrap_or_default();
        snapshot.system = SystemFigures {
            memory_total_bytes: system.total_memory(),
            memory_available_bytes: system.available_memory(),
            memory_used_bytes: system.used_memory(),
            swap_total_bytes: system.total_swap(),
            swap_used_bytes: system.used_swap(),
            cpu_usage_ratio: f64::from(system.global_cpu_usage()) / 100.0,
            load_average_1m: load.one,
            load_average_5m: load.five,
            load_average_15m: load.fifteen,
        };
        if let Some(pid) = self.pid {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing()
                    .with_memory()
                    .with_cpu()
                    .with_tasks(),
            );
            if let Some(process) = system.process(pid) {
                snapshot.process = ProcessFigures {
                    pid: pid.as_u32(),
                    resident_memory_bytes: process.memory(),
                    virtual_memory_bytes: process.virtual_memory(),
                    cpu_seconds_total: process.accumulated_cpu_time() as f64 / 1000.0,
                    start_time_seconds: process.start_time(),
                    open_fds: process.open_files().map(|n| n as u64),
                    max_fds: process.open_files_limit().map(|n| n as u64),
                    threads: process.tasks().map(|tasks| tasks.len() as u64),
                };
            }
        }
        snapshot
    }

    /// Samples now, publishes, then keeps refreshing every `interval` on a thread of its own
    /// until the last handle on the snapshot is dropped.
    pub fn start(mut self, interval: Duration) -> SharedSnapshot {
        let shared = SharedSnapshot::new(self.sample());
        let weak = shared.downgrade();
        let spawned = thread::Builder::new()
            .name("system-sampler".to_owned())
            .stack_size(256 * 1024)
            .spawn(move || {
                loop {
                    thread::sleep(interval);
                    let Some(shared) = SharedSnapshot::from_weak(&weak) else {
                        return;
                    };
                    shared.replace(self.sample());
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not start the system sampler; figures stay as first read");
        }
        shared
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}
