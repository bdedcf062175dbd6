//! `cargo xtask load` end to end against a real bench-server: its files, its table, its exit
//! codes (0 done, 2 bad input, 3 unreachable target, 4 saturated generator) and where the time
//! went (a proxy with a known delay in front of the server).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use mcpbench::delay_proxy;
use mcpbench::harness::{binary, free_port_range, spawn_bench_server, target_dir};

fn out_dir(name: &str) -> PathBuf {
    let dir = target_dir()
        .join("test-work")
        .join(format!("load-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn load(args: &[&str]) -> Output {
    Command::new(binary("xtask"))
        .arg("load")
        .args(args)
        .args(["--progress", "plain"])
        .output()
        .unwrap()
}

/// `load` that must exit 0 (its stderr shown if not).
fn load_ok(args: &[&str]) -> Output {
    let out = load(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn results(dir: &std::path::Path) -> loadgen::RunResults {
    loadgen::RunResults::from_json(&std::fs::read_to_string(dir.join("results.json")).unwrap())
        .unwrap()
}

#[test]
fn an_open_model_run_writes_results_csvs_and_a_table() {
    let (_server, port) = spawn_bench_server(1, &[]).unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let dir = out_dir("open");
    let out = load(&[
        "--url",
        &url,
        "--rate",
        "200",
        "-z",
        "2s",
        "--ops",
        "tools/call=3,resources/read=1,prompts/get=1",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for column in ["operation", "p99 ms", "p99 uncorr."] {
        assert!(stdout.contains(column), "{stdout}");
    }
    let r = results(&dir);
    assert_eq!(r.model, loadgen::LoadModel::Open);
    assert!(r.schedule.accounting.balances(), "{:?}", r.schedule);
    assert_eq!(r.total.failures, 0, "{:?}", r.total.errors);
    let names: Vec<&str> = r.operations.iter().map(|o| o.name.as_str()).collect();
    // bench-server announces the stateless era: no handshake, and the choice is said.
    assert_eq!(names, ["tools/call", "resources/read", "prompts/get"]);
    assert!(
        stdout.contains("load: protocol auto: the stateless era (2026-07-28), as "),
        "{stdout}"
    );
    // 200 arrivals/s for 2 s.
    let calls: u64 = r.operations.iter().map(|o| o.requests).sum();
    assert!((calls as f64 - 400.0).abs() <= 8.0, "{calls} calls");
    let stats = std::fs::read_to_string(dir.join("locust_stats.csv")).unwrap();
    assert!(stats.starts_with("Type,Name,Request Count,Failure Count,Median Response Time"));
    assert!(stats.contains(",Aggregated,"));
    let history = std::fs::read_to_string(dir.join("locust_stats_history.csv")).unwrap();
    // A header line, then at least two seconds of three operations and Aggregated.
    assert!(history.lines().count() > 2 * 3, "{history}");
}

#[test]
fn session_churn_reports_its_setup_as_its_own_operation() {
    let (_server, port) = spawn_bench_server(1, &[]).unwrap();
    let dir = out_dir("churn");
    let url = format!("http://127.0.0.1:{port}/mcp");
    load_ok(&[
        "--url",
        &url,
        "--users",
        "3",
        "--session",
        "churn",
        "--ops",
        "tools/list",
        "-n",
        "60",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let r = results(&dir);
    let count = |name: &str| {
        r.operations
            .iter()
            .find(|o| o.name == name)
            .map_or(0, |o| o.requests)
    };
    assert_eq!(count("tools/list"), 60);
    assert!(count("mcp session setup") >= 60 && count("mcp session delete") >= 57);
}

#[test]
fn a_target_at_capacity_is_the_targets_stall_judged_by_thresholds_not_the_generators() {
    // Five users on a 200 ms target carry 25/s of the 300/s asked: the rest wait or are
    // dropped. That is the target's latency and errors: counted, and judged by thresholds.
    let (_server, port) = spawn_bench_server(1, &["--stateless", "--latency-ms", "200"]).unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let run = |name: &str, extra: &[&str]| {
        let dir = out_dir(name);
        let mut args = vec![
            "--url",
            &url,
            "--session",
            "none",
            "--rate",
            "300",
            "--max-in-flight",
            "5",
            "--max-backlog",
            "5",
            "-z",
            "2s",
            "--ops",
            "ping",
            "--out",
        ];
        let out_dir = dir.to_str().unwrap().to_string();
        args.push(&out_dir);
        args.extend(extra);
        (load(&args), dir)
    };
    let (out, dir) = run("stalled", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("TARGET STALLED / AT CAPACITY"), "{stdout}");
    assert!(!stdout.contains("SATURATED"), "{stdout}");
    let r = results(&dir);
    assert!(
        matches!(
            r.schedule.verdict,
            loadgen::ScheduleVerdict::TargetStalled { .. }
        ),
        "the verdict is in the results too: {:?}",
        r.schedule
    );
    let a = &r.schedule.accounting;
    assert!(a.balances() && a.dropped.backlog_full > 400, "{a:?}");
    // The dropped arrivals count against the target's error rate.
    let (out, _) = run("stalled-judged", &["--threshold", "error_rate<1%"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_generator_that_falls_behind_its_own_schedule_exits_4() {
    // The generator pinned to one core, asked for far more arrivals a second than that core can
    // emit and start, against a bench server on the other core: its schedule falls behind
    // although users are free — the generator's lateness, not the target's.
    let (_server, port) = spawn_bench_server(1, &["--stateless", "--threads", "1"]).unwrap();
    let dir = out_dir("saturated");
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(binary("xtask"))
        .arg("load")
        .args(["--url", &format!("http://127.0.0.1:{port}/mcp")])
        .args(["--session", "none", "--ops", "ping", "--rate", "200000"])
        .args(["--max-in-flight", "2000", "-z", "2s", "--progress", "plain"])
        .args(["--out", dir.to_str().unwrap()])
        .output()
        .expect("taskset (util-linux) runs the generator on one core");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("SATURATED"), "{stdout}");
    assert!(results(&dir).schedule.generator_saturated());
}

#[test]
fn an_unreachable_target_exits_3_and_bad_flags_exit_2() {
    let port = free_port_range(1);
    let dir = out_dir("unreachable");
    let out = load(&[
        "--url",
        &format!("http://127.0.0.1:{port}/mcp"),
        "-z",
        "1s",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.exists(), "nothing ran, nothing written");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1,
        "one line"
    );
    for args in [
        vec![
            "--url",
            "http://127.0.0.1:1/mcp",
            "--rate",
            "fast",
            "-z",
            "1s",
        ],
        vec![
            "--url",
            "http://127.0.0.1:1/mcp",
            "--users",
            "2",
            "--rate",
            "5",
            "-z",
            "1s",
        ],
        vec![
            "--url",
            "http://127.0.0.1:1/mcp",
            "--ops",
            "tools/explode",
            "-z",
            "1s",
        ],
        vec!["--url", "http://127.0.0.1:1/mcp"],
        vec!["--url", "nope", "-z", "1s"],
    ] {
        let out = load(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn thresholds_gate_the_exit_code_and_are_validated_before_traffic() {
    let (_server, port) = spawn_bench_server(1, &["--stateless"]).unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let run = |name: &str, thresholds: &[&str]| {
        let dir = out_dir(name);
        let mut args = vec![
            "--url",
            url.as_str(),
            "--session",
            "none",
            "--users",
            "2",
            "-n",
            "200",
            "--out",
            dir.to_str().unwrap(),
        ];
        for t in thresholds {
            args.extend(["--threshold", t]);
        }
        (load(&args), dir)
    };
    let (out, dir) = run(
        "pass",
        &[
            "p95<5s",
            "error_rate<1%",
            "p(99){op=tools/call}<5s",
            "requests==200",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASS p95<5s"));
    assert_eq!(results(&dir).thresholds.len(), 4);

    let (out, dir) = run("fail", &["p95<5s", "rps>100000000"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL rps>100000000"));
    let verdicts: Vec<bool> = results(&dir).thresholds.iter().map(|t| t.passed).collect();
    assert_eq!(verdicts, [true, false]);

    for bad in ["p95<300", "latency<1s", "p95{op=tools/cal}<1s"] {
        let (out, dir) = run("bad", &[bad]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dir.exists(), "{bad}: no traffic, no results");
    }
}

#[test]
fn a_fixed_delay_in_front_of_the_server_shows_up_in_path_time_and_not_in_backend_time() {
    // The backend takes ~5 ms; a proxy holds every request 20 ms on its way. Path time (latency
    // from the send minus the handler time the reply reports) must grow by the 20 ms, ±10%,
    // while the backend's time stays where it was.
    const DELAY: Duration = Duration::from_millis(20);
    let (_server, port) = spawn_bench_server(1, &["--latency-ms", "5"]).unwrap();
    let proxy = delay_proxy::start(([127, 0, 0, 1], port).into(), DELAY).unwrap();
    let run = |target: u16, name: &str| {
        let dir = out_dir(name);
        let url = format!("http://127.0.0.1:{target}/mcp");
        load_ok(&[
            "--url",
            &url,
            "--users",
            "4",
            "-z",
            "3s",
            "--warmup",
            "1s",
            "--ops",
            "tools/call=3,tools/list=1",
            "--out",
            dir.to_str().unwrap(),
        ]);
        results(&dir)
    };
    let (direct, delayed) = (run(port, "direct"), run(proxy, "delayed"));
    for op in ["tools/call", "tools/list", loadgen::AGGREGATED] {
        let backend = |r: &loadgen::RunResults| {
            let o = r
                .operations
                .iter()
                .chain([&r.total])
                .find(|o| o.name == op)
                .unwrap();
            assert_eq!(o.failures, 0, "{op}: {:?}", o.errors);
            o.backend
                .clone()
                .unwrap_or_else(|| panic!("{op}: no backend time"))
        };
        let (d, p) = (backend(&direct), backend(&delayed));
        let added = p.path.p50_ms - d.path.p50_ms;
        let want = DELAY.as_secs_f64() * 1000.0;
        assert!(
            (added - want).abs() <= want * 0.1,
            "{op}: path +{added:.2} ms, not {want} ms"
        );
        let moved = (p.backend.p50_ms - d.backend.p50_ms).abs();
        assert!(
            moved <= 0.1 * d.backend.p50_ms,
            "{op}: backend moved {moved:.2} ms: {d:?} vs {p:?}"
        );
        assert_eq!(
            (d.rebound, p.rebound),
            (0, 0),
            "{op}: one server, one start"
        );
    }
    // Every tools/call the server handled in the window reached us: no duplicated work.
    let calls = delayed.operations[0]
        .backend
        .as_ref()
        .unwrap()
        .backend_calls_per_reply
        .unwrap();
    assert!(
        (1.0..1.01).contains(&calls),
        "{calls} backend calls per reply"
    );
}
