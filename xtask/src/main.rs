//! The project's build tool: `cargo xtask <command>`.
//!
//! Plain Rust instead of shell scripts, so it runs wherever cargo does, and with few
//! dependencies, because its first compile is time a user waits.

// Measurements convert between integer and float units; the values are non-negative and far
// from the limits of either type.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
// Every command runs as `flags::Command::run(self)`, the flagless ones too.
#![allow(clippy::unused_self)]

mod analyze;
mod aws;
mod bases;
mod bench;
mod build;
mod ci;
mod compare;
mod cost;
mod deploy;
mod destroy;
mod docker;
mod down;
mod findings;
mod flags;
mod history;
mod image;
mod lint_workflows;
mod loadtest;
mod logs;
mod oci;
mod profiles;
mod project;
mod push;
mod records;
mod roll;
mod rollback;
mod save;
mod scan;
mod stack;
mod status;
mod test_image;
#[cfg(test)]
mod tidy;
mod tools;
mod up;
mod util;

use std::process::ExitCode;

use clap::Parser;

use flags::Command;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    tools::assume_yes(flags.yes);
    match flags.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

impl Command {
    /// Each command runs in the file of its name.
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Bases(command) => command.run(),
            Self::Build(command) => command.run(),
            Self::Compare(command) => command.run(),
            Self::TestImage(command) => command.run(),
            Self::Analyze(command) => command.run(),
            Self::Scan(command) => command.run(),
            Self::Save(command) => command.run(),
            Self::Push(command) => command.run(),
            Self::Deploy(command) => command.run(),
            Self::Rollback(command) => command.run(),
            Self::Destroy(command) => command.run(),
            Self::LintWorkflows(command) => command.run(),
            Self::Up(command) => command.run(),
            Self::Roll(command) => command.run(),
            Self::Down(command) => command.run(),
            Self::Status(command) => command.run(),
            Self::Logs(command) => command.run(),
            Self::Bench(command) => command.run(),
            Self::Cost(command) => command.run(),
            Self::Ci(command) => command.run(),
            Self::Profiles(command) => command.run(),
            Self::History(command) => command.run(),
        }
    }
}
