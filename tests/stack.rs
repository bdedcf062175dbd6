//! The local runtime end to end against the real ContextForge gateway and nginx:
//! `benchmark-up` (registered tools visible, tools/call answered through `/rpc` and through
//! nginx → `/servers/{id}/mcp`), idempotence, a port conflict named before anything starts,
//! Ctrl-C during `up`, `benchmark-down` and `benchmark-clean` leaving nothing running.

mod stack_common;

use stack_common::{
    all_free, down_again_and_clean_leave_nothing, down_says, gateway_logs_are_shown,
    interrupt_up_while_the_gateway_starts, ports, state, status_rows_all_healthy, text,
    tool_calls_are_answered, up_again_finds_it_up, up_args, up_registers_both_servers, workdir,
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
    up_registers_both_servers(&dir, &args);
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
    // Interrupted once the gateway is being started (its log exists).
    let gateway_log = dir.join(".mcpbench/logs/gateway.log");
    interrupt_up_while_the_gateway_starts(&dir, &args, || gateway_log.exists());
    assert!(all_free(&p), "everything `up` started was stopped");
    assert_eq!(state(&dir)["services"].as_array().unwrap().len(), 0);
}
