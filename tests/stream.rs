//! `cargo xtask load --transport sse|websocket` end to end: 20 long-lived connections held
//! against a real bench-server's legacy SSE transport (drops and reconnects counted when the
//! server is killed mid-run and started again), and through the real ContextForge gateway's
//! `/servers/{id}/sse` and `/ws` (one local stack for the file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use mcpbench::harness::{binary, free_port_range, printed, spawn_bench_server, test_workdir};

fn load(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary("xtask"))
        .arg("load")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn results(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

fn count(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The message counts add up to what was intended, and every second has a point.
fn accounted(r: &serde_json::Value) {
    let m = &r["messages"];
    let failed: u64 = m["failed"].as_object().unwrap().values().map(count).sum();
    let parts = [
        "answered",
        "timed_out",
        "lost",
        "missed_disconnected",
        "aborted",
        "unsent_at_end",
    ]
    .iter()
    .map(|k| count(&m[*k]))
    .sum::<u64>()
        + failed;
    assert_eq!(count(&m["intended"]), parts, "{m}");
    let series = r["series"].as_array().unwrap();
    let secs = r["elapsed_secs"].as_f64().unwrap();
    assert!(series.len() as f64 >= secs.floor() - 1.0, "{series:?}");
}

#[test]
fn sse_connections_to_bench_server_are_held_answered_and_reconnected_after_a_kill() {
    let work = test_workdir("stream-direct");
    let (mut server, port) = spawn_bench_server(1, &[]).unwrap();
    let url = format!("http://127.0.0.1:{port}/sse");
    let out = work.join("direct");
    let run = Command::new(binary("xtask"))
        .args(["load", "--transport", "sse", "--url", &url])
        .args([
            "--connections",
            "20",
            "--message-rate",
            "10",
            "--duration",
            "5s",
        ])
        .args(["--ops", "tools/call:benchmark_tool_0", "--timeout", "2s"])
        .arg("--out")
        .arg(&out)
        .current_dir(&work)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed from outside mid-run, then started again on the same port.
    std::thread::sleep(Duration::from_millis(2000));
    server
        .signal_and_wait(libc::SIGKILL, Duration::from_secs(5))
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let _restarted =
        mcpbench::harness::ChildGuard::spawn(Command::new(binary("bench-server")).args([
            "--port",
            &port.to_string(),
            "--log-level",
            "error",
        ]))
        .unwrap();
    let finished = run.wait_with_output().unwrap();
    let said = printed(&finished);
    assert_eq!(finished.status.code(), Some(0), "{said}");
    let r = results(&out);
    accounted(&r);
    assert_eq!(r["peak_held"], 20, "{said}");
    assert_eq!(count(&r["connect"]["count"]), 40, "{said}");
    let drops: u64 = r["drops"].as_object().unwrap().values().map(count).sum();
    assert_eq!(drops, 20, "{said}");
    assert_eq!(r["reconnects"], 20, "{said}");
    let m = &r["messages"];
    assert!(count(&m["answered"]) > 400, "{said}");
    assert!(
        count(&m["missed_disconnected"]) + count(&m["lost"]) > 0,
        "{said}"
    );
    assert!(r["round_trip"]["p50_ms"].as_f64().unwrap() > 0.0, "{said}");
    // The series shows the drop, and every connection held again after it.
    let series = r["series"].as_array().unwrap();
    let dropped = series
        .iter()
        .position(|p| count(&p["drops"]) > 0)
        .unwrap_or_else(|| panic!("no drop in {series:?}"));
    assert!(
        series[dropped..].iter().any(|p| p["held"] == 20),
        "{series:?}"
    );
}

#[test]
fn flags_that_do_not_apply_to_held_connections_are_refused_in_one_line() {
    let work = test_workdir("stream-flags");
    for (args, says) in [
        (
            vec![
                "--transport",
                "sse",
                "--url",
                "http://127.0.0.1:9/sse",
                "--rate",
                "5",
            ],
            "--rate does not apply",
        ),
        (
            vec![
                "--transport",
                "websocket",
                "--url",
                "http://127.0.0.1:9/ws",
                "--ops",
                "ping",
            ],
            "ws://",
        ),
        (
            vec!["--transport", "sse", "--url", "http://127.0.0.1:9/sse"],
            "tools/call:NAME",
        ),
        (
            vec!["--url", "http://127.0.0.1:9/mcp", "--connections", "5"],
            "--connections applies to",
        ),
    ] {
        let out = load(&work, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", printed(&out));
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// A local stack (gateway, one bench-server, no nginx) for this file's gateway test; brought
/// down when dropped.
struct Stack {
    dir: PathBuf,
    bench: u16,
    gateway: u16,
}

impl Stack {
    fn up() -> Stack {
        let stack = Stack {
            dir: test_workdir("stream-stack"),
            bench: free_port_range(1),
            gateway: free_port_range(1),
        };
        let nginx = free_port_range(1).to_string();
        let up = stack.xtask(&[
            "benchmark-up",
            "--runtime",
            "local",
            "--count",
            "1",
            "--start-port",
            &stack.bench.to_string(),
            "--gateway-port",
            &stack.gateway.to_string(),
            "--nginx-port",
            &nginx,
        ]);
        assert!(up.status.success(), "{}", printed(&up));
        stack
    }

    fn xtask(&self, args: &[&str]) -> Output {
        Command::new(binary("xtask"))
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.xtask(&["benchmark-down"]);
    }
}

#[test]
fn sse_and_websocket_connections_through_the_gateway_are_held_and_answered() {
    let stack = Stack::up();
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack.dir.join(".mcpbench/stack.json")).unwrap(),
    )
    .unwrap();
    let server_id = state["virtual_server_id"].as_str().unwrap().to_string();
    let minted = stack.xtask(&["jwt", "--admin", "--exp", "60"]);
    let token = String::from_utf8_lossy(&minted.stdout).trim().to_string();
    assert!(minted.status.success(), "{}", printed(&minted));
    let auth = format!("Authorization: Bearer {token}");
    let tool = contextforge::naming::federated_tool_name(
        &contextforge::naming::bench_gateway_name(stack.bench),
        "benchmark_tool_0",
    );
    let op = format!("tools/call:{tool}");
    let cases = [
        (
            "sse",
            format!("http://127.0.0.1:{}/servers/{server_id}/sse", stack.gateway),
        ),
        ("websocket", format!("ws://127.0.0.1:{}/ws", stack.gateway)),
    ];
    for (transport, url) in cases {
        let out = stack.dir.join(transport);
        let run = load(
            &stack.dir,
            &[
                "--transport",
                transport,
                "--url",
                &url,
                "--connections",
                "10",
                "--message-rate",
                "1",
                "--duration",
                "4s",
                "--timeout",
                "20s",
                "--ops",
                &op,
                "-H",
                &auth,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let said = printed(&run);
        assert_eq!(run.status.code(), Some(0), "{transport}: {said}");
        assert!(!said.contains(&token), "the token was printed");
        let r = results(&out);
        accounted(&r);
        assert_eq!(r["peak_held"], 10, "{transport}: {said}");
        assert_eq!(count(&r["connect"]["count"]), 10, "{transport}: {said}");
        assert_eq!(r["drops"], serde_json::json!({}), "{transport}: {said}");
        // One gateway worker on SQLite carries a few calls a second on these shared cores, so a
        // connection may still wait on a reply when the window closes: what it could not send
        // then is counted, never lost. Everything sent was answered, at least once per connection.
        let m = &r["messages"];
        assert!(count(&m["answered"]) >= 10, "{transport}: {said}");
        assert_eq!(
            count(&m["answered"]) + count(&m["unsent_at_end"]),
            count(&m["intended"]),
            "{transport}: {said}"
        );
        let written = std::fs::read_to_string(out.join("results.json")).unwrap();
        assert!(!written.contains(&token), "the token was written");
    }
}
