//! The project's build tool: `cargo xtask <command>`.
//!
//! Plain Rust instead of shell scripts, so it runs wherever cargo does, and with few
//! dependencies, because its first compile is time a user waits.
//!
//! # Layers
//!
//! One line a layer, from the top down. A module uses only modules of the layers below its own,
//! never one beside it, and no files use each other in a circle, a module and the child it
//! declares aside (`tidy/layout.rs` checks both, test modules aside):
//!
//! - commands, `tidy`: each top-level file is a command, named as the user types it, and its
//!   folder of the same name holds its private parts; `tidy` holds the repository's invariants
//! - `flags`: every command and flag, declared once
//! - `stack` `loadtest`: the compose stack and its rolling update; the load generators
//! - `findings`: the severities and the secret rules that `scan` and `tidy` share
//! - `image`: what an image holds, read from its archive
//! - `oci`: the OCI formats, the registry protocol, the image builder that needs no engine
//! - `docker` `aws`: the Docker engine, its CLI and the base images; the AWS CLI and the stack
//! - `records` `tools`: the history files; the programs xtask installs and runs
//! - `project`: this repository's images, Dockerfiles and cargo profiles
//! - `git`: the revision and the tracked files
//! - `process`: running programs, and the one bounded wait
//! - `files` `http` `measure` `output`: where the repository is and atomic writes; HTTP probes;
//!   what a measurement states beside its figures (the machine, the time); printing

// Measurements convert between integer and float units; the values are non-negative and far
// from the limits of either type.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
// Every command runs as `flags::Command::run(self)`, the flagless ones too.
#![allow(clippy::unused_self)]

// The commands, then the layers from the top down (see the list above).
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

mod flags;

mod loadtest;
mod stack;

mod findings;

mod image;

mod oci;

mod aws;
mod docker;

mod records;
mod tools;

mod project;

mod git;

mod process;

mod files;
mod http;
mod measure;
mod output;

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
