//! `cargo xtask down`: the stack stopped, its containers and network removed.

use anyhow::Result;

use crate::docker::engine;
use crate::flags;
use crate::process;
use crate::stack;

impl flags::Down {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        let mut command = stack::every_profile()?;
        command.args(["down", "--remove-orphans"]);
        if self.volumes {
            command.arg("--volumes");
        }
        process::run(&mut command)
    }
}
