//! Python virtual environments made on first use and cached: created under an exclusive file
//! lock (so concurrent `up`s or test processes never run pip into the same venv at once) and
//! marked ready only once the requirement is installed; with the host's Python, or inside a
//! Debian root filesystem whose Python is newer.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rootfs::Rootfs;

/// Whose Python makes a venv (and runs it).
#[derive(Debug, Clone, Copy)]
pub enum PythonHome<'a> {
    /// This machine's `python3` (its venv support installed when absent).
    Host,
    /// The `python3` of a Debian root filesystem, with these host paths mounted (host → inside);
    /// the venv lies inside the tree.
    Rootfs(&'a Rootfs, &'a [(PathBuf, String)]),
}

impl PythonHome<'_> {
    /// `program` (a path as this home sees it) ready to take arguments.
    fn command(self, program: &str) -> Command {
        match self {
            PythonHome::Host => Command::new(program),
            PythonHome::Rootfs(rootfs, binds) => rootfs.command(binds, "/", program),
        }
    }

    /// `venv` (a host path) as this home's programs see it.
    fn path(self, venv: &Path) -> Result<String, String> {
        match self {
            PythonHome::Host => Ok(venv.display().to_string()),
            PythonHome::Rootfs(rootfs, _) => rootfs
                .inside_path(venv)
                .ok_or_else(|| format!("{} is not inside the root filesystem", venv.display())),
        }
    }

    fn python3(self) -> Result<String, String> {
        match self {
            PythonHome::Host => {
                provision::ensure(&[provision::Piece::PythonVenv]).map_err(|m| m.to_string())?;
                let python3 =
                    crate::which("python3").ok_or("python3 was installed, yet is not found")?;
                Ok(python3.display().to_string())
            }
            PythonHome::Rootfs(..) => Ok("python3".into()),
        }
    }
}

/// The host's `python3` version, None when there is none (or it does not say).
pub fn host_python() -> Option<contextforge::release::Python> {
    let out = Command::new(crate::which("python3")?)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut numbers = text.split_whitespace().map(|n| n.parse::<u32>().ok());
    Some(contextforge::release::Python {
        major: numbers.next()??,
        minor: numbers.next()??,
    })
}

/// Ensures `venv` (a host path) exists with `pip install PIP_ARGS` done by `home`'s Python;
/// `fingerprint` says what that installed (a different one installs again). Blocking: pip may
/// take a minute.
pub fn ensure_venv(
    venv: &Path,
    pip_args: &[String],
    fingerprint: &str,
    home: PythonHome<'_>,
) -> Result<(), String> {
    let marker = venv.join(".mcpbench-ready");
    let ready = || std::fs::read_to_string(&marker).is_ok_and(|r| r == fingerprint);
    if ready() {
        return Ok(());
    }
    let parent = venv
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", venv.display()))?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    // Held until this function returns (pip is done, or failed).
    let _lock = lock_venv(venv)?;
    if ready() {
        return Ok(());
    }
    let inside = home.path(venv)?;
    crate::run_checked(
        home.command(&home.python3()?)
            .args(["-m", "venv", "--clear"])
            .arg(&inside),
    )?;
    crate::run_checked(
        home.command(&format!("{inside}/bin/python"))
            .args(["-m", "pip", "install", "--quiet"])
            .args(pip_args),
    )?;
    std::fs::write(&marker, fingerprint).map_err(|e| format!("{}: {e}", marker.display()))
}

/// `<venv>.lock`, held by whoever changes the venv (pip is not safe to run twice at once).
fn lock_venv(venv: &Path) -> Result<crate::lock::FileLock, String> {
    let mut lock_path = venv.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    crate::lock::FileLock::acquire(&lock_path)
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))
}

/// Ensures `requirement` (one package, as pip names it) is installed in the existing `venv` (a
/// host path) made by `home`'s Python, under the venv's lock; `name` marks it done
/// (`.mcpbench-<name>`), so later calls cost a file read. Blocking: pip may take a while.
pub fn ensure_package(
    venv: &Path,
    name: &str,
    requirement: &str,
    home: PythonHome<'_>,
) -> Result<(), String> {
    let marker = venv.join(format!(".mcpbench-{name}"));
    let ready = || std::fs::read_to_string(&marker).is_ok_and(|r| r == requirement);
    if ready() {
        return Ok(());
    }
    let _lock = lock_venv(venv)?;
    if ready() {
        return Ok(());
    }
    let inside = home.path(venv)?;
    crate::run_checked(home.command(&format!("{inside}/bin/python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        requirement,
    ]))?;
    std::fs::write(&marker, requirement).map_err(|e| format!("{}: {e}", marker.display()))
}
