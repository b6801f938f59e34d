//! `cargo xtask save`: an image as Docker 25 and later save it, the OCI image layout, whatever
//! engine holds it. The image is copied into a second, throwaway Docker 26 engine
//! ([`SecondEngine`]) and saved from there; the second engine and its layers are gone afterwards.
//! With `--archive` the image comes from a file instead, loaded by Docker 26: what proves that
//! Docker 25 and later read an archive xtask wrote.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::docker::{self, second_engine::SecondEngine};
use crate::flags;
use crate::project::variant::Variant;
use crate::{output, process};

impl flags::Save {
    pub(crate) fn run(self) -> Result<()> {
        let started = Instant::now();
        let (engine, references) = match (&self.archive, &self.image) {
            (Some(archive), _) => {
                if !archive.is_file() {
                    bail!("no archive {}", archive.display());
                }
                let engine = SecondEngine::start()?;
                let loaded = load(&engine, archive)?;
                (engine, loaded)
            }
            (None, Some(image)) => {
                let reference = Variant::parse(image).map_or_else(|| image.clone(), Variant::tag);
                docker::engine::require()?;
                if !docker::image_exists(&reference) {
                    bail!("no local image {reference}: build it first (`cargo xtask build`)");
                }
                let engine = SecondEngine::start()?;
                copy(&engine, &reference)?;
                (engine, vec![reference])
            }
            (None, None) => bail!("name an image or an --archive to save"),
        };
        process::run(
            engine
                .docker()
                .args(["save", "--output"])
                .arg(&self.output)
                .args(&references),
        )?;
        let bytes = std::fs::metadata(&self.output)
            .with_context(|| format!("docker save wrote no {}", self.output.display()))?
            .len();
        println!(
            "{}: {} in the OCI image layout, {}, saved by Docker {} in {:.1} s \
             (its engine answered after {:.1} s)",
            self.output.display(),
            references.join(" and "),
            output::bytes(bytes),
            engine.version(),
            started.elapsed().as_secs_f64(),
            engine.started_in().as_secs_f64()
        );
        Ok(())
    }
}

/// `docker save` of the first engine straight into `docker load` of the second.
fn copy(engine: &SecondEngine, reference: &str) -> Result<()> {
    let mut save = docker::docker()
        .args(["save", reference])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start `docker save`")?;
    let archive = save.stdout.take().context("docker save has a stdout")?;
    let loaded = engine
        .docker()
        .arg("load")
        .stdin(archive)
        .stdout(Stdio::null())
        .status()
        .context("cannot start `docker load` on the second engine")?;
    let saved = save.wait()?;
    if !saved.success() || !loaded.success() {
        bail!("copying {reference} into the second engine failed (save: {saved}, load: {loaded})");
    }
    Ok(())
}

/// `docker load` of `archive` into the second engine: the names (or, for an image without
/// one, the IDs) it loaded.
fn load(engine: &SecondEngine, archive: &Path) -> Result<Vec<String>> {
    let said = process::capture(engine.docker().args(["load", "--input"]).arg(archive))
        .with_context(|| {
            format!(
                "Docker {} cannot load {}",
                engine.version(),
                archive.display()
            )
        })?;
    let loaded = loaded_images(&said);
    if loaded.is_empty() {
        bail!(
            "Docker {} loaded {} but named no image: {said:?}",
            engine.version(),
            archive.display()
        );
    }
    Ok(loaded)
}

/// `Loaded image: app:x` and `Loaded image ID: sha256:...` lines: the names and IDs.
fn loaded_images(said: &str) -> Vec<String> {
    said.lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("Loaded image: ")
                .or_else(|| line.trim().strip_prefix("Loaded image ID: "))
        })
        .map(|name| name.trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::flags::{Command, Xtask};

    fn parse(words: &str) -> Result<flags::Save, clap::Error> {
        Xtask::try_parse_from(std::iter::once("cargo xtask").chain(words.split_whitespace())).map(
            |flags| match flags.command {
                Command::Save(save) => save,
                other => panic!("{words} parses as {other:?}"),
            },
        )
    }

    #[test]
    fn save_takes_exactly_one_of_an_image_and_an_archive() {
        let from_image = parse("save scratch -o out.tar").expect("an image");
        assert_eq!(
            (from_image.image.as_deref(), from_image.archive),
            (Some("scratch"), None)
        );
        let from_archive = parse("save --archive in.tar -o out.tar").expect("an archive");
        assert_eq!(
            (from_archive.image, from_archive.archive),
            (None, Some("in.tar".into()))
        );
        for words in [
            "save -o out.tar",
            "save scratch --archive in.tar -o out.tar",
        ] {
            assert!(parse(words).is_err(), "{words} is refused");
        }
    }

    #[test]
    fn the_loaded_names_are_read_from_docker_loads_output() {
        assert_eq!(
            loaded_images("Loaded image: app:scratch-daemonless\n"),
            ["app:scratch-daemonless"]
        );
        assert_eq!(
            loaded_images("Loaded image ID: sha256:abc\nunrelated\n"),
            ["sha256:abc"]
        );
        assert!(loaded_images("").is_empty());
    }
}
