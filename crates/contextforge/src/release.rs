//! Which ContextForge release runs: a version as PyPI spells it, the releases mcpbench knows by
//! name, and the Python each needs (`requires-python` of the published packages, checked on
//! 2026-12-02: see `docs/contextforge.md`).

use serde::{Deserialize, Serialize};

/// The PyPI package every release is published as.
pub(crate) const PACKAGE: &str = "mcp-contextforge-gateway";

/// A ContextForge release by its PyPI version (`1.1.0`, `1.0.7.post20260921`, `1.2.0rc1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Release(String);

/// A Python version, major and minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Python {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for Python {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Release {
    /// The newest release (October 2026).
    pub fn newest() -> Release {
        Release("1.1.0".into())
    }

    /// The newest release that installs on Python 3.11 (Debian bookworm's).
    pub fn newest_for_python_3_11() -> Release {
        Release("1.0.7.post20260921".into())
    }

    /// The lowest Python it installs on: 1.0.8 and later say `>=3.12`, earlier ones `>=3.11`.
    pub fn minimum_python(&self) -> Python {
        if self.release_numbers() >= [1, 0, 8] {
            Python {
                major: 3,
                minor: 12,
            }
        } else {
            Python {
                major: 3,
                minor: 11,
            }
        }
    }

    /// The pip requirement that installs exactly this release.
    pub fn pip_requirement(&self) -> String {
        format!("{PACKAGE}=={}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The leading numbers (`1.0.7.post2` → 1, 0, 7), three of them, missing ones 0.
    fn release_numbers(&self) -> [u64; 3] {
        let mut numbers = [0; 3];
        let leading = self.0.split('.').map_while(|part| part.parse::<u64>().ok());
        for (slot, n) in numbers.iter_mut().zip(leading) {
            *slot = n;
        }
        numbers
    }
}

impl std::str::FromStr for Release {
    type Err = String;

    /// A version starts with a digit and holds only what PEP 440 versions hold (letters, digits,
    /// `.`, `+`, `!`, `-`, `_`): it ends up in a pip requirement and an image tag.
    fn from_str(text: &str) -> Result<Release, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || ".+!-_".contains(c);
        if text.starts_with(|c: char| c.is_ascii_digit()) && text.chars().all(allowed) {
            Ok(Release(text.to_string()))
        } else {
            Err(format!(
                "'{text}' is not a ContextForge release version (like {})",
                Release::newest()
            ))
        }
    }
}

impl TryFrom<String> for Release {
    type Error = String;
    fn try_from(text: String) -> Result<Release, String> {
        text.parse()
    }
}

impl From<Release> for String {
    fn from(release: Release) -> String {
        release.0
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_python_a_release_needs_follows_its_version() {
        let python = |v: &str| v.parse::<Release>().unwrap().minimum_python().to_string();
        assert_eq!(python("1.0.7.post20260921"), "3.11");
        assert_eq!(python("1.0.7"), "3.11");
        assert_eq!(python("1.0.8"), "3.12");
        assert_eq!(python("1.1.0"), "3.12");
        assert_eq!(python("1.2.0rc1"), "3.12");
        assert_eq!(python("2"), "3.12");
        assert_eq!(python("0.9"), "3.11");
        assert_eq!(Release::newest().minimum_python().to_string(), "3.12");
    }

    #[test]
    fn only_version_spellings_are_releases() {
        for bad in ["", "latest", "1.0 ", "../1.0", "1.0;rm", "v1.1.0", "1/0"] {
            assert!(bad.parse::<Release>().is_err(), "{bad:?}");
        }
        let release: Release = "1.1.0".parse().unwrap();
        assert_eq!(release.pip_requirement(), "mcp-contextforge-gateway==1.1.0");
        let json = serde_json::to_string(&release).unwrap();
        assert_eq!(json, "\"1.1.0\"");
        assert!(serde_json::from_str::<Release>("\"x\"").is_err());
    }
}
