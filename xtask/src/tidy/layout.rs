//! The layout rule of xtask: a top-level file is a command, named as the user types it; a
//! folder of the same name holds that command's private parts; what commands share lives in
//! folders with a `mod.rs`, named for the concern. No command reaches into another. Under the
//! commands, the layers `main.rs` declares: every use points down them, and no files use each
//! other in a circle (a module and the child it declares aside; test modules aside).

use std::collections::{BTreeMap, BTreeSet};
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

/// A file's code: without its comments and its test module (tests may use any layer).
fn code_of(text: &str) -> String {
    let body = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let mut code = String::new();
    for line in body.lines() {
        // A `//` outside a string literal starts a comment.
        let comment = line
            .match_indices("//")
            .map(|(at, _)| at)
            .find(|at| line[..*at].matches('"').count() % 2 == 0);
        code.push_str(comment.map_or(line, |at| &line[..at]));
        code.push('\n');
    }
    code
}

/// The module path of a file under xtask/src: `docker/stand_ins.rs` is `docker/stand_ins`,
/// `docker/mod.rs` is `docker`.
fn module_of(file: &str) -> Vec<String> {
    let path = file.trim_end_matches(".rs").trim_end_matches("/mod");
    path.split('/').map(str::to_owned).collect()
}

/// `crate`, `super` and `self` at the head of `segments` turned into the module path they
/// name from `own`; `None` for a path outside the crate (`std::...`).
fn absolute(own: &[String], segments: &[&str]) -> Option<Vec<String>> {
    let mut path: Vec<String> = match segments.first()? {
        &"crate" => Vec::new(),
        &"super" | &"self" => own.to_vec(),
        _ => return None,
    };
    for segment in segments {
        match *segment {
            "crate" | "self" => {}
            "super" => {
                path.pop();
            }
            name => path.push(name.to_owned()),
        }
    }
    Some(path)
}

/// The paths a `use` tree names (`a::{b, c::{d, e as f}}`), each with the name it is known by.
fn expand_tree(prefix: &[&str], tree: &str, out: &mut Vec<(Vec<String>, String)>, own: &[String]) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<&str> = tree[..open]
            .split("::")
            .filter(|s| !s.trim().is_empty())
            .collect();
        let close = tree.rfind('}').filter(|close| *close > open);
        let inner = &tree[open + 1..close.unwrap_or(tree.len())];
        let (mut depth, mut from) = (0, 0);
        let mut items = Vec::new();
        for (at, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[from..at]);
                    from = at + 1;
                }
                _ => {}
            }
        }
        items.push(&inner[from..]);
        let prefix: Vec<&str> = prefix
            .iter()
            .copied()
            .chain(head.into_iter().map(str::trim))
            .collect();
        for item in items.into_iter().filter(|item| !item.trim().is_empty()) {
            expand_tree(&prefix, item, out, own);
        }
        return;
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((path, alias)) => (path.trim(), Some(alias.trim())),
        None => (tree, None),
    };
    let segments: Vec<&str> = prefix
        .iter()
        .copied()
        .chain(path.split("::").map(str::trim))
        .collect();
    if let Some(full) = absolute(own, &segments) {
        let name = alias
            .or_else(|| segments.last().copied())
            .unwrap_or_default();
        let name = if name == "self" {
            full.last().cloned().unwrap_or_default()
        } else {
            name.to_owned()
        };
        out.push((full, name));
    }
}

/// The names of `code` that start at `at`: `a::b::c` as `["a", "b", "c"]`.
fn path_at(code: &str, at: usize) -> Vec<&str> {
    let rest = &code[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].split("::").filter(|s| !s.is_empty()).collect()
}

