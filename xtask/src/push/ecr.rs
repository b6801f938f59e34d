//! Amazon ECR through the AWS CLI: the repository (found, or created with scan on push,
//! immutable tags and AES-256) and the credentials of the account's registry.

use anyhow::{Context, Result};

use serde_json::Value;

use crate::aws::Aws;

/// For an ECR emulator that serves the API but not the registry (moto, in the tests): the
/// registry to push to instead of the repository URI's host.
const REGISTRY_OVERRIDE: &str = "XTASK_ECR_REGISTRY";

/// Whether the ECR repository `name` exists; the first call, so it also checks the
/// credentials and the endpoint.
pub(super) fn exists(aws: &Aws, name: &str) -> Result<bool> {
    match aws.call::<Value>(
        "ecr",
        "describe-repositories",
        &["--repository-names", name],
    )? {
        Ok(_) => Ok(true),
        Err(error) if error.code == "RepositoryNotFoundException" => Ok(false),
        Err(error) => Err(crate::aws::explain(&error)),
    }
}

/// Creates the ECR repository `name`: scan on push, immutable tags, AES-256.
pub(super) fn create(aws: &Aws, name: &str) -> Result<()> {
    let created: Value = aws.answer(
        "ecr",
        "create-repository",
        &[
            "--repository-name",
            name,
            "--image-scanning-configuration",
            "scanOnPush=true",
            "--image-tag-mutability",
            "IMMUTABLE",
            "--encryption-configuration",
            "encryptionType=AES256",
        ],
    )?;
    eprintln!(
        "created the ECR repository {} (scan on push, immutable tags, AES-256 encryption)",
        serde_json::from_value::<CreatedRepository>(created).map_or_else(
            |_| name.to_owned(),
            |created| created.repository.repository_uri
        )
    );
    Ok(())
}

/// The account's ECR registry host and a password for user `AWS` (`get-login-password`, which
/// `docker login` and the registry API take alike).
pub(super) fn credentials(aws: &Aws) -> Result<(String, String)> {
    let token: AuthorizationToken = aws.answer("ecr", "get-authorization-token", &[])?;
    let endpoint = token
        .authorization_data
        .first()
        .map(|data| data.proxy_endpoint.as_str())
        .context("get-authorization-token returned no registry")?;
    let host = endpoint
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let host = std::env::var(REGISTRY_OVERRIDE).unwrap_or(host);
    let password = aws.text("ecr", "get-login-password", &[])?;
    Ok((host, password))
}

/// What `aws ecr create-repository` answers, the part read here.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedRepository {
    repository: RepositoryUri,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepositoryUri {
    repository_uri: String,
}

/// What `aws ecr get-authorization-token` answers, the part read here.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationToken {
    authorization_data: Vec<AuthorizationData>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationData {
    proxy_endpoint: String,
}
