//! Secrets in bytes: private keys, AWS keys and common token formats, found by their fixed
//! prefixes and exact shapes (no regular-expression engine), and reported masked.
//!
//! Every rule is a fixed prefix and a length and alphabet, so `memchr` finds the candidates and a
//! few lines check each; a regex engine would be a larger compile of xtask for the same rules.

use memchr::memmem;

use crate::findings::severity::Severity;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) rule: &'static str,
    pub(crate) severity: Severity,
    /// Byte offset of the match.
    pub(crate) offset: usize,
    /// The match with its secret part replaced by `*`.
    pub(crate) masked: String,
}

/// The shape after a rule's prefix: returns the length of the secret part, if it matches.
type Body = fn(&[u8]) -> Option<usize>;

struct Rule {
    id: &'static str,
    severity: Severity,
    prefixes: &'static [&'static str],
    body: Body,
    /// Whether the character before the prefix must not be alphanumeric.
    word_start: bool,
}

const RULES: &[Rule] = &[
    Rule {
        id: "private-key",
        severity: Severity::Critical,
        prefixes: &["-----BEGIN "],
        body: private_key,
        word_start: false,
    },
    Rule {
        id: "aws-access-key-id",
        severity: Severity::Critical,
        prefixes: &["AKIA", "ASIA"],
        body: aws_access_key_id,
        word_start: true,
    },
    Rule {
        id: "aws-secret-access-key",
        severity: Severity::Critical,
        prefixes: &["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"],
        body: aws_secret_access_key,
        word_start: false,
    },
    Rule {
        id: "github-token",
        severity: Severity::High,
        prefixes: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        body: |rest| exactly(rest, 36, |b| b.is_ascii_alphanumeric()),
        word_start: true,
    },
    Rule {
        id: "github-fine-grained-token",
        severity: Severity::High,
        prefixes: &["github_pat_"],
        body: |rest| exactly(rest, 82, |b| b.is_ascii_alphanumeric() || b == b'_'),
        word_start: true,
    },
    Rule {
        id: "gitlab-token",
        severity: Severity::High,
        prefixes: &["glpat-"],
        body: |rest| {
            exactly(rest, 20, |b| {
                b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
            })
        },
        word_start: true,
    },
    Rule {
        id: "slack-token",
        severity: Severity::High,
        prefixes: &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"],
        body: |rest| at_least(rest, 10, |b| b.is_ascii_alphanumeric() || b == b'-'),
        word_start: true,
    },
    Rule {
        id: "stripe-secret-key",
        severity: Severity::High,
        prefixes: &["sk_live_"],
        body: |rest| at_least(rest, 24, |b| b.is_ascii_alphanumeric()),
        word_start: true,
    },
    Rule {
        id: "google-api-key",
        severity: Severity::High,
        prefixes: &["AIza"],
        body: |rest| {
            exactly(rest, 35, |b| {
                b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
            })
        },
        word_start: true,
    },
];

/// Exactly `n` bytes of the class, not followed by another.
fn exactly(rest: &[u8], n: usize, class: fn(u8) -> bool) -> Option<usize> {
    let run = rest.iter().take_while(|b| class(**b)).count();
    (run == n).then_some(n)
}

fn at_least(rest: &[u8], n: usize, class: fn(u8) -> bool) -> Option<usize> {
    let run = rest.iter().take(512).take_while(|b| class(**b)).count();
    (run >= n).then_some(run)
}

/// `RSA PRIVATE KEY-----` (or `EC `, `OPENSSH `, `ENCRYPTED `, none; `PGP PRIVATE KEY BLOCK`),
/// followed by a key: a line of base64 within the next few lines. A mere mention of the
/// header, in documentation or a parser, is not a key.
fn private_key(rest: &[u8]) -> Option<usize> {
    let label_end = rest
        .iter()
        .take(40)
        .position(|b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b' '))?;
    let label = &rest[..label_end];
    let labelled = label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK");
    if !(labelled && rest[label_end..].starts_with(b"-----")) {
        return None;
    }
    let after = &rest[label_end + 5..];
    let window = &after[..after.len().min(400)];
    let has_body = window.split(|b| *b == b'\n').skip(1).take(6).any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.len() >= 20
            && line
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    });
    has_body.then_some(label_end + 5)
}

fn aws_access_key_id(rest: &[u8]) -> Option<usize> {
    let n = exactly(rest, 16, |b| b.is_ascii_uppercase() || b.is_ascii_digit())?;
    // AWS documents its examples with keys ending in EXAMPLE; they are not secrets.
    (!rest[..n].ends_with(b"EXAMPLE")).then_some(n)
}

