//! Python virtual environments made on first use and cached: created under an exclusive file
//! lock (so concurrent `up`s or test processes never run pip into the same venv at once) and
//! marked ready only once the requirement is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Ensures `venv` exists with `requirement` installed; returns its `bin/` directory.
/// Blocking: pip may take a minute.
pub fn ensure_venv(venv: &Path, requirement: &str) -> Result<PathBuf, String> {
    let marker = venv.join(".mcpbench-ready");
    let ready = || std::fs::read_to_string(&marker).is_ok_and(|r| r == requirement);
    if ready() {
        return Ok(venv.join("bin"));
    }
    let parent = venv
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", venv.display()))?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let mut lock_path = venv.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    // Held until this function returns (pip is done, or failed).
    let _lock = crate::lock::FileLock::acquire(&lock_path)
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if ready() {
        return Ok(venv.join("bin"));
    }
    provision::ensure(&[provision::Piece::PythonVenv]).map_err(|m| m.to_string())?;
    let python3 = crate::which("python3").ok_or("python3 was installed, yet is not found")?;
    crate::run_checked(Command::new(python3).args(["-m", "venv"]).arg(venv))?;
    crate::run_checked(Command::new(venv.join("bin/python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        requirement,
    ]))?;
    std::fs::write(&marker, requirement).map_err(|e| format!("{}: {e}", marker.display()))?;
    Ok(venv.join("bin"))
}
