//! provision: the system pieces mcpbench needs from the machine it runs on, and nothing else.
//!
//! Each [`Piece`] knows how to tell it is present and which Debian packages make it. [`ensure`]
//! installs the missing ones — with `apt-get`, one announced line each — when it may: as root, on
//! Debian or Ubuntu, unless `MCPBENCH_NO_INSTALL` is set. Otherwise it returns [`Missing`], whose
//! one line names exactly what to install (the commands map it to exit status 5).

mod apt;
pub mod engine;
mod piece;

use std::fmt;
use std::path::PathBuf;

pub use piece::{postgres_bin_dir, Piece};

/// Set (to anything but empty or `0`): never install packages; say what is missing instead.
pub const NO_INSTALL_VARIABLE: &str = "MCPBENCH_NO_INSTALL";

/// Why missing pieces were not installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `MCPBENCH_NO_INSTALL` asked not to.
    OptedOut,
    /// Installing packages needs root.
    NotRoot,
    /// Not a Debian or Ubuntu system (no `apt-get`).
    NoApt,
    /// apt-get ran and failed, or the piece is still absent after it.
    Failed(String),
    /// Only checked, as asked (`provision --check`).
    Checked,
}

/// Pieces that are absent and were not installed, with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Missing {
    pub pieces: Vec<Piece>,
    pub refusal: Refusal,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what: Vec<String> = self
            .pieces
            .iter()
            .map(|p| format!("{} ({})", p.name(), p.needed_for()))
            .collect();
        let packages = packages(&self.pieces).join(" ");
        write!(f, "missing {}: ", what.join(", "))?;
        match &self.refusal {
            Refusal::OptedOut => write!(
                f,
                "{NO_INSTALL_VARIABLE} is set, so install them yourself: apt-get install {packages}"
            ),
            Refusal::NotRoot => write!(
                f,
                "install them with `sudo apt-get install {packages}` (or run this as root: mcpbench \
                 installs them itself)"
            ),
            Refusal::NoApt => write!(
                f,
                "install them with this system's package manager (on Debian or Ubuntu: apt-get \
                 install {packages})"
            ),
            Refusal::Failed(why) => write!(f, "apt-get install {packages} failed: {why}"),
            Refusal::Checked => write!(
                f,
                "install them with `apt-get install {packages}` (or `cargo xtask provision` as root)"
            ),
        }
    }
}

/// The Debian packages that make `pieces`, each once, in order.
fn packages(pieces: &[Piece]) -> Vec<&'static str> {
    let mut all: Vec<&'static str> = Vec::new();
    for package in pieces.iter().flat_map(|p| p.packages()) {
        if !all.contains(package) {
            all.push(package);
        }
    }
    all
}

/// Whether this process may install packages, or why not.
fn permission() -> Result<(), Refusal> {
    let opted_out =
        std::env::var_os(NO_INSTALL_VARIABLE).is_some_and(|v| !v.is_empty() && v != "0");
    if opted_out {
        return Err(Refusal::OptedOut);
    }
    // SAFETY: geteuid(2) has no arguments, cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Refusal::NotRoot);
    }
    if which("apt-get").is_none() || !std::path::Path::new("/etc/debian_version").exists() {
        return Err(Refusal::NoApt);
    }
    Ok(())
}

/// Makes every piece of `pieces` present: the absent ones are installed when this process may
/// (see the crate's documentation), each announced on stderr first. Returns the pieces it
/// installed; blocking (apt-get may take minutes).
pub fn ensure(pieces: &[Piece]) -> Result<Vec<Piece>, Missing> {
    let absent: Vec<Piece> = pieces.iter().copied().filter(|p| !p.present()).collect();
    if absent.is_empty() {
        return Ok(absent);
    }
    let refuse = |refusal| Missing {
        pieces: absent.clone(),
        refusal,
    };
    permission().map_err(refuse)?;
    for piece in &absent {
        eprintln!(
            "mcpbench: installing {} with apt-get: {} needs it ({NO_INSTALL_VARIABLE}=1 to refuse)",
            piece.packages().join(" "),
            piece.needed_for()
        );
        apt::install(piece.packages()).map_err(|e| refuse(Refusal::Failed(e)))?;
        piece.configure().map_err(|e| refuse(Refusal::Failed(e)))?;
    }
    let still: Vec<Piece> = absent.iter().copied().filter(|p| !p.present()).collect();
    if !still.is_empty() {
        return Err(Missing {
            pieces: still,
            refusal: Refusal::Failed("installed, yet still not found".into()),
        });
    }
    Ok(absent)
}

/// Which of `pieces` are absent, installing nothing.
pub fn check(pieces: &[Piece]) -> Vec<Piece> {
    pieces.iter().copied().filter(|p| !p.present()).collect()
}

/// The first `program` on PATH, then in the system directories a non-root user's PATH often
/// leaves out (Debian puts nginx and debootstrap in `/usr/sbin`).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(refusal: Refusal) -> String {
        Missing {
            pieces: vec![Piece::Nginx, Piece::Chromium],
            refusal,
        }
        .to_string()
    }

    #[test]
    fn the_line_names_every_piece_and_the_exact_packages() {
        for refusal in [
            Refusal::OptedOut,
            Refusal::NotRoot,
            Refusal::NoApt,
            Refusal::Failed("exit status 100".into()),
            Refusal::Checked,
        ] {
            let line = missing(refusal);
            assert_eq!(line.lines().count(), 1, "{line}");
            assert!(line.starts_with("missing nginx ("), "{line}");
            assert!(line.contains("chromium ("), "{line}");
            assert!(
                line.contains("apt-get install nginx-light chromium"),
                "{line}"
            );
        }
        assert!(missing(Refusal::NotRoot).contains("sudo apt-get install"));
        assert!(missing(Refusal::OptedOut).contains(NO_INSTALL_VARIABLE));
    }

    #[test]
    fn packages_shared_by_pieces_are_named_once() {
        assert_eq!(
            packages(&[Piece::PythonVenv, Piece::PythonVenv, Piece::Nginx]),
            ["python3", "python3-venv", "nginx-light"]
        );
    }

    #[test]
    fn present_pieces_need_no_permission() {
        // Whatever this machine lacks, an empty request is always satisfied without apt.
        assert_eq!(ensure(&[]), Ok(vec![]));
    }

    #[test]
    fn which_looks_in_the_system_directories_too() {
        assert!(which("sh").is_some());
        assert!(which("no-such-program-mcpbench").is_none());
    }
}
