//! What the multi-stage Dockerfile's final stage declares (user, port, entrypoint, health
//! check, stop signal, labels, the file it copies from the builder), read from the Dockerfile
//! itself: the daemonless build makes the same image without a second copy of these settings.
//! Only the instructions a final stage of this project uses are understood; any other is
//! refused by name rather than silently left out of the image.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::measure::time;

/// The build arguments the final stages read (labels) and the builder bakes into the binary:
/// the workspace's version, license and repository (xtask shares them with the app), the
/// commit and its time. The commit's time, not the wall clock: the same commit builds the same
/// image, labels included, and an unchanged rebuild is fully cached.
pub(crate) fn build_args(revision: &str, commit_time: Option<u64>) -> Vec<(&'static str, String)> {
    let created = time::rfc3339(commit_time.unwrap_or_else(time::now_unix));
    let mut args = vec![
        ("VERSION", env!("CARGO_PKG_VERSION").to_owned()),
        ("REVISION", revision.to_owned()),
        ("GIT_REVISION", revision.to_owned()),
        ("CREATED", created),
        ("SOURCE", env!("CARGO_PKG_REPOSITORY").to_owned()),
        ("TITLE", "app".to_owned()),
        ("LICENSES", env!("CARGO_PKG_LICENSE").to_owned()),
    ];
    if let Some(commit_time) = commit_time {
        args.push(("SOURCE_DATE_EPOCH", commit_time.to_string()));
    }
    args
}

/// A final stage's declarations, with `${ARG}`s substituted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FinalStage {
    /// What `FROM` names, `${...}` left as written (`scratch`, or the distroless base's variable).
    pub(crate) from: String,
    pub(crate) user: Option<String>,
    pub(crate) exposed: Vec<String>,
    pub(crate) stop_signal: Option<String>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) healthcheck: Option<Healthcheck>,
    /// `COPY --from=builder SOURCE DESTINATION`: the builder's file and where the image has it.
    pub(crate) copy: (String, String),
}

/// `HEALTHCHECK`, in Docker's image-config form (durations in nanoseconds).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Healthcheck {
    pub(crate) test: Vec<String>,
    pub(crate) interval_ns: u64,
    pub(crate) timeout_ns: u64,
    pub(crate) start_period_ns: u64,
    pub(crate) retries: u64,
}

impl Healthcheck {
    pub(crate) fn to_json(&self) -> Value {
        serde_json::json!({
            "Test": self.test,
            "Interval": self.interval_ns,
            "Timeout": self.timeout_ns,
            "StartPeriod": self.start_period_ns,
            "Retries": self.retries,
        })
    }
}

impl FinalStage {
    /// The stage named `stage` of `dockerfile`, with build arguments `args` (the rest take their
    /// `ARG` defaults).
    pub(crate) fn parse(dockerfile: &str, stage: &str, args: &[(&str, String)]) -> Result<Self> {
        let instructions = instructions(dockerfile);
        let start = instructions
            .iter()
            .position(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                words.len() == 4
                    && words[0].eq_ignore_ascii_case("FROM")
                    && words[2].eq_ignore_ascii_case("AS")
                    && words[3] == stage
            })
            .with_context(|| format!("the Dockerfile has no stage `FROM ... AS {stage}`"))?;
        let from = instructions[start]
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        let mut stage = Self {
            from,
            user: None,
            exposed: Vec::new(),
            stop_signal: None,
            entrypoint: None,
            cmd: None,
            labels: BTreeMap::new(),
            healthcheck: None,
            copy: (String::new(), String::new()),
        };
        for line in instructions[start + 1..]
            .iter()
            .take_while(|line| !keyword_is(line, "FROM"))
        {
            let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword.to_ascii_uppercase().as_str() {
                "ARG" => {
                    let (name, default) = rest.split_once('=').unwrap_or((rest, ""));
                    let value = args
                        .iter()
                        .find(|(arg, _)| *arg == name)
                        .map_or_else(|| unquote(default), |(_, value)| value.clone());
                    values.insert(name.to_owned(), value);
                }
                "LABEL" => {
                    for (key, value) in pairs(rest)? {
                        stage.labels.insert(key, substitute(&value, &values)?);
                    }
                }
                "USER" => stage.user = Some(substitute(rest, &values)?),
                "EXPOSE" => stage.exposed.extend(rest.split_whitespace().map(|port| {
                    if port.contains('/') {
                        port.to_owned()
                    } else {
                        format!("{port}/tcp")
                    }
                })),
                "STOPSIGNAL" => stage.stop_signal = Some(rest.to_owned()),
                "ENTRYPOINT" => {
                    stage.entrypoint = Some(exec_form(rest, "ENTRYPOINT")?);
                    // As Docker does: a new entrypoint drops the command inherited from the base.
                    stage.cmd = None;
                }
                "CMD" => stage.cmd = Some(exec_form(rest, "CMD")?),
                "HEALTHCHECK" => stage.healthcheck = Some(healthcheck(rest)?),
                "COPY" => {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    match words.as_slice() {
                        [from, source, destination] if from.starts_with("--from=") => {
                            stage.copy = ((*source).to_owned(), (*destination).to_owned());
                        }
                        _ => bail!(
                            "the final stage's `COPY {rest}` is not `COPY --from=STAGE FILE PATH`, \
                             the one copy a daemonless build can make"
                        ),
                    }
                }
                other => bail!(
                    "the final stage uses `{other}`, which the daemonless build does not know: \
                     teach project/final_stage.rs what it does to the image"
                ),
            }
        }
        if stage.copy.1.is_empty() {
            bail!("the final stage copies nothing from the builder: it has no binary to ship");
        }
        Ok(stage)
    }
}

