//! From nothing to the table on a truly fresh machine: the README's main command, unchanged, in
//! a container that holds Debian, the Rust toolchain and the repository's tracked files, and
//! nothing else (no Docker, no debootstrap, no wrk). It must install and start its own engine,
//! build its own base images, time every rebuild and cold pull, and print the comparison, with
//! a numbered line per step on stderr and the installs' output in the setup log. Its time in
//! minutes is printed: the figure a newcomer waits through.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::files::{project_root, target_dir};
use crate::support::needs::{docker_exclusive, tools_available};
use crate::support::process::{stdout, succeeds, xtask};

/// What the README tells a newcomer to run, exactly.
const COMMAND: &[&str] = &["cargo", "xtask", "compare", "--yes"];

/// A hang guard, not a timing target: the run's minutes are printed, never judged. Twice what
/// a fresh 2-core machine takes, for a machine shared with other builds.
const TIME_LIMIT: Duration = Duration::from_mins(30);

/// The steps `compare` counts with the rebuilds and the cold pulls timed: the engine and the
/// tools, the base images, then a build, a rebuild and a cold pull of each of four images.
const STEPS: usize = 14;

/// Where the repository's files are put inside the machine.
const PROJECT_DIR: &str = "project";

pub(crate) fn compare_gets_from_nothing_to_the_table_on_a_fresh_machine() {
    let Some(_engine) = docker_exclusive(
        "compare_gets_from_nothing_to_the_table_on_a_fresh_machine",
        &["git"],
    ) else {
        return;
    };
    let started = Instant::now();
    let Some(stand_ins) = stand_ins() else {
        return;
    };
    let image = &stand_ins["RUST_IMAGE"];
    eprintln!(
        "fresh machine: {image} ready after {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let machine = FreshMachine::create(image);
    machine.copy_in(&tracked_files_archive());
    let run_started = Instant::now();
    let (status, out, err) = machine.run();
    let minutes = run_started.elapsed().as_secs_f64() / 60.0;
    eprintln!(
        "fresh machine: `{}` took {minutes:.1} min",
        COMMAND.join(" ")
    );
    let status = status.unwrap_or_else(|| {
        panic!(
            "`{}` did not finish within {} min on the fresh machine",
            COMMAND.join(" "),
            TIME_LIMIT.as_secs() / 60
        )
    });
    assert_eq!(
        status,
        0,
        "`{}` failed on the fresh machine (its output is above)",
        COMMAND.join(" ")
    );

    // What a newcomer sees happen: the engine installed and started, the base images built,
    // each step numbered, and where the installs' output went.
    for sign in [
        "installing Debian packages: docker.io",
        "starting dockerd",
        "dockerd answers after",
        "xtask/setup.log",
    ] {
        assert!(
            err.contains(sign),
            "no `{sign}` on the fresh machine:\n{err}"
        );
    }
    assert_steps(&err);
    if err.contains("no registry serves") {
        assert!(
            err.contains("installing Debian packages: debootstrap"),
            "the fresh machine did not install debootstrap for its base images:\n{err}"
        );
        // The images' bases only: the stack's are built when the stack needs them.
        for (variable, tag) in &stand_ins {
            let built = err.contains(&format!("{tag}: building"));
            let needed = [
                "DEBIAN_IMAGE",
                "RUST_IMAGE",
                "BUILDER_IMAGE",
                "DISTROLESS_IMAGE",
            ]
            .contains(&variable.as_str());
            assert_eq!(
                built, needed,
                "the fresh machine built {tag} ({variable}): {built}; compare needs it: {needed}\n{err}"
            );
        }
    } else {
        assert!(
            err.contains("(the public image, just pulled)"),
            "the fresh machine neither pulled nor built its base images:\n{err}"
        );
    }
    assert_table(&out);
}

/// The local stand-ins by variable (`RUST_IMAGE` and so on), built if missing: `bases` keeps
/// what exists and prints every tag. `None` when they are missing and cannot be built here.
fn stand_ins() -> Option<HashMap<String, String>> {
    let output = xtask(&["bases"]).run();
    if !output.status.success() {
        // Building them needs debootstrap on this machine, which says so when it is missing.
        if !tools_available("the fresh machine's image", &["debootstrap"]) {
            return None;
        }
        panic!("`cargo xtask bases` failed (its output is above)");
    }
    let listed: HashMap<String, String> = stdout(&output)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("export ")?.split_once('='))
        .map(|(variable, tag)| (variable.to_owned(), tag.to_owned()))
        .collect();
    assert!(
        listed.contains_key("RUST_IMAGE"),
        "`cargo xtask bases` names no RUST_IMAGE:\n{}",
        stdout(&output)
    );
    Some(listed)
}

