//! `cargo xtask roll`: every replica of the running app replaced one at a time by one of the
//! image just built (or `--image`), with no failed request; stops at the first new replica that
//! does not become healthy and leaves the old ones serving.

use anyhow::Result;

use crate::docker::engine;
use crate::flags;
use crate::project::variant::Variant;
use crate::stack;
use crate::stack::rolling_update::{self, Plan};

impl flags::Roll {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        let image = match self.image {
            Some(image) => image,
            None => stack::build(Variant::Scratch)?,
        };
        let mut env = stack::image_env()?;
        env.push(("APP_IMAGE".to_owned(), image.clone()));
        rolling_update::roll(&Plan {
            env,
            image,
            replicas: self.replicas,
            only_changed: false,
        })
    }
}
