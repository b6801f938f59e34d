//! `cargo xtask logs`: the last log lines of the stack or of some services.

use anyhow::Result;

use crate::docker::engine;
use crate::flags;
use crate::process;
use crate::stack;

impl flags::Logs {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        let mut command = stack::every_profile()?;
        command.args(["logs", "--tail", "200"]);
        if self.follow {
            command.arg("--follow");
        }
        command.args(&self.services);
        process::run(&mut command)
    }
}
