//! Container limits from the cgroup filesystem (v2, or v1 on older hosts).
//!
//! No cgroups crate: the ones there are manage cgroups (create, attach, set limits); reading a
//! memory and a CPU limit is a few small files.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// v1 reports "no limit" as a huge page-aligned number rather than `max`.
const V1_UNLIMITED_THRESHOLD: u64 = 1 << 60;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerLimits {
    pub cgroup_version: u8,
    /// `None` when the cgroup sets no memory limit.
    pub memory_limit_bytes: Option<u64>,
    /// CPU quota in cores (`quota / period`); `None` when unlimited.
    pub cpu_quota_cores: Option<f64>,
}

/// Reads the limits of the cgroup this process belongs to, or `None` outside any cgroup.
pub fn read_limits() -> Option<ContainerLimits> {
    read_limits_under(
        Path::new("/sys/fs/cgroup"),
        &fs::read_to_string("/proc/self/cgroup").ok()?,
    )
}

/// `root` is the cgroup mount; `membership` the content of `/proc/self/cgroup`.
pub fn read_limits_under(root: &Path, membership: &str) -> Option<ContainerLimits> {
    if root.join("cgroup.controllers").exists() {
        let path = membership
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .unwrap_or("/");
        let dir = cgroup_dir(root, path, "memory.max");
        return Some(ContainerLimits {
            cgroup_version: 2,
            memory_limit_bytes: read_trimmed(&dir.join("memory.max")).and_then(|v| v.parse().ok()),
            cpu_quota_cores: read_trimmed(&dir.join("cpu.max")).and_then(|v| {
                let mut parts = v.split_whitespace();
                let quota = parts.next()?.parse::<f64>().ok()?;
                let period = parts.next()?.parse::<f64>().ok()?;
                (period > 0.0).then(|| quota / period)
            }),
        });
    }
    let memory_root = root.join("memory");
    if !memory_root.exists() {
        return None;
    }
    let memory_path = v1_path(membership, "memory");
    let memory_dir = cgroup_dir(&memory_root, &memory_path, "memory.limit_in_bytes");
    let cpu_root = root.join("cpu");
    let cpu_dir = cgroup_dir(&cpu_root, &v1_path(membership, "cpu"), "cpu.cfs_quota_us");
    Some(ContainerLimits {
        cgroup_version: 1,
        memory_limit_bytes: read_trimmed(&memory_dir.join("memory.limit_in_bytes"))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|limit| *limit < V1_UNLIMITED_THRESHOLD),
        cpu_quota_cores: {
            let quota =
                read_trimmed(&cpu_dir.join("cpu.cfs_quota_us")).and_then(|v| v.parse::<i64>().ok());
            let period = read_trimmed(&cpu_dir.join("cpu.cfs_period_us"))
                .and_then(|v| v.parse::<i64>().ok());
            match (quota, period) {
                (Some(quota), Some(period)) if quota > 0 && period > 0 => {
                    Some(quota as f64 / period as f64)
                }
                _ => None,
            }
        },
    })
}

/// Inside a container the cgroup namespace makes our cgroup the mount's root; on a host it is
/// a sub-directory. Prefer the sub-directory when it holds the file.
fn cgroup_dir(root: &Path, path: &str, probe: &str) -> PathBuf {
    let nested = root.join(path.trim_start_matches('/'));
    if nested.join(probe).exists() {
        nested
    } else {
        root.to_path_buf()
    }
}

fn v1_path(membership: &str, controller: &str) -> String {
    membership
        .lines()
        .find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_owned())
        })
        .unwrap_or_else(|| "/".to_owned())
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, content: &str) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().expect("has parent")).expect("create dirs");
        fs::write(path, content).expect("write file");
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("app-cgroup-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn v2_limits_inside_a_container() {
        let root = scratch_dir("v2");
        write(&root, "cgroup.controllers", "cpu memory");
        write(&root, "memory.max", "67108864\n");
        write(&root, "cpu.max", "50000 100000\n");
        let limits = read_limits_under(&root, "0::/\n").expect("v2 detected");
        assert_eq!(
            limits,
            ContainerLimits {
                cgroup_version: 2,
                memory_limit_bytes: Some(64 * 1024 * 1024),
                cpu_quota_cores: Some(0.5),
            }
        );
        fs::remove_dir_all(root).expect("cleanup");
    }

    #[test]
    fn v2_unlimited_on_a_host_sub_cgroup() {
        let root = scratch_dir("v2host");
        write(&root, "cgroup.controllers", "cpu memory");
        write(&root, "user.slice/memory.max", "max\n");
        write(&root, "user.slice/cpu.max", "max 100000\n");
        let limits = read_limits_under(&root, "0::/user.slice\n").expect("v2 detected");
        assert_eq!(limits.memory_limit_bytes, None);
        assert_eq!(limits.cpu_quota_cores, None);
        fs::remove_dir_all(root).expect("cleanup");
    }

    #[test]
    fn v1_limits_and_unlimited_sentinel() {
        let root = scratch_dir("v1");
        write(
            &root,
            "memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(&root, "cpu/cpu.cfs_quota_us", "150000\n");
        write(&root, "cpu/cpu.cfs_period_us", "100000\n");
        let limits =
            read_limits_under(&root, "4:memory:/\n3:cpu,cpuacct:/\n").expect("v1 detected");
        assert_eq!(limits.cgroup_version, 1);
        assert_eq!(limits.memory_limit_bytes, None);
        assert_eq!(limits.cpu_quota_cores, Some(1.5));
        fs::remove_dir_all(root).expect("cleanup");
    }

    #[test]
    fn no_cgroup_filesystem_means_no_limits() {
        let root = scratch_dir("none");
        fs::create_dir_all(&root).expect("create");
        assert_eq!(read_limits_under(&root, ""), None);
        fs::remove_dir_all(root).expect("cleanup");
    }
}