/// The instructions, continuation lines joined and comment lines dropped.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            current.push_str(continued);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            instructions.push(std::mem::take(&mut current).trim().to_owned());
        }
    }
    if !current.trim().is_empty() {
        instructions.push(current.trim().to_owned());
    }
    instructions
}

fn keyword_is(line: &str, keyword: &str) -> bool {
    line.split_whitespace()
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case(keyword))
}

fn unquote(text: &str) -> String {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
        .to_owned()
}

/// `key="value" key2=value2 ...`.
fn pairs(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .with_context(|| format!("LABEL {text:?}: expected key=value"))?;
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .with_context(|| format!("LABEL {text:?}: an unclosed quote"))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(char::is_whitespace).unwrap_or((after, ""))
        };
        pairs.push((key.trim().to_owned(), value.to_owned()));
        rest = after.trim();
    }
    Ok(pairs)
}

/// `${NAME}` and `$NAME` from the stage's arguments.
fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .with_context(|| format!("{text:?}: an unclosed ${{"))?;
            (&braced[..end], &braced[end + 1..])
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        let value = values.get(name).with_context(|| {
            format!("{text:?} uses ${name}, which the stage declares no ARG for")
        })?;
        out.push_str(value);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

fn exec_form(text: &str, keyword: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).with_context(|| {
        format!(
            "{keyword} {text}: only the exec form (a JSON array) runs in an image without a shell"
        )
    })
}

fn healthcheck(text: &str) -> Result<Healthcheck> {
    let (options, command) = text
        .split_once("CMD")
        .with_context(|| format!("HEALTHCHECK {text}: expected `[OPTIONS] CMD [...]`"))?;
    let mut check = Healthcheck {
        test: std::iter::once("CMD".to_owned())
            .chain(exec_form(command.trim(), "HEALTHCHECK CMD")?)
            .collect(),
        // Docker's defaults.
        interval_ns: 30_000_000_000,
        timeout_ns: 30_000_000_000,
        start_period_ns: 0,
        retries: 3,
    };
    for option in options.split_whitespace() {
        let (name, value) = option
            .strip_prefix("--")
            .and_then(|o| o.split_once('='))
            .with_context(|| format!("HEALTHCHECK option {option:?}: expected --name=value"))?;
        match name {
            "interval" => check.interval_ns = duration_ns(value)?,
            "timeout" => check.timeout_ns = duration_ns(value)?,
            "start-period" => check.start_period_ns = duration_ns(value)?,
            "retries" => {
                check.retries = value
                    .parse()
                    .with_context(|| format!("--retries={value}: not a count"))?;
            }
            other => bail!("HEALTHCHECK --{other}: an option the daemonless build does not know"),
        }
    }
    Ok(check)
}

/// `10s`, `500ms`, `1m`: the Go durations a Dockerfile writes, in nanoseconds.
fn duration_ns(text: &str) -> Result<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .with_context(|| format!("{text:?}: a duration needs a unit"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .with_context(|| format!("{text:?}: not a duration"))?;
    let scale = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => bail!("{text:?}: a unit of ms, s, m or h"),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_final_stages_as_docker_would() {
        let dockerfile =
            std::fs::read_to_string(crate::files::root().join("docker/Dockerfile.multi-stage"))
                .expect("the Dockerfile");
        let scratch = FinalStage::parse(&dockerfile, "scratch", &[("REVISION", "abc".to_owned())])
            .expect("the scratch stage");
        assert_eq!(scratch.from, "scratch");
        assert_eq!(scratch.user.as_deref(), Some("65532:65532"));
        assert_eq!(scratch.exposed, ["8080/tcp"]);
        assert_eq!(scratch.entrypoint, Some(vec!["/app".to_owned()]));
        assert_eq!(scratch.copy, ("/app".to_owned(), "/app".to_owned()));
        assert_eq!(scratch.labels["org.opencontainers.image.revision"], "abc");
        assert_eq!(scratch.labels["org.opencontainers.image.version"], "dev");
        let check = scratch.healthcheck.expect("a health check");
        assert_eq!(check.test, ["CMD", "/app", "healthcheck"]);
        let interval = crate::stack::shutdown::Shutdown::get().health_interval;
        assert_eq!(
            (u128::from(check.interval_ns), check.retries),
            (interval.as_nanos(), 3)
        );
        let distroless = FinalStage::parse(&dockerfile, "distroless", &[]).expect("distroless");
        assert_eq!(distroless.from, "${DISTROLESS_IMAGE}");
        assert!(distroless.labels["org.opencontainers.image.description"].contains("distroless"));
    }

    #[test]
    fn an_unknown_instruction_is_refused_by_name() {
        let error = FinalStage::parse(
            "FROM scratch AS s\nRUN echo\nCOPY --from=b /app /app\n",
            "s",
            &[],
        )
        .expect_err("RUN is refused");
        assert!(error.to_string().contains("`RUN`"), "{error}");
        let error = FinalStage::parse("FROM scratch AS s\nUSER ${NOBODY}\n", "s", &[])
            .expect_err("an undeclared variable is refused");
        assert!(error.to_string().contains("NOBODY"), "{error}");
    }
}