/// The files git tracks, as they are in the working tree, under [`PROJECT_DIR`] in a tar archive:
/// what a clone holds, without `target/` or anything untracked.
fn tracked_files_archive() -> Vec<u8> {
    let root = project_root();
    let listing = succeeds(
        Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(&root),
    );
    let mut archive = tar::Builder::new(Vec::new());
    // Owned by root with plain modes, whoever runs the test; links stay links.
    archive.mode(tar::HeaderMode::Deterministic);
    archive.follow_symlinks(false);
    for path in String::from_utf8_lossy(&listing.stdout)
        .split('\0')
        .filter(|path| !path.is_empty())
    {
        let file = root.join(path);
        // Deleted in the working tree but not yet in git: a clone of the next commit lacks it too.
        if file.symlink_metadata().is_err() {
            continue;
        }
        archive
            .append_path_with_name(&file, Path::new(PROJECT_DIR).join(path))
            .unwrap_or_else(|e| panic!("cannot archive {path}: {e}"));
    }
    archive.into_inner().expect("the archive is written")
}

/// A container set up as a fresh machine, and the host directory its engine keeps images in;
/// both removed when the test ends, however it ends.
struct FreshMachine {
    name: String,
    image: String,
    data_dir: PathBuf,
}

impl FreshMachine {
    fn create(image: &str) -> Self {
        let name = format!(
            "fresh-machine-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("the clock is past 1970")
                .as_millis()
        );
        let machines = target_dir().join("fresh-machines");
        fs::create_dir_all(&machines).expect("the target directory is writable");
        // On the host's disk, not in the container's own layer: the inner engine's overlay2
        // needs a real filesystem under it, and its gigabytes must not sit in memory.
        let data_dir = machines
            .canonicalize()
            .expect("the directory just created exists")
            .join(&name);
        fs::create_dir(&data_dir).expect("a new directory for the inner engine");
        let machine = Self {
            name,
            image: image.to_owned(),
            data_dir,
        };
        // The capabilities a Docker engine needs, all but CAP_SYS_RESOURCE, which the VMs this
        // runs on withhold (so `--privileged` fails); the host's cgroups for its containers.
        succeeds(
            Command::new("docker")
                .args(["create", "--name", &machine.name])
                .args(["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"])
                .args(["--security-opt", "seccomp=unconfined"])
                .args(["--security-opt", "apparmor=unconfined"])
                .args(["--cgroupns", "host"])
                .args(["--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw"])
                .arg("--volume")
                .arg(format!("{}:/var/lib/docker", machine.data_dir.display()))
                // The cold-pull engines' data roots live under target/xtask. A machine's disk
                // takes overlay2; a container's own layer does not (overlay on overlay), so
                // that folder gets memory of its own instead: nothing from the host. (Not
                // `nodev`, the default: `bases` runs debootstrap there.)
                .arg("--tmpfs")
                .arg(format!(
                    "/{PROJECT_DIR}/target/xtask:rw,exec,dev,suid,size=8g"
                ))
                .args(["--workdir", &format!("/{PROJECT_DIR}")])
                .arg(image)
                .args(COMMAND),
        );
        machine
    }

    /// Copies a tar archive into the machine's root: no mount of the repository, so nothing the
    /// run writes reaches the host's checkout, and nothing untracked reaches the run.
    fn copy_in(&self, archive: &[u8]) {
        let mut copy = Command::new("docker")
            .args(["cp", "-", &format!("{}:/", self.name)])
            .stdin(Stdio::piped())
            .spawn()
            .expect("docker cp starts");
        copy.stdin
            .take()
            .expect("piped stdin")
            .write_all(archive)
            .expect("docker cp reads the archive");
        assert!(
            copy.wait().expect("docker cp runs").success(),
            "docker cp into {} failed",
            self.name
        );
    }

    /// Starts the machine's command and waits for it within [`TIME_LIMIT`], echoing its output
    /// as it comes (a ten-minute run should show where it is). Returns the exit code (`None`
    /// when it ran out of time), stdout and stderr.
    fn run(&self) -> (Option<i32>, String, String) {
        let mut attached = Command::new("docker")
            .args(["start", "--attach", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker start runs");
        let started = Instant::now();
        let out = echo(
            attached.stdout.take().expect("piped stdout"),
            "out",
            started,
        );
        let err = echo(
            attached.stderr.take().expect("piped stderr"),
            "err",
            started,
        );
        let deadline = started + TIME_LIMIT;
        let finished = loop {
            if let Some(status) = attached.try_wait().expect("docker start can be waited on") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = Command::new("docker").args(["kill", &self.name]).output();
                let _ = attached.wait();
                break None;
            }
            thread::sleep(Duration::from_secs(1));
        };
        let out = out.recv().unwrap_or_default();
        let err = err.recv().unwrap_or_default();
        let code = finished.map(|_| self.exit_code());
        (code, out, err)
    }

    /// The command's own exit code, as the engine recorded it.
    fn exit_code(&self) -> i32 {
        let inspected = succeeds(Command::new("docker").args([
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            &self.name,
        ]));
        stdout(&inspected)
            .trim()
            .parse()
            .expect("docker inspect prints the exit code")
    }
}

impl Drop for FreshMachine {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "--force", &self.name])
            .output();
        // The inner engine wrote files as root; when this test does not run as root, a container
        // removes them.
        if fs::remove_dir_all(&self.data_dir).is_err()
            && let (Some(parent), Some(name)) = (self.data_dir.parent(), self.data_dir.file_name())
        {
            let _ = Command::new("docker")
                .args(["run", "--rm", "--volume"])
                .arg(format!("{}:/machines", parent.display()))
                .arg(&self.image)
                .args(["rm", "-rf"])
                .arg(Path::new("/machines").join(name))
                .output();
        }
    }
}

