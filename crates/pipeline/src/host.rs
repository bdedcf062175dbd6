//! The load generator's host: the seed's "Host TCP Tuning" settings checked against what a run
//! plans (refusing a run that cannot succeed, naming what to change), and `tune check | apply
//! [--persist]` to read, set and persist them.

use std::path::{Path, PathBuf};

/// One kernel setting the seed's tuning table recommends.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// sysctl name, e.g. `net.core.somaxconn`.
    pub name: &'static str,
    pub recommended: &'static str,
    pub purpose: &'static str,
}

/// The seed's tables: TCP/network, then memory/VM.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "net.core.somaxconn",
        recommended: "65535",
        purpose: "max listen queue depth",
    },
    Setting {
        name: "net.core.netdev_max_backlog",
        recommended: "65535",
        purpose: "max packets queued for processing",
    },
    Setting {
        name: "net.ipv4.tcp_max_syn_backlog",
        recommended: "65535",
        purpose: "max SYN requests queued",
    },
    Setting {
        name: "net.ipv4.tcp_tw_reuse",
        recommended: "1",
        purpose: "reuse TIME_WAIT sockets (outbound)",
    },
    Setting {
        name: "net.ipv4.tcp_fin_timeout",
        recommended: "15",
        purpose: "faster TIME_WAIT cleanup",
    },
    Setting {
        name: "net.ipv4.ip_local_port_range",
        recommended: "1024 65535",
        purpose: "more ephemeral ports",
    },
    Setting {
        name: "vm.swappiness",
        recommended: "10",
        purpose: "keep more data in RAM",
    },
    Setting {
        name: "fs.aio-max-nr",
        recommended: "1048576",
        purpose: "async I/O requests",
    },
];

/// The descriptor limit the seed recommends (soft and hard).
pub const RECOMMENDED_NOFILE: u64 = 65535;
/// Descriptors a process needs besides its connections (logs, runtime, epoll, stdio).
pub const DESCRIPTOR_MARGIN: u64 = 64;

/// Where the settings live; tests point these at a temporary directory.
#[derive(Debug, Clone)]
pub struct HostPaths {
    pub proc_sys: PathBuf,
    pub sysctl_conf: PathBuf,
    pub limits_conf: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            proc_sys: PathBuf::from("/proc/sys"),
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
    if let Some(range) = paths.read("net.ipv4.ip_local_port_range") {
        let ports: Vec<u64> = range.split(' ').filter_map(|p| p.parse().ok()).collect();
        if let [low, high] = ports[..] {
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
    }
    out
}

/// One row of `tune check`.
#[derive(Debug)]
pub struct CheckRow {
    pub name: String,
    pub current: String,
    pub recommended: String,
    pub ok: bool,
}

/// Every setting and the descriptor limit, against the recommendation.
pub fn check(paths: &HostPaths, nofile_soft: u64, nofile_hard: u64) -> Vec<CheckRow> {
    let mut rows: Vec<CheckRow> = SETTINGS
        .iter()
        .map(|s| {
            let current = paths.read(s.name).unwrap_or_else(|| "unreadable".into());
            CheckRow {
                name: s.name.to_string(),
                ok: meets(s.name, &current, s.recommended),
                current,
                recommended: s.recommended.to_string(),
            }
        })
        .collect();
    for (name, value) in [
        ("ulimit -n (soft)", nofile_soft),
        ("ulimit -n (hard)", nofile_hard),
    ] {
        rows.push(CheckRow {
            name: name.into(),
            current: value.to_string(),
            recommended: RECOMMENDED_NOFILE.to_string(),
            ok: value >= RECOMMENDED_NOFILE,
        });
    }
    rows
}

/// Whether `current` is at least as good as `recommended`: larger for limits, smaller for
/// timeouts and swappiness, a range at least as wide.
fn meets(name: &str, current: &str, recommended: &str) -> bool {
    let nums = |v: &str| -> Vec<u64> { v.split(' ').filter_map(|p| p.parse().ok()).collect() };
    match (&nums(current)[..], &nums(recommended)[..]) {
        (&[cl, ch], &[rl, rh]) => ch.saturating_sub(cl) >= rh - rl,
        (&[c], &[r]) if name.ends_with("fin_timeout") || name.ends_with("swappiness") => c <= r,
        (&[c], &[r]) => c >= r,
        _ => false,
    }
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
        table.push(vec![
            r.name.clone(),
            r.current.clone(),
            r.recommended.clone(),
            if r.ok { "ok" } else { "CHANGE" }.into(),
        ]);
    }
    table.text()
}

