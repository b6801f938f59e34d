//! Known vulnerabilities, from trivy when it is installed: its JSON report read into typed
//! records (only the fields `scan` uses; trivy's other fields are ignored).

use std::process::Command;

use serde::Deserialize;

use crate::findings::severity::Severity;
use crate::image::archive::Source;
use crate::process;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vulnerability {
    pub(crate) id: String,
    pub(crate) package: String,
    pub(crate) installed: String,
    pub(crate) fixed: String,
    pub(crate) severity: Severity,
    pub(crate) title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Vulnerabilities {
    Checked(Vec<Vulnerability>),
    /// trivy is not installed.
    NotChecked(String),
    /// trivy is installed and failed (no database, no network, ...): a gate cannot pass.
    Failed(String),
}

/// `trivy image --format json`: results, each with its vulnerabilities.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Report {
    #[serde(default)]
    results: Vec<TargetResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetResult {
    #[serde(default)]
    vulnerabilities: Vec<Finding>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Finding {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    installed_version: String,
    fixed_version: String,
    severity: String,
    title: String,
}

/// trivy's findings for the image, or why there are none.
pub(super) fn scan(source: &Source) -> Vulnerabilities {
    if !process::available("trivy") {
        return Vulnerabilities::NotChecked(
            "trivy is not installed (https://trivy.dev); OS packages and crates are listed, \
             not matched against advisories"
                .to_owned(),
        );
    }
    let mut command = Command::new("trivy");
    command.args(["image", "--quiet", "--format", "json", "--scanners", "vuln"]);
    match source {
        Source::Engine(reference) => command.arg(reference),
        Source::Archive(path) => command.arg("--input").arg(path),
    };
    match process::capture(&mut command) {
        Ok(output) => match parse(&output) {
            Ok(found) => Vulnerabilities::Checked(found),
            Err(error) => Vulnerabilities::Failed(format!("trivy printed no report: {error}")),
        },
        Err(error) => Vulnerabilities::Failed(format!("{error:#}")),
    }
}

/// The vulnerabilities of a trivy JSON report, most severe first, each once.
fn parse(json: &str) -> serde_json::Result<Vec<Vulnerability>> {
    let report: Report = serde_json::from_str(json)?;
    let mut found: Vec<Vulnerability> = report
        .results
        .into_iter()
        .flat_map(|result| result.vulnerabilities)
        .map(|finding| Vulnerability {
            severity: Severity::parse(&finding.severity).unwrap_or(Severity::Unknown),
            id: finding.vulnerability_id,
            package: finding.pkg_name,
            installed: finding.installed_version,
            fixed: finding.fixed_version,
            title: finding.title,
        })
        .collect();
    found.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trivy_json() {
        let report = r#"{"SchemaVersion": 2, "Results": [
            {"Target": "x", "Vulnerabilities": [
                {"VulnerabilityID": "CVE-1", "PkgName": "libc6", "InstalledVersion": "2.36",
                 "FixedVersion": "2.37", "Severity": "HIGH", "Title": "t"},
                {"VulnerabilityID": "CVE-2", "PkgName": "zlib", "InstalledVersion": "1",
                 "Severity": "CRITICAL"}
            ]},
            {"Target": "y"}
        ]}"#;
        let found = parse(report).expect("a report");
        let ids: Vec<(&str, Severity)> =
            found.iter().map(|v| (v.id.as_str(), v.severity)).collect();
        assert_eq!(
            ids,
            [("CVE-2", Severity::Critical), ("CVE-1", Severity::High)]
        );
        assert_eq!(found[1].fixed, "2.37");
        assert!(parse("{}").expect("no results").is_empty());
        assert!(parse("not json").is_err());
    }
}
