//! `cargo xtask build`: the images built with the docker CLI, timed and recorded.

use anyhow::Result;

use crate::docker::build;
use crate::docker::engine;
use crate::flags;

impl flags::Build {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        let context = crate::project::root();
        for variant in &self.variants() {
            println!(
                "{}",
                build::build_and_record(*variant, &context, self.no_cache)?
            );
        }
        Ok(())
    }
}
