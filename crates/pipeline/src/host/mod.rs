//! The load generator's host: the seed's "Host TCP Tuning" settings checked against what a run
//! plans (refusing a run that cannot succeed, naming what to change), and `tune check | apply
//! [--persist]` to read, set and persist them.

use std::path::{Path, PathBuf};

mod limits;
mod place;
pub mod sockets;
mod sysctl;

pub use limits::{ulimit_command, Amount, Limit, LIMITS};
pub use place::Place;
pub use sysctl::{Judge, Setting, Verdict, SETTINGS};

/// The descriptor limit the seed recommends (soft and hard).
pub const RECOMMENDED_NOFILE: u64 = 65535;
/// Descriptors a process needs besides its connections (logs, runtime, epoll, stdio).
pub const DESCRIPTOR_MARGIN: u64 = 64;

/// Where the settings live; tests point these at a temporary directory.
#[derive(Debug, Clone)]
pub struct HostPaths {
    /// The file system root, for a container's marker files and `/proc/1/cgroup`.
    pub root: PathBuf,
    pub proc_sys: PathBuf,
    /// This network namespace's socket tables (`sockets::read`).
    pub proc_net: PathBuf,
    pub sysctl_conf: PathBuf,
    pub limits_conf: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            root: PathBuf::from("/"),
            proc_sys: PathBuf::from("/proc/sys"),
            proc_net: PathBuf::from("/proc/net"),
            sysctl_conf: PathBuf::from("/etc/sysctl.d/99-mcp-loadtest.conf"),
            limits_conf: PathBuf::from("/etc/security/limits.conf"),
        }
    }
}

impl HostPaths {
    fn sysctl_path(&self, name: &str) -> PathBuf {
        self.proc_sys.join(name.replace('.', "/"))
    }

    /// A setting's current value (whitespace normalised), if readable.
    pub fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.sysctl_path(name))
            .ok()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// `net.ipv4.ip_local_port_range`: the lowest and highest ephemeral port.
    pub fn port_range(&self) -> Option<(u64, u64)> {
        let range = self.read("net.ipv4.ip_local_port_range")?;
        let ports: Vec<u64> = range.split(' ').filter_map(|p| p.parse().ok()).collect();
        match ports[..] {
            [low, high] => Some((low, high)),
            _ => None,
        }
    }
}

/// What a run plans, per tier: concurrent users (or in-flight arrivals), each holding one
/// connection per origin.
#[derive(Debug, Clone, Copy)]
pub struct PlannedLoad {
    pub peak_connections: u64,
}

/// The verdict on a host for a planned run.
#[derive(Debug, Default)]
pub struct Preflight {
    /// Why the run cannot succeed here (it is refused).
    pub blockers: Vec<String>,
    /// What would make it more faithful (it runs, the report carries these).
    pub advice: Vec<String>,
}

/// Compares the plan with the host. `nofile` is the generator's soft descriptor limit.
pub fn preflight(paths: &HostPaths, plan: PlannedLoad, nofile: u64) -> Preflight {
    let mut out = Preflight::default();
    let need = plan.peak_connections + DESCRIPTOR_MARGIN;
    if nofile < need {
        out.blockers.push(format!(
            "{} connections need about {need} file descriptors but `ulimit -n` is {nofile}: raise it (`ulimit -n {}`, or `cargo xtask tune apply --persist` for limits.conf) or plan fewer users",
            plan.peak_connections,
            need.max(RECOMMENDED_NOFILE)
        ));
    }
    let number = |name: &str| paths.read(name).and_then(|v| v.parse::<u64>().ok());
    for name in ["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"] {
        if let Some(v) = number(name) {
            if v < plan.peak_connections {
                out.advice.push(format!(
                    "{name} is {v}, below the {} connections planned: a burst of connects can be refused (`sysctl -w {name}=65535`)",
                    plan.peak_connections
                ));
            }
        }
    }
    if let Some((low, high)) = paths.port_range() {
        let available = high.saturating_sub(low) + 1;
        if available < plan.peak_connections {
            out.blockers.push(format!(
                "net.ipv4.ip_local_port_range is {low}-{high} ({available} ports), fewer than the {} connections planned: `sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"`",
                plan.peak_connections
            ));
        } else if available < plan.peak_connections * 2 {
            out.advice.push(format!(
                "net.ipv4.ip_local_port_range leaves {available} ports for {} connections: reconnects in TIME_WAIT may run out (`sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"`)",
                plan.peak_connections
            ));
        }
    }
    out
}

/// One row of `tune check`.
#[derive(Debug)]
pub struct CheckRow {
    pub name: String,
    pub current: String,
    /// What the check accepts, e.g. `>= 65535`.
    pub wanted: String,
    pub verdict: Verdict,
}