/// Echoes each line of `stream` to the test log as it arrives, tagged with `label` and the
/// seconds since `started` (which step costs what in CI); the receiver gets the whole text when
/// the stream ends.
fn echo(
    stream: impl Read + Send + 'static,
    label: &'static str,
    started: Instant,
) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let seconds = started.elapsed().as_secs();
            eprintln!("fresh machine {seconds:>4} s {label}| {line}");
            text.push_str(&line);
            text.push('\n');
        }
        let _ = sender.send(text);
    });
    receiver
}

/// One line per step, numbered in order up to the one total counted before the first:
/// `[ 4/14] building app:distroless`.
fn assert_steps(err: &str) {
    let numbers: Vec<usize> = err
        .lines()
        .filter_map(|line| {
            let (counter, _) = line.strip_prefix('[')?.split_once("] ")?;
            let (number, total) = counter.trim_start().split_once('/')?;
            assert_eq!(total, STEPS.to_string(), "a step of another count: {line}");
            number.parse().ok()
        })
        .collect();
    assert_eq!(
        numbers,
        (1..=STEPS).collect::<Vec<_>>(),
        "the steps on stderr:\n{err}"
    );
}

/// The comparison table, alone on stdout (what was installed on the way reports on stderr): one
/// column per image, and a size line where each slim image is a sliver of the single-stage one.
fn assert_table(table: &str) {
    // Before the table, at most the report's one line on where and how it was measured.
    let before: Vec<&str> = table
        .lines()
        .take_while(|line| !line.starts_with("image "))
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(
        before.len() <= 1,
        "stdout holds more than the report:\n{table}"
    );
    let images = table
        .lines()
        .find_map(|line| line.strip_prefix("image "))
        .unwrap_or_else(|| panic!("no table on stdout:\n{table}"));
    let images: Vec<&str> = images.split_whitespace().collect();
    assert_eq!(
        images,
        [
            "app:single-stage",
            "app:scratch",
            "app:distroless",
            "app:scratch-daemonless"
        ],
        "{table}"
    );
    let sizes = row_figures(table, "size", &[("GB", 1e9), ("MB", 1e6), ("kB", 1e3)]);
    assert_eq!(sizes.len(), 4, "{table}");
    for (image, size) in images.iter().zip(&sizes).skip(1) {
        assert!(
            *size * 10.0 < sizes[0],
            "{image} ({size} bytes) is not a fraction of the single-stage image:\n{table}"
        );
    }
    // Each image pulled from a registry on loopback into a second engine with no layers, on the
    // fresh machine too: the one-file image serves sooner than the 1.3 GB one.
    let pulls = row_figures(table, "cold pull → serving", &[("s", 1.0)]);
    assert_eq!(pulls.len(), 4, "{table}");
    assert!(
        pulls.iter().all(|s| *s > 0.0) && pulls[1] < pulls[0],
        "cold pulls {pulls:?}:\n{table}"
    );
}

/// The numbers of the table's row `label` (`2.56 MB`, `0.48 s`), each scaled by its unit.
fn row_figures(table: &str, label: &str, units: &[(&str, f64)]) -> Vec<f64> {
    table
        .lines()
        .filter_map(|line| line.strip_prefix(label))
        .find(|rest| {
            rest.starts_with(' ') && rest.trim_start().starts_with(|c: char| c.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no {label} line in the table:\n{table}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|figure| match figure {
            [number, unit] => {
                let number: f64 = number.parse().expect("a figure");
                let scale = units
                    .iter()
                    .find(|(name, _)| name == unit)
                    .unwrap_or_else(|| panic!("unknown unit {unit} in {label}:\n{table}"))
                    .1;
                number * scale
            }
            _ => panic!("a {label} figure without its unit:\n{table}"),
        })
        .collect()
}
