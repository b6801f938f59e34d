//! AWS through the AWS CLI (`aws`), chosen over the AWS SDK for Rust: it follows the user's
//! whole credential chain (environment, profiles, SSO, web identity in CI, instance and task
//! roles) exactly as every other AWS tool on the machine does, and it costs `cargo xtask` no
//! compile time (the SDK's clients would add minutes to the first compile that `cargo xtask
//! compare` waits for). `AWS_ENDPOINT_URL` points it at another endpoint, such as moto's server
//! in the tests.

pub(crate) mod cloudformation;

use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow};
use serde::de::DeserializeOwned;

/// Why a call failed, read from the CLI's `An error occurred (Code) when calling ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsError {
    pub(crate) code: String,
    pub(crate) message: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The codes of an answer that refuses the credentials themselves.
const CREDENTIAL_CODES: &str = "UnrecognizedClientException InvalidClientTokenId AuthFailure \
    InvalidSignatureException SignatureDoesNotMatch ExpiredToken ExpiredTokenException \
    NoCredentials 403";

/// Reads the error line of the CLI's stderr.
pub(crate) fn parse_error(stderr: &str) -> AwsError {
    let text = stderr.trim();
    let Some((code, rest)) = text
        .split("An error occurred (")
        .nth(1)
        .and_then(|rest| rest.split_once(')'))
    else {
        let code = if text.contains("Unable to locate credentials")
            || text.contains("could not be found") && text.contains("profile")
        {
            "NoCredentials"
        } else if text.contains("Could not connect to the endpoint URL")
            || text.contains("Connect timeout")
        {
            "EndpointUnreachable"
        } else {
            "Error"
        };
        let last = text.lines().last().unwrap_or(text);
        return AwsError {
            code: code.to_owned(),
            message: last.to_owned(),
        };
    };
    let message = rest.split_once(": ").map_or(rest, |(_, m)| m).trim();
    // An error body the CLI could not parse (XML from a JSON service) keeps its code inside:
    // `<Code>InvalidClientTokenId</Code><Message>...</Message>`.
    let element = |name: &str| {
        let start = message.find(&format!("<{name}>"))? + name.len() + 2;
        let end = message[start..].find(&format!("</{name}>"))?;
        Some(message[start..start + end].to_owned())
    };
    AwsError {
        code: element("Code").unwrap_or_else(|| code.to_owned()),
        message: element("Message").unwrap_or_else(|| message.to_owned()),
    }
}

/// What to do about an error, in one line.
pub(crate) fn explain(error: &AwsError) -> anyhow::Error {
    let (what, todo) = if CREDENTIAL_CODES.split(' ').any(|code| code == error.code) {
        let todo = "check `aws sts get-caller-identity`, AWS_PROFILE or `aws configure`";
        ("AWS refused the credentials", todo)
    } else if error.code.starts_with("AccessDenied") {
        let todo = "the credentials work but lack a permission; grant the action it names";
        ("AWS denied the call", todo)
    } else if error.message.contains("must specify a region") {
        let todo = "give --region, set AWS_REGION, or `aws configure`";
        ("the AWS CLI has no region", todo)
    } else if error.code == "EndpointUnreachable" {
        let todo = "check the network, --region and AWS_ENDPOINT_URL";
        ("the AWS endpoint is unreachable", todo)
    } else {
        return anyhow!("AWS: {error}");
    };
    anyhow!("{what} ({error}): {todo}")
}

/// The AWS CLI, with the region when one is given (else the CLI's own: `AWS_REGION`,
/// `AWS_DEFAULT_REGION`, the profile's).
#[derive(Debug)]
pub(crate) struct Aws {
    region: Option<String>,
}

impl Aws {
    pub(crate) fn new(region: Option<&str>) -> Result<Self> {
        crate::tools::require(&["aws"])?;
        Ok(Self {
            region: region.map(str::to_owned),
        })
    }

    /// What `aws SERVICE OPERATION ARGS` printed; `Err(AwsError)` is what AWS answered.
    fn run(
        &self,
        service: &str,
        operation: &str,
        args: &[&str],
    ) -> Result<std::result::Result<String, AwsError>> {
        let mut command = Command::new("aws");
        command.args([service, operation]).args(args);
        command.args(["--output", "json"]).stdin(Stdio::null());
        if let Some(region) = &self.region {
            command.args(["--region", region]);
        }
        let output = command.output().context("cannot run the AWS CLI")?;
        if !output.status.success() {
            return Ok(Err(parse_error(&String::from_utf8_lossy(&output.stderr))));
        }
        let text = String::from_utf8(output.stdout);
        Ok(Ok(text.with_context(|| {
            format!("aws {service} {operation} printed no text")
        })?))
    }

    /// Calls `aws SERVICE OPERATION ARGS`, its answer read as `T` (the fields xtask uses, by
    /// name; nothing printed reads as JSON `null`); `Err(AwsError)` is what AWS answered.
    pub(crate) fn call<T: DeserializeOwned>(
        &self,
        service: &str,
        operation: &str,
        args: &[&str],
    ) -> Result<std::result::Result<T, AwsError>> {
        let text = match self.run(service, operation, args)? {
            Ok(text) if text.trim().is_empty() => "null".to_owned(),
            Ok(text) => text,
            Err(error) => return Ok(Err(error)),
        };
        serde_json::from_str(&text).map(Ok).with_context(|| {
            format!("aws {service} {operation} answered in a shape xtask does not know")
        })
    }

    /// `aws SERVICE OPERATION ARGS` for an operation that prints text, not JSON (such as
    /// `ecr get-login-password`); every AWS error explained as a failure.
    pub(crate) fn text(&self, service: &str, operation: &str, args: &[&str]) -> Result<String> {
        let text = self
            .run(service, operation, args)?
            .map_err(|error| explain(&error));
        Ok(text
            .with_context(|| format!("aws {service} {operation}"))?
            .trim()
            .to_owned())
    }

    /// Like [`Aws::call`], every AWS error explained as a failure.
    pub(crate) fn answer<T: DeserializeOwned>(
        &self,
        service: &str,
        operation: &str,
        args: &[&str],
    ) -> Result<T> {
        self.call(service, operation, args)?
            .map_err(|error| explain(&error))
            .with_context(|| format!("aws {service} {operation}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_error_line() {
        let error = parse_error(
            "\nAn error occurred (RepositoryNotFoundException) when calling the \
             DescribeRepositories operation: The repository with name 'x' does not exist\n",
        );
        assert_eq!(error.code, "RepositoryNotFoundException");
        assert_eq!(error.message, "The repository with name 'x' does not exist");
        let unreachable = parse_error("\nCould not connect to the endpoint URL: \"http://x/\"\n");
        assert_eq!(unreachable.code, "EndpointUnreachable");
        let xml = parse_error(
            "An error occurred (403) when calling the X operation: <?xml version=\"1.0\"?>\
             <Code>InvalidClientTokenId</Code><Message>The token is invalid.</Message>",
        );
        assert_eq!(
            (xml.code.as_str(), xml.message.as_str()),
            ("InvalidClientTokenId", "The token is invalid.")
        );
        let none = explain(&parse_error(
            "Unable to locate credentials. You can configure ...",
        ));
        assert!(none.to_string().starts_with("AWS refused the credentials"));
    }
}
