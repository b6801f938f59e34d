//! A second Docker engine beside the first: Docker 25 or later
//! ([`crate::tools::second_docker`]) on a fresh, empty data root of its own, with its own exec root, pid file, socket and log, started
//! for a job and gone with it. Two jobs need one: `docker save` from Docker 25 and later writes
//! the OCI image layout, which the first engine (Debian bookworm's 20.10) cannot; and a cold
//! `docker pull` + `docker run` needs an engine that holds no layers yet.
//!
//! It must not disturb the first engine:
//! - no iptables rules, no IP forwarding changes (`--iptables=false`, `--ip6tables=false`,
//!   `--ip-forward=false`); containers in it run with `--network host`;
//! - a bridge of its own, created here and deleted when it stops. `--bridge none` is not an
//!   option: a daemon started with it deletes the host's `docker0` (moby removes "the default
//!   bridge" when the bridge is disabled), which cuts the first engine's containers off.
//! - an empty `daemon.json`, so the first engine's `/etc/docker/daemon.json` (hosts, bridge,
//!   data root) does not apply to it.
//!
//! A registry on 127.0.0.1 needs no TLS (127.0.0.0/8 is insecure-allowed by default), so a
//! local registry serves cold pulls.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{self, wait};
use crate::tools;

/// The longest socket the daemon opens below its folder (its managed containerd's); a unix
/// socket's path has at most 107 bytes.
const LONGEST_SOCKET: &str = "exec/containerd/containerd.sock.ttrpc";
const SOCKET_PATH_MAX: usize = 107;
const START_TIMEOUT: Duration = Duration::from_mins(1);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running second engine. Run the docker CLI against it with [`SecondEngine::docker`]; run
/// containers in it with `--network host`. Dropping it stops the daemon and removes its folder.
#[derive(Debug)]
pub(crate) struct SecondEngine {
    daemon: Child,
    folder: PathBuf,
    socket: PathBuf,
    bridge: Option<String>,
    version: String,
    started_in: Duration,
}

impl SecondEngine {
    /// Makes sure an engine can start here (root, and the programs, installed through the
    /// tools door), before a command spends minutes on work that needs one at the end.
    pub(crate) fn prepare() -> Result<tools::second_docker::SecondDocker> {
        if !tools::debian::is_root() {
            bail!("{NEEDS_ROOT}");
        }
        tools::require(&["containerd", "runc", "ip", "kill", "umount"])?;
        tools::second_docker::require()
    }

