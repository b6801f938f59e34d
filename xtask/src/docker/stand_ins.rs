//! Local equivalents of the public base images, for machines that cannot reach a registry
//! (air-gapped CI, corporate networks), and the choice between a public image and its stand-in
//! ([`resolve`]): the public one where it is here or a registry serves it, else the stand-in,
//! built if missing. Built from Debian packages, the local Rust toolchain and
//! the host's CA bundle; idempotent: what exists is kept. What debootstrap, tar and docker print
//! while building goes to the setup log ([`process::Log::setup`]); the terminal gets one line
//! per image.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result};

use crate::docker;
use crate::docker::base_images::{self, BaseImage};
use crate::docker::engine;
use crate::process;
use crate::tools;

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The reference to use for `base`, and why it was chosen, as [`BaseImage::find`] finds it;
/// where nothing serves it, the stand-ins are built (`cargo xtask bases`) and it is its own.
pub(crate) fn resolve(base: &BaseImage) -> Result<(String, &'static str)> {
    if let Some(found) = base.find()? {
        return Ok(found);
    }
    let default = base.default_reference()?.unwrap_or_default();
    eprintln!("no registry serves {default}: building local equivalents with `cargo xtask bases`");
    build_all()?;
    Ok((
        base.local.clone(),
        "the local equivalent `cargo xtask bases` just built",
    ))
}

/// Prints `line` unless this process printed it already: a command that builds several images
/// says which base it uses once, not before every build.
fn say_once(line: String) {
    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(PoisonError::into_inner);
    if !said.contains(&line) {
        eprintln!("{line}");
        said.push(line);
    }
}

/// The `--build-arg`s that select the resolved base images for `dockerfile`.
pub(crate) fn build_args(dockerfile: &str) -> Result<Vec<String>> {
    let mut args = Vec::new();
    let declared = BaseImage::for_images()?.into_iter();
    for base in declared.filter(|base| base.declared_in(dockerfile)) {
        let (reference, why) = resolve(&base)?;
        say_once(format!("  {} = {reference} ({why})", base.variable));
        args.push("--build-arg".to_owned());
        args.push(format!("{}={reference}", base.variable));
    }
    Ok(args)
}

/// The environment for compose: the stand-in for each stack image resolved to one. Compose
/// reads a variable the user set, and falls back to the public default, by itself.
pub(crate) fn stack_env() -> Result<Vec<(&'static str, String)>> {
    let mut env = Vec::new();
    for base in BaseImage::for_stack() {
        let (reference, _) = resolve(&base)?;
        if reference == base.local {
            env.push((base.variable, reference));
        }
    }
    Ok(env)
}

/// Builds every stand-in that is missing; what exists is kept.
pub(crate) fn build_all() -> Result<()> {
    build_for_images()?;
    let debian = BaseImage::debian();
    // The stack's proxy and metrics server, from Debian's packages.
    let nginx = BaseImage::nginx();
    ensure(&nginx.local, || nginx_image(&nginx.local))?;
    let prometheus = BaseImage::prometheus();
    ensure(&prometheus.local, || {
        from_debian(&debian.local, &prometheus.local, PROMETHEUS_DOCKERFILE)
    })
}

/// Makes sure every base image the Dockerfiles build from is there before a build needs it:
/// chosen as [`resolve`] chooses (a variable set, the public image present or pulled,
/// the stand-in present), and where none of these serves, the Dockerfiles' stand-ins built. Not
/// the stack's: resolving builds every stand-in, which costs `compare` half a minute of apt-get
/// for images it never runs.
pub(crate) fn ensure_for_images() -> Result<()> {
    for base in BaseImage::for_images()? {
        let chosen = std::env::var(base.variable).is_ok_and(|value| !value.trim().is_empty());
        let Some(default) = base.default_reference()? else {
            continue;
        };
        if chosen || docker::image_exists(&default) || docker::image_exists(&base.local) {
            continue;
        }
        if docker::pull(&default) {
            eprintln!(
                "  {} = {default} (the public image, just pulled)",
                base.variable
            );
            continue;
        }
        eprintln!(
            "no registry serves {default}: building the local equivalents the Dockerfiles \
             build from (`cargo xtask bases` builds the stack's too)"
        );
        return build_for_images();
    }
    Ok(())
}