impl std::fmt::Display for Judge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Judge::AtLeast(n) => write!(f, ">= {n}"),
            Judge::AtMost(n) => write!(f, "<= {n}"),
            Judge::Covers(low, high) => write!(f, "{low} {high} or wider"),
            Judge::EachAtLeast([a, b, c]) => write!(f, ">= {a} {b} {c}"),
            Judge::TwReuse => f.write_str("1 (2 on loopback)"),
        }
    }
}

/// Every kernel setting, then every user limit (soft and hard), against the seed.
pub fn check(paths: &HostPaths) -> Vec<CheckRow> {
    let mut rows: Vec<CheckRow> = SETTINGS
        .iter()
        .map(|s| {
            let current = paths.read(s.name);
            CheckRow {
                name: s.name.to_string(),
                verdict: s.judge(current.as_deref()),
                current: current.unwrap_or_else(|| "unreadable".into()),
                wanted: s.judge.to_string(),
            }
        })
        .collect();
    for limit in LIMITS {
        let current = limit.current();
        for (kind, value) in [
            ("soft", current.map(|c| c.soft)),
            ("hard", current.map(|c| c.hard)),
        ] {
            rows.push(CheckRow {
                name: format!("ulimit {} ({kind})", limit.ulimit_flag),
                current: value.map_or_else(|| "unreadable".into(), |v| v.to_string()),
                wanted: format!(">= {}", limit.minimum),
                verdict: match value {
                    None => Verdict::Unreadable,
                    Some(v) if v >= limit.minimum => Verdict::Ok,
                    Some(_) => Verdict::Change,
                },
            });
        }
    }
    rows
}

pub fn check_table(rows: &[CheckRow]) -> String {
    use cli::Align::{Left, Right};
    let mut table = cli::Table::new(&[
        ("setting", Left),
        ("current", Right),
        ("recommended", Right),
        ("", Left),
    ]);
    for r in rows {
        let verdict = match &r.verdict {
            Verdict::Ok => "ok".to_string(),
            Verdict::OkBecause(why) => format!("ok: {why}"),
            Verdict::Change => "CHANGE".to_string(),
            Verdict::Unreadable => "CHANGE (unreadable here)".to_string(),
        };
        table.push(vec![
            r.name.clone(),
            r.current.clone(),
            r.wanted.clone(),
            verdict,
        ]);
    }
    table.text()
}

/// The seed's advice for watching a test as it runs, and where mcpbench records the same.
pub fn monitoring_advice() -> Vec<&'static str> {
    vec![
        "while a load test runs, in other terminals:",
        "  watch -n1 'ss -s'        # socket states: estab, timewait, orphaned (load-test records them per tier too)",
        "  docker stats             # container CPU and memory (docker runtime; load-test records every service's CPU/RSS too)",
        "  cargo xtask benchmark-status   # the stack's services",
    ]
}

/// The settings `apply` would write, with their values (the ones not good enough now).
fn to_write(paths: &HostPaths) -> Vec<(&'static Setting, String)> {
    SETTINGS
        .iter()
        .filter_map(|s| {
            let current = paths.read(s.name);
            (!s.judge(current.as_deref()).is_ok())
                .then(|| (s, s.value_to_write(current.as_deref())))
        })
        .collect()
}

/// The commands that apply the recommendations (what `tune apply` prints without root).
pub fn apply_commands(persist: bool, paths: &HostPaths) -> Vec<String> {
    let writes = to_write(paths);
    let mut cmds = Vec::new();
    if !writes.is_empty() {
        let assignments: Vec<String> = writes
            .iter()
            .map(|(s, v)| {
                if v.contains(' ') {
                    format!("{}=\"{v}\"", s.name)
                } else {
                    format!("{}={v}", s.name)
                }
            })
            .collect();
        cmds.push(format!("sudo sysctl -w {}", assignments.join(" ")));
    }
    if persist {
        cmds.push(format!(
            "sudo tee {} <<'EOF'\n{}EOF",
            paths.sysctl_conf.display(),
            sysctl_conf_text(paths)
        ));
        cmds.push(format!(
            "sudo tee -a {} <<'EOF'{}EOF",
            paths.limits_conf.display(),
            limits::limits_conf_block()
        ));
    }
    cmds.push(limits::ulimit_command());
    cmds
}

/// The persisted file: the seed's sections, each setting at the value `apply` leaves it with.
fn sysctl_conf_text(paths: &HostPaths) -> String {
    let mut text = String::from(
        "# MCP Gateway Load Testing TCP/System Tuning (cargo xtask tune apply --persist)\n",
    );
    let mut section = "";
    for s in SETTINGS {
        if s.section != section {
            section = s.section;
            text.push_str(&format!("\n# {section}\n"));
        }
        let value = sysctl::kept_or_written(s, paths.read(s.name).as_deref());
        text.push_str(&format!("{} = {value}    # {}\n", s.name, s.purpose));
    }
    text
}

