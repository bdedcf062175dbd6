//! Processes the local runtime starts. Each is detached into its own process group (so the
//! terminal's Ctrl-C reaches only mcpbench, which then stops them), logs to an owner-only file,
//! runs with umask 077 (what it creates — the gateway's database — is its owner's only), is
//! identified by pid *and* start time (a recycled pid is never taken for it), and carries its
//! stack's mark: `MCPBENCH_STACK=<stack id>` and `MCPBENCH_SERVICE=<name>` in its environment.
//! The mark is inherited by everything the service starts, so the stack's processes are found
//! from `/proc` alone — without the state file, or with a corrupt one.

use std::collections::BTreeSet;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The environment variable naming the stack a process belongs to.
pub const STACK_MARK: &str = "MCPBENCH_STACK";
/// The environment variable naming the service a process belongs to.
pub const SERVICE_MARK: &str = "MCPBENCH_SERVICE";

/// The mark of `service` of stack `stack`, as environment variables.
pub fn marks(stack: &str, service: &str) -> [(&'static str, String); 2] {
    [
        (STACK_MARK, stack.to_string()),
        (SERVICE_MARK, service.to_string()),
    ]
}

/// A started process as recorded in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    /// Clock ticks after boot at which it started (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

/// What `/proc/PID/stat` says about a process.
struct Stat {
    state: char,
    group: u32,
    start_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised name: state (field 3), ppid, pgrp (5), … starttime (22).
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        group: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// Every process of this machine that this user can see.
fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Spawns `cmd` marked as `service` of stack `stack`, in a new process group, with umask 077 and
/// its output appended to `log` (created 0600).
pub fn spawn(
    cmd: &mut Command,
    log: &Path,
    stack: &str,
    service: &str,
) -> std::io::Result<ProcessId> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)?;
    // A log left by an earlier version may be wider.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    cmd.envs(marks(stack, service))
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0);
    // SAFETY: between fork and exec the closure calls only umask(2), which is async-signal-safe
    // and touches nothing but the child's own file-mode mask.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = child.id();
    // Whoever outlives it reaps it; it is tracked by pid (and found by its mark) from here on.
    std::mem::forget(child);
    Ok(ProcessId {
        pid,
        start_ticks: stat(pid).map_or(0, |s| s.start_ticks),
    })
}

impl ProcessId {
    /// The running process `pid`, as identified now (None if there is none).
    pub fn of(pid: u32) -> Option<ProcessId> {
        Some(ProcessId {
            pid,
            start_ticks: stat(pid)?.start_ticks,
        })
    }

    pub fn is_alive(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start_ticks == self.start_ticks && s.state != 'Z')
    }

    /// Resident memory of the whole process group in KiB (a gunicorn gateway is a master and
    /// its workers); None when the process is gone.
    pub fn group_rss_kib(&self) -> Option<u64> {
        if !self.is_alive() {
            return None;
        }
        let rss = |pid: u32| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let value = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        };
        Some(
            all_pids()
                .into_iter()
                .filter(|pid| stat(*pid).is_some_and(|s| s.group == self.pid))
                .filter_map(rss)
                .sum(),
        )
    }
}

/// A live process carrying a stack's mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    pub pid: u32,
    /// Its process group: the service it belongs to.
    pub group: u32,
    /// The service named by its mark.
    pub service: Option<String>,
}

/// The value of variable `name` in a process's environment (`NAME=value` entries, NUL-separated).
fn env_value<'a>(environ: &'a [u8], name: &str) -> Option<&'a [u8]> {
    environ
        .split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(name.as_bytes())?.strip_prefix(b"="))
}

/// The value nginx's `-g` directive `env NAME=value;` gives variable `name` on a command line
/// (nginx's process title keeps it).
fn directive_value<'a>(cmdline: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let directive = format!("env {name}=");
    let at = cmdline
        .windows(directive.len())
        .position(|w| w == directive.as_bytes())?;
    let value = &cmdline[at + directive.len()..];
    let end = value.iter().position(|b| *b == b';')?;
    Some(&value[..end])
}

/// Every live process of this machine marked with stack `stack` (other than this one). The mark
/// is looked for in the environment, and on the command line: nginx overwrites its environment
/// with its process title, so the local runtime hands it the mark there too (`-g 'env …;'`).
pub fn marked(stack: &str) -> Vec<Marked> {
    let own = std::process::id();
    let mut found = Vec::new();
    for pid in all_pids().into_iter().filter(|pid| *pid != own) {
        let Some(stat) = stat(pid).filter(|s| s.state != 'Z') else {
            continue;
        };
        let read = |what: &str| std::fs::read(format!("/proc/{pid}/{what}")).unwrap_or_default();
        let (environ, cmdline) = (read("environ"), read("cmdline"));
        let marks = [
            (
                env_value(&environ, STACK_MARK),
                env_value(&environ, SERVICE_MARK),
            ),
            (
                directive_value(&cmdline, STACK_MARK),
                directive_value(&cmdline, SERVICE_MARK),
            ),
        ];
        if let Some((_, service)) = marks.iter().find(|(id, _)| *id == Some(stack.as_bytes())) {
            found.push(Marked {
                pid,
                group: stat.group,
                service: service.map(|s| String::from_utf8_lossy(s).into_owned()),
            });
        }
    }
    found
}

/// Whether any live process belongs to process group `group`.
fn group_is_alive(group: u32) -> bool {
    all_pids()
        .into_iter()
        .any(|pid| stat(pid).is_some_and(|s| s.group == group && s.state != 'Z'))
}

/// Sends `signal` to process group `group`.
fn signal_group(group: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory effects.
    unsafe { libc::kill(-(group as i32), signal) };
}

