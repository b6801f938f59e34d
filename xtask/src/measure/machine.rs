//! The machine a measurement ran on, as reports state it beside their figures.

use std::fmt;

use serde::Serialize;

/// CPU, cores, memory and kernel, read from `/proc` (unknown parts stay empty or 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) logical_cpus: usize,
    pub(crate) memory_bytes: u64,
    pub(crate) kernel: String,
}

impl Machine {
    pub(crate) fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let logical_cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let memory_kb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines().find_map(|l| {
                    l.strip_prefix("MemTotal:")?
                        .split_whitespace()
                        .next()?
                        .parse::<u64>()
                        .ok()
                })
            })
            .unwrap_or(0);
        Self {
            cpu,
            logical_cpus,
            memory_bytes: memory_kb * 1024,
            kernel: kernel.trim().to_owned(),
        }
    }
}

impl fmt::Display for Machine {
    /// `2 logical CPUs (AMD EPYC 7B13), 8 GiB RAM, Linux 6.1.0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} logical CPUs ({}), {:.0} GiB RAM, Linux {}",
            self.logical_cpus,
            self.cpu,
            self.memory_bytes as f64 / (1024.0 * 1024.0 * 1024.0),
            self.kernel
        )
    }
}
