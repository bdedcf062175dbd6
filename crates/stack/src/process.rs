//! Processes the local runtime starts. Each is detached into its own process group (so the
//! terminal's Ctrl-C reaches only mcpbench, which then stops them), logs to an owner-only file,
//! runs with umask 077 (what it creates — the gateway's database — is its owner's only), is
//! identified by pid *and* start time (a recycled pid is never taken for it), and carries its
//! stack's mark: `MCPBENCH_STACK=<stack id>` and `MCPBENCH_SERVICE=<name>` in its environment.
//! The mark is inherited by everything the service starts, so the stack's processes are found
//! from `/proc` alone — without the state file, or with a corrupt one.

use std::collections::{BTreeMap, BTreeSet};
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
    /// CPU time it used, user and system together, in clock ticks.
    cpu_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `/proc/PID/stat`'s line. The name in parentheses may hold spaces and parentheses itself, so
/// the fields are counted from its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    // After the name: state (field 3), ppid, pgrp (5), … utime (14), stime (15), … starttime (22).
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        group: u32::try_from(field(5)?).ok()?,
        start_ticks: field(22)?,
        cpu_ticks: field(14)? + field(15)?,
    })
}

/// A process told apart from a later one with its recycled pid.
pub type ProcessKey = (u32, u64);

/// One reading of a process group: each live process's CPU time so far, and their resident
/// memory together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupReading {
    /// Clock ticks of CPU (user + system) each process has used since it started.
    pub cpu_ticks: BTreeMap<ProcessKey, u64>,
    pub rss_kib: u64,
}

/// Clock ticks per second, the unit of `/proc`'s CPU times.
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf(3) reads a constant of the system; no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// The CPU a group used between two readings `seconds` apart, as a percentage of one core (two
/// busy cores are 200%). A process that appeared in between is counted from its start, since
/// every reading sees every live process; one that ended in between takes its last interval's
/// time with it (`/proc` no longer has it), so a group that forks short-lived helpers reads low.
pub fn cpu_percent(
    before: &GroupReading,
    after: &GroupReading,
    seconds: f64,
    ticks_per_second: f64,
) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    let used: u64 = after
        .cpu_ticks
        .iter()
        .map(|(key, now)| now.saturating_sub(before.cpu_ticks.get(key).copied().unwrap_or(0)))
        .sum();
    used as f64 / ticks_per_second / seconds * 100.0
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

    /// The whole process group (a gunicorn gateway is a master and its workers; nginx a master
    /// and its workers): each process's CPU time and their resident memory together; None when
    /// the process is gone.
    pub fn group_reading(&self) -> Option<GroupReading> {
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
        let mut reading = GroupReading::default();
        for pid in all_pids() {
            let Some(stat) = stat(pid).filter(|s| s.group == self.pid && s.state != 'Z') else {
                continue;
            };
            reading
                .cpu_ticks
                .insert((pid, stat.start_ticks), stat.cpu_ticks);
            reading.rss_kib += rss(pid).unwrap_or(0);
        }
        Some(reading)
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
    fn a_stat_line_is_read_past_a_name_with_spaces_and_parentheses() {
        let line = "4242 (python3 (worker) x) S 1 4240 4240 0 -1 4194560 900 0 0 0 \
                    1234 567 0 0 20 0 3 0 98765 1000000 2000 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.group, 4240);
        assert_eq!(stat.cpu_ticks, 1234 + 567);
        assert_eq!(stat.start_ticks, 98765);
        assert!(parse_stat("4242 (cut short) S 1").is_none());
    }

    #[test]
    fn cpu_is_the_ticks_used_between_readings_over_the_time_between_them() {
        let reading = |entries: &[(ProcessKey, u64)]| GroupReading {
            cpu_ticks: entries.iter().copied().collect(),
            rss_kib: 0,
        };
        let before = reading(&[((10, 1), 1000), ((11, 5), 300), ((12, 7), 50)]);
        // 10 used 150 ticks, 11 ended, 12 was replaced by a process with its recycled pid (a
        // new start time: its 40 ticks are all new), 13 appeared with 10.
        let after = reading(&[((10, 1), 1150), ((12, 9), 40), ((13, 8), 10)]);
        // 200 ticks at 100 per second over 2 s: one core busy all along.
        assert!((cpu_percent(&before, &after, 2.0, 100.0) - 100.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&after, &after, 1.0, 100.0), 0.0);
        assert_eq!(cpu_percent(&before, &after, 0.0, 100.0), 0.0);
    }

    #[test]
    fn a_busy_group_reads_cpu_time_and_memory() {
        let dir = temp_state_dir("busy");
        let stack = crate::state::stack_id(&dir);
        let id = spawn(
            Command::new("sh").args(["-c", "while :; do :; done"]),
            &dir.join("busy.log"),
            &stack,
            "busy",
        )
        .unwrap();
        let first = id.group_reading().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let second = id.group_reading().unwrap();
        assert!(second.rss_kib > 0, "{second:?}");
        assert!(
            cpu_percent(&first, &second, 0.5, ticks_per_second()) > 0.0,
            "a spinning shell used no CPU: {first:?} → {second:?}"
        );
        assert_eq!(stop_stack(&stack, &[], Duration::from_secs(5)), 1);
        assert!(id.group_reading().is_none(), "gone: no reading");
        std::fs::remove_dir_all(&dir).unwrap();
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
