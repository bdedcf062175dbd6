//! `cargo xtask tune` on this machine's real `/proc/sys`: `check` reads every setting of the
//! seed's tables as the kernel has it, says where it runs and prints the seed's monitoring
//! advice; `apply` as root writes what is short (then the test puts every value back) or, where
//! the kernel refuses a write (a container may), exits 3 naming exactly the settings it could
//! not write — which the test confirms the kernel refuses.

use std::process::Command;

use mcpbench::harness::{binary, printed};

/// Every kernel setting of the seed's tables and of its persisted sysctl.d file.
const SETTINGS: [&str; 16] = [
    "net.core.somaxconn",
    "net.core.netdev_max_backlog",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "vm.swappiness",
    "fs.file-max",
    "fs.aio-max-nr",
];

/// The seed's limits.conf items, as `ulimit` shows them.
const LIMITS: [&str; 5] = ["-n", "-u", "-i", "-l", "-q"];

fn proc_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

fn read(name: &str) -> Option<String> {
    std::fs::read_to_string(proc_path(name))
        .ok()
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn tune(args: &[&str]) -> std::process::Output {
    Command::new(binary("xtask"))
        .arg("tune")
        .args(args)
        .output()
        .unwrap()
}

/// The check table's row for a setting: its words.
fn row<'a>(said: &'a str, name: &str) -> Vec<&'a str> {
    said.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name}: {said}"))
        .split_whitespace()
        .collect()
}

/// One test, so `apply` never changes the kernel while `check` reads it.
#[test]
fn check_reads_the_real_kernel_then_apply_sets_what_is_short_or_names_what_is_refused() {
    check_reads_every_seed_setting_from_the_real_kernel_and_says_how_to_watch_a_run();
    apply_as_root_sets_what_is_short_or_names_exactly_what_the_kernel_refuses();
}

fn check_reads_every_seed_setting_from_the_real_kernel_and_says_how_to_watch_a_run() {
    let out = tune(&["check"]);
    let said = printed(&out);
    for name in SETTINGS {
        let words = row(&said, name);
        let current = read(name).unwrap_or_else(|| "unreadable".into());
        assert_eq!(
            words[1..=current.split(' ').count()].join(" "),
            current,
            "{name}: {said}"
        );
    }
    for flag in LIMITS {
        for kind in ["soft", "hard"] {
            assert!(said.contains(&format!("ulimit {flag} ({kind})")), "{said}");
        }
    }
    // tcp_tw_reuse = 2 (loopback only) is not something to change for a loopback generator.
    if read("net.ipv4.tcp_tw_reuse").as_deref() == Some("2") {
        let tw = row(&said, "net.ipv4.tcp_tw_reuse").join(" ");
        assert!(tw.contains("ok: 2 = loopback only"), "{tw}");
    }
    assert!(said.contains("watch -n1 'ss -s'"), "{said}");
    assert!(said.contains("docker stats"), "{said}");
    let in_container = std::path::Path::new("/.dockerenv").exists()
        || std::path::Path::new("/run/.containerenv").exists();
    assert_eq!(
        said.contains("running inside a container"),
        in_container,
        "{said}"
    );
    let expected = if said.contains("CHANGE") { 1 } else { 0 };
    assert_eq!(out.status.code(), Some(expected), "{said}");
}

/// Puts every setting back as it was, however the test ends.
struct Restore(Vec<(&'static str, String)>);

impl Drop for Restore {
    fn drop(&mut self) {
        for (name, value) in &self.0 {
            if read(name).as_deref() != Some(value.as_str()) {
                std::fs::write(proc_path(name), value)
                    .unwrap_or_else(|e| panic!("cannot restore {name} = {value}: {e}"));
            }
        }
    }
}

fn apply_as_root_sets_what_is_short_or_names_exactly_what_the_kernel_refuses() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let out = tune(&["apply"]);
        assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
        assert!(printed(&out).contains("not root"), "{}", printed(&out));
        return;
    }
    let before: Vec<(&str, String)> = SETTINGS
        .iter()
        .filter_map(|n| read(n).map(|v| (*n, v)))
        .collect();
    let _restore = Restore(before.clone());
    let out = tune(&["apply"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    for line in stdout.lines() {
        if let Some((name, value)) = line.split_once(" = ") {
            assert_eq!(read(name).as_deref(), Some(value), "{line}");
        }
    }
    match out.status.code() {
        Some(0) => {
            let after = printed(&tune(&["check"]));
            for name in SETTINGS {
                let words = row(&after, name).join(" ");
                assert!(!words.contains("CHANGE"), "after apply: {words}");
            }
        }
        Some(3) => {
            assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
            assert!(stderr.starts_with("tune: cannot set "), "{stderr}");
            let refused: Vec<&str> = SETTINGS
                .into_iter()
                .filter(|n| stderr.contains(&format!("{n} (")))
                .collect();
            assert!(!refused.is_empty(), "{stderr}");
            for name in refused {
                // Writing the value it already has changes nothing, and tells whether the
                // kernel takes writes to it at all.
                let (_, current) = before.iter().find(|(n, _)| *n == name).unwrap();
                assert!(
                    std::fs::write(proc_path(name), current).is_err(),
                    "{name} is writable, yet tune said it could not set it: {stderr}"
                );
            }
        }
        other => panic!("exit {other:?}: {}", printed(&out)),
    }
}