/// What a file's code (not its comments, not its tests) names in the crate, as module paths:
/// through `use` (trees and renames included), through `crate::` and `super::` paths, and
/// through a module it imported (`use crate::docker;` then `docker::builder::x()`).
/// `crate::docker::stand_ins::resolve` is `["docker", "stand_ins", "resolve"]`.
fn named_paths(file: &str, text: &str) -> Vec<Vec<String>> {
    let code = code_of(text);
    let own = module_of(file);
    let mut imported = Vec::new();
    // A `use` starts a line (a string's `use` mostly does not, and names nothing in the crate).
    let mut line_start = 0;
    for line in code.split_inclusive('\n') {
        let body = line.trim_start();
        // Past any visibility: `pub`, `pub(crate)`, `pub(in crate::x)`.
        let body = match body.strip_prefix("pub(") {
            Some(rest) => rest.split_once(") ").map_or(body, |(_, rest)| rest),
            None => body.strip_prefix("pub ").unwrap_or(body),
        };
        if let Some(rest) = body.strip_prefix("use ") {
            let at = line_start + line.len() - rest.len();
            let statement = code[at..].split(';').next().unwrap_or_default();
            expand_tree(&[], statement, &mut imported, &own);
        }
        line_start += line.len();
    }
    let mut paths: Vec<Vec<String>> = imported.iter().map(|(path, _)| path.clone()).collect();
    let starts_path =
        |at: usize| !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if starts_path(at)
            && let Some(path) = absolute(&own, &path_at(&code, at))
        {
            paths.push(path);
        }
    }
    for (module, name) in &imported {
        for (at, _) in code.match_indices(&format!("{name}::")) {
            if starts_path(at) {
                let mut path = module.clone();
                path.extend(path_at(&code, at).into_iter().skip(1).map(str::to_owned));
                paths.push(path);
            }
        }
    }
    paths
}

/// The file a module path leads to: the longest prefix that is a file of `files`.
fn file_of<'a>(path: &[String], files: &'a BTreeSet<String>) -> Option<&'a String> {
    (1..=path.len()).rev().find_map(|n| {
        let module = path[..n].join("/");
        files
            .get(&format!("{module}.rs"))
            .or_else(|| files.get(&format!("{module}/mod.rs")))
    })
}

/// The circles among `uses` (file → file): each set of two or more files that reach each other.
fn circles(uses: &BTreeSet<(String, String)>) -> BTreeSet<Vec<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::from([from.clone()]);
        let mut pending = vec![from.clone()];
        while let Some(file) = pending.pop() {
            for (_, next) in uses
                .range((file.clone(), String::new())..)
                .take_while(|(f, _)| *f == file)
            {
                if seen.insert(next.clone()) {
                    pending.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        uses.iter().map(|(file, _)| (file, reach(file))).collect();
    reached
        .iter()
        .map(|(file, reach)| {
            reach
                .iter()
                .filter(|other| reached.get(other).is_some_and(|back| back.contains(*file)))
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|circle| circle.len() > 1)
        .collect()
}

/// Whether one module is the other's child, which its parent declares (`mod child;`).
fn parent_and_child(a: &[String], b: &[String]) -> bool {
    a.len() + 1 == b.len() && b.starts_with(a) || b.len() + 1 == a.len() && a.starts_with(b)
}

/// Every `use` that points up the layers or sideways within one, and every circle of files
/// (a module and the child it declares aside: the child is part of its parent), in `sources`
/// (paths under xtask/src and their text).
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
        let module = module_of(file);
        let mut reported = BTreeSet::new();
        for path in named_paths(file, text) {
            let target = path.first().map_or("", String::as_str);
            if target != top && reported.insert(target.to_owned()) {
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
                && !parent_and_child(&module, &module_of(used))
            {
                uses.insert((file.clone(), used.clone()));
            }
        }
    }
    for circle in circles(&uses) {
        offences.push(format!(
            "a circle of files that use each other: {}",
            circle.join(", ")
        ));
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
        // The ground using a layer above it, past a string whose line starts with `use`.
        (
            "process/upward.rs".to_owned(),
            "const WHY: &str = \"a message, then\n    use public subnets } with { a flag\";\n\
             pub(in crate::process) use crate::docker::stand_ins;\n"
                .to_owned(),
        ),
        // Two modules of one layer.
        (
            "stack/sideways.rs".to_owned(),
            "fn f() { crate::loadtest::run(); }\n".to_owned(),
        ),
        // Three files in a circle: through `super::`, through a module imported by name, and
        // through a nested `use` tree, which also reaches beside its layer.
        (
            "output/first.rs".to_owned(),
            "use super::second::Two;\n".to_owned(),
        ),
        (
            "output/second.rs".to_owned(),
            "use crate::output;\nfn f() { output::third::x(); }\n".to_owned(),
        ),
        (
            "output/third.rs".to_owned(),
            "pub(crate) use crate::{\n    output::{first::{self, One}}, // a note\n    http,\n};\n"
                .to_owned(),
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
        said("output/third.rs uses `http`, beside `output` in one layer"),
        "{offences:#?}"
    );
    assert!(
        said(
            "a circle of files that use each other: output/first.rs, output/second.rs, \
             output/third.rs"
        ),
        "{offences:#?}"
    );
    assert_eq!(offences.len(), 4, "{offences:#?}");
}
