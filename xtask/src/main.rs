//! The project's build tool: `cargo xtask <command>`.
//!
//! Plain Rust instead of shell scripts, so it runs wherever cargo does, and with few
//! dependencies, because its first compile is time a user waits.

// Measurements convert between integer and float units; the values are non-negative and far
// from the limits of either type.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
// Every command runs as `flags::Command::run(self)`, the flagless ones too.
#![allow(clippy::unused_self)]

// The commands: each file is one, named as the user types it, with a folder of the same name
// for its private parts. The layers they stand on are below, in `mod` order.
mod analyze;
mod bases;
mod bench;
mod build;
mod ci;
mod compare;
mod cost;
mod deploy;
mod destroy;
mod down;
mod history;
mod lint_workflows;
mod logs;
mod profiles;
mod push;
mod roll;
mod rollback;
mod save;
mod scan;
mod status;
mod test_image;
#[cfg(test)]
mod tidy;
mod up;

// layer 8
mod flags;
// layer 7
mod loadtest;
mod stack;
// layer 6
mod findings;
// layer 5
mod image;
// layer 4
mod oci;
// layer 3
mod aws;
mod docker;
// layer 2
mod records;
mod tools;
// layer 1
mod project;
// layer 0
mod git;
// ground
mod files;
mod http;
mod measure;
mod output;
mod process;

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
