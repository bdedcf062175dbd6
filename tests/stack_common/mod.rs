//! What the stack's end-to-end tests share (tests/stack.rs for the local runtime,
//! tests/stack_docker.rs for the docker one): ports, running `cargo xtask` in a work directory,
//! and the tool calls a stack must answer through `/rpc` and through nginx.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mcpbench::harness::{binary, free_port_range, test_workdir, ChildGuard};

pub struct Ports {
    pub bench: u16,
    pub gateway: u16,
    pub nginx: u16,
    /// For nginx's TLS listener, when a test asks for one (`--nginx-tls-port`).
    pub nginx_tls: u16,
}

/// Free ports for two bench servers, the gateway and nginx (plain and TLS).
pub fn ports() -> Ports {
    Ports {
        bench: free_port_range(2),
        gateway: free_port_range(1),
        nginx: free_port_range(1),
        nginx_tls: free_port_range(1),
    }
}

pub fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary("xtask"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `benchmark-up` with two bench servers on `p`, plus `extra` flags.
pub fn up_args(p: &Ports, extra: &[&str]) -> Vec<String> {
    let ports = [
        "--count".to_string(),
        "2".into(),
        "--start-port".into(),
        p.bench.to_string(),
        "--gateway-port".into(),
        p.gateway.to_string(),
        "--nginx-port".into(),
        p.nginx.to_string(),
    ];
    std::iter::once("benchmark-up".to_string())
        .chain(ports)
        .chain(extra.iter().map(|s| s.to_string()))
        .collect()
}

/// A fresh work directory under target/test-work, whose stack is taken down when the test ends
/// however it ends (a failed assertion included), so no failure leaves services running.
pub fn workdir(name: &str) -> StackDir {
    StackDir(test_workdir(&format!("stack-{name}")))
}

pub struct StackDir(PathBuf);

impl std::ops::Deref for StackDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for StackDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for StackDir {
    fn drop(&mut self) {
        let _ = xtask(&self.0, &["benchmark-down"]);
    }
}

pub fn all_free(p: &Ports) -> bool {
    [p.bench, p.bench + 1, p.gateway, p.nginx, p.nginx_tls]
        .iter()
        .all(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The stack's state file (`.mcpbench/stack.json` in `dir`).
pub fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(".mcpbench/stack.json")).unwrap())
        .unwrap()
}

/// `benchmark-up` with `args` succeeds with both bench servers' 100 tools registered; the state
/// file holds the secrets, readable by its owner only, and they were not printed. Returns the
/// state.
pub fn up_registers_both_servers(dir: &Path, args: &[&str]) -> serde_json::Value {
    registered_both_servers(dir, &xtask(dir, args))
}

/// What [`up_registers_both_servers`] checks, on the output of a `benchmark-up` that ran.
pub fn registered_both_servers(dir: &Path, out: &Output) -> serde_json::Value {
    let said = text(out);
    assert!(
        out.status.success() && said.contains("registered 2 bench servers, 100 tools"),
        "{said}"
    );
    assert_eq!(mode(&dir.join(".mcpbench/stack.json")), 0o600);
    let recorded = state(dir);
    for secret in ["jwt_secret", "auth_secret"] {
        assert!(!said.contains(recorded[secret].as_str().unwrap()));
    }
    recorded
}

/// A file's permission bits.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Two `benchmark-up` with `args` at once on the state directory in `dir`: the first registers
/// the stack (as [`registered_both_servers`] checks); the second waits while the first holds the
/// stack — saying so once, in one line — and then finds it up, starting nothing. Returns the
/// state.
pub fn two_ups_at_once(dir: &Path, args: &[&str]) -> serde_json::Value {
    let first = Command::new(binary("xtask"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first holds the stack once its pid is in the lock file.
    let first_pid = first.id();
    let lock = dir.join(".mcpbench/lock");
    let holds = || std::fs::read_to_string(&lock).is_ok_and(|pid| pid == first_pid.to_string());
    for _ in 0..600 {
        if holds() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(holds(), "the first benchmark-up never held the stack");
    let second = xtask(dir, args);
    let first = first.wait_with_output().unwrap();
    let recorded = registered_both_servers(dir, &first);
    let said = text(&second);
    assert!(
        second.status.success() && said.contains("already up"),
        "{said}"
    );
    assert!(
        !said.contains("registered"),
        "the second started nothing: {said}"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    let waiting: Vec<&str> = stderr.lines().collect();
    assert!(
        waiting.len() == 1
            && waiting[0].contains(&format!(
                "another mcpbench command (pid {first_pid}) holds the stack"
            )),
        "said once, in one line, that it waits: {stderr}"
    );
    recorded
}

/// How many process groups of this machine have a live process with `args` as consecutive
/// arguments (a service's own children — ContextForge 1.1.0 forks helpers — count with it).
pub fn process_groups_with_args(args: &[&str]) -> usize {
    let wanted: Vec<u8> = args.join("\0").into_bytes();
    let mut groups: Vec<String> = mcpbench::harness::process_dirs()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .windows(wanted.len())
                    .any(|w| w == wanted.as_slice())
            })
        })
        .filter_map(|e| {
            // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces.
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let after_comm = &stat[stat.rfind(')')? + 1..];
            after_comm.split_whitespace().nth(2).map(String::from)
        })
        .collect();
    groups.sort();
    groups.dedup();
    groups.len()
}

