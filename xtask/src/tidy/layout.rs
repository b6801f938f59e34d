//! The layout rule of xtask: a top-level file is a command, named as the user types it; a
//! folder of the same name holds that command's private parts; what commands share lives in
//! folders with a `mod.rs`, named for the concern. No command reaches into another.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::rust_files;
use crate::files;
use crate::flags::Xtask;

fn source_dir() -> PathBuf {
    files::root().join("xtask").join("src")
}

/// The module names of the top-level command files.
fn command_files() -> BTreeSet<String> {
    std::fs::read_dir(source_dir())
        .expect("xtask/src is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .filter(|name| name != "main" && name != "flags")
        .collect()
}

/// The commands the CLI offers, as module names (`test-image` → `test_image`).
fn cli_commands() -> BTreeSet<String> {
    Xtask::command()
        .get_subcommands()
        .map(|command| command.get_name().replace('-', "_"))
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn every_top_level_file_is_a_command_and_every_command_has_its_file() {
    let files = command_files();
    let commands = cli_commands();
    let not_commands: Vec<_> = files.difference(&commands).collect();
    assert!(
        not_commands.is_empty(),
        "xtask/src/{not_commands:?}.rs: a top-level file is a command the CLI offers; move a \
         shared concern into a folder with a mod.rs"
    );
    let without_file: Vec<_> = commands.difference(&files).collect();
    assert!(
        without_file.is_empty(),
        "the commands {without_file:?} have no file of their name in xtask/src"
    );
    for command in &commands {
        let file = source_dir().join(format!("{command}.rs"));
        let text = std::fs::read_to_string(&file).expect("readable");
        let struct_name: String = command
            .split('_')
            .map(|word| word[..1].to_uppercase() + &word[1..])
            .collect();
        assert!(
            text.contains(&format!("impl flags::{struct_name} {{"))
                || text.contains(&format!("impl {struct_name} {{")),
            "{} does not implement its command (`impl flags::{struct_name}`)",
            file.display()
        );
    }
}

#[test]
fn every_folder_is_a_commands_private_parts_or_a_named_shared_concern() {
    let commands = cli_commands();
    for entry in std::fs::read_dir(source_dir()).expect("readable").flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let shared = path.join("mod.rs").exists();
        assert!(
            commands.contains(&name) != shared,
            "xtask/src/{name}/: a command's folder has no mod.rs (its parts hang off {name}.rs), \
             a shared concern's folder has one"
        );
    }
}

#[test]
fn no_command_uses_another_commands_code() {
    let commands = cli_commands();
    let mut offences = Vec::new();
    for command in &commands {
        let mut files = vec![source_dir().join(format!("{command}.rs"))];
        files.extend(rust_files(&source_dir().join(command)));
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for other in commands.iter().filter(|other| *other != command) {
                if text.contains(&format!("crate::{other}::"))
                    || text.contains(&format!("use crate::{other};"))
                {
                    offences.push(format!("{} uses crate::{other}", file.display()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "commands share code through a named folder, never through each other: {offences:#?}"
    );
}

#[test]
fn the_design_page_layout_names_every_folder() {
    let design =
        std::fs::read_to_string(files::root().join("docs/design.md")).expect("docs/design.md");
    let layout = design
        .split_once("\n## Layout")
        .and_then(|(_, rest)| rest.split("\n## ").next())
        .expect("docs/design.md has a Layout section");
    let listing = crate::git::listed_files(&files::root()).expect("a git checkout");
    let folders: BTreeSet<&str> = listing
        .iter()
        .filter_map(|file| Path::new(file).parent()?.to_str())
        .filter(|folder| !folder.is_empty())
        .collect();
    let unnamed: Vec<&str> = folders
        .into_iter()
        .filter(|folder| {
            let name = folder.rsplit('/').next().unwrap_or(folder);
            !layout.contains(&format!("{name}/"))
        })
        .collect();
    assert!(
        unnamed.is_empty(),
        "docs/design.md's Layout does not name these folders: {unnamed:?}"
    );
}
