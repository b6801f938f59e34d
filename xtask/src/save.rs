//! `cargo xtask save`: an image as Docker 25 and later save it, the OCI image layout, whatever
//! engine holds it. The image is copied into a second, throwaway Docker 26 engine
//! ([`SecondEngine`]) and saved from there; the second engine and its layers are gone afterwards.

use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::docker::{self, second_engine::SecondEngine};
use crate::flags;
use crate::project::variant::Variant;
use crate::util::{output, process};

impl flags::Save {
    pub(crate) fn run(self) -> Result<()> {
        let reference =
            Variant::parse(&self.image).map_or_else(|| self.image.clone(), Variant::tag);
        docker::engine::require()?;
        if !docker::image_exists(&reference) {
            bail!("no local image {reference}: build it first (`cargo xtask build`)");
        }
        let started = Instant::now();
        let engine = SecondEngine::start()?;
        // `docker save` of the first engine straight into `docker load` of the second.
        let mut save = docker::docker()
            .args(["save", &reference])
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
            bail!(
                "copying {reference} into the second engine failed (save: {saved}, load: {loaded})"
            );
        }
        process::run(
            engine
                .docker()
                .args(["save", "--output"])
                .arg(&self.output)
                .arg(&reference),
        )?;
        let bytes = std::fs::metadata(&self.output)
            .with_context(|| format!("docker save wrote no {}", self.output.display()))?
            .len();
        println!(
            "{}: {reference} in the OCI image layout, {}, saved by Docker {} in {:.1} s \
             (its engine answered after {:.1} s)",
            self.output.display(),
            output::bytes(bytes),
            engine.version(),
            started.elapsed().as_secs_f64(),
            engine.started_in().as_secs_f64()
        );
        Ok(())
    }
}
