//! Every command and flag `cargo xtask` understands, parsed in one place.

use anyhow::{Context, Result, bail};

use crate::variants::Variant;

pub(crate) const USAGE: &str = "\
cargo xtask <command> [flags]

Commands:
  bases     build local equivalents of the public base images (for machines without a registry)
  build     build images: single | scratch | distroless | all (default all)
              --no-cache          build every step again (a cold build)
  bench     build the static release binary, load it on loopback with wrk, print figures
              --duration SECS     seconds of load per endpoint (default 10)
              --connections N     open connections (default 64)
              --threads N         wrk threads (default 2)
  ci        the test command: format, lint, tests, benchmark smoke run
              --yes               install missing Debian packages (needs root; implied by CI=true)
  profiles  build the app under candidate release profiles; print size and throughput of each
              --duration SECS     seconds of load per endpoint and profile (default 5)
  history   show recorded builds and the trend of image sizes
              --last N            how many entries (default 15)
  help      print this text
";

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Help,
    Bases,
    Build(Build),
    Bench(Bench),
    Ci(Ci),
    Profiles(Profiles),
    History { last: u32 },
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Profiles {
    pub(crate) duration_secs: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Build {
    pub(crate) variants: Vec<Variant>,
    pub(crate) no_cache: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bench {
    pub(crate) duration_secs: u32,
    pub(crate) connections: u32,
    pub(crate) threads: u32,
}

impl Default for Bench {
    fn default() -> Self {
        Self {
            duration_secs: 10,
            connections: 64,
            threads: 2,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Default)]
pub(crate) struct Ci {
    pub(crate) yes: bool,
}

pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Command::Help);
    };
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "history" => {
            let mut last = 15;
            while let Some(flag) = args.next() {
                match flag.as_str() {
                    "--last" => last = positive(&flag, args.next())?,
                    other => bail!("unknown flag {other:?} for `history`"),
                }
            }
            Ok(Command::History { last })
        }
        "bases" => {
            no_flags("bases", args)?;
            Ok(Command::Bases)
        }
        "build" => {
            let mut variants = Vec::new();
            let mut no_cache = false;
            for word in args {
                match word.as_str() {
                    "--no-cache" => no_cache = true,
                    "all" => variants.extend(Variant::ALL),
                    name => variants.push(Variant::parse(name).with_context(|| {
                        format!("unknown image {name:?}: choose single, scratch, distroless or all")
                    })?),
                }
            }
            if variants.is_empty() {
                variants.extend(Variant::ALL);
            }
            variants.dedup();
            Ok(Command::Build(Build { variants, no_cache }))
        }
        "bench" => {
            let mut flags = Bench::default();
            while let Some(flag) = args.next() {
                let target = match flag.as_str() {
                    "--duration" => &mut flags.duration_secs,
                    "--connections" => &mut flags.connections,
                    "--threads" => &mut flags.threads,
                    other => bail!("unknown flag {other:?} for `bench`"),
                };
                *target = positive(&flag, args.next())?;
            }
            Ok(Command::Bench(flags))
        }
        "ci" => {
            let mut flags = Ci::default();
            for flag in args {
                match flag.as_str() {
                    "--yes" | "-y" => flags.yes = true,
                    other => bail!("unknown flag {other:?} for `ci`"),
                }
            }
            Ok(Command::Ci(flags))
        }
        "profiles" => {
            let mut flags = Profiles { duration_secs: 5 };
            while let Some(flag) = args.next() {
                match flag.as_str() {
                    "--duration" => flags.duration_secs = positive(&flag, args.next())?,
                    other => bail!("unknown flag {other:?} for `profiles`"),
                }
            }
            Ok(Command::Profiles(flags))
        }
        other => bail!("unknown command {other:?}"),
    }
}

fn no_flags(command: &str, mut args: impl Iterator<Item = String>) -> Result<()> {
    match args.next() {
        Some(flag) => bail!("unknown flag {flag:?} for `{command}`"),
        None => Ok(()),
    }
}

fn positive(flag: &str, value: Option<String>) -> Result<u32> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{flag} takes a positive whole number, not {value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &str) -> Result<Command> {
        parse(words.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_commands_and_flags() {
        assert_eq!(parse_words("").expect("no args"), Command::Help);
        assert_eq!(
            parse_words("bench --duration 3 --connections 8").expect("bench"),
            Command::Bench(Bench {
                duration_secs: 3,
                connections: 8,
                threads: 2
            })
        );
        assert_eq!(
            parse_words("ci --yes").expect("ci"),
            Command::Ci(Ci { yes: true })
        );
    }

    #[test]
    fn rejects_what_it_does_not_know_with_a_reason() {
        let message = |words| parse_words(words).expect_err(words).to_string();
        assert_eq!(message("deploy"), r#"unknown command "deploy""#);
        assert_eq!(
            message("bench --fast"),
            r#"unknown flag "--fast" for `bench`"#
        );
        assert_eq!(message("bench --duration"), "--duration needs a value");
        assert_eq!(
            message("bench --duration 0"),
            r#"--duration takes a positive whole number, not "0""#
        );
    }
}
