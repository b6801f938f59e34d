//! The images this project builds: the single-stage baseline and the two multi-stage targets.

use std::fmt;

/// Local repository the images are tagged into: `app:scratch`, `app:distroless`, `app:single-stage`.
pub(crate) const IMAGE_REPOSITORY: &str = "app";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Single,
    Scratch,
    Distroless,
}

impl Variant {
    pub(crate) const ALL: [Self; 3] = [Self::Single, Self::Scratch, Self::Distroless];

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "single" | "single-stage" => Some(Self::Single),
            "scratch" => Some(Self::Scratch),
            "distroless" => Some(Self::Distroless),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Single => "single-stage",
            Self::Scratch => "scratch",
            Self::Distroless => "distroless",
        }
    }

    /// File name under `docker/`.
    pub(crate) fn dockerfile(self) -> &'static str {
        match self {
            Self::Single => "Dockerfile.single-stage",
            Self::Scratch | Self::Distroless => "Dockerfile.multi-stage",
        }
    }

    /// The `--target` stage, for the multi-stage file.
    pub(crate) fn stage(self) -> Option<&'static str> {
        match self {
            Self::Single => None,
            Self::Scratch => Some("scratch"),
            Self::Distroless => Some("distroless"),
        }
    }

    pub(crate) fn tag(self) -> String {
        format!("{IMAGE_REPOSITORY}:{}", self.name())
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
