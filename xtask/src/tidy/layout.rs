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

/// The layers `main.rs` declares, from the top down: the module names of each (the commands'
/// line holds every command besides the names it gives).
fn declared_layers(main: &str, commands: &BTreeSet<String>) -> Vec<BTreeSet<String>> {
    let section = main
        .split_once("//! # Layers")
        .map(|(_, rest)| rest)
        .expect("main.rs declares its layers under `//! # Layers`");
    let mut layers: Vec<BTreeSet<String>> = Vec::new();
    for line in section
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with("//!"))
    {
        let Some(item) = line.strip_prefix("//! - ") else {
            continue;
        };
        let (names, _) = item.split_once(':').expect("`- names: what they are`");
        let mut layer: BTreeSet<String> = names
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        if names.starts_with("commands") {
            layer.extend(commands.iter().cloned());
        }
        layers.push(layer);
    }
    layers
}

/// What a file's code (not its comments, not its tests) names through `crate::` and `super::`,
/// as paths of module names: `crate::docker::stand_ins::resolve` is `docker/stand_ins/resolve`,
/// and `use crate::{git, output}` is `git` and `output`.
fn named_paths(file: &str, text: &str) -> Vec<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    // `super` is the folder's module: the parent of `a/b.rs` is `a`.
    let parent = file.rsplit_once('/').map_or("", |(folder, _)| folder);
    let mut paths = Vec::new();
    for (prefix, base) in [("crate::", ""), ("super::", parent)] {
        for (at, _) in code.match_indices(prefix) {
            if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            let mut path: Vec<String> = base
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let mut tail = rest;
            loop {
                let name: String = tail
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if let Some(group) = tail.strip_prefix('{') {
                    let inner = group.split('}').next().unwrap_or_default();
                    for item in inner.split(',') {
                        let item = item.trim().split(" as ").next().unwrap_or_default();
                        let mut one = path.clone();
                        one.extend(
                            item.split("::")
                                .filter(|s| *s != "self" && !s.is_empty())
                                .map(str::to_owned),
                        );
                        paths.push(one.join("/"));
                    }
                    break;
                }
                if name.is_empty() {
                    paths.push(path.join("/"));
                    break;
                }
                path.push(name.clone());
                tail = &tail[name.len()..];
                if let Some(next) = tail.strip_prefix("::") {
                    tail = next;
                } else {
                    paths.push(path.join("/"));
                    break;
                }
            }
        }
    }
    paths
}

/// The file a module path leads to: the longest prefix that is a file of `files`.
fn file_of<'a>(path: &str, files: &'a BTreeSet<String>) -> Option<&'a String> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..=parts.len()).rev().find_map(|n| {
        let module = parts[..n].join("/");
        files
            .get(&format!("{module}.rs"))
            .or_else(|| files.get(&format!("{module}/mod.rs")))
    })
}

/// Every `use` that points up the layers or sideways within one, and every circle of files, in
/// `sources` (paths under xtask/src and their text).
fn layering_offences(
    sources: &[(String, String)],
    main: &str,
    commands: &BTreeSet<String>,
) -> Vec<String> {
    let layers = declared_layers(main, commands);
    let layer_of = |module: &str| layers.iter().position(|layer| layer.contains(module));
    let files: BTreeSet<String> = sources.iter().map(|(file, _)| file.clone()).collect();
    let mut offences = Vec::new();
    let mut uses: BTreeSet<(String, String)> = BTreeSet::new();
    for (file, text) in sources {
        if file == "main.rs" {
            continue;
        }
        let top = file.split(['/', '.']).next().unwrap_or_default();
        let Some(own) = layer_of(top) else {
            offences.push(format!("{file}: `{top}` is in no layer of main.rs's list"));
            continue;
        };
        for path in named_paths(file, text) {
            let target = path.split('/').next().unwrap_or_default();
            if target != top {
                match layer_of(target) {
                    Some(layer) if layer > own => {}
                    Some(layer) if layer == own => offences.push(format!(
                        "{file} uses `{target}`, beside `{top}` in one layer: move what both need \
                         into a layer below"
                    )),
                    Some(_) => offences.push(format!(
                        "{file} uses `{target}`, which is above `{top}`: move the code, or the \
                         layer, so that uses point down"
                    )),
                    None => {}
                }
            }
            if let Some(used) = file_of(&path, &files)
                && used != file
            {
                uses.insert((file.clone(), used.clone()));
            }
        }
    }
    for (from, to) in &uses {
        if from < to && uses.contains(&(to.clone(), from.clone())) {
            offences.push(format!("{from} and {to} use each other"));
        }
    }
    offences
}

/// xtask/src's Rust files, as paths under it, with their text.
fn sources() -> Vec<(String, String)> {
    rust_files(&source_dir())
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let file = path.strip_prefix(source_dir()).expect("under xtask/src");
            (file.to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

#[test]
fn every_use_points_down_the_declared_layers() {
    let sources = sources();
    let main = &sources
        .iter()
        .find(|(file, _)| file == "main.rs")
        .expect("main.rs")
        .1;
    let offences = layering_offences(&sources, main, &command_files());
    assert!(offences.is_empty(), "{offences:#?}");
}

#[test]
fn an_upward_use_a_sideways_use_and_a_circle_are_each_refused() {
    let mut sources = sources();
    let main = sources
        .iter()
        .find(|(file, _)| file == "main.rs")
        .expect("main.rs")
        .1
        .clone();
    let commands = command_files();
    sources.extend([
        // The ground using a layer above it.
        (
            "process/upward.rs".to_owned(),
            "use crate::docker::stand_ins;\n".to_owned(),
        ),
        // Two modules of one layer.
        (
            "stack/sideways.rs".to_owned(),
            "fn f() { crate::loadtest::run(); }\n".to_owned(),
        ),
        // Two files that use each other.
        (
            "output/first.rs".to_owned(),
            "use super::second::Two;\n".to_owned(),
        ),
        (
            "output/second.rs".to_owned(),
            "use crate::output::{first::One};\n".to_owned(),
        ),
    ]);
    let offences = layering_offences(&sources, &main, &commands);
    let said = |text: &str| offences.iter().any(|offence| offence.contains(text));
    assert!(
        said("process/upward.rs uses `docker`, which is above `process`"),
        "{offences:#?}"
    );
    assert!(
        said("stack/sideways.rs uses `loadtest`, beside `stack` in one layer"),
        "{offences:#?}"
    );
    assert!(
        said("output/first.rs and output/second.rs use each other"),
        "{offences:#?}"
    );
    assert_eq!(offences.len(), 3, "{offences:#?}");
}
