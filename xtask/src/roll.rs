//! `cargo xtask roll`: every replica of the running app replaced one at a time by one of the
//! image just built (or `--image`), with no failed request; stops at the first new replica that
//! does not become healthy and leaves the old ones serving.

use anyhow::Result;

use crate::docker::base_images;
use crate::docker::build;
use crate::docker::engine;
use crate::flags;
use crate::project::profile::CargoProfile;
use crate::project::variant::Variant;
use crate::stack::roll::{self, Plan};

impl flags::Roll {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        let image = if let Some(image) = self.image {
            image
        } else {
            let variant = Variant::Scratch;
            build::build(
                variant,
                &crate::project::root(),
                &variant.tag(),
                &CargoProfile::shipped()?,
                false,
                true,
            )?;
            variant.tag()
        };
        let mut env: Vec<(String, String)> = base_images::stack_env()?
            .into_iter()
            .map(|(variable, value)| (variable.to_owned(), value))
            .collect();
        env.push(("APP_IMAGE".to_owned(), image.clone()));
        roll::roll(&Plan {
            env,
            image,
            replicas: self.replicas,
            only_changed: false,
        })
    }
}
