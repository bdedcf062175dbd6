//! `cargo xtask capacity` end to end against a real bench-server alone (`--url`): a server with
//! a concurrency limit and a fixed service time has a known capacity (slots / latency), and the
//! search must find it; a bad SLO is one line and exit 2 before any traffic; an unreachable
//! target is exit 3 with the answer written; SIGINT stops a step and writes what was measured.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mcpbench::harness::{
    binary, free_port_range, printed, test_workdir, wait_until_healthy, ChildGuard,
};
use report::capacity::{Answer, CapacityRun, StepVerdict};

/// Concurrency slots and service time of the bench server: its capacity is SLOTS / LATENCY.
const SLOTS: u32 = 8;
const LATENCY_MS: u32 = 20;

/// A bench server (the xtask binary's `bench-server`) whose every request holds one of
/// `SLOTS` slots for `LATENCY_MS`; returns it and its MCP endpoint.
fn slotted_bench_server() -> (ChildGuard, String) {
    let port = free_port_range(1);
    let server = ChildGuard::spawn(Command::new(binary("xtask")).args([
        "bench-server",
        "--port",
        &port.to_string(),
        "--concurrency",
        &SLOTS.to_string(),
        "--latency-ms",
        &LATENCY_MS.to_string(),
        "--log-level",
        "error",
    ]))
    .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_healthy(addr, "/health", Duration::from_secs(10)).unwrap();
    (server, format!("http://{addr}/mcp"))
}

fn capacity(url: &str, reports: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(binary("xtask"));
    command
        .args(["capacity", "--url", url, "--progress", "plain"])
        .args(["--reports-dir", reports.to_str().unwrap()])
        .args(extra)
        .env("RUST_BACKTRACE", "0")
        .env_remove("LOADTEST_HOST");
    command
}

fn document(reports: &Path) -> CapacityRun {
    let dir: PathBuf = reports.join("latest-capacity");
    let text = std::fs::read_to_string(dir.join("capacity.json")).unwrap();
    CapacityRun::from_json(&text).unwrap()
}

#[test]
fn the_search_finds_the_capacity_that_slots_and_service_time_imply() {
    let (_server, url) = slotted_bench_server();
    let reports = test_workdir("capacity-knee");
    // The stateless era: one request per arrival, no session to open per user, so every
    // arrival costs the server exactly one slot for its latency. Below capacity p95 stays near
    // the service time; above it the queue grows for the whole step: a sharp knee.
    let out: Output = capacity(
        &url,
        &reports,
        &[
            "--tier",
            "direct-stateless",
            "--mcp-classes",
            "MCPToolCallerUser",
            "--slo",
            "p95<150ms",
            "--start-rate",
            "100",
            "--step-duration",
            "3s",
            "--warmup",
            "1s",
            "--repeats",
            "2",
        ],
    )
    .output()
    .unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let run = document(&reports);
    let tier = &run.tiers[0];
    let Answer::Sustainable { rate, confirmed } = tier.answer else {
        panic!("{:?}\n{said}", tier.answer)
    };
    let implied = f64::from(SLOTS) * 1000.0 / f64::from(LATENCY_MS);
    assert!(
        (rate - implied).abs() <= implied * 0.25,
        "found {rate}/s, the server's capacity is {implied}/s\n{said}"
    );
    assert_eq!(confirmed, 2);
    assert!(
        tier.steps
            .iter()
            .any(|s| matches!(s.verdict, StepVerdict::Broke { .. }) && s.offered_rate > rate),
        "a rate above the answer broke the SLO: {said}"
    );
    let line = format!(
        "direct-stateless: sustainable {}",
        report::capacity::rate(rate)
    );
    assert!(said.contains(&line), "{said}");
    assert!(said.contains("p95<150ms (confirmed ×2)"), "{said}");
    let dir = reports.join("latest-capacity");
    let html = std::fs::read_to_string(dir.join("capacity.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 1, "one chart");
    assert!(html.contains("SLO p95&lt;150ms"), "the SLO line is drawn");
    let md = std::fs::read_to_string(dir.join("capacity.md")).unwrap();
    assert!(md.contains(&line), "{md}");
}

#[test]
fn a_bad_slo_is_one_line_and_an_unreachable_target_is_exit_3_with_the_answer_written() {
    // Nothing listens on this port.
    let url = format!("http://127.0.0.1:{}/mcp", free_port_range(1));
    let reports = test_workdir("capacity-refused").join("reports");
    let out = capacity(&url, &reports, &["--slo", "p95<fast"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("capacity: --slo: invalid threshold 'p95<fast'"),
        "{stderr}"
    );
    assert!(!reports.exists(), "nothing written");

    let out = capacity(&url, &reports, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", printed(&out));
    let run = document(&reports);
    assert!(
        matches!(&run.tiers[0].answer, Answer::Failed { reason } if reason.contains("127.0.0.1")),
        "{:?}",
        run.tiers[0].answer
    );
    assert_eq!(
        run.slo_text(),
        "p50<100ms,p95<200ms,p99<300ms,error_rate<0.1%"
    );
}

#[test]
fn sigint_stops_the_step_under_way_and_writes_what_was_measured() {
    let (_server, url) = slotted_bench_server();
    let reports = test_workdir("capacity-sigint");
    let mut search = ChildGuard::spawn(
        capacity(
            &url,
            &reports,
            &["--step-duration", "60s", "--warmup", "0s"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null()),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let status = search
        .signal_and_wait(libc::SIGINT, Duration::from_secs(15))
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let run = document(&reports);
    assert_eq!(run.stopped_by, Some(cli::Signal::Interrupt));
    let tier = &run.tiers[0];
    assert!(
        matches!(tier.answer, Answer::Stopped { .. }),
        "{:?}",
        tier.answer
    );
    let step = &tier.steps[0];
    assert!(matches!(step.verdict, StepVerdict::Stopped { .. }));
    assert!(
        step.figures.as_ref().is_some_and(|f| f.requests > 0),
        "what the stopped step measured is kept: {step:?}"
    );
}
