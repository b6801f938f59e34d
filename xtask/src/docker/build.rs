//! `docker build` as every command that builds runs it: base images resolved, the current step
//! shown, the build timed, cache hits counted, and each build recorded in the build history.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::docker;
use crate::docker::stand_ins;
use crate::git;
use crate::measure::time;
use crate::output::{self, StatusLine};
use crate::project::profile::CargoProfile;
use crate::project::variant::Variant;
use crate::records::{self, History as _};

/// Lines of build output kept to show when a build fails.
const FAILURE_CONTEXT_LINES: usize = 60;

#[derive(Debug, Clone)]
pub(crate) struct BuildRecord {
    pub(crate) variant: Variant,
    pub(crate) image_id: String,
    pub(crate) seconds: f64,
    pub(crate) cached_steps: u32,
    pub(crate) steps: u32,
    pub(crate) size_bytes: u64,
    pub(crate) buildkit: bool,
    pub(crate) no_cache: bool,
    /// The cargo profile the binary was built with.
    pub(crate) profile: String,
}

impl BuildRecord {
    /// A build told not to use the cache, or that reused no step, is cold. (With `--no-cache`,
    /// BuildKit still reports a `WORKDIR` as cached: it costs nothing either way.)
    pub(crate) fn is_cold(&self) -> bool {
        self.no_cache || self.cached_steps == 0
    }
}

/// Builds `variant` under its tag, records the build, and returns the summary line.
pub(crate) fn build_and_record(
    variant: Variant,
    context: &Path,
    profile: &CargoProfile,
    no_cache: bool,
) -> Result<String> {
    let record = build(variant, context, &variant.tag(), profile, no_cache, true)?;
    record_build(&record)?;
    Ok(format!(
        "{}: {} in {:.1} s ({}, {}/{} steps cached), {:.2} MB, {}, profile {}",
        variant.tag(),
        short_id(&record.image_id),
        record.seconds,
        if record.is_cold() { "cold" } else { "warm" },
        record.cached_steps,
        record.steps,
        output::megabytes(record.size_bytes),
        variant.dockerfile(),
        record.profile
    ))
}

pub(crate) fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Appends one build to the build history.
pub(crate) fn record_build(record: &BuildRecord) -> Result<()> {
    records::Build::append(&[records::Build {
        variant: record.variant.name().to_owned(),
        image_id: record.image_id.clone(),
        revision: git::revision(),
        seconds: (record.seconds * 10.0).round() / 10.0,
        kind: if record.is_cold() { "cold" } else { "warm" }.to_owned(),
        cached_steps: record.cached_steps,
        steps: record.steps,
        size_bytes: record.size_bytes,
        builder: builder_name(record.buildkit).to_owned(),
        profile: record.profile.clone(),
        date: time::rfc3339(time::now_unix()),
    }])
}

/// The profile `variant` builds with when `profile` is asked for: the single-stage baseline is
/// what a first tutorial writes, `cargo build --release`, whatever the multi-stage images use.
pub(crate) fn profile_for(variant: Variant, profile: &CargoProfile) -> Result<CargoProfile> {
    if variant == Variant::Single {
        CargoProfile::shipped()
    } else {
        Ok(profile.clone())
    }
}

