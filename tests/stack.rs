//! The local runtime end to end against the real ContextForge gateway and nginx (its TLS
//! listener with the stack's own CA too: `load --cacert`, refused without it, `--insecure`):
//! `benchmark-up` twice at once on one state directory (one stack; the second waits, says so once
//! and finds it up), registered tools visible, tools/call answered through `/rpc` and through
//! nginx → `/servers/{id}/mcp`, owner-only files, idempotence, `benchmark-logs -f` ended by
//! SIGHUP; `benchmark-down` without the state file and `benchmark-clean` with a corrupt one
//! stopping everything; `clean` refusing while a service of the stack keeps running; a port
//! conflict and a bad `MCPBENCH_NGINX` refused before anything starts; SIGINT, SIGTERM and SIGHUP
//! during `up` leaving nothing running.

mod stack_common;

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mcpbench::harness::{binary, ChildGuard};
use stack_common::{
    all_free, down_again_and_clean_leave_nothing, down_says, files_are_owner_only,
    gateway_logs_are_shown, gateway_recorded, https_through_nginx_trusts_the_stacks_ca, ports,
    process_groups_with_args, state, status_finds_the_stack_saying, status_rows_all_healthy,
    stop_up_while_the_gateway_starts, text, tool_calls_are_answered, two_ups_at_once,
    up_again_finds_it_up, up_args, up_registers_both_servers, workdir, xtask, Ports,
};

/// `benchmark-up` on the local runtime (an engine may answer on this machine: auto would pick it).
fn local_up_args(p: &Ports) -> Vec<String> {
    up_args(p, &["--runtime", "local"])
}

#[test]
fn the_local_stack_comes_up_registered_answers_and_goes_down_completely() {
    let dir = workdir("e2e");
    let p = ports();
    let tls_port = p.nginx_tls.to_string();
    let args = up_args(&p, &["--runtime", "local", "--nginx-tls-port", &tls_port]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    two_ups_at_once(&dir, &args);
    one_set_of_services(&p);
    no_mount_reaches_this_namespace();
    files_are_owner_only(&dir);
    status_rows_all_healthy(&dir);
    up_again_finds_it_up(&dir, &args);

    tool_calls_are_answered(&dir, &p);
    https_through_nginx_trusts_the_stacks_ca(&dir, &p);

    gateway_logs_are_shown(&dir);
    following_logs_ends_with_the_signal(&dir);

    down_says(&dir, &p, "stopped 3 service(s)");

    // The state file deleted under a running stack: status and down still find it.
    up_registers_both_servers(&dir, &args);
    std::fs::remove_file(dir.join(".mcpbench/stack.json")).unwrap();
    status_finds_the_stack_saying(&dir, "stack.json is missing");
    let down = xtask(&dir, &["benchmark-down"]);
    assert!(
        down.status.success()
            && text(&down).contains("stopped 3 service(s)")
            && text(&down).contains("stack.json was missing"),
        "{}",
        text(&down)
    );
    assert!(all_free(&p), "no listener is left on any port of the stack");

    // A corrupt state file: clean stops everything, then removes it with the directory.
    up_registers_both_servers(&dir, &args);
    std::fs::write(dir.join(".mcpbench/stack.json"), b"{\"runtime\": garbage").unwrap();
    status_finds_the_stack_saying(&dir, "stack.json is corrupt");
    let clean = xtask(&dir, &["benchmark-clean"]);
    assert!(
        clean.status.success()
            && text(&clean).contains("stopped 3 service(s); removed .mcpbench")
            && text(&clean).contains("is corrupt"),
        "{}",
        text(&clean)
    );
    assert!(all_free(&p), "no listener is left on any port of the stack");
    assert!(!dir.join(".mcpbench").exists());

    down_again_and_clean_leave_nothing(&dir);
}

/// A gateway run from a Debian root filesystem (the host's Python too old for the newest
/// release) mounts `/dev`, `/proc` and its data there in a mount namespace of its own: none of
/// it shows here, so nothing can be left mounted when it stops.
fn no_mount_reaches_this_namespace() {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains("-rootfs/"), "{mounts}");
}

/// One bench-server and one gateway (each a process group) serve the stack's ports.
fn one_set_of_services(p: &Ports) {
    let bench = p.bench.to_string();
    let gateway = p.gateway.to_string();
    assert_eq!(process_groups_with_args(&["--start-port", &bench]), 1);
    assert_eq!(process_groups_with_args(&["--port", &gateway]), 1);
}

