//! What xtask writes and reads back, typed: the build and size history (`.xtask/history/`) and
//! the last push (`.xtask/last-push.json`). A field's name is spelled once, here; older records
//! without a later field read it as its default.

mod journal;

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::files;

fn xtask_dir() -> PathBuf {
    crate::files::root().join(".xtask")
}

/// A record kept in a history file of its own under `.xtask/history/`.
pub(crate) trait History: Serialize + DeserializeOwned {
    const FILE: &str;

    /// Every record, oldest first; none when there is no history yet.
    fn read_all() -> Result<Vec<Self>> {
        journal::read(&xtask_dir().join("history").join(Self::FILE))
    }

    /// Appends `records` atomically, taking turns with other runs.
    fn append(records: &[Self]) -> Result<()> {
        journal::append(&xtask_dir().join("history").join(Self::FILE), records)
    }
}

/// One image build, as `build`, `compare` and `push` record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Build {
    pub(crate) date: String,
    pub(crate) variant: String,
    pub(crate) image_id: String,
    pub(crate) revision: String,
    pub(crate) seconds: f64,
    /// `cold` or `warm`.
    pub(crate) kind: String,
    pub(crate) cached_steps: u32,
    pub(crate) steps: u32,
    pub(crate) size_bytes: u64,
    /// `buildkit` or `legacy`; empty in records older than the builder choice.
    #[serde(default)]
    pub(crate) builder: String,
    /// The cargo profile; records older than the choice were all `release`.
    #[serde(default = "shipped_profile")]
    pub(crate) profile: String,
}

fn shipped_profile() -> String {
    crate::project::profile::SHIPPED.to_owned()
}

impl History for Build {
    const FILE: &str = "builds.jsonl";
}

/// One image's size, as `compare` measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ImageSize {
    pub(crate) date: String,
    pub(crate) revision: String,
    pub(crate) variant: String,
    pub(crate) image_id: String,
    pub(crate) size_bytes: u64,
    #[serde(default)]
    pub(crate) compressed_bytes: u64,
    #[serde(default)]
    pub(crate) layers: u64,
    #[serde(default)]
    pub(crate) files: u64,
    /// The cargo profile of the image's binary; records older than the choice were `release`.
    #[serde(default = "shipped_profile")]
    pub(crate) profile: String,
}

impl History for ImageSize {
    const FILE: &str = "sizes.jsonl";
}

/// What `push` pushed last, for `deploy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LastPush {
    /// `URI@sha256:...`
    pub(crate) image: String,
    pub(crate) variant: String,
    pub(crate) tags: Vec<String>,
    pub(crate) date: String,
}

impl LastPush {
    pub(crate) fn path() -> PathBuf {
        xtask_dir().join("last-push.json")
    }

    pub(crate) fn write(&self) -> Result<()> {
        files::write_atomically(&Self::path(), &serde_json::to_vec_pretty(self)?)
    }

    /// The last push, or an error saying how to get one.
    pub(crate) fn read() -> Result<Self> {
        let path = Self::path();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no image to deploy: run `cargo xtask push` first, or give --image \
                 URI@sha256:... ({} is missing)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a push record; run `cargo xtask push` again",
                path.display()
            )
        })
    }
}
