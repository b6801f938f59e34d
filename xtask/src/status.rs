//! `cargo xtask status`: each service of the stack, its health and its URL.

use anyhow::Result;

use crate::docker::engine;
use crate::flags;
use crate::stack;

impl flags::Status {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        stack::print_status()
    }
}
