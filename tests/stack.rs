//! The local runtime end to end against the real ContextForge gateway and nginx:
//! `benchmark-up` (registered tools visible, tools/call answered through `/rpc` and through
//! nginx → `/servers/{id}/mcp`), idempotence, a port conflict named before anything starts,
//! Ctrl-C during `up`, `benchmark-down` and `benchmark-clean` leaving nothing running.

mod stack_common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use mcpbench::harness::{binary, ChildGuard};
use stack_common::{
    all_free, down_again_and_clean_leave_nothing, down_says, gateway_logs_are_shown, ports, state,
    status_rows_all_healthy, text, tool_calls_are_answered, up_again_finds_it_up, up_args, workdir,
    xtask, Ports,
};

/// `benchmark-up` on the local runtime (an engine may answer on this machine: auto would pick it).
fn local_up_args(p: &Ports) -> Vec<String> {
    up_args(p, &["--runtime", "local"])
}

#[test]
fn the_local_stack_comes_up_registered_answers_and_goes_down_completely() {
    let dir = workdir("e2e");
    let p = ports();
    let args = local_up_args(&p);
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
    let state = state(&dir);
    assert!(!said.contains(state["jwt_secret"].as_str().unwrap()));

    status_rows_all_healthy(&dir);
    up_again_finds_it_up(&dir, &args);

    tool_calls_are_answered(&dir, &p);

    gateway_logs_are_shown(&dir);

    down_says(&dir, &p, "stopped 3 service(s)");
    down_again_and_clean_leave_nothing(&dir);
}

#[test]
fn a_port_in_use_is_named_before_anything_starts() {
    let dir = workdir("conflict");
    let p = ports();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", p.gateway)).unwrap();
    let args = local_up_args(&p);
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
    let args = local_up_args(&p);
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
    assert_eq!(state(&dir)["services"].as_array().unwrap().len(), 0);
}