/// `aws_secret_access_key = "<40 characters>"`, with `=` or `:` and optional quotes.
fn aws_secret_access_key(rest: &[u8]) -> Option<usize> {
    let separator = rest.iter().take(8).position(|b| *b == b'=' || *b == b':')?;
    if !rest[..separator]
        .iter()
        .all(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
    {
        return None;
    }
    let value_at = separator
        + 1
        + rest[separator + 1..]
            .iter()
            .take_while(|b| **b == b' ' || **b == b'"' || **b == b'\'')
            .count();
    let n = exactly(&rest[value_at..], 40, |b| {
        b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
    })?;
    Some(value_at + n)
}

/// Every secret in `data`.
pub(crate) fn find(data: &[u8]) -> Vec<Hit> {
    let mut hits = Vec::new();
    for rule in RULES {
        for prefix in rule.prefixes {
            for offset in memmem::find_iter(data, prefix.as_bytes()) {
                if rule.word_start
                    && offset > 0
                    && (data[offset - 1].is_ascii_alphanumeric() || data[offset - 1] == b'_')
                {
                    continue;
                }
                let rest = &data[offset + prefix.len()..];
                let Some(length) = (rule.body)(rest) else {
                    continue;
                };
                hits.push(Hit {
                    rule: rule.id,
                    severity: rule.severity,
                    offset,
                    masked: mask(rule.id, prefix, &rest[..length]),
                });
            }
        }
    }
    hits.sort_by_key(|hit| hit.offset);
    hits
}

/// The prefix stays (it says what kind of secret it is); the secret becomes `*`.
fn mask(rule: &str, prefix: &str, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    match rule {
        // The BEGIN line says what kind of key it is and stays; the key itself is masked.
        "private-key" => format!("{prefix}{body}****"),
        "aws-secret-access-key" => {
            let (before, secret) = body.split_at(body.len().saturating_sub(40));
            format!("{prefix}{before}{}", "*".repeat(secret.chars().count()))
        }
        _ => format!("{prefix}{}", "*".repeat(body.chars().count())),
    }
}

/// Names that say their value is a secret: `DB_PASSWORD`, `API_TOKEN`, `AWS_SECRET_ACCESS_KEY`,
/// word by word (`TOKENIZERS_PARALLELISM` is not one); `*_FILE` names hold a path, not a secret.
pub(crate) fn sensitive_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
    ];
    const PAIRS: &[[&str; 2]] = &[["API", "KEY"], ["PRIVATE", "KEY"], ["ACCESS", "KEY"]];
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split(['_', '-', '.']).collect();
    if words.last() == Some(&"FILE") {
        return false;
    }
    words.iter().any(|word| WORDS.contains(word))
        || words
            .windows(2)
            .any(|pair| PAIRS.iter().any(|p| p[..] == *pair))
}

/// `NAME=value` pairs whose name is sensitive and whose value is set, masked; and secrets in
/// any value.
pub(crate) fn in_assignments<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value) in pairs {
        // A path names where a secret is, not the secret (`/run/secrets/db`).
        if sensitive_name(name) && !value.trim().is_empty() && !value.starts_with('/') {
            found.push(format!(
                "{name}={}",
                "*".repeat(value.chars().count().min(12))
            ));
        } else {
            found.extend(
                find(value.as_bytes())
                    .into_iter()
                    .map(|hit| format!("{name}: {} {}", hit.rule, hit.masked)),
            );
        }
    }
    found
}

/// 1-based line of `offset`.
pub(crate) fn line_of(data: &[u8], offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &data[..offset]).count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    // Assembled at run time so that this file holds no secret-shaped string for scanners.
    fn aws_key() -> String {
        ["AKIA", "Q3EGRIXLTZ2ZJ5NB"].concat()
    }

    fn rsa_header() -> String {
        ["-----BEGIN RSA ", "PRIVATE KEY-----"].concat()
    }

    #[test]
    fn finds_keys_and_tokens_masked() {
        let text = format!(
            "id = {}\n{}\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpF\ntoken: {}{}\n",
            aws_key(),
            rsa_header(),
            "ghp_",
            "a".repeat(36)
        );
        let hits = find(text.as_bytes());
        let found: Vec<(&str, &str)> = hits.iter().map(|h| (h.rule, h.masked.as_str())).collect();
        assert_eq!(
            found,
            [
                ("aws-access-key-id", "AKIA****************"),
                ("private-key", format!("{}****", rsa_header()).as_str()),
                ("github-token", "ghp_************************************"),
            ]
        );
        assert_eq!(line_of(text.as_bytes(), hits[1].offset), 2);
    }

    #[test]
    fn shapes_must_match_exactly() {
        for text in [
            // Documented example, too short, embedded in a longer word, public key.
            "AKIAIOSFODNN7EXAMPLE",
            "AKIA1234",
            "XAKIAQ3EGRIXLTZ2ZJ5NB",
            "-----BEGIN PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----",
            // A mention, as in a parser or documentation: no key follows.
            &format!("if line == \"{}\" {{\n    parse()\n}}", rsa_header()),
        ] {
            assert_eq!(find(text.as_bytes()), vec![], "{text}");
        }
        let pgp = format!(
            "{}\nVersion: 1\n\nlQOYBF0AAAABCACvIlMyKqlJ1ChjKuiLxXDPOjZrYzDSKqbxNt5s8kNXlR\n",
            ["-----BEGIN PGP ", "PRIVATE KEY BLOCK-----"].concat()
        );
        assert_eq!(find(pgp.as_bytes())[0].rule, "private-key");
        let secret = format!("aws_secret_access_key = \"{}\"", "k".repeat(40));
        let hits = find(secret.as_bytes());
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits[0].masked,
            format!("aws_secret_access_key = \"{}", "*".repeat(40))
        );
    }

    #[test]
    fn sensitive_assignments_are_masked() {
        let found = in_assignments([
            ("DB_PASSWORD", "hunter2"),
            ("PATH", "/usr/bin"),
            ("TOKENIZERS_PARALLELISM", "false"),
            ("POSTGRES_PASSWORD_FILE", "/run/secrets/db"),
            ("SECRET_PATH", "/run/secrets/db"),
            ("EMPTY_TOKEN", ""),
            ("NOTE", &aws_key()),
        ]);
        assert_eq!(
            found,
            [
                "DB_PASSWORD=*******",
                "NOTE: aws-access-key-id AKIA****************"
            ]
        );
    }
}
