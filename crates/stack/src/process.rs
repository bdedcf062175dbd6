//! Processes the local runtime starts: detached into their own process group (so the terminal's
//! Ctrl-C reaches only mcpbench, which then stops them in order), logs to a file, and
//! identified by pid *and* start time so a recycled pid is never signalled.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A started process as recorded in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    /// Clock ticks after boot at which it started (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Spawns `cmd` in a new process group with its output appended to `log`.
pub fn spawn(cmd: &mut Command, log: &Path) -> std::io::Result<ProcessId> {
    use std::os::unix::process::CommandExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()?;
    let pid = child.id();
    // The child is reaped by whoever outlives it; we track it by pid from here on.
    std::mem::forget(child);
    Ok(ProcessId {
        pid,
        start_ticks: start_ticks(pid).unwrap_or(0),
    })
}

impl ProcessId {
    /// The running process `pid`, as identified now (None if there is none).
    pub fn of(pid: u32) -> Option<ProcessId> {
        Some(ProcessId {
            pid,
            start_ticks: start_ticks(pid)?,
        })
    }

    pub fn is_alive(&self) -> bool {
        match start_ticks(self.pid) {
            Some(ticks) => ticks == self.start_ticks && !is_zombie(self.pid),
            None => false,
        }
    }

    /// Resident memory of the whole process group in KiB (a gunicorn gateway is a master and
    /// its workers); None when the process is gone.
    pub fn group_rss_kib(&self) -> Option<u64> {
        if !self.is_alive() {
            return None;
        }
        let mut total = 0;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Field 5 (after the parenthesised name): the process group.
            let in_group = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(2))
                .and_then(|g| g.parse::<u32>().ok())
                == Some(self.pid);
            if in_group {
                total += std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| {
                                v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
                            })
                    })
                    .unwrap_or(0);
            }
        }
        Some(total)
    }

    /// SIGTERM to the whole group, then SIGKILL after `grace`. True if it is gone.
    pub fn terminate(&self, grace: Duration) -> bool {
        if !self.is_alive() {
            return true;
        }
        // SAFETY: kill(2) on a process group we created; no memory effects.
        unsafe { libc::kill(-(self.pid as i32), libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            reap(self.pid);
            if !self.is_alive() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-(self.pid as i32), libc::SIGKILL) };
        std::thread::sleep(Duration::from_millis(100));
        reap(self.pid);
        !self.is_alive()
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Collects the exit status of our own child, if it is one (otherwise a no-op).
fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: waitpid with WNOHANG on a pid; no memory effects beyond `status`.
    unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_process_is_tracked_and_its_group_terminated() {
        let log = std::env::temp_dir().join(format!("stack-proc-{}.log", std::process::id()));
        let id = spawn(Command::new("sh").args(["-c", "sleep 30 & sleep 30"]), &log).unwrap();
        assert!(id.is_alive());
        assert!(id.terminate(Duration::from_secs(2)));
        assert!(!id.is_alive());
        let recycled = ProcessId {
            pid: id.pid,
            start_ticks: id.start_ticks + 1,
        };
        assert!(
            !recycled.is_alive(),
            "another start time is another process"
        );
    }
}