/// Builds `variant` from the build context at `context` (the repository, or a copy of it) with
/// the cargo `profile` and tags it `tag`. `share_cache`: read and write the layer cache named by
/// `XTASK_CACHE_FROM` and `XTASK_CACHE_TO`, if set (never for timing probes, whose export would
/// be timed too).
pub(crate) fn build(
    variant: Variant,
    context: &Path,
    tag: &str,
    profile: &CargoProfile,
    no_cache: bool,
    share_cache: bool,
) -> Result<BuildRecord> {
    if variant == Variant::Single && !profile.is_shipped() {
        bail!(
            "the single-stage baseline builds with `cargo build --release`, as a first tutorial \
             writes it; `--profile {}` applies to scratch and distroless",
            profile.name
        );
    }
    let dockerfile = context.join("docker").join(variant.dockerfile());
    let builder = docker::builder::builder();
    let mut command = builder.command();
    // --force-rm: a failed step leaves no stopped container behind.
    command
        .arg("build")
        .arg("--force-rm")
        .arg("-f")
        .arg(&dockerfile)
        .args(["-t", tag]);
    if let Some(stage) = variant.stage() {
        command.args(["--target", stage]);
    }
    if no_cache {
        command.arg("--no-cache");
    }
    let buildkit = builder.buildkit;
    if buildkit {
        command.arg("--progress=plain");
    }
    if share_cache {
        command.args(shared_cache_args(builder.buildx));
    }
    eprintln!(
        "building {tag} ({}):",
        if buildkit {
            "BuildKit"
        } else {
            "legacy builder"
        }
    );
    command.args(stand_ins::build_args(variant.dockerfile())?);
    if variant != Variant::Single {
        command
            .arg("--build-arg")
            .arg(format!("CARGO_PROFILE={}", profile.name));
    }
    for (name, value) in metadata_args() {
        command.arg("--build-arg").arg(format!("{name}={value}"));
    }
    command.arg(context);

    let started = Instant::now();
    let progress = run_with_progress(&mut command, tag)?;
    let seconds = started.elapsed().as_secs_f64();
    let (image_id, size_bytes) = docker::id_and_size(tag)?;
    Ok(BuildRecord {
        variant,
        image_id,
        seconds,
        cached_steps: progress.cached,
        steps: progress.steps,
        size_bytes,
        buildkit,
        no_cache,
        profile: profile.name.clone(),
    })
}

/// A layer cache shared between CI runs (the pipeline sets `type=gha,...`): buildx flags. Such a
/// builder runs in a container, so `--load` brings the image back into the engine.
fn shared_cache_args(buildx: bool) -> Vec<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (from, to) = (var("XTASK_CACHE_FROM"), var("XTASK_CACHE_TO"));
    if from.is_none() && to.is_none() {
        return Vec::new();
    }
    if !buildx {
        eprintln!("XTASK_CACHE_FROM/XTASK_CACHE_TO ignored: they need the buildx plugin");
        return Vec::new();
    }
    let mut args = vec!["--load".to_owned()];
    args.extend(from.map(|from| format!("--cache-from={from}")));
    args.extend(to.map(|to| format!("--cache-to={to}")));
    args
}

/// How the build history names a builder.
pub(crate) fn builder_name(buildkit: bool) -> &'static str {
    if buildkit { "buildkit" } else { "legacy" }
}

/// Labels and values baked into the image and the binary.
fn metadata_args() -> Vec<(&'static str, String)> {
    crate::project::final_stage::build_args(&git::revision(), git::commit_time())
}

#[derive(Debug, Default)]
struct Progress {
    steps: u32,
    current: u32,
    cached: u32,
}

impl Progress {
    /// Reads one line of legacy (`Step 3/12 : COPY …`, ` ---> Using cache`) or BuildKit plain
    /// (`#7 [builder 3/9] COPY …`, `#7 CACHED`) output; returns the step it starts, if any.
    fn observe(&mut self, line: &str) -> Option<String> {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Step ") {
            let (position, instruction) = rest.split_once(" : ")?;
            let (current, total) = position.split_once('/')?;
            self.current = current.parse().ok()?;
            self.steps = total.parse().ok()?;
            return Some(format!(
                "step {}/{}: {instruction}",
                self.current, self.steps
            ));
        }
        if line == "---> Using cache" {
            self.cached += 1;
            return None;
        }
        if line.starts_with('#') {
            let (_, rest) = line.split_once(' ')?;
            if rest == "CACHED" {
                self.cached += 1;
                return None;
            }
            if let Some(inner) = rest.strip_prefix('[') {
                let (label, instruction) = inner.split_once("] ")?;
                let position = label.rsplit(' ').next()?;
                if let Some((_, total)) = position.split_once('/') {
                    self.current += 1;
                    self.steps = self.steps.max(total.parse().ok()?).max(self.current);
                    return Some(format!("[{label}] {instruction}"));
                }
            }
        }
        None
    }
}

