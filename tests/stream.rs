//! Long-lived connections end to end. `cargo xtask load --transport sse|websocket`: 20
//! connections held against a real bench-server's legacy SSE transport (drops and reconnects
//! counted when the server is killed mid-run and started again), and through the real
//! ContextForge gateway's `/servers/{id}/sse` and `/ws`. `cargo xtask load-test --profile
//! sse|websocket` on every tier of that stack, then with the gateway frozen at the end of its
//! window and killed in the middle of it; and the admin UI plan on that stack, whose gateway
//! serves its UI (one local stack for the file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use mcpbench::harness::{
    binary, free_port_range, gateway_pid, printed, spawn_bench_server, spawn_until_tier,
    test_workdir,
};

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

/// A local stack (gateway with its admin UI on, one bench-server, nginx when installed) for this
/// file's gateway test; brought down when dropped.
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
            "--admin-ui",
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
fn streams_through_the_gateway_are_held_answered_and_judged_under_faults() {
    let stack = Stack::up();
    load_through_the_gateway(&stack);
    sse_plan_on_every_tier(&stack);
    websocket_plan_with_the_gateway_frozen_at_the_end_of_its_window(&stack);
    admin_ui_plan_on_a_gateway_serving_its_ui(&stack);
    sse_plan_with_the_gateway_killed_mid_tier(&stack);
}

