//! Debian, where the stack's Python comes from: the suites mcpbench builds on, the Python each
//! carries, and debootstrap from the mirror this machine's apt uses. The docker runtime imports a
//! suite as a base image; the local runtime runs the gateway in one when the host's Python is too
//! old for the chosen release.

use std::path::Path;
use std::process::Command;

use contextforge::release::Python;

use crate::infra;
use crate::StackError;

/// A Debian release mcpbench builds on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// Debian 12: Python 3.11.
    Bookworm,
    /// Debian 13: Python 3.13.
    Trixie,
}

impl Suite {
    /// Oldest first: the first whose Python is new enough is the one chosen.
    const ALL: [Suite; 2] = [Suite::Bookworm, Suite::Trixie];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Bookworm => "bookworm",
            Suite::Trixie => "trixie",
        }
    }

    pub fn python(self) -> Python {
        match self {
            Suite::Bookworm => Python {
                major: 3,
                minor: 11,
            },
            Suite::Trixie => Python {
                major: 3,
                minor: 13,
            },
        }
    }

    /// The oldest suite whose Python is at least `python` (the newest when none is).
    pub fn for_python(python: Python) -> Suite {
        Suite::ALL
            .into_iter()
            .find(|s| s.python() >= python)
            .unwrap_or(Suite::Trixie)
    }

    /// The base image `images build` makes of it.
    pub fn base_image(self) -> String {
        format!("localhost/debian:{}", self.name())
    }
}

/// The Debian mirror this machine's apt uses: the first `URIs:` of its main archive's stanza in
/// /etc/apt/sources.list.d/debian.sources (any suite is fetched from the same archive).
fn mirror() -> Result<String, StackError> {
    const SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
    let text = std::fs::read_to_string(SOURCES).map_err(|e| {
        infra(format!(
            "cannot read the Debian mirror from {SOURCES} ({e}): pass --base with an existing image"
        ))
    })?;
    text.split("\n\n")
        .filter(|stanza| !stanza.contains("-security"))
        .find_map(|stanza| stanza.lines().find_map(|l| l.strip_prefix("URIs:")))
        .and_then(|uris| uris.split_whitespace().next().map(String::from))
        .ok_or_else(|| infra(format!("no Debian archive in {SOURCES}")))
}

/// `debootstrap --variant=minbase` of `suite` into `dir` with `include`d packages (blocking, a
/// minute or more): debootstrap itself is provisioned when absent.
pub fn debootstrap(suite: Suite, dir: &Path, include: &[&str]) -> Result<(), StackError> {
    provision::ensure(&[provision::Piece::Debootstrap]).map_err(StackError::Missing)?;
    let debootstrap = crate::which("debootstrap")
        .ok_or_else(|| infra("debootstrap was installed, yet is not found"))?;
    let mirror = mirror()?;
    let _ = std::fs::remove_dir_all(dir);
    let mut command = Command::new(debootstrap);
    command.arg("--variant=minbase");
    if !include.is_empty() {
        command.arg(format!("--include={}", include.join(",")));
    }
    crate::run_checked(command.arg(suite.name()).arg(dir).arg(&mirror))
        .map_err(|e| infra(format!("cannot make Debian {}: {e}", suite.name())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_release_gets_the_oldest_suite_with_its_python() {
        use contextforge::release::Release;
        let suite = |v: &str| Suite::for_python(v.parse::<Release>().unwrap().minimum_python());
        assert_eq!(suite("1.0.7.post20260921"), Suite::Bookworm);
        assert_eq!(suite("1.1.0"), Suite::Trixie);
        assert_eq!(Suite::Trixie.base_image(), "localhost/debian:trixie");
    }
}
