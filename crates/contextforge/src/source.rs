//! A ContextForge source checkout (`--gateway-source`): checked to be one (its `pyproject.toml`
//! names the package), with the version and Python its `[project]` table declares, and the git
//! revision and dirty state a report records so a developer knows which code was measured.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::release::{Python, Release, PACKAGE};

/// What a report records of a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRevision {
    /// The checkout's absolute path.
    pub path: String,
    /// `git rev-parse HEAD`; None when the directory is not a git checkout.
    pub revision: Option<String>,
    /// Whether `git status` shows changes (tracked or untracked) beside that revision.
    pub dirty: bool,
}

/// A checkout, inspected.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub dir: PathBuf,
    /// The `[project] version` (as written: `1.0.7-20260921` stays so).
    pub version: Release,
    /// The lowest Python of its `requires-python` (`>=3.12,<3.14` → 3.12).
    pub minimum_python: Python,
    pub revision: SourceRevision,
}

impl Checkout {
    /// Inspects `dir`; an error says in one line why it is not a ContextForge checkout.
    pub fn inspect(dir: &Path) -> Result<Checkout, String> {
        let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pyproject = dir.join("pyproject.toml");
        let text = std::fs::read_to_string(&pyproject).map_err(|e| {
            format!(
                "{} is not a ContextForge checkout: {}: {e}",
                dir.display(),
                pyproject.display()
            )
        })?;
        let project = project_fields(&text);
        let field = |name: &str| {
            project
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if field("name") != Some(PACKAGE) {
            return Err(format!(
                "{} is not a ContextForge checkout: its pyproject.toml does not name {PACKAGE}",
                dir.display()
            ));
        }
        let version = field("version")
            .ok_or_else(|| format!("{}: no static [project] version", pyproject.display()))?
            .parse()?;
        let minimum_python = field("requires-python")
            .and_then(lowest_python)
            .ok_or_else(|| format!("{}: no `requires-python = \">=X.Y…\"`", pyproject.display()))?;
        Ok(Checkout {
            revision: revision(&dir),
            dir,
            version,
            minimum_python,
        })
    }
}

/// The `key = "value"` lines of the `[project]` table (strings only: what is read here).
fn project_fields(pyproject: &str) -> Vec<(String, String)> {
    let mut in_project = false;
    let mut fields = Vec::new();
    for line in pyproject.lines().map(str::trim) {
        if line.starts_with('[') {
            in_project = line == "[project]";
            continue;
        }
        let Some((key, value)) = line.split_once('=').filter(|_| in_project) else {
            continue;
        };
        let value = value.trim();
        if let Some(text) = value.strip_prefix('"').and_then(|v| v.split('"').next()) {
            fields.push((key.trim().to_string(), text.to_string()));
        }
    }
    fields
}

/// `>=3.12,<3.14` → 3.12.
fn lowest_python(spec: &str) -> Option<Python> {
    let lowest = spec
        .split(',')
        .find_map(|part| part.trim().strip_prefix(">="))?;
    let mut numbers = lowest.trim().split('.').map(|n| n.parse::<u32>().ok());
    Some(Python {
        major: numbers.next()??,
        minor: numbers.next().flatten().unwrap_or(0),
    })
}

/// The checkout's git revision and whether it has changes; no git or no repository: unknown
/// revision, not dirty.
fn revision(dir: &Path) -> SourceRevision {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let revision = git(&["rev-parse", "HEAD"]);
    let dirty =
        revision.is_some() && git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    SourceRevision {
        path: dir.display().to_string(),
        revision,
        dirty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYPROJECT: &str = r#"
[build-system]
requires = ["setuptools>=78.1.1"]

[project]
name = "mcp-contextforge-gateway"
version = "1.0.7-20260921"
requires-python = ">=3.11,<3.14"

[project.optional-dependencies]
name = "not this one"
"#;

    #[test]
    fn a_checkout_is_read_from_its_project_table() {
        let dir = std::env::temp_dir().join(format!("cf-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pyproject.toml"), PYPROJECT).unwrap();
        let checkout = Checkout::inspect(&dir).unwrap();
        assert_eq!(checkout.version.as_str(), "1.0.7-20260921");
        assert_eq!(checkout.minimum_python.to_string(), "3.11");
        assert_eq!(checkout.revision.revision, None, "not a git checkout");
        assert!(!checkout.revision.dirty);
        std::fs::write(dir.join("pyproject.toml"), "[project]\nname = \"other\"\n").unwrap();
        let refused = Checkout::inspect(&dir).unwrap_err();
        assert!(refused.contains("not a ContextForge checkout"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Checkout::inspect(&dir).is_err(), "no directory");
    }

    #[test]
    fn the_lowest_python_is_the_lower_bound() {
        assert_eq!(lowest_python(">=3.12,<3.14").unwrap().to_string(), "3.12");
        assert_eq!(lowest_python("<3.14, >=3.11").unwrap().to_string(), "3.11");
        assert!(lowest_python("<3.14").is_none());
    }
}
