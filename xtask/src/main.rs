//! The project's build tool: `cargo xtask <command>`.
//!
//! Plain Rust instead of shell scripts, so it runs wherever cargo does, and with few
//! dependencies, because its first compile is time a user waits.

// Measurements convert between integer and float units; the values are non-negative and far
// from the limits of either type.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod analyze;
mod aws;
mod bases;
mod bench;
mod build;
mod ci;
mod compare;
mod deploy;
mod down;
mod docker;
mod flags;
mod history;
mod image;
mod logs;
mod profiles;
mod project;
mod push;
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

use flags::Command;

fn main() -> ExitCode {
    let command = match flags::parse(std::env::args().skip(1)) {
        Ok((command, yes)) => {
            docker::engine::assume_yes(yes);
            command
        }
        Err(error) => {
            eprintln!("error: {error}\n\n{}", flags::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", flags::USAGE);
            Ok(())
        }
        Command::Bases => flags::Bases.run(),
        Command::History { last } => history::show(usize::try_from(last).unwrap_or(15)),
        Command::Build(flags) => flags.run(),
        Command::Compare(flags) => flags.run(),
        Command::TestImage(flags) => flags.run(),
        Command::Analyze(flags) => flags.run(),
        Command::Scan(flags) => flags.run(),
        Command::Push(flags) => flags.run(),
        Command::Deploy(flags) => flags.run(),
        Command::LintWorkflows(files) => tools::lint_workflows(&files),
        Command::Up(flags) => flags.run(),
        Command::Down(flags) => flags.run(),
        Command::Status => flags::Status.run(),
        Command::Logs(flags) => flags.run(),
        Command::Bench(flags) => flags.run(),
        Command::Ci(flags) => flags.run(),
        Command::Profiles(flags) => flags.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
