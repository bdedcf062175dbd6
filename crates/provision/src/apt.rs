//! apt-get, run the way an unattended install must: no questions, the package lists refreshed
//! once per process, and waiting (not failing) while another install holds dpkg's lock.

use std::process::{Command, Stdio};
use std::sync::Once;

/// How long to wait for another apt-get or dpkg to finish.
const LOCK_TIMEOUT: &str = "DPkg::Lock::Timeout=300";

static UPDATED: Once = Once::new();

/// Installs `packages`; the error is apt-get's exit status and last line of output.
pub fn install(packages: &[&str]) -> Result<(), String> {
    // A fresh machine (or container) has no package lists; refreshing them once is enough.
    let mut update_failed = None;
    UPDATED.call_once(|| update_failed = run(&["update", "-qq"]).err());
    if let Some(e) = update_failed {
        return Err(format!("apt-get update: {e}"));
    }
    let mut args = vec!["install", "-y", "-qq"];
    args.extend_from_slice(packages);
    run(&args)
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new("apt-get")
        .args(["-o", LOCK_TIMEOUT])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(if out.stderr.is_empty() {
        &out.stdout
    } else {
        &out.stderr
    });
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(format!("{} ({last})", out.status))
}