    /// Starts Docker 25+ on an empty data root and waits until it answers. Installs what it
    /// needs through the tools door (`--yes` or `CI=true`, as root).
    pub(crate) fn start() -> Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let docker26 = Self::prepare()?;
        let instance = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // Owns the folder (and then the bridge) from here on: a failure below leaves neither.
        let folder = scratch_folder(&format!("second-engine-{instance}"));
        let mut made = Made {
            folder: Some(folder.clone()),
            bridge: None,
        };
        let _ = fs::remove_dir_all(&folder);
        for sub in ["data", "exec"] {
            fs::create_dir_all(folder.join(sub))
                .with_context(|| format!("cannot create {}", folder.join(sub).display()))?;
        }
        fs::write(folder.join("daemon.json"), "{}\n")?;
        let log_path = crate::files::target_dir()
            .join("xtask")
            .join("second-engine.log");
        let log = File::create(&log_path)
            .with_context(|| format!("cannot write {}", log_path.display()))?;
        // At most 15 bytes, an interface name's limit.
        let bridge = format!("xt{instance}");
        process::capture(Command::new("ip").args(["link", "add", &bridge, "type", "bridge"]))
            .context("cannot create the second engine's bridge")?;
        made.bridge = Some(bridge.clone());
        let socket = folder.join("docker.sock");
        let mut dockerd = dockerd_command(&docker26, &folder, &socket, &bridge)?;
        dockerd.stdout(log.try_clone()?).stderr(log);
        let started = Instant::now();
        let daemon = dockerd
            .spawn()
            .context("cannot start the second engine's dockerd")?;
        // The engine owns folder and bridge now.
        let bridge = made.bridge.take();
        made.folder = None;
        // From here on, dropping `engine` cleans up, whatever fails.
        let mut engine = Self {
            daemon,
            folder,
            socket,
            bridge,
            version: String::new(),
            started_in: Duration::ZERO,
        };
        let answered = wait::until(START_TIMEOUT, Duration::from_millis(100), || {
            if let Some(status) = engine.daemon.try_wait()? {
                bail!(
                    "the second engine's dockerd exited with {status}; see {}",
                    log_path.display()
                );
            }
            let output = engine
                .docker()
                .args(["version", "--format", "{{.Server.Version}}"])
                .stdin(Stdio::null())
                .output()
                .context("cannot run the docker CLI")?;
            Ok(output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned()))
        })?;
        let Some(version) = answered else {
            bail!(
                "the second engine did not answer within {} s; see {}",
                START_TIMEOUT.as_secs(),
                log_path.display()
            );
        };
        engine.version = version;
        engine.started_in = started.elapsed();
        eprintln!(
            "second engine: Docker {} answers after {:.1} s on {}",
            engine.version,
            engine.started_in.as_secs_f64(),
            engine.host()
        );
        Ok(engine)
    }

    /// The engine's address, as `DOCKER_HOST` or `docker -H` take it.
    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The docker CLI, talking to this engine.
    pub(crate) fn docker(&self) -> Command {
        super::docker_at(Some(&self.host()))
    }

    /// The engine's version, as it reports it (`26.1.5+dfsg1`).
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// From starting dockerd to its first answer.
    pub(crate) fn started_in(&self) -> Duration {
        self.started_in
    }

    /// SIGTERM, so the daemon stops its containerd and containers; SIGKILL if it lingers.
    fn stop_daemon(&mut self) {
        if matches!(self.daemon.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.daemon.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let exited = wait::until(STOP_TIMEOUT, Duration::from_millis(100), || {
            Ok(self.daemon.try_wait()?.map(|_| ()))
        });
        if !matches!(exited, Ok(Some(()))) {
            eprintln!("warning: the second engine ignored SIGTERM; killing it");
            let _ = self.daemon.kill();
            let _ = self.daemon.wait();
            // A killed dockerd leaves the containerd it started running.
            if let Ok(pid) = fs::read_to_string(self.folder.join("exec/containerd/containerd.pid"))
            {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
        }
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        self.stop_daemon();
        // The daemon leaves its network namespace mounted (and, if killed, container layers).
        for mount_point in mounts_below(&self.folder) {
            let _ = Command::new("umount")
                .arg("--lazy")
                .arg(&mount_point)
                .stderr(Stdio::null())
                .status();
        }
        if let Some(bridge) = self.bridge.take() {
            let _ = process::capture(Command::new("ip").args(["link", "delete", &bridge]));
        }
        if let Err(error) = fs::remove_dir_all(&self.folder) {
            eprintln!(
                "warning: cannot remove the second engine's folder {}: {error}",
                self.folder.display()
            );
        }
    }
}

/// `dockerd` on the folder's data root, exec root, pid file, empty `daemon.json` and socket,
/// with `bridge` and no iptables or forwarding changes.
fn dockerd_command(
    docker26: &tools::second_docker::SecondDocker,
    folder: &Path,
    socket: &Path,
    bridge: &str,
) -> Result<Command> {
    // Its own docker-proxy first; bookworm's containerd and runc after it.
    let path = process::path_with_first(docker26.sbin())?;
    let mut dockerd = Command::new(docker26.dockerd());
    dockerd
        .arg("--data-root")
        .arg(folder.join("data"))
        .arg("--exec-root")
        .arg(folder.join("exec"))
        .arg("--pidfile")
        .arg(folder.join("docker.pid"))
        .arg("--config-file")
        .arg(folder.join("daemon.json"))
        .arg("--host")
        .arg(format!("unix://{}", socket.display()))
        .args(["--bridge", bridge])
        .args([
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
        ])
        .env("PATH", path)
        .stdin(Stdio::null());
    Ok(dockerd)
}

/// Why the second engine cannot start without root, and what to do.
pub(crate) const NEEDS_ROOT: &str = "the second engine is a dockerd of its own, with a bridge of \
     its own, which needs root: run as root (`compare --skip-pull-timing` does without it)";

/// What [`SecondEngine::start`] made before the engine owns it: removed if the start fails.
struct Made {
    folder: Option<PathBuf>,
    bridge: Option<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        if let Some(bridge) = self.bridge.take() {
            let _ = process::capture(Command::new("ip").args(["link", "delete", &bridge]));
        }
        if let Some(folder) = self.folder.take() {
            let _ = fs::remove_dir_all(folder);
        }
    }
}

/// A folder for the engine under the target directory, or under the temporary directory when
/// the target directory's path is too long for the sockets inside it.
fn scratch_folder(name: &str) -> PathBuf {
    let under_target = crate::files::target_dir().join("xtask").join(name);
    if under_target.join(LONGEST_SOCKET).as_os_str().len() <= SOCKET_PATH_MAX {
        under_target
    } else {
        std::env::temp_dir().join(name)
    }
}

/// The mount points at or below `folder`, deepest first.
fn mounts_below(folder: &Path) -> Vec<PathBuf> {
    mount_points(
        &fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
        folder,
    )
}

/// The mount points (the fifth field of each mountinfo line, octal escapes decoded) at or
/// below `folder`, deepest first.
fn mount_points(mountinfo: &str, folder: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|path| path.starts_with(folder))
        .collect();
    found.sort_by_key(|path| std::cmp::Reverse(path.as_os_str().len()));
    found
}

/// mountinfo writes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        if let Some(byte) = code.and_then(|digits| u8::from_str_radix(digits, 8).ok()) {
            out.push(char::from(byte));
            rest = &rest[at + 4..];
        } else {
            out.push('\\');
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mounts_it_leaves_deepest_first() {
        let mountinfo = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
500 22 0:4 net:[4026532300] /t/xtask/second-engine-1-0/exec/netns/default rw - nsfs nsfs rw
501 22 0:50 / /t/xtask/second-engine-1-0/data/overlay2/abc/merged rw - overlay overlay rw
502 22 0:51 / /t/xtask/second-engine-1-00/exec rw - tmpfs tmpfs rw
503 22 0:52 / /t/xtask/second-engine-1-0/with\\040space rw - tmpfs tmpfs rw
";
        let folder = Path::new("/t/xtask/second-engine-1-0");
        assert_eq!(
            mount_points(mountinfo, folder),
            [
                folder.join("data/overlay2/abc/merged"),
                folder.join("exec/netns/default"),
                folder.join("with space"),
            ]
        );
    }
}
