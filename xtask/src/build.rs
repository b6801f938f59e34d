//! `cargo xtask build`: the images built with the docker CLI, timed and recorded; or, with
//! `--daemonless`, made without Docker (`build/oci_layout.rs`).

mod oci_layout;

use anyhow::Result;

use crate::docker::build;
use crate::docker::engine;
use crate::flags;
use crate::project::profile::CargoProfile;

impl flags::Build {
    pub(crate) fn run(self) -> Result<()> {
        if self.daemonless {
            return oci_layout::run(&self);
        }
        let profile = CargoProfile::for_images(&self.profile)?;
        engine::require()?;
        let context = crate::files::root();
        for variant in self.variants() {
            let profile = build::profile_for(variant, &profile)?;
            println!(
                "{}",
                build::build_and_record(variant, &context, &profile, self.no_cache)?
            );
        }
        Ok(())
    }
}