/// What `apply` did and what it could not do.
#[derive(Debug, Default)]
pub struct Applied {
    /// One line per setting written or file changed.
    pub done: Vec<String>,
    /// One line per setting or file that could not be written, with the error.
    pub failed: Vec<String>,
}

/// Writes every setting that is not good enough (root), leaving better values alone. With
/// `persist`, also writes the sysctl.d file and appends the limits.conf block (once).
pub fn apply(paths: &HostPaths, persist: bool) -> Applied {
    let mut out = Applied::default();
    for (s, value) in to_write(paths) {
        let path = paths.sysctl_path(s.name);
        match std::fs::write(&path, &value) {
            Ok(()) => out.done.push(format!("{} = {value}", s.name)),
            Err(e) => out
                .failed
                .push(format!("{} ({}): {e}", s.name, path.display())),
        }
    }
    if out.done.is_empty() && out.failed.is_empty() {
        out.done
            .push("every kernel setting already meets the seed's".into());
    }
    if persist {
        match write_file(&paths.sysctl_conf, &sysctl_conf_text(paths)) {
            Ok(()) => out
                .done
                .push(format!("wrote {}", paths.sysctl_conf.display())),
            Err(e) => out.failed.push(e),
        }
        persist_limits(paths, &mut out);
    }
    out
}