/// The stack's files are its owner's only: the state directory and the gateway's 0700, the
/// state file, the logs and the gateway's database 0600.
pub fn files_are_owner_only(dir: &Path) {
    let state_dir = dir.join(".mcpbench");
    for private_dir in [
        state_dir.clone(),
        state_dir.join("gateway"),
        state_dir.join("logs"),
    ] {
        assert_eq!(mode(&private_dir), 0o700, "{}", private_dir.display());
    }
    let logs: Vec<PathBuf> = std::fs::read_dir(state_dir.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(logs.len() >= 3, "{logs:?}");
    for file in logs.iter().chain([
        &state_dir.join("stack.json"),
        &state_dir.join("gateway/mcp.db"),
    ]) {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}

/// `benchmark-status --json` lists the three services, each running and healthy; returns the rows.
pub fn status_rows_all_healthy(dir: &Path) -> Vec<serde_json::Value> {
    let status = xtask(dir, &["benchmark-status", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&status.stdout).unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bench-servers", "gateway", "nginx"]);
    assert!(
        rows.iter()
            .all(|r| r["state"] == "running" && r["health"] == "healthy"),
        "{rows:?}"
    );
    rows
}

/// `benchmark-status --json` shows the three services running though the state file cannot say
/// so, and says what is wrong with the file.
pub fn status_finds_the_stack_saying(dir: &Path, said: &str) {
    let status = xtask(dir, &["benchmark-status", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&status.stdout).unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bench-servers", "gateway", "nginx"], "{rows:?}");
    assert!(rows.iter().all(|r| r["state"] == "running"), "{rows:?}");
    assert!(
        String::from_utf8_lossy(&status.stderr).contains(said),
        "{}",
        text(&status)
    );
}

/// `benchmark-up` again with the same `args`: one stack, not two.
pub fn up_again_finds_it_up(dir: &Path, args: &[&str]) {
    let again = xtask(dir, args);
    assert!(
        again.status.success() && text(&again).contains("already up"),
        "{}",
        text(&again)
    );
}

/// `benchmark-logs gateway` prints the gateway's lines, prefixed with its name.
pub fn gateway_logs_are_shown(dir: &Path) {
    let logs = xtask(dir, &["benchmark-logs", "gateway", "--tail", "5"]);
    assert!(
        logs.status.success() && String::from_utf8_lossy(&logs.stdout).starts_with("gateway | "),
        "{}",
        text(&logs)
    );
}

/// Starts `benchmark-up` with `args`, waits until `started` says the gateway is being started,
/// then sends `signal` (SIGINT, SIGTERM or SIGHUP): `up` must exit 128 + its number.
pub fn stop_up_while_the_gateway_starts(
    dir: &Path,
    args: &[String],
    signal: i32,
    started: impl Fn() -> bool,
) {
    let mut child = ChildGuard::spawn(
        Command::new(binary("xtask"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    // Up to five minutes: the first `up` on a machine installs the gateway first.
    for _ in 0..3000 {
        if started() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started(), "the gateway was never started");
    let status = child
        .signal_and_wait(signal, Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        status.code(),
        Some(128 + signal),
        "stopped by signal {signal}"
    );
}

/// Whether the state file in `dir` records a gateway (its container or process started).
pub fn gateway_recorded(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(".mcpbench/stack.json"))
        .is_ok_and(|s| s.contains("\"name\": \"gateway\""))
}

/// `benchmark-down` succeeds saying `said`, and leaves every port of the stack free.
pub fn down_says(dir: &Path, p: &Ports, said: &str) {
    let down = xtask(dir, &["benchmark-down"]);
    assert!(
        down.status.success() && text(&down).contains(said),
        "{}",
        text(&down)
    );
    assert!(all_free(p), "every port is free after down");
}

/// `benchmark-down` with nothing up succeeds; `benchmark-clean` removes the state directory
/// (state, database, logs, secrets).
pub fn down_again_and_clean_leave_nothing(dir: &Path) {
    let down_again = xtask(dir, &["benchmark-down"]);
    assert!(down_again.status.success(), "{}", text(&down_again));
    let clean = xtask(dir, &["benchmark-clean"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(!dir.join(".mcpbench").exists());
}

/// A token signed with the stack's secret (jwt's default) carries ten tool calls each through
/// the gateway's /rpc and through nginx to the virtual server's MCP endpoint, all answered.
pub fn tool_calls_are_answered(dir: &Path, p: &Ports) {
    let token = String::from_utf8(xtask(dir, &["jwt", "--admin", "--exp", "30"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let auth = format!("Authorization: Bearer {token}");
    let state = state(dir);
    let server = state["virtual_server_id"].as_str().unwrap();
    for (url, extra) in [
        (
            format!("http://127.0.0.1:{}/rpc", p.gateway),
            vec!["--transport", "rpc"],
        ),
        (
            format!("http://127.0.0.1:{}/servers/{server}/mcp", p.nginx),
            vec!["--session", "none"],
        ),
    ] {
        let out_dir = dir.join(format!("load-{}", extra[1]));
        let mut load = vec![
            "load",
            "--url",
            &url,
            "-H",
            &auth,
            "--users",
            "2",
            "-n",
            "10",
            "--progress",
            "quiet",
        ];
        load.extend(extra);
        load.extend(["--out", out_dir.to_str().unwrap()]);
        let out = xtask(dir, &load);
        assert!(out.status.success(), "{url}: {}", text(&out));
        let r = loadgen::RunResults::from_json(
            &std::fs::read_to_string(out_dir.join("results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (r.total.requests, r.total.failures),
            (10, 0),
            "{url}: {:?}",
            r.total.errors
        );
    }
}

/// `load` on `url` (ten tools/call without a session, quiet), plus `extra`.
fn load_on(dir: &Path, url: &str, auth: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "load",
        "--url",
        url,
        "-H",
        auth,
        "--session",
        "none",
        "--users",
        "2",
        "-n",
        "10",
        "--progress",
        "quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    xtask(dir, &args)
}

/// Ten requests, none failed, in the results `load` wrote to `out`.
fn ten_answered(out: &Path, said: &str) {
    let r =
        loadgen::RunResults::from_json(&std::fs::read_to_string(out.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(
        (r.total.requests, r.total.failures),
        (10, 0),
        "{said}: {:?}",
        r.total.errors
    );
}

/// nginx's TLS listener (`--nginx-tls-port`) with the stack's own CA, recorded in the state: its
/// key and certificates owner-only and the CA's key nowhere; `load --cacert <the CA>` answered
/// over HTTP/1.1 and HTTP/2; without the CA the certificate is refused before any traffic (exit
/// 3, one line naming `--cacert`); `--insecure` answered, said in one line; `hey --insecure` too.
pub fn https_through_nginx_trusts_the_stacks_ca(dir: &Path, p: &Ports) {
    let state = state(dir);
    let tls = &state["nginx_tls"];
    assert_eq!(tls["port"], p.nginx_tls, "{state}");
    let ca = tls["ca_cert"].as_str().unwrap();
    let tls_dir = dir.join(".mcpbench/tls");
    assert_eq!(
        Path::new(ca),
        tls_dir.canonicalize().unwrap().join("ca.pem")
    );
    assert_eq!(mode(&tls_dir), 0o700);
    let mut files: Vec<String> = std::fs::read_dir(&tls_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["ca.pem", "server-key.pem", "server.pem"],
        "no CA key kept"
    );
    for file in &files {
        assert_eq!(mode(&tls_dir.join(file)), 0o600, "{file}");
    }
    let token = String::from_utf8(xtask(dir, &["jwt", "--admin", "--exp", "30"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let auth = format!("Authorization: Bearer {token}");
    let server = state["virtual_server_id"].as_str().unwrap();
    let url = format!("https://127.0.0.1:{}/servers/{server}/mcp", p.nginx_tls);

    for (name, extra) in [
        ("h1", vec!["--cacert", ca]),
        ("h2", vec!["--cacert", ca, "--h2"]),
    ] {
        let out_dir = dir.join(format!("load-tls-{name}"));
        let out = load_on(dir, &url, &auth, &out_dir, &extra);
        assert!(out.status.success(), "{name}: {}", text(&out));
        ten_answered(&out_dir, name);
    }

    let out = load_on(dir, &url, &auth, &dir.join("load-tls-untrusted"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("--cacert FILE trusts its CA"),
        "{stderr}"
    );
    assert!(!stderr.contains(&token), "the token leaked: {stderr}");

    let out_dir = dir.join("load-tls-insecure");
    let out = load_on(dir, &url, &auth, &out_dir, &["--insecure"]);
    assert!(out.status.success(), "{}", text(&out));
    let warned = "load: --insecure: no TLS certificate is verified, any server is trusted";
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end(), warned);
    ten_answered(&out_dir, "--insecure");

    let health = format!("https://127.0.0.1:{}/health", p.nginx_tls);
    let out = xtask(
        dir,
        &[
            "hey",
            "-n",
            "20",
            "-c",
            "2",
            "-m",
            "GET",
            "-l",
            "hey-tls.log",
            "--insecure",
            "-u",
            &health,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout.contains("[200]\t20 responses"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hey: --insecure: no TLS certificate"));
}
