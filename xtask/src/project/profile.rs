//! The cargo profile an image is built with: `release` (what ships), or another profile of the
//! workspace's `Cargo.toml`, such as `release-fast`, passed to the multi-stage Dockerfile as its
//! `CARGO_PROFILE` build argument and used by the host builds measured against it.

use std::fmt;

use anyhow::{Context, Result, bail};

/// The profile the Dockerfiles default to and the images ship with.
pub(crate) const SHIPPED: &str = "release";

/// A cargo profile known to the workspace, with the settings its `[profile.NAME]` table writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CargoProfile {
    pub(crate) name: String,
    /// `(key, value)` as written, `("lto", "\"fat\"")`, in file order.
    pub(crate) settings: Vec<(String, String)>,
}

impl CargoProfile {
    /// `name` as the workspace's `Cargo.toml` defines it; an unknown name is refused with the
    /// names there are.
    pub(crate) fn load(name: &str) -> Result<Self> {
        let path = crate::files::root().join("Cargo.toml");
        let manifest = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_manifest(&manifest, name)
    }

    /// `name` for building images: a profile of the workspace whose output cargo writes under
    /// its own name, as the multi-stage Dockerfile expects (`release` or one that inherits from
    /// it); `dev`, `test` and `bench` are refused before anything is built.
    pub(crate) fn for_images(name: &str) -> Result<Self> {
        let profile = Self::load(name)?;
        if profile.output_folder() != profile.name {
            bail!(
                "images are built with an optimised profile: `release`, or one of your own that \
                 inherits from it (`release-fast`); not `{name}`"
            );
        }
        Ok(profile)
    }

    /// The shipped profile, as the workspace defines it.
    pub(crate) fn shipped() -> Result<Self> {
        Self::load(SHIPPED)
    }

    pub(crate) fn from_manifest(manifest: &str, name: &str) -> Result<Self> {
        let table = format!("profile.{name}");
        let mut settings = Vec::new();
        let mut defined = BUILT_IN.contains(&name);
        // The key prefix inside this profile's tables: "" in `[profile.NAME]`, `package.app.`
        // in `[profile.NAME.package.app]`; `None` elsewhere.
        let mut prefix: Option<String> = None;
        for line in manifest.lines().map(str::trim) {
            if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                prefix = if header == table {
                    defined = true;
                    Some(String::new())
                } else {
                    header
                        .strip_prefix(&table)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .map(|rest| format!("{rest}."))
                };
            } else if let Some(prefix) = &prefix
                && !line.starts_with('#')
                && let Some((key, value)) = line.split_once('=')
            {
                settings.push((format!("{prefix}{}", key.trim()), value.trim().to_owned()));
            }
        }
        if !defined {
            let mut known: Vec<String> = BUILT_IN.iter().map(|&n| n.to_owned()).collect();
            known.extend(
                manifest
                    .lines()
                    .filter_map(|line| line.trim().strip_prefix("[profile."))
                    .filter_map(|rest| rest.strip_suffix(']'))
                    .filter(|n| !n.contains('.') && !BUILT_IN.contains(n))
                    .map(str::to_owned),
            );
            bail!(
                "no cargo profile `{name}`: the workspace's Cargo.toml knows {}; add a \
                 `[profile.{name}]` table there or pick one of those",
                known.join(", ")
            );
        }
        Ok(Self {
            name: name.to_owned(),
            settings,
        })
    }

    pub(crate) fn is_shipped(&self) -> bool {
        self.name == SHIPPED
    }

    /// The folder under `target/<triple>/` cargo writes this profile's output to.
    pub(crate) fn output_folder(&self) -> &str {
        match self.name.as_str() {
            "dev" | "test" => "debug",
            "bench" => "release",
            name => name,
        }
    }
}

/// Profiles cargo defines without a table.
const BUILT_IN: [&str; 4] = ["dev", "release", "test", "bench"];

impl fmt::Display for CargoProfile {
    /// `profile release (opt-level = 3, lto = "fat")`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "profile {}", self.name)?;
        if !self.settings.is_empty() {
            let settings: Vec<String> = self
                .settings
                .iter()
                .map(|(key, value)| format!("{key} = {value}"))
                .collect();
            write!(f, " ({})", settings.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "[profile.release]\nlto = \"fat\"\n# why\ncodegen-units = 1\n\n\
                            [profile.release-fast]\ninherits = \"release\"\nlto = false\n\n\
                            [profile.release-fast.package.app]\ncodegen-units = 4\n";

    #[test]
    fn reads_a_profile_table_and_its_settings() {
        let profile = CargoProfile::from_manifest(MANIFEST, "release-fast").expect("defined");
        assert_eq!(
            profile.to_string(),
            "profile release-fast (inherits = \"release\", lto = false, package.app.codegen-units = 4)"
        );
        assert_eq!(profile.output_folder(), "release-fast");
        assert!(!profile.is_shipped());
    }

    #[test]
    fn built_in_profiles_need_no_table() {
        let dev = CargoProfile::from_manifest("", "dev").expect("built in");
        assert_eq!((dev.output_folder(), dev.settings.len()), ("debug", 0));
    }

    #[test]
    fn an_unknown_profile_names_the_known_ones() {
        let error = CargoProfile::from_manifest(MANIFEST, "fastest")
            .expect_err("not defined")
            .to_string();
        assert_eq!(
            error,
            "no cargo profile `fastest`: the workspace's Cargo.toml knows dev, release, test, \
             bench, release-fast; add a `[profile.fastest]` table there or pick one of those"
        );
    }
}
