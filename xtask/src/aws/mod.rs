//! AWS through the AWS CLI (`aws`), chosen over the AWS SDK for Rust: it follows the user's
//! whole credential chain (environment, profiles, SSO, web identity in CI, instance and task
//! roles) exactly as every other AWS tool on the machine does, and it costs `cargo xtask` no
//! compile time (the SDK's ECR and ECS clients would add minutes to the first compile that
//! `cargo xtask compare` waits for). `AWS_ENDPOINT_URL` points it at another endpoint, such as
//! moto's server in the tests.

pub(crate) mod cloudformation;

use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

/// `--region`, else `AWS_REGION` or `AWS_DEFAULT_REGION`.
pub(crate) fn region(flag: Option<&str>) -> Result<String> {
    if let Some(region) = flag {
        return Ok(region.to_owned());
    }
    for variable in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(region) = std::env::var(variable).ok().filter(|r| !r.is_empty()) {
            return Ok(region);
        }
    }
    anyhow::bail!("no AWS region: give --region, or set AWS_REGION")
}

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

impl std::error::Error for AwsError {}

const CREDENTIAL_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "AuthFailure",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "NoCredentials",
    "403",
];

/// Reads the error line of the CLI's stderr.
pub(crate) fn parse_error(stderr: &str) -> AwsError {
    let text = stderr.trim();
    if let Some((code, rest)) = text
        .split("An error occurred (")
        .nth(1)
        .and_then(|rest| rest.split_once(')'))
    {
        {
            let message = rest
                .split_once(": ")
                .map_or(rest, |(_, message)| message)
                .trim();
            // An error body the CLI could not parse (XML from a JSON service) keeps its code
            // inside: `<Code>InvalidClientTokenId</Code><Message>...</Message>`.
            let element = |name: &str| {
                let open = format!("<{name}>");
                let start = message.find(&open)? + open.len();
                let end = message[start..].find(&format!("</{name}>"))?;
                Some(message[start..start + end].to_owned())
            };
            return AwsError {
                code: element("Code").unwrap_or_else(|| code.to_owned()),
                message: element("Message").unwrap_or_else(|| message.to_owned()),
            };
        }
    }
    if text.contains("Unable to locate credentials")
        || text.contains("could not be found") && text.contains("profile")
    {
        return AwsError {
            code: "NoCredentials".to_owned(),
            message: text.lines().last().unwrap_or(text).to_owned(),
        };
    }
    if text.contains("Could not connect to the endpoint URL") || text.contains("Connect timeout") {
        return AwsError {
            code: "EndpointUnreachable".to_owned(),
            message: text.lines().last().unwrap_or(text).to_owned(),
        };
    }
    AwsError {
        code: "Error".to_owned(),
        message: text.lines().last().unwrap_or(text).to_owned(),
    }
}

/// What to do about an error, in one line.
pub(crate) fn explain(error: &AwsError) -> anyhow::Error {
    if CREDENTIAL_CODES.contains(&error.code.as_str()) {
        anyhow!(
            "AWS refused the credentials ({error}): check `aws sts get-caller-identity`, \
             AWS_PROFILE or `aws configure`"
        )
    } else if error.code.starts_with("AccessDenied") {
        anyhow!(
            "AWS denied the call ({error}): the credentials work but lack a permission; grant \
             the action it names to the role or user"
        )
    } else if error.code == "EndpointUnreachable" {
        anyhow!(
            "the AWS endpoint is unreachable ({}): check the network, --region and \
             AWS_ENDPOINT_URL",
            error.message
        )
    } else {
        anyhow!("AWS: {error}")
    }
}

/// The AWS CLI, with the region when one is given.
pub(crate) struct Aws {
    region: Option<String>,
}

impl Aws {
    /// For `--region`, else the environment's region (a region is required).
    pub(crate) fn in_region(flag: Option<&str>) -> Result<Self> {
        Self::new(Some(&region(flag)?))
    }

    pub(crate) fn new(region: Option<&str>) -> Result<Self> {
        crate::tools::require(&["aws"])?;
        Ok(Self {
            region: region.map(str::to_owned),
        })
    }

    fn command(&self, service: &str, operation: &str, args: &[&str]) -> Command {
        let mut command = Command::new("aws");
        command
            .args([service, operation])
            .args(args)
            .args(["--output", "json"])
            .stdin(Stdio::null());
        if let Some(region) = &self.region {
            command.args(["--region", region]);
        }
        command
    }

    /// Calls `aws SERVICE OPERATION ARGS`; `Err(AwsError)` is what AWS answered.
    pub(crate) fn call(
        &self,
        service: &str,
        operation: &str,
        args: &[&str],
    ) -> Result<std::result::Result<Value, AwsError>> {
        let output = self
            .command(service, operation, args)
            .output()
            .context("cannot run the AWS CLI")?;
        if !output.status.success() {
            return Ok(Err(parse_error(&String::from_utf8_lossy(&output.stderr))));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        if text.trim().is_empty() {
            return Ok(Ok(Value::Null));
        }
        serde_json::from_str(&text)
            .map(Ok)
            .with_context(|| format!("aws {service} {operation} printed no JSON"))
    }

    /// `aws SERVICE OPERATION ARGS` for an operation that prints text, not JSON (such as
    /// `ecr get-login-password`); every AWS error explained as a failure.
    pub(crate) fn text(&self, service: &str, operation: &str, args: &[&str]) -> Result<String> {
        let output = self
            .command(service, operation, args)
            .output()
            .context("cannot run the AWS CLI")?;
        if !output.status.success() {
            return Err(explain(&parse_error(&String::from_utf8_lossy(
                &output.stderr,
            ))))
            .with_context(|| format!("aws {service} {operation}"));
        }
        String::from_utf8(output.stdout)
            .map(|text| text.trim().to_owned())
            .with_context(|| format!("aws {service} {operation} printed no text"))
    }

    /// Like [`Aws::call`], every AWS error explained as a failure.
    pub(crate) fn require(&self, service: &str, operation: &str, args: &[&str]) -> Result<Value> {
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
        let unreachable =
            parse_error("\nCould not connect to the endpoint URL: \"http://127.0.0.1:1/\"\n");
        assert_eq!(unreachable.code, "EndpointUnreachable");
        let xml = parse_error(
            "An error occurred (403) when calling the DescribeRepositories operation: <?xml \
             version=\"1.0\"?><ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>\
             <Message>The security token included in the request is invalid.</Message>",
        );
        assert_eq!(xml.code, "InvalidClientTokenId");
        assert_eq!(
            xml.message,
            "The security token included in the request is invalid."
        );
        assert!(
            explain(&parse_error(
                "Unable to locate credentials. You can configure ..."
            ))
            .to_string()
            .starts_with("AWS refused the credentials")
        );
    }
}