/// Builds the stand-ins the Dockerfiles build from, and the Debian one under them, where
/// missing.
fn build_for_images() -> Result<()> {
    engine::require()?;
    let debian = BaseImage::debian();
    let rust = BaseImage::rust()?;
    let builder = BaseImage::builder()?;
    ensure(&debian.local, || debian_base(&debian.local))?;
    ensure(&rust.local, || rust_toolchain(&rust.local))?;
    // One toolchain image serves as both the full and the slim builder.
    ensure(&builder.local, || {
        process::run_logged(docker::docker().args(["tag", &rust.local, &builder.local]))
    })?;
    let distroless = BaseImage::distroless();
    ensure(&distroless.local, || distroless_static(&distroless.local))
}

/// nginx as the official image runs it: logs to the container's stdout and stderr, in the
/// foreground, stopped gracefully by SIGQUIT, with `wget` for the compose health check. From
/// Debian forky ([`base_images::NGINX_SUITE`]): a current release, which re-resolves upstream
/// servers. Its packages need a newer libc than bookworm's, so it is a root filesystem of its
/// own, debootstrapped with bookworm's debootstrap through the sid script (forky has none).
fn nginx_image(tag: &str) -> Result<()> {
    let work = WorkDir::new("nginx")?;
    let root = &work.0;
    tools::require(&["debootstrap"])?;
    let mut command = Command::new("debootstrap");
    command
        .args(["--variant=minbase", "--include=nginx,wget"])
        .arg(base_images::NGINX_SUITE)
        .arg(root)
        .arg(tools::trixie::mirror())
        .arg("/usr/share/debootstrap/scripts/sid");
    process::run_logged(&mut command)?;
    for dir in ["var/lib/apt/lists", "var/cache/apt"] {
        for entry in fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            if entry.path().is_file() {
                fs::remove_file(entry.path())?;
            }
        }
    }
    for (log, target) in [("access.log", "/dev/stdout"), ("error.log", "/dev/stderr")] {
        let path = root.join("var/log/nginx").join(log);
        let _ = fs::remove_file(&path);
        std::os::unix::fs::symlink(target, &path)?;
    }
    // `docker import` takes no STOPSIGNAL: a one-line build on the imported root adds it.
    let imported = format!("{tag}-rootfs");
    import(
        root,
        &imported,
        &[
            format!("ENV {PATH_ENV}"),
            "EXPOSE 8080".to_owned(),
            r#"CMD ["nginx", "-g", "daemon off;"]"#.to_owned(),
        ],
    )?;
    let built = from_debian(&imported, tag, "STOPSIGNAL SIGQUIT\n");
    let _ = process::capture(docker::docker().args(["image", "rm", &imported]));
    built
}

/// Prometheus laid out as prom/prometheus is: the binary as entrypoint, data in /prometheus
/// owned by nobody.
const PROMETHEUS_DOCKERFILE: &str = "RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus wget \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /prometheus \\
 && chown 65534:65534 /prometheus