/// Collects the exit status of this process's own children in `group` (no-op for others), so a
/// stopped child does not linger as a zombie.
fn reap_group(group: u32) {
    let mut status = 0;
    // SAFETY: waitpid(2) on the children of one process group, without blocking; it writes only
    // `status`.
    while unsafe { libc::waitpid(-(group as i32), &mut status, libc::WNOHANG) } > 0 {}
}

/// Stops every process group that holds a process marked with stack `stack`, plus the groups of
/// the `recorded` processes still alive (a stack started before processes were marked): SIGTERM
/// to all of them at once, then SIGKILL to those left after `grace`. Never signals this
/// process's own group. Returns how many groups (services) there were.
pub fn stop_stack(stack: &str, recorded: &[ProcessId], grace: Duration) -> usize {
    // SAFETY: getpgrp(2) has no arguments and no memory effects.
    let own_group = unsafe { libc::getpgrp() } as u32;
    let groups: BTreeSet<u32> = marked(stack)
        .into_iter()
        .map(|m| m.group)
        .chain(recorded.iter().filter(|p| p.is_alive()).map(|p| p.pid))
        .filter(|g| *g > 1 && *g != own_group)
        .collect();
    for group in &groups {
        signal_group(*group, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    let mut left: Vec<u32> = groups.iter().copied().collect();
    while !left.is_empty() {
        left.iter().for_each(|g| reap_group(*g));
        left.retain(|g| group_is_alive(*g));
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for group in &left {
        signal_group(*group, libc::SIGKILL);
    }
    let killed_by = Instant::now() + Duration::from_secs(2);
    while left.iter().any(|g| group_is_alive(*g)) && Instant::now() < killed_by {
        left.iter().for_each(|g| reap_group(*g));
        std::thread::sleep(Duration::from_millis(20));
    }
    groups.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary state directory with a logs directory.
    fn temp_state_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("stack-proc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_marked_process_is_found_and_its_whole_group_stopped_and_an_unmarked_one_is_not() {
        let dir = temp_state_dir("marked");
        let stack = crate::state::stack_id(&dir);
        let id = spawn(
            Command::new("sh").args(["-c", "sleep 30 & sleep 30"]),
            &dir.join("svc.log"),
            &stack,
            "svc",
        )
        .unwrap();
        let mut unmarked = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        assert!(id.is_alive());
        // The shell and its background sleep, once it has forked it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut found = marked(&stack);
        while found.len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            found = marked(&stack);
        }
        assert!(found.len() >= 2, "the shell and its sleep: {found:?}");
        assert!(found
            .iter()
            .all(|m| m.group == id.pid && m.service.as_deref() == Some("svc")));
        assert!(marked(&crate::state::stack_id(Path::new("/elsewhere"))).is_empty());

        assert_eq!(stop_stack(&stack, &[], Duration::from_secs(5)), 1);
        assert!(!id.is_alive());
        assert!(
            marked(&stack).is_empty(),
            "the background sleep went with its group"
        );
        assert!(
            unmarked.try_wait().unwrap().is_none(),
            "an unmarked process is not touched"
        );
        unmarked.kill().unwrap();
        unmarked.wait().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn spawned_processes_log_owner_only_and_create_owner_only_files() {
        let dir = temp_state_dir("umask");
        let stack = crate::state::stack_id(&dir);
        let made = dir.join("made");
        let log = dir.join("svc.log");
        let id = spawn(
            Command::new("sh")
                .arg("-c")
                .arg(format!("echo hi > {}; sleep 30", made.display())),
            &log,
            &stack,
            "svc",
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !made.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&made), 0o600);
        assert_eq!(mode(&log), 0o600);
        assert_eq!(stop_stack(&stack, &[], Duration::from_secs(5)), 1);
        assert!(!id.is_alive());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_recycled_pid_is_another_process_and_an_unmarked_recorded_one_is_still_stopped() {
        let child = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let id = ProcessId::of(child.id()).unwrap();
        let recycled = ProcessId {
            pid: id.pid,
            start_ticks: id.start_ticks + 1,
        };
        assert!(
            !recycled.is_alive(),
            "another start time is another process"
        );
        assert_eq!(
            stop_stack("0000000000000000", &[recycled], Duration::from_secs(2)),
            0
        );
        assert!(id.is_alive());
        assert_eq!(
            stop_stack(
                "0000000000000000",
                std::slice::from_ref(&id),
                Duration::from_secs(2)
            ),
            1
        );
        assert!(!id.is_alive());
        // Reaped by stop_stack: the handle has nothing left to wait for.
        drop(child);
    }

    #[test]
    fn marks_are_read_from_the_environment_and_from_nginx_directives_only() {
        let environ = b"A=1\0MCPBENCH_STACK=00ff\0MCPBENCH_SERVICE=gateway\0";
        assert_eq!(env_value(environ, STACK_MARK), Some(&b"00ff"[..]));
        assert_eq!(env_value(environ, SERVICE_MARK), Some(&b"gateway"[..]));
        assert_eq!(env_value(b"XMCPBENCH_STACK=1\0", STACK_MARK), None);
        let title =
            b"nginx: master process nginx -g env MCPBENCH_STACK=00ff; env MCPBENCH_SERVICE=nginx;";
        assert_eq!(directive_value(title, STACK_MARK), Some(&b"00ff"[..]));
        assert_eq!(directive_value(title, SERVICE_MARK), Some(&b"nginx"[..]));
        // A command line that merely mentions the mark (a shell script, a grep) is not marked.
        let script = b"sh\0-c\0while :; do MCPBENCH_STACK=00ff sleep 1; done";
        assert_eq!(directive_value(script, STACK_MARK), None);
        assert_eq!(env_value(script, STACK_MARK), None);
    }
}
