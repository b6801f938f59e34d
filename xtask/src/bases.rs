//! `cargo xtask bases`: local equivalents of the public base images, for machines that cannot
//! reach a registry.

use anyhow::Result;

use crate::docker::base_images::BaseImage;
use crate::docker::stand_ins;
use crate::flags;

impl flags::Bases {
    pub(crate) fn run(self) -> Result<()> {
        stand_ins::build_all()?;
        println!(
            "\nLocal base images are ready. `cargo xtask build`, `compare` and `up` use them when"
        );
        println!(
            "the public images are absent; to select them explicitly (for docker build or compose):"
        );
        for base in BaseImage::all()? {
            println!("  export {}={}", base.variable, base.local);
        }
        Ok(())
    }
}
