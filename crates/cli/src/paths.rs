//! Output locations, checked before a command does any work: a run's results are never lost to
//! a path that cannot take them after the traffic was sent.

use std::path::Path;

/// Makes sure `dir` can be created (or is there) and written in, without creating it: a refused
/// run leaves nothing behind.
pub fn ensure_writable_dir(dir: &Path) -> Result<(), String> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let existing = dir
        .ancestors()
        .find(|a| a.as_os_str().is_empty() || a.exists())
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .unwrap_or(Path::new("."));
    if !existing.is_dir() {
        return Err(format!(
            "cannot create {}: {} is not a directory",
            dir.display(),
            existing.display()
        ));
    }
    // Unique per call, not only per process: two threads checking one directory at once must
    // not remove each other's probe (a test run's parallel checks did).
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = existing.join(format!(".mcpbench-write-check-{}-{n}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("cannot write in {}: {e}", existing.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_directory_that_cannot_be_written_is_refused_up_front() {
        let base = std::env::temp_dir().join(format!("cli-out-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        assert!(ensure_writable_dir(&base.join("a/b")).is_ok());
        assert!(!base.join("a").exists(), "checking creates nothing");
        let file = base.join("file");
        std::fs::write(&file, "x").unwrap();
        let err = ensure_writable_dir(&file.join("sub")).unwrap_err();
        assert!(err.contains("cannot create"), "{err}");
    }
}