/// The seed's admin UI plan (AdminUIUser's pages) on this stack, whose gateway serves its UI:
/// the pages are answered, and the exit says whether the baseline column held.
fn admin_ui_plan_on_a_gateway_serving_its_ui(stack: &Stack) {
    let out = stack.xtask(&[
        "load-test",
        "--profile",
        "admin-ui",
        "--users",
        "3",
        "--spawn-rate",
        "3",
        "--duration",
        "3s",
        "--warmup",
        "1s",
        "--progress",
        "plain",
    ]);
    let said = printed(&out);
    let run = latest_run(stack);
    let rest = &run["tiers"][0];
    assert_eq!(rest["tier"], "rest", "{said}");
    assert_eq!(rest["outcome"]["kind"], "ran", "{said}");
    let operations = rest["outcome"]["results"]["operations"].as_array().unwrap();
    let pages: Vec<&serde_json::Value> = operations
        .iter()
        .filter(|o| o["name"].as_str().unwrap().starts_with("/admin/"))
        .collect();
    let served: u64 = pages.iter().map(|p| count(&p["requests"])).sum();
    let failed: u64 = pages.iter().map(|p| count(&p["failures"])).sum();
    assert!(served > 0 && failed == 0, "{pages:?}");
    let held = run["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["passed"] == true);
    assert_eq!(out.status.code(), Some(if held { 0 } else { 1 }), "{said}");
}

/// `load --transport sse|websocket` through the gateway: every connection held, every message
/// answered or counted.
fn load_through_the_gateway(stack: &Stack) {
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

/// `load-test` with a streaming plan on the file's stack: 5 connections for 4 s.
fn stream_plan(stack: &Stack, profile: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(binary("xtask"));
    cmd.args(["load-test", "--profile", profile])
        .args(["--connections", "5", "--duration", "4s"])
        .args(extra)
        .current_dir(&stack.dir);
    cmd
}

fn latest_run(stack: &Stack) -> serde_json::Value {
    results(&stack.dir.join("reports/latest"))
}

/// The tier `name` of a stream run's document.
fn stream_tier<'a>(run: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    run["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == name)
        .unwrap_or_else(|| panic!("no tier {name} in {run}"))
}

fn sse_plan_on_every_tier(stack: &Stack) {
    let out = stream_plan(
        stack,
        "sse",
        &[
            "--message-rate",
            "0.2",
            "--no-sla",
            "--threshold",
            "p99{tier=direct}<5s",
        ],
    )
    .output()
    .unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let run = latest_run(stack);
    assert_eq!(run["schema"], "mcpbench.stream-run/1", "{said}");
    assert_eq!(run["verdict"]["status"], "pass", "{said}");
    for name in ["direct", "gateway"] {
        let tier = stream_tier(&run, name);
        assert_eq!(tier["outcome"]["kind"], "ran", "{name}: {said}");
        let r = &tier["outcome"]["results"];
        accounted(r);
        assert_eq!(r["peak_held"], 5, "{name}: {said}");
        let m = &r["messages"];
        assert!(count(&m["answered"]) >= 3, "{name}: {said}");
        assert_eq!(
            count(&m["answered"]) + count(&m["unsent_at_end"]),
            count(&m["intended"]),
            "{name}: {said}"
        );
    }
    // The one threshold asked for, on the tier it names; --no-sla leaves out the SLA column.
    let thresholds = run["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 1, "{thresholds:?}");
    assert_eq!(thresholds[0]["tier"], "direct");
    assert_eq!(thresholds[0]["passed"], true);
    // The host's sockets and the stack's services sampled through the tiers, as `ss -s` and
    // `docker stats` would show them: the gateway tier's connections among the established.
    let sockets = run["sockets"]["samples"].as_array().unwrap();
    assert!(
        sockets
            .iter()
            .any(|s| s["tier"] == "gateway" && count(&s["established"]) >= 5),
        "{sockets:?}"
    );
    let services = run["service_usage"].as_array().unwrap();
    assert!(
        services.iter().any(|u| u["service"] == "gateway"),
        "{services:?}"
    );
    let dir = stack.dir.join("reports/latest");
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    assert!(read("report.md").contains("### TCP sockets on the host"));
    assert!(
        read("report.md").contains("## Added by the gateway"),
        "{}",
        read("report.md")
    );
    assert!(read("report.html").contains("PASS (exit 0)"));
    assert!(
        !read("results.json").contains("Bearer"),
        "the token was written"
    );
    // Rendered again from its results.json; a stream run is not compared with a baseline.
    std::fs::remove_file(dir.join("report.html")).unwrap();
    let again = stack.xtask(&["report", "reports/latest"]);
    assert_eq!(again.status.code(), Some(0), "{}", printed(&again));
    assert!(read("report.html").contains("PASS (exit 0)"));
    let compared = stack.xtask(&[
        "compare-baseline",
        "--baseline",
        "reports/latest/results.json",
        "--current",
        "reports/latest/results.json",
    ]);
    let err = String::from_utf8_lossy(&compared.stderr);
    assert_eq!(compared.status.code(), Some(2), "{}", printed(&compared));
    assert!(err.contains("streaming plan's run"), "{err}");
    assert!(read("junit.xml")
        .contains("<testcase classname=\"mcpbench.stream-tiers\" name=\"gateway\"/>"));
}

/// Frozen (SIGSTOP) for 3 s from the last second of the gateway tier's window: the replies
/// held up past the window's end are waited for and recorded with their whole wait, so the
/// tier fails its SLA instead of passing on the messages that came back in time.
fn websocket_plan_with_the_gateway_frozen_at_the_end_of_its_window(stack: &Stack) {
    let mut cmd = stream_plan(
        stack,
        "websocket",
        &["--tiers", "gateway", "--message-rate", "1"],
    );
    let (guard, reader) = spawn_until_tier(&stack.dir, &mut cmd, "gateway");
    std::thread::sleep(Duration::from_millis(3000));
    let pid = gateway_pid(&stack.dir);
    // SAFETY: kill(2) on the gateway's process group, which this file's stack started.
    assert_eq!(unsafe { libc::kill(-pid, libc::SIGSTOP) }, 0);
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(-pid, libc::SIGCONT) }, 0);
    let status = { guard }.wait_timeout(Duration::from_secs(120)).unwrap();
    let seen = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{seen}");
    let run = latest_run(stack);
    assert_eq!(run["verdict"]["status"], "fail", "{seen}");
    let r = &stream_tier(&run, "gateway")["outcome"]["results"];
    accounted(r);
    let m = &r["messages"];
    let held_up = r["round_trip"]["max_ms"].as_f64().unwrap() >= 1500.0
        || count(&m["timed_out"]) + count(&m["unsent_at_end"]) > 0;
    assert!(held_up, "the frozen seconds are not in the results: {r}");
    let failed: Vec<&serde_json::Value> = run["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["passed"] == false)
        .collect();
    assert!(!failed.is_empty(), "{seen}");
}

/// Killed mid-tier: the gateway tier is an ERROR (exit 3), never a pass.
fn sse_plan_with_the_gateway_killed_mid_tier(stack: &Stack) {
    let mut cmd = stream_plan(
        stack,
        "sse",
        &["--tiers", "gateway", "--message-rate", "0.2", "--no-sla"],
    );
    let (guard, reader) = spawn_until_tier(&stack.dir, &mut cmd, "gateway");
    std::thread::sleep(Duration::from_secs(2));
    let pid = gateway_pid(&stack.dir);
    // SAFETY: kill(2) on the gateway's process group, which this file's stack started.
    assert_eq!(unsafe { libc::kill(-pid, libc::SIGKILL) }, 0);
    let status = { guard }.wait_timeout(Duration::from_secs(120)).unwrap();
    let seen = reader.join().unwrap();
    assert_eq!(status.code(), Some(3), "{seen}");
    let run = latest_run(stack);
    assert_eq!(run["verdict"]["status"], "error", "{seen}");
    let tier = stream_tier(&run, "gateway");
    assert_eq!(tier["outcome"]["kind"], "failed", "{seen}");
    assert!(
        std::fs::read_to_string(stack.dir.join("reports/latest/junit.xml"))
            .unwrap()
            .contains("<failure message=\"ERROR: ")
    );
}
