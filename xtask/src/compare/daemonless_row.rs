//! The daemonless scratch image as a row beside the Dockerfile's: built by `build
//! --daemonless`'s code from this checkout (cold in a target directory of its own when
//! `--rebuild` asks or no cold build is on record, else incrementally there), put in the engine
//! so that every figure is measured as the others are ([`make`]); and, unless rebuild timing is
//! skipped, built again clean from the rebuild probe's copy (the same digest, or not
//! reproducible) and once more after a source edit ([`time_rebuild`]).

use std::time::Instant;

use anyhow::{Context, Result};

use super::rebuild::ContextCopy;
use super::{DAEMONLESS_SCRATCH, Reproducible};
use crate::measure::time;
use crate::oci::builder::{self, Source};
use crate::project::variant::Variant;
use crate::records::{self, History as _};

/// The builder the build history names for daemonless builds.
const BUILDER: &str = "daemonless";

/// What the daemonless build of this run gave.
pub(super) struct Made {
    pub(super) cold_build_seconds: Option<f64>,
    /// The checkout's sources, as built.
    source: Source,
    /// The built image's manifest digest.
    digest: String,
}

/// What the rebuild probe's builds gave.
pub(super) struct Timed {
    pub(super) rebuild_seconds: f64,
    pub(super) reproducible: Reproducible,
}

/// Builds the image, loads it as `app:scratch-daemonless`, and times its build.
pub(super) fn make(rebuild: bool, builds: &[records::Build]) -> Result<Made> {
    let source = Source::checkout()?;
    let profile = crate::project::profile::SHIPPED;
    let last_cold = builds
        .iter()
        .rev()
        .find(|b| {
            b.variant == DAEMONLESS_SCRATCH
                && b.kind == "cold"
                && b.builder == BUILDER
                && b.profile == profile
        })
        .map(|b| b.seconds);
    let target = crate::files::target_dir()
        .join("xtask")
        .join("daemonless-target");
    let cold = rebuild || last_cold.is_none();
    if cold && target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("cannot clear {}", target.display()))?;
    }
    eprintln!(
        "  building without Docker ({})",
        if cold {
            "cold, in a target directory of its own"
        } else {
            "on the cargo cache of an earlier run"
        }
    );
    let started = Instant::now();
    let built = builder::build(Variant::Scratch, &source, &target)?;
    let seconds = started.elapsed().as_secs_f64();
    let name = builder::image_name(Variant::Scratch);
    builder::load(&built.image, &name)?;
    records::Build::append(&[records::Build {
        date: time::rfc3339(time::now_unix()),
        variant: DAEMONLESS_SCRATCH.to_owned(),
        image_id: built.image.config.digest(),
        revision: source.revision.clone(),
        seconds: (seconds * 10.0).round() / 10.0,
        kind: if cold { "cold" } else { "warm" }.to_owned(),
        cached_steps: 0,
        steps: 0,
        size_bytes: std::fs::metadata(&built.binary).map_or(0, |m| m.len()),
        builder: BUILDER.to_owned(),
        profile: profile.to_owned(),
    }])?;

    Ok(Made {
        cold_build_seconds: if cold { Some(seconds) } else { last_cold },
        digest: built.image.digest(),
        source,
    })
}

/// Builds the image again, clean, from the copy at another path (the same digest, or not
/// reproducible), then after a source edit there, timed.
pub(super) fn time_rebuild(copy: &ContextCopy, made: &Made) -> Result<Timed> {
    let (again, rebuild_seconds) = copy.daemonless_builds(&made.source)?;
    let reproducible = if again.digest() == made.digest {
        Reproducible::Yes("digest".to_owned())
    } else {
        Reproducible::No(format!(
            "digest {} ≠ {}",
            short(&made.digest),
            short(&again.digest())
        ))
    };
    Ok(Timed {
        rebuild_seconds,
        reproducible,
    })
}

/// Whether the last two cold builds of `variant`'s Dockerfile at `revision` (the measured
/// image's) (with this profile
/// and builder) gave one image ID. No build is spent on it: `compare --rebuild` makes one, an
/// earlier `build` or `compare` the other.
pub(super) fn dockerfile_reproducible(
    variant: Variant,
    revision: &str,
    profile: &str,
    builder: &str,
    builds: &[records::Build],
) -> Reproducible {
    let cold: Vec<&str> = builds
        .iter()
        .rev()
        .filter(|b| {
            b.variant == variant.name()
                && b.kind == "cold"
                && b.revision == revision
                && b.profile == profile
                && b.builder == builder
        })
        .map(|b| b.image_id.as_str())
        .take(2)
        .collect();
    match cold.as_slice() {
        [last, before] if last == before => Reproducible::Yes("image ID".to_owned()),
        [last, before] => Reproducible::No(format!("image ID {} ≠ {}", short(before), short(last))),
        _ => Reproducible::Unknown(format!(
            "not known: {} cold build of {revision}",
            cold.len()
        )),
    }
}

/// The first 12 hex digits of a digest.
fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(variant: &str, revision: &str, id: &str, kind: &str) -> records::Build {
        records::Build {
            date: String::new(),
            variant: variant.to_owned(),
            image_id: id.to_owned(),
            revision: revision.to_owned(),
            seconds: 40.0,
            kind: kind.to_owned(),
            cached_steps: 0,
            steps: 10,
            size_bytes: 1,
            builder: "buildkit".to_owned(),
            profile: "release".to_owned(),
        }
    }

    #[test]
    fn dockerfile_images_compare_their_last_two_cold_builds_of_the_revision() {
        let check = |builds: &[records::Build]| {
            dockerfile_reproducible(Variant::Scratch, "abc", "release", "buildkit", builds)
        };
        let one = [build("scratch", "abc", "sha256:1", "cold")];
        assert!(matches!(check(&one), Reproducible::Unknown(_)));
        let warm_and_other = [
            build("scratch", "abc", "sha256:1", "cold"),
            build("scratch", "abc", "sha256:2", "warm"),
            build("scratch", "old", "sha256:3", "cold"),
            build("distroless", "abc", "sha256:4", "cold"),
        ];
        assert!(matches!(check(&warm_and_other), Reproducible::Unknown(_)));
        let same = [
            build("scratch", "abc", "sha256:1", "cold"),
            build("scratch", "abc", "sha256:1", "cold"),
        ];
        assert!(matches!(check(&same), Reproducible::Yes(_)));
        let differ = [
            build("scratch", "abc", "sha256:1", "cold"),
            build("scratch", "abc", "sha256:2", "cold"),
        ];
        assert_eq!(
            check(&differ),
            Reproducible::No("image ID 1 ≠ 2".to_owned())
        );
    }
}