fn run_with_progress(command: &mut Command, tag: &str) -> Result<Progress> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run docker build")?;
    let (sender, lines) = mpsc::channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
    }
    drop(sender);

    let status_line = StatusLine::new("  ");
    let mut progress = Progress::default();
    let mut recent: VecDeque<String> = VecDeque::with_capacity(FAILURE_CONTEXT_LINES);
    let mut current_step = String::new();
    for line in lines {
        if let Some(step) = progress.observe(&line) {
            current_step = step;
            status_line.set(&current_step);
        }
        if recent.len() == FAILURE_CONTEXT_LINES {
            recent.pop_front();
        }
        recent.push_back(strip_ansi(&line));
    }
    status_line.finish();
    let status = child.wait()?;
    if !status.success() {
        eprintln!("--- last lines of the {tag} build ---");
        for line in &recent {
            eprintln!("{line}");
        }
        bail!("building {tag} failed at {current_step:?} ({status}); its output is above");
    }
    Ok(progress)
}

/// The legacy builder colours its stderr; escape sequences are noise in a failure report.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs an engine: skips loudly without one, fails under `CI=true`.
    #[test]
    fn a_failed_build_names_the_failing_step() {
        if !docker::engine::answers() {
            assert!(
                !crate::tools::debian::is_ci(),
                "CI must provide a Docker engine"
            );
            eprintln!("SKIPPED: no Docker engine answers");
            return;
        }
        let context = crate::files::target_dir()
            .join("xtask")
            .join(format!("broken-context-{}", std::process::id()));
        std::fs::create_dir_all(context.join("docker")).expect("create context");
        std::fs::write(
            context.join("docker").join(Variant::Scratch.dockerfile()),
            "FROM scratch AS scratch\nCOPY no-such-file /app\n",
        )
        .expect("write Dockerfile");
        let error = build(
            Variant::Scratch,
            &context,
            "app:broken-build-probe",
            &CargoProfile::shipped().expect("the workspace defines release"),
            false,
            false,
        )
        .expect_err("a COPY of a missing file fails")
        .to_string();
        std::fs::remove_dir_all(&context).expect("cleanup");
        // Legacy: `step 2/2: COPY …`; BuildKit, where `FROM scratch` is no step: `[1/1] COPY …`.
        let step = if docker::builder::builder().buildkit {
            "\"[1/1] COPY no-such-file /app\""
        } else {
            "\"step 2/2: COPY no-such-file /app\""
        };
        assert_eq!(
            error,
            format!(
                "building app:broken-build-probe failed at {step} (exit status: 1); its output is above"
            )
        );
    }

    #[test]
    fn a_no_cache_build_is_cold_even_when_buildkit_reports_a_cached_workdir() {
        let record = |cached_steps, no_cache| BuildRecord {
            variant: Variant::Scratch,
            image_id: "sha256:0".to_owned(),
            seconds: 1.0,
            cached_steps,
            steps: 10,
            size_bytes: 1,
            buildkit: true,
            no_cache,
            profile: "release".to_owned(),
        };
        assert!(record(1, true).is_cold());
        assert!(record(0, false).is_cold());
        assert!(!record(1, false).is_cold());
    }

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\x1b[91m   Compiling app\x1b[0m"),
            "   Compiling app"
        );
    }

    #[test]
    fn counts_steps_and_cache_hits_in_legacy_output() {
        let mut progress = Progress::default();
        let output = "Step 1/3 : FROM scratch\n ---> \nStep 2/3 : COPY a /a\n ---> Using cache\n ---> 1234\nStep 3/3 : USER 1\n ---> Using cache\n";
        let steps: Vec<_> = output.lines().filter_map(|l| progress.observe(l)).collect();
        assert_eq!(
            steps,
            vec![
                "step 1/3: FROM scratch",
                "step 2/3: COPY a /a",
                "step 3/3: USER 1"
            ]
        );
        assert_eq!((progress.steps, progress.cached), (3, 2));
    }

    #[test]
    fn counts_steps_and_cache_hits_in_buildkit_output() {
        let mut progress = Progress::default();
        let output = "#1 [internal] load build definition\n#5 [builder 1/4] FROM rust\n#6 [builder 2/4] COPY a b\n#6 CACHED\n#7 [scratch 1/1] COPY --from=builder /app /app\n";
        let steps: Vec<_> = output.lines().filter_map(|l| progress.observe(l)).collect();
        assert_eq!(steps.len(), 3);
        assert_eq!(progress.cached, 1);
    }
}