/// The commands that apply the recommendations (what `tune apply` prints without root).
pub fn apply_commands(persist: bool, paths: &HostPaths) -> Vec<String> {
    let mut cmds = vec![format!(
        "sudo sysctl -w {}",
        SETTINGS
            .iter()
            .map(|s| if s.recommended.contains(' ') {
                format!("{}=\"{}\"", s.name, s.recommended)
            } else {
                format!("{}={}", s.name, s.recommended)
            })
            .collect::<Vec<_>>()
            .join(" ")
    )];
    if persist {
        cmds.push(format!(
            "sudo tee {} <<'EOF'\n{}EOF",
            paths.sysctl_conf.display(),
            sysctl_conf_text()
        ));
        cmds.push(format!(
            "sudo tee -a {} <<'EOF'\n{}EOF",
            paths.limits_conf.display(),
            LIMITS_LINES
        ));
    }
    cmds.push(format!("ulimit -n {RECOMMENDED_NOFILE}"));
    cmds
}

const LIMITS_LINES: &str = "*    soft    nofile    65535\n*    hard    nofile    65535\n";

fn sysctl_conf_text() -> String {
    let mut text = String::from(
        "# mcpbench: TCP/system tuning for load testing (cargo xtask tune apply --persist)\n",
    );
    for s in SETTINGS {
        text.push_str(&format!(
            "# {}\n{} = {}\n",
            s.purpose, s.name, s.recommended
        ));
    }
    text
}

/// Sets every recommendation (root). With `persist`, also writes the sysctl.d file and the
/// limits.conf entries (once). Returns what it did, one line each; errors name the setting.
pub fn apply(paths: &HostPaths, persist: bool) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    for s in SETTINGS {
        let path = paths.sysctl_path(s.name);
        std::fs::write(&path, s.recommended)
            .map_err(|e| format!("cannot set {} ({}): {e}", s.name, path.display()))?;
        done.push(format!("{} = {}", s.name, s.recommended));
    }
    if persist {
        write_file(&paths.sysctl_conf, &sysctl_conf_text())?;
        done.push(format!("wrote {}", paths.sysctl_conf.display()));
        let existing = std::fs::read_to_string(&paths.limits_conf).unwrap_or_default();
        if existing.contains(LIMITS_LINES.lines().next().expect("a line")) {
            done.push(format!(
                "{} already has the nofile entries",
                paths.limits_conf.display()
            ));
        } else {
            let mut text = existing;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(LIMITS_LINES);
            write_file(&paths.limits_conf, &text)?;
            done.push(format!(
                "added nofile 65535 to {}",
                paths.limits_conf.display()
            ));
        }
    }
    Ok(done)
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

    fn fake_host(values: &[(&str, &str)]) -> (PathBuf, HostPaths) {
        let dir = std::env::temp_dir().join(format!(
            "mcpbench-host-{}-{}",
            std::process::id(),
            values.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = HostPaths {
            proc_sys: dir.join("proc"),
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
        let (dir, paths) = fake_host(&[
            ("net.core.somaxconn", "4096"),
            ("net.ipv4.tcp_max_syn_backlog", "1024"),
            ("net.ipv4.ip_local_port_range", "32768\t60999"),
        ]);
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
        let (dir, paths) = fake_host(&[("net.ipv4.ip_local_port_range", "60000 60999")]);
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

    #[test]
    fn check_compares_in_the_right_direction_and_apply_persists_once() {
        let (dir, paths) = fake_host(&[
            ("net.core.somaxconn", "4096"),
            ("net.ipv4.tcp_fin_timeout", "15"),
            ("vm.swappiness", "60"),
            ("net.ipv4.ip_local_port_range", "1024 65535"),
        ]);
        let rows = check(&paths, 1024, 65535);
        let ok = |n: &str| rows.iter().find(|r| r.name == n).unwrap().ok;
        assert!(!ok("net.core.somaxconn"));
        assert!(ok("net.ipv4.tcp_fin_timeout"));
        assert!(!ok("vm.swappiness"));
        assert!(ok("net.ipv4.ip_local_port_range"));
        assert!(!ok("ulimit -n (soft)") && ok("ulimit -n (hard)"));
        assert!(check_table(&rows).contains("CHANGE"));

        for name in SETTINGS.iter().map(|s| s.name) {
            let p = paths.sysctl_path(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        }
        apply(&paths, true).unwrap();
        let again = apply(&paths, true).unwrap();
        assert!(again.iter().any(|l| l.contains("already has")));
        assert!(check(&paths, 65535, 65535).iter().all(|r| r.ok));
        let conf = std::fs::read_to_string(&paths.sysctl_conf).unwrap();
        assert!(conf.contains("net.ipv4.tcp_tw_reuse = 1"));
        let limits = std::fs::read_to_string(&paths.limits_conf).unwrap();
        assert_eq!(limits.matches("nofile").count(), 2);
        let cmds = apply_commands(true, &paths);
        assert!(cmds[0].starts_with("sudo sysctl -w net.core.somaxconn=65535"));
        assert!(cmds[0].contains("net.ipv4.ip_local_port_range=\"1024 65535\""));
        let _ = std::fs::remove_dir_all(dir);
    }
}