fn persist_limits(paths: &HostPaths, out: &mut Applied) {
    let existing = std::fs::read_to_string(&paths.limits_conf).unwrap_or_default();
    if existing.contains(limits::LIMITS_MARKER) {
        out.done.push(format!(
            "{} already has the load testing limits",
            paths.limits_conf.display()
        ));
        return;
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&limits::limits_conf_block());
    match write_file(&paths.limits_conf, &text) {
        Ok(()) => out.done.push(format!(
            "added the load testing limits (nofile, nproc, sigpending, memlock, msgqueue; root's nofile and nproc) to {}: they apply from the next login",
            paths.limits_conf.display()
        )),
        Err(e) => out.failed.push(e),
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The soft and hard descriptor limits of this process.
pub fn nofile_limits() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        (limit.rlim_cur, limit.rlim_max)
    } else {
        (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_host(tag: &str, values: &[(&str, &str)]) -> (PathBuf, HostPaths) {
        let dir = std::env::temp_dir().join(format!("mcpbench-host-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = HostPaths {
            root: dir.clone(),
            proc_sys: dir.join("proc"),
            proc_net: dir.join("net"),
            sysctl_conf: dir.join("etc/sysctl.d/99-mcp-loadtest.conf"),
            limits_conf: dir.join("etc/security/limits.conf"),
        };
        for (name, value) in values {
            let p = paths.sysctl_path(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, format!("{value}\n")).unwrap();
        }
        (dir, paths)
    }

    #[test]
    fn four_thousand_users_with_1024_descriptors_are_refused() {
        let (dir, paths) = fake_host(
            "preflight",
            &[
                ("net.core.somaxconn", "4096"),
                ("net.ipv4.tcp_max_syn_backlog", "1024"),
                ("net.ipv4.ip_local_port_range", "32768\t60999"),
            ],
        );
        let p = preflight(
            &paths,
            PlannedLoad {
                peak_connections: 4000,
            },
            1024,
        );
        assert_eq!(p.blockers.len(), 1, "{:?}", p.blockers);
        assert!(
            p.blockers[0].contains("`ulimit -n` is 1024"),
            "{}",
            p.blockers[0]
        );
        assert!(p
            .advice
            .iter()
            .any(|a| a.contains("tcp_max_syn_backlog is 1024")));
        assert!(!p.advice.iter().any(|a| a.contains("somaxconn")));
        // 28,232 ports for 4,000 connections: enough, and enough to reconnect.
        assert!(!p.advice.iter().any(|a| a.contains("port_range")));
        let ok = preflight(
            &paths,
            PlannedLoad {
                peak_connections: 10,
            },
            1024,
        );
        assert!(ok.blockers.is_empty() && ok.advice.is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_port_range_smaller_than_the_plan_is_a_blocker() {
        let (dir, paths) = fake_host("ports", &[("net.ipv4.ip_local_port_range", "60000 60999")]);
        let p = preflight(
            &paths,
            PlannedLoad {
                peak_connections: 2000,
            },
            100_000,
        );
        assert!(p.blockers[0].contains("1000 ports"), "{:?}", p.blockers);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A kernel with its defaults (as on this machine), with fs.file-max and tcp_rmem's max
    /// already above the seed's: apply raises what is short, keeps what is better, and a second
    /// apply --persist changes nothing and appends nothing.
    #[test]
    fn apply_raises_only_what_is_short_and_persists_every_setting_once() {
        let defaults = [
            ("net.core.somaxconn", "4096"),
            ("net.core.netdev_max_backlog", "1000"),
            ("net.ipv4.tcp_max_syn_backlog", "2048"),
            ("net.ipv4.tcp_tw_reuse", "2"),
            ("net.ipv4.tcp_fin_timeout", "60"),
            ("net.ipv4.ip_local_port_range", "32768\t60999"),
            ("net.ipv4.tcp_keepalive_time", "7200"),
            ("net.ipv4.tcp_keepalive_intvl", "75"),
            ("net.ipv4.tcp_keepalive_probes", "9"),
            ("net.core.rmem_max", "4194304"),
            ("net.core.wmem_max", "4194304"),
            ("net.ipv4.tcp_rmem", "4096\t131072\t33554432"),
            ("net.ipv4.tcp_wmem", "4096\t16384\t4194304"),
            ("vm.swappiness", "60"),
            ("fs.file-max", "2466097"),
            ("fs.aio-max-nr", "65536"),
        ];
        assert_eq!(defaults.len(), SETTINGS.len());
        let (dir, paths) = fake_host("apply", &defaults);
        let before = check(&paths);
        let verdict =
            |rows: &[CheckRow], n: &str| rows.iter().find(|r| r.name == n).unwrap().verdict.clone();
        assert_eq!(verdict(&before, "net.core.somaxconn"), Verdict::Change);
        assert!(verdict(&before, "net.ipv4.tcp_tw_reuse").is_ok());
        assert_eq!(verdict(&before, "fs.file-max"), Verdict::Ok);
        assert!(before.iter().any(|r| r.name == "ulimit -u (soft)"));
        assert!(check_table(&before).contains("CHANGE"));

        let cmds = apply_commands(true, &paths);
        assert!(
            cmds[0].starts_with("sudo sysctl -w net.core.somaxconn=65535"),
            "{}",
            cmds[0]
        );
        assert!(cmds[0].contains("net.ipv4.ip_local_port_range=\"1024 65535\""));
        assert!(cmds[0].contains("net.ipv4.tcp_wmem=\"4096 65536 16777216\""));
        assert!(
            !cmds[0].contains("tcp_tw_reuse") && !cmds[0].contains("file-max"),
            "{}",
            cmds[0]
        );

        let applied = apply(&paths, true);
        assert!(applied.failed.is_empty(), "{:?}", applied.failed);
        assert!(check(&paths)
            .iter()
            .take(SETTINGS.len())
            .all(|r| r.verdict.is_ok()));
        assert_eq!(
            paths.read("fs.file-max").as_deref(),
            Some("2466097"),
            "never lowered"
        );
        assert_eq!(
            paths.read("net.ipv4.tcp_rmem").as_deref(),
            Some("4096 131072 33554432")
        );
        assert_eq!(paths.read("net.ipv4.tcp_tw_reuse").as_deref(), Some("2"));
        let conf = std::fs::read_to_string(&paths.sysctl_conf).unwrap();
        for s in SETTINGS {
            assert_eq!(
                conf.matches(&format!("\n{} = ", s.name)).count(),
                1,
                "{}: {conf}",
                s.name
            );
        }
        assert!(conf.contains("net.ipv4.tcp_keepalive_time = 60 "), "{conf}");
        assert!(conf.contains("# TCP buffer sizes (16MB max)\n"), "{conf}");

        let again = apply(&paths, true);
        assert!(
            again.done.iter().any(|l| l.contains("already meets")),
            "{:?}",
            again.done
        );
        assert!(
            again.done.iter().any(|l| l.contains("already has")),
            "{:?}",
            again.done
        );
        let limits = std::fs::read_to_string(&paths.limits_conf).unwrap();
        assert_eq!(limits.matches(" nofile ").count(), 4, "{limits}");
        assert_eq!(limits.lines().filter(|l| l.starts_with("root")).count(), 4);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_setting_that_cannot_be_written_is_named_and_the_rest_still_applied() {
        let (dir, paths) = fake_host("readonly", &[("net.core.somaxconn", "4096")]);
        // vm/ and fs/ do not exist in the fake tree: their writes fail, as in a container
        // whose /proc/sys holds only its network namespace's settings writable.
        std::fs::create_dir_all(paths.sysctl_path("net.ipv4.x").parent().unwrap()).unwrap();
        let applied = apply(&paths, false);
        assert!(applied
            .done
            .iter()
            .any(|l| l == "net.core.somaxconn = 65535"));
        assert!(
            applied
                .failed
                .iter()
                .any(|l| l.starts_with("vm.swappiness (")),
            "{:?}",
            applied.failed
        );
        assert!(applied
            .failed
            .iter()
            .any(|l| l.starts_with("fs.file-max (")));
        let _ = std::fs::remove_dir_all(dir);
    }
}
