//! The local runtime end to end against the real ContextForge gateway and nginx:
//! `benchmark-up` (registered tools visible, tools/call answered through `/rpc` and through
//! nginx → `/servers/{id}/mcp`), idempotence, a port conflict named before anything starts,
//! Ctrl-C during `up`, `benchmark-down` and `benchmark-clean` leaving nothing running.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mcpbench::harness::{binary, free_port_range, target_dir, ChildGuard};

struct Ports {
    bench: u16,
    gateway: u16,
    nginx: u16,
}

fn ports() -> Ports {
    Ports {
        bench: free_port_range(2),
        gateway: free_port_range(1),
        nginx: free_port_range(1),
    }
}

fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary("xtask"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn up_args(p: &Ports) -> Vec<String> {
    [
        "benchmark-up",
        "--count",
        "2",
        "--start-port",
        &p.bench.to_string(),
        "--gateway-port",
        &p.gateway.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--nginx-port".to_string(), p.nginx.to_string()])
    .collect()
}

fn workdir(name: &str) -> PathBuf {
    let dir = target_dir()
        .join("test-work")
        .join(format!("stack-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn all_free(p: &Ports) -> bool {
    [p.bench, p.bench + 1, p.gateway, p.nginx]
        .iter()
        .all(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_local_stack_comes_up_registered_answers_and_goes_down_completely() {
    let dir = workdir("e2e");
    let p = ports();
    let args = up_args(&p);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = xtask(&dir, &args);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("registered 2 bench servers, 100 tools"),
        "{said}"
    );

    // The state file holds the secrets, readable by its owner only, and they were not printed.
    let state_path = dir.join(".mcpbench/stack.json");
    assert_eq!(
        std::fs::metadata(&state_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert!(!said.contains(state["jwt_secret"].as_str().unwrap()));

    let status = xtask(&dir, &["benchmark-status", "--json"]);
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

    // Up again: one stack, not two.
    let again = xtask(&dir, &args);
    assert!(
        again.status.success() && text(&again).contains("already up"),
        "{}",
        text(&again)
    );

    // A token signed with this stack's secret (the default) carries tool calls through the
    // gateway's /rpc and through nginx to the virtual server's MCP endpoint.
    let token = String::from_utf8(xtask(&dir, &["jwt", "--admin", "--exp", "30"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let auth = format!("Authorization: Bearer {token}");
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
        let out = xtask(&dir, &load);
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

    let logs = xtask(&dir, &["benchmark-logs", "gateway", "--tail", "5"]);
    assert!(
        logs.status.success() && String::from_utf8_lossy(&logs.stdout).starts_with("gateway | ")
    );

    let down = xtask(&dir, &["benchmark-down"]);
    assert!(
        down.status.success() && text(&down).contains("stopped 3 service(s)"),
        "{}",
        text(&down)
    );
    assert!(all_free(&p), "every port is free after down");
    let down_again = xtask(&dir, &["benchmark-down"]);
    assert!(down_again.status.success(), "down with nothing up succeeds");
    let clean = xtask(&dir, &["benchmark-clean"]);
    assert!(clean.status.success());
    assert!(
        !dir.join(".mcpbench").exists(),
        "clean removes state, database, logs and secrets"
    );
}

#[test]
fn a_port_in_use_is_named_before_anything_starts() {
    let dir = workdir("conflict");
    let p = ports();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", p.gateway)).unwrap();
    let args = up_args(&p);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = xtask(&dir, &args);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "port {} (for the gateway) is already in use",
            p.gateway
        )),
        "{}",
        text(&out)
    );
    let bench_free = [p.bench, p.bench + 1]
        .iter()
        .all(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok());
    assert!(bench_free, "no bench server was started");
}

#[test]
fn ctrl_c_during_up_leaves_nothing_running() {
    let dir = workdir("interrupt");
    let p = ports();
    let args = up_args(&p);
    let mut child = ChildGuard::spawn(
        Command::new(binary("xtask"))
            .args(&args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    // Wait until the gateway is being started (its log exists), then interrupt.
    let gateway_log = dir.join(".mcpbench/logs/gateway.log");
    for _ in 0..600 {
        if gateway_log.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gateway_log.exists(), "the gateway never started");
    let status = child
        .signal_and_wait(libc::SIGINT, Duration::from_secs(30))
        .unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(all_free(&p), "everything `up` started was stopped");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(".mcpbench/stack.json")).unwrap())
            .unwrap();
    assert_eq!(state["services"].as_array().unwrap().len(), 0);
}