/// `benchmark-logs -f` prints, then ends on SIGHUP with 129 (128 + the signal).
fn following_logs_ends_with_the_signal(dir: &Path) {
    let mut logs = ChildGuard::spawn(
        Command::new(binary("xtask"))
            .args(["benchmark-logs", "gateway", "--follow", "--tail", "1"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(logs.child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("gateway | "), "{first}");
    let status = logs
        .signal_and_wait(libc::SIGHUP, Duration::from_secs(10))
        .unwrap();
    assert_eq!(status.code(), Some(129));
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
fn an_nginx_that_is_not_an_executable_is_a_usage_error_before_anything_starts() {
    let dir = workdir("bad-nginx");
    let p = ports();
    let out = Command::new(binary("xtask"))
        .args(local_up_args(&p))
        .current_dir(&dir)
        .env("MCPBENCH_NGINX", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("MCPBENCH_NGINX=/nonexistent is not an executable file"),
        "{stderr}"
    );
    assert!(all_free(&p), "nothing started");
    assert!(!dir.join(".mcpbench").exists(), "nothing was made");
}

/// `--cpus`/`--memory` limit containers: the local runtime refuses them, and a bad value is
/// refused, each in one line with exit 2, before anything starts (`load-test` the same).
#[test]
fn container_limits_are_refused_for_processes_and_bad_values_in_one_line() {
    let dir = workdir("limits");
    let p = ports();
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "benchmark-up",
            &["--cpus", "2"],
            "limit the docker runtime's containers",
        ),
        ("benchmark-up", &["--memory", "1g"], "use --runtime docker"),
        ("benchmark-up", &["--cpus", "0"], "is not a CPU count"),
        ("load-test", &["--memory", "1t"], "is not a memory size"),
    ];
    for (command, extra, why) in cases {
        let mut args = local_up_args(&p);
        args[0] = command.into();
        args.extend(extra.iter().map(|a| a.to_string()));
        let out = Command::new(binary("xtask"))
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // xtask's own parser (benchmark-up) adds clap's "try --help" after the line.
        assert!(
            stderr.lines().next().unwrap_or_default().contains(why),
            "{args:?}: {stderr}"
        );
    }
    let out = Command::new(binary("xtask"))
        .args(["load-test-light", "--runtime", "local", "--cpus", "2"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("use --runtime docker"),
        "{}",
        text(&out)
    );
    assert!(all_free(&p), "nothing started");
    assert!(!dir.join(".mcpbench").exists(), "nothing was made");
    assert!(!dir.join("reports").exists(), "no report was written");
}

#[test]
fn a_stop_signal_during_up_leaves_nothing_running() {
    let dir = workdir("interrupt");
    let p = ports();
    let args = local_up_args(&p);
    // Each signal once the gateway is being started (its process is recorded).
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        stop_up_while_the_gateway_starts(&dir, &args, signal, || gateway_recorded(&dir));
        assert!(all_free(&p), "everything `up` started was stopped");
        assert_eq!(state(&dir)["services"].as_array().unwrap().len(), 0);
        let bench = p.bench.to_string();
        assert_eq!(process_groups_with_args(&["--start-port", &bench]), 0);
    }
}

/// Live processes of this machine whose environment marks them as the stack's `stack`.
fn marked(stack: &str) -> usize {
    let mark = format!("MCPBENCH_STACK={stack}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("environ")).ok())
        .filter(|environ| environ.windows(mark.len()).any(|w| w == mark.as_bytes()))
        .count()
}

#[test]
fn clean_refuses_to_delete_while_a_service_of_the_stack_keeps_running() {
    let dir = workdir("clean-refuses");
    let state_dir = dir.join(".mcpbench");
    let database = state_dir.join("gateway/mcp.db");
    std::fs::create_dir_all(database.parent().unwrap()).unwrap();
    std::fs::write(&database, b"the gateway's database").unwrap();
    let stack = stack::stack_id(&state_dir);
    // A service of the stack (its mark) that something starts again as soon as it stops, each
    // time in a process group of its own.
    let respawner = ChildGuard::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while :; do MCPBENCH_STACK={stack} setsid -w sleep 60; done"
            ))
            .process_group(0)
            .stderr(Stdio::null()),
    )
    .unwrap();
    for _ in 0..100 {
        if marked(&stack) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(marked(&stack) > 0, "the marked service runs");

    let out = xtask(&dir, &["benchmark-clean"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("refusing to remove .mcpbench") && stderr.contains("still running"),
        "{stderr}"
    );
    assert!(
        database.exists(),
        "nothing was deleted under the running service"
    );

    // Once nothing starts it again, down stops it and clean removes everything.
    drop(respawner);
    let down = xtask(&dir, &["benchmark-down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert_eq!(marked(&stack), 0);
    let clean = xtask(&dir, &["benchmark-clean"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(!state_dir.exists());
}