USER 65534
EXPOSE 9090
ENTRYPOINT [\"/usr/bin/prometheus\"]
CMD [\"--config.file=/etc/prometheus/prometheus.yml\", \"--storage.tsdb.path=/prometheus\"]
";

/// `docker build` of `FROM debian` + `instructions`, with no build context.
fn from_debian(debian: &str, tag: &str, instructions: &str) -> Result<()> {
    let dockerfile = format!("FROM {debian}\n{instructions}");
    let mut build = docker::builder::builder().command();
    build.args(["build", "-t", tag, "-"]);
    process::Log::setup().feed(&mut build, dockerfile.as_bytes())
}

fn ensure(tag: &str, build: impl FnOnce() -> Result<()>) -> Result<()> {
    if docker::image_exists(tag) {
        eprintln!("{tag}: present, kept");
        return Ok(());
    }
    eprintln!("{tag}: building");
    build().with_context(|| format!("cannot build the local base image {tag}"))
}

/// A scratch folder under target/, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(name: &str) -> Result<Self> {
        let path = crate::files::target_dir()
            .join("xtask")
            .join("bases")
            .join(name);
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot clear {}", path.display()))?;
        }
        fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn debootstrap(root: &Path, include: &[&str]) -> Result<()> {
    tools::require(&["debootstrap"])?;
    let mut command = Command::new("debootstrap");
    command.args(["--variant=minbase"]);
    if !include.is_empty() {
        command.arg(format!("--include={}", include.join(",")));
    }
    command.arg(base_images::SUITE).arg(root);
    process::run_logged(&mut command)?;
    // Package lists and caches are what the official images also leave out.
    for dir in ["var/lib/apt/lists", "var/cache/apt"] {
        let dir = root.join(dir);
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_file() {
                fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

/// `tar | docker import` with `--change` instructions.
fn import(root: &Path, tag: &str, changes: &[String]) -> Result<()> {
    let log = process::Log::setup();
    let entry = log.entry(&format!(
        "tar --numeric-owner -C {} -c . | docker import - {tag}",
        root.display()
    ))?;
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .stderr(entry.try_clone()?)
        .spawn()
        .context("cannot run tar")?;
    let stdout = tar.stdout.take().context("tar has no stdout")?;
    let mut import = docker::docker();
    import.arg("import");
    for change in changes {
        import.args(["--change", change]);
    }
    let status = import
        .args(["-", tag])
        .stdin(stdout)
        .stdout(entry.try_clone()?)
        .stderr(entry)
        .status()
        .context("cannot run docker import")?;
    let tar_status = tar.wait()?;
    if !status.success() || !tar_status.success() {
        return Err(log.failure(&format!(
            "importing {} as {tag} failed (tar: {tar_status}, docker import: {status})",
            root.display()
        )));
    }
    Ok(())
}

fn debian_base(tag: &str) -> Result<()> {
    let work = WorkDir::new("debian")?;
    debootstrap(&work.0, &[])?;
    import(
        &work.0,
        tag,
        &[format!("ENV {PATH_ENV}"), r#"CMD ["bash"]"#.to_owned()],
    )
}

/// Debian with gcc and libc6-dev (the linker and static glibc) plus the host's toolchain,
/// laid out as the official rust images lay it out.
fn rust_toolchain(tag: &str) -> Result<()> {
    let work = WorkDir::new("rust")?;
    let root = &work.0;
    debootstrap(root, &["ca-certificates", "gcc", "libc6-dev"])?;
    // Trust what the host trusts: behind a TLS-intercepting proxy, cargo needs its CA.
    if Path::new(HOST_CA_BUNDLE).exists() {
        fs::copy(
            HOST_CA_BUNDLE,
            root.join("etc/ssl/certs/ca-certificates.crt"),
        )?;
    }
    let sysroot = PathBuf::from(process::capture(
        Command::new("rustc").args(["--print", "sysroot"]),
    )?);
    let version = process::capture(Command::new("rustc").arg("--version"))?
        .split_whitespace()
        .nth(1)
        .context("unexpected `rustc --version` output")?
        .to_owned();
    let toolchain = format!("{version}-x86_64-unknown-linux-gnu");
    let toolchain_dir = root.join("usr/local/rustup/toolchains").join(&toolchain);
    fs::create_dir_all(&toolchain_dir)?;
    // The toolchain without its 800 MB of HTML documentation.
    copy_tree(&sysroot, &toolchain_dir, "./share/doc")?;
    fs::write(
        root.join("usr/local/rustup/settings.toml"),
        format!(
            "version = \"12\"\ndefault_toolchain = \"{toolchain}\"\nprofile = \"minimal\"\n\n[overrides]\n"
        ),
    )?;
    let cargo_bin = root.join("usr/local/cargo/bin");
    fs::create_dir_all(&cargo_bin)?;
    let rustup = process::find_on_path("rustup")
        .context("rustup is not on PATH; the local toolchain image needs it")?;
    fs::copy(&rustup, cargo_bin.join("rustup"))?;
    for entry in fs::read_dir(sysroot.join("bin"))? {
        let name = entry?.file_name();
        std::os::unix::fs::symlink("rustup", cargo_bin.join(&name))?;
    }
    import(
        root,
        tag,
        &[
            "ENV RUSTUP_HOME=/usr/local/rustup".to_owned(),
            "ENV CARGO_HOME=/usr/local/cargo".to_owned(),
            "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            format!("ENV RUST_VERSION={version}"),
            r#"CMD ["bash"]"#.to_owned(),
        ],
    )
}

/// What gcr.io/distroless/static-debian12:nonroot holds: users, groups, CA certificates,
/// time zones and a writable /tmp; no shell, no libc, no package manager.
fn distroless_static(tag: &str) -> Result<()> {
    let work = WorkDir::new("distroless")?;
    let root = &work.0;
    for dir in ["etc/ssl/certs", "usr/share", "tmp", "home/nonroot"] {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )?;
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
    )?;
    fs::write(
        root.join("etc/nsswitch.conf"),
        "passwd: files\ngroup: files\nhosts: files dns\n",
    )?;
    fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\nVERSION=\"Debian GNU/Linux 12 (bookworm)\"\nHOME_URL=\"https://github.com/GoogleContainerTools/distroless\"\n",
    )?;
    if Path::new(HOST_CA_BUNDLE).exists() {
        fs::copy(
            HOST_CA_BUNDLE,
            root.join("etc/ssl/certs/ca-certificates.crt"),
        )?;
    }
    if Path::new("/usr/share/zoneinfo").exists() {
        process::run_logged(
            Command::new("cp")
                .args(["-a", "/usr/share/zoneinfo"])
                .arg(root.join("usr/share/")),
        )?;
    }
    process::run_logged(Command::new("chmod").arg("1777").arg(root.join("tmp")))?;
    process::run_logged(
        Command::new("chown")
            .arg("65532:65532")
            .arg(root.join("home/nonroot")),
    )?;
    import(
        root,
        tag,
        &[
            "USER 65532".to_owned(),
            "WORKDIR /home/nonroot".to_owned(),
            format!("ENV {PATH_ENV}"),
            "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".to_owned(),
        ],
    )
}

/// Copies `from` into `to` (which exists), leaving out `exclude`, with two piped tars.
fn copy_tree(from: &Path, to: &Path, exclude: &str) -> Result<()> {
    let log = process::Log::setup();
    let entry = log.entry(&format!(
        "tar -C {} --exclude={exclude} -cf - . | tar -C {} -xf -",
        from.display(),
        to.display()
    ))?;
    let mut create = Command::new("tar")
        .arg("-C")
        .arg(from)
        .arg(format!("--exclude={exclude}"))
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .stderr(entry.try_clone()?)
        .spawn()
        .context("cannot run tar")?;
    let stdout = create.stdout.take().context("tar has no stdout")?;
    let extracted = Command::new("tar")
        .arg("-C")
        .arg(to)
        .args(["-xf", "-"])
        .stdin(stdout)
        .stdout(entry.try_clone()?)
        .stderr(entry)
        .status()?;
    let created = create.wait()?;
    if !created.success() || !extracted.success() {
        return Err(log.failure(&format!(
            "copying {} to {} failed",
            from.display(),
            to.display()
        )));
    }
    Ok(())
}
