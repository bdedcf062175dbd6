//! `cargo xtask load-test` end to end on the real stack (ContextForge, nginx, bench-server): a
//! short profile through every tier (and the nginx-tls tier over HTTPS), the report files, thresholds and exit codes, reuse of a
//! running stack, `compare-baseline` on the two runs, a tier skipped (with its reason) when nginx
//! is missing, Ctrl-C in the middle — and nothing left running afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use mcpbench::harness::{
    binary, contextforge_checkout, free_port_range, gateway_pid, printed, spawn_until_tier,
    test_workdir,
};

struct Stack {
    dir: PathBuf,
    bench: u16,
    gateway: u16,
    nginx: u16,
    /// nginx's TLS listener, for the runs that ask for one.
    nginx_tls: u16,
}

impl Stack {
    fn new(name: &str) -> Stack {
        Stack {
            dir: test_workdir(&format!("load-test-{name}")),
            bench: free_port_range(2),
            gateway: free_port_range(1),
            nginx: free_port_range(1),
            nginx_tls: free_port_range(1),
        }
    }

    /// `load-test` on this stack's ports (the light profile), plus `extra`.
    fn bare_load_test(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(binary("xtask"));
        cmd.current_dir(&self.dir)
            // The docker runtime has its own end-to-end test (tests/stack_docker.rs).
            .args(["load-test", "--runtime", "local", "--count", "2"])
            .args(["--start-port", &self.bench.to_string()])
            .args(["--gateway-port", &self.gateway.to_string()])
            .args(["--nginx-port", &self.nginx.to_string()])
            .args(extra)
            .env_remove("LOADTEST_USERS")
            .env_remove("LOADTEST_RUN_TIME")
            .env_remove("LOADTEST_SPAWN_RATE")
            .env_remove("LOADTEST_HOST");
        cmd
    }

    /// `load-test` with a short profile (`run_time` per tier), plus `extra`.
    fn load_test(&self, run_time: &str, extra: &[&str]) -> Command {
        let mut cmd = self.bare_load_test(extra);
        cmd.args(["--users", "3", "--spawn-rate", "3", "--run-time", run_time])
            .args(["--warmup", "1s", "--progress", "plain"])
            .args([
                "--rest-classes",
                "HealthCheckUser,ReadOnlyAPIUser,MCPJsonRpcUser",
            ]);
        cmd
    }

    fn xtask(&self, args: &[&str]) -> Output {
        Command::new(binary("xtask"))
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    fn ports_free(&self) -> bool {
        [
            self.bench,
            self.bench + 1,
            self.gateway,
            self.nginx,
            self.nginx_tls,
        ]
        .iter()
        .all(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
    }

    fn results(&self) -> serde_json::Value {
        let path = self.dir.join("reports/latest/results.json");
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.xtask(&["benchmark-down"]);
    }
}

fn tier<'a>(results: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    results["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == name)
        .unwrap_or_else(|| panic!("no tier {name}"))
}

/// `ran`, `skipped` or `failed`.
fn outcome<'a>(results: &'a serde_json::Value, name: &str) -> &'a str {
    tier(results, name)["outcome"]["kind"].as_str().unwrap()
}

fn requests(results: &serde_json::Value, name: &str) -> u64 {
    tier(results, name)["outcome"]["results"]["total"]["requests"]
        .as_u64()
        .unwrap_or(0)
}

/// Every file of a run directory, as text (to look for secrets).
fn run_files(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect()
}

/// Every file of a run is there, the failed threshold is in junit.xml, and no secret of the
/// stack, nor the token it signs, is in any of them.
fn every_view_is_written_and_no_secret_in_any(stack: &Stack, run_dir: &Path) {
    for file in [
        "results.json",
        "report.html",
        "report.md",
        "junit.xml",
        "direct_stats.csv",
        "gateway_stats.csv",
        "nginx_stats_history.csv",
    ] {
        assert!(run_dir.join(file).is_file(), "{file} missing");
    }
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("requests{tier=gateway}&gt;=100000000")
            || junit.contains("requests{tier=gateway}>=100000000"),
        "{junit}"
    );
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    // No secret of the stack, nor the token it signs, is written into any report.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack.dir.join(".mcpbench/stack.json")).unwrap(),
    )
    .unwrap();
    let files = run_files(run_dir);
    assert!(!files.contains(state["jwt_secret"].as_str().unwrap()));
    assert!(
        !files.contains("Bearer ey"),
        "a token leaked into the reports"
    );
}

/// The bench server's stamp came back through the real gateway: its tools/call replies carry
/// the backend's time, the path time is the rest of each request's latency, and the listings
/// the gateway serves from its own catalog carry none.
fn gateway_time_is_attributed_from_the_backends_stamps(
    results: &serde_json::Value,
    row: &serde_json::Value,
) {
    let op = |tier_name: &str, op: &str| {
        tier(results, tier_name)["outcome"]["results"]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == op)
            .unwrap()
            .clone()
    };
    let call = op("gateway", "tools/call");
    let backend = &call["backend"];
    assert!(backend["stamped"].as_u64().unwrap() > 0, "{call}");
    let ms = |v: &serde_json::Value, key: &str| v[key]["p50_ms"].as_f64().unwrap();
    let (sent, handler, path) = (
        call["uncorrected"]["p50_ms"].as_f64().unwrap(),
        ms(backend, "backend"),
        ms(backend, "path"),
    );
    // Medians of differences are not differences of medians: close, not equal.
    assert!(
        handler > 0.0 && path > 0.0 && (handler + path - sent).abs() < 0.2 * sent,
        "{call}"
    );
    assert_eq!(backend["rebound"], 0, "{call}");
    assert!(
        op("gateway", "tools/list").get("backend").is_none(),
        "served by the gateway"
    );
    assert!(
        op("direct", "tools/list")["backend"]["stamped"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(row["path"]["added_p50_ms"].as_f64().unwrap() > 0.0, "{row}");
}

/// `--tiers direct,nginx-tls` on the running stack (its TLS listener up): the same MCP workload
/// over HTTPS through nginx, trusting the stack's CA, every request a success, measured against
/// direct in results.json, report.md and the terminal.
fn the_nginx_tls_tier_runs_over_https_with_the_stacks_ca(stack: &Stack) {
    std::thread::sleep(Duration::from_secs(1)); // a distinct run id
    let tls_port = stack.nginx_tls.to_string();
    let out = stack
        .load_test(
            "2s",
            &[
                "--no-sla",
                "--tiers",
                "direct,nginx-tls",
                "--nginx-tls-port",
                &tls_port,
            ],
        )
        .output()
        .unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let results = stack.results();
    assert_eq!(results["measured"]["reused"], true);
    assert_eq!(outcome(&results, "nginx-tls"), "ran", "{said}");
    let target = tier(&results, "nginx-tls")["target"].as_str().unwrap();
    assert!(
        target.starts_with(&format!("https://127.0.0.1:{tls_port}/servers/")),
        "{target}"
    );
    assert!(requests(&results, "nginx-tls") > 0, "{said}");
    assert_eq!(
        tier(&results, "nginx-tls")["outcome"]["results"]["total"]["failures"],
        0,
        "{said}"
    );
    assert!(
        results["overhead"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["tier"] == "nginx-tls" && r["operation"] == "Aggregated"),
        "nginx-tls is measured against direct"
    );
    assert!(said.contains("nginx-tls"), "{said}");
    let md = std::fs::read_to_string(stack.dir.join("reports/latest/report.md")).unwrap();
    assert!(md.contains("nginx-tls"), "{md}");
}

/// A `--repeat 2` run: each tier once in the document with both rounds' requests, and every
/// figure round by round with an interval, in results.json and every view.
fn rounds_are_merged_and_every_figure_has_its_interval(
    stack: &Stack,
    results: &serde_json::Value,
    said: &str,
) {
    assert!(said.contains("round 2 of 2"), "{said}");
    let repeats = &results["repeats"];
    assert_eq!(repeats["rounds"], 2, "{repeats}");
    let figure = |tier: &str, figure: serde_json::Value| {
        repeats["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["tier"] == tier && f["operation"] == "Aggregated" && f["figure"] == figure)
            .unwrap_or_else(|| panic!("{tier} {figure}: {repeats}"))
            .clone()
    };
    let added = figure("gateway", serde_json::json!("added_p50"));
    assert_eq!(added["values"].as_array().unwrap().len(), 2, "{added}");
    assert!(
        added["interval"]["half_width"].as_f64().unwrap() >= 0.0,
        "{added}"
    );
    // Equal rounds: the merged throughput is the rounds' mean.
    let rps = figure("direct", serde_json::json!({"own": "rps"}));
    let mean = rps["interval"]["mean"].as_f64().unwrap();
    let merged = tier(results, "direct")["outcome"]["results"]["total"]["rps"]
        .as_f64()
        .unwrap();
    assert!((merged - mean).abs() <= 0.02 * mean, "{merged} vs {rps}");
    let md = std::fs::read_to_string(stack.dir.join("reports/latest/report.md")).unwrap();
    assert!(md.contains("Over 2 interleaved rounds"), "{md}");
}

#[test]
fn a_short_profile_runs_on_every_tier_reports_and_gates_on_thresholds() {
    let stack = Stack::new("e2e");
    // One threshold that holds and one that cannot: exit 1, and both in junit.xml.
    let out = stack
        .load_test(
            "4s",
            &[
                "--no-sla",
                "--keep-stack",
                "--nginx-tls-port",
                &stack.nginx_tls.to_string(),
                "--threshold",
                "p99{tier=direct,op=tools/call}<5s",
                "--threshold",
                "requests{tier=gateway}>=100000000",
            ],
        )
        .output()
        .unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("Overhead against direct"), "{said}");

    let results = stack.results();
    assert_eq!(results["schema"], "mcpbench.overhead/v3");
    for name in ["direct", "gateway", "nginx", "rest"] {
        assert_eq!(outcome(&results, name), "ran", "{name}: {said}");
        assert!(requests(&results, name) > 0, "{name} sent nothing: {said}");
    }
    // The same MCP workload on each MCP tier, and the gateway's overhead for tools/call.
    let ops = |name: &str| -> Vec<String> {
        tier(&results, name)["outcome"]["results"]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ops("direct"), ops("gateway"));
    assert_eq!(ops("gateway"), ops("nginx"));
    let row = results["overhead"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tier"] == "gateway" && r["operation"] == "tools/call")
        .expect("a gateway tools/call overhead row");
    let latency = &row["latency"];
    let added = latency["added_p50_ms"].as_f64().unwrap();
    let (p50, direct_p50) = (
        latency["p50_ms"].as_f64().unwrap(),
        latency["direct_p50_ms"].as_f64().unwrap(),
    );
    assert!((added - (p50 - direct_p50)).abs() < 1e-6, "{row}");
    gateway_time_is_attributed_from_the_backends_stamps(&results, row);
    // Every call through the gateway was a real MCP success (a JSON-RPC error would count).
    assert_eq!(
        tier(&results, "gateway")["outcome"]["results"]["total"]["failures"],
        0,
        "{said}"
    );
    assert_eq!(results["verdict"]["status"], "fail");
    let thresholds = results["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 2);
    assert_eq!(thresholds[0]["passed"], true);
    assert_eq!(thresholds[1]["passed"], false);
    assert_eq!(thresholds[1]["tier"], "gateway");

    let run_dir = stack.dir.join("reports/latest");
    every_view_is_written_and_no_secret_in_any(&stack, &run_dir);
    let first_run = std::fs::canonicalize(&run_dir).unwrap();

    // Again on the running stack (reused, left up), in two interleaved rounds, thresholds that
    // hold: exit 0.
    std::thread::sleep(Duration::from_secs(1)); // a distinct run id
    let out = stack
        .load_test(
            "3s",
            &[
                "--no-sla",
                "--threshold",
                "error_rate{tier=direct}<1%",
                "--repeat",
                "2",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let results = stack.results();
    assert_eq!(results["measured"]["kind"], "stack");
    assert_eq!(results["measured"]["reused"], true);
    assert_eq!(results["verdict"]["status"], "pass");
    rounds_are_merged_and_every_figure_has_its_interval(&stack, &results, &printed(&out));
    let status = stack.xtask(&["benchmark-status", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        rows.iter().all(|r| r["state"] == "running"),
        "a reused stack stays up"
    );

    // compare-baseline on the two runs: a table per tier and operation; budgets wide enough
    // for this noisy machine pass, and --save makes the current run the baseline.
    let baseline = first_run.join("results.json");
    let baseline = baseline.to_str().unwrap();
    let out = stack.xtask(&[
        "compare-baseline",
        "--baseline",
        baseline,
        "--budget",
        "rps=-100%",
        "--budget",
        "p95=off",
        "--budget",
        "p99=off",
        "--budget",
        "error_rate=+100pt",
        // Every operation, also those a 4 s run has too few requests of to judge.
        "--all",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    assert!(printed(&out).contains("tools/call"), "{}", printed(&out));
    let saved = stack.dir.join("perf/baseline.json");
    let out = stack.xtask(&[
        "compare-baseline",
        "--save",
        "--baseline",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    assert!(saved.is_file());
    the_nginx_tls_tier_runs_over_https_with_the_stacks_ca(&stack);
    the_jmeter_plans_run_shortened_and_judge_the_rate_they_offer(&stack);
    down_leaves_nothing(&stack);
}

/// `benchmark-down` succeeds and leaves every port of the stack free.
fn down_leaves_nothing(stack: &Stack) {
    let down = stack.xtask(&["benchmark-down"]);
    assert!(down.status.success(), "{}", printed(&down));
    assert!(stack.ports_free(), "something still listens after down");
}

/// The judged result of `expression` on `tier`.
fn threshold<'a>(
    results: &'a serde_json::Value,
    expression: &str,
    tier: &str,
) -> &'a serde_json::Value {
    results["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["expression"] == expression && t["tier"] == tier)
        .unwrap_or_else(|| panic!("no {expression} on {tier}: {}", results["thresholds"]))
}

/// The exit status says whether every threshold held.
fn exit_matches_thresholds(out: &Output, results: &serde_json::Value) {
    let all_held = results["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["passed"] == true);
    let expected = if all_held { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(expected), "{}", printed(out));
}

/// The seed's JMeter plans at a few seconds and a few arrivals a second, on the running stack:
/// each on its own tiers, open model (the REST classes too), judged at the rate it offers; the
/// stress ramp says where its SLA broke or that it held. (The streaming plans: tests/stream.rs.)
fn the_jmeter_plans_run_shortened_and_judge_the_rate_they_offer(stack: &Stack) {
    let short = ["--duration", "3s", "--warmup", "1s", "--progress", "plain"];
    let plan = |name: &str, extra: &[&str]| {
        std::thread::sleep(Duration::from_secs(1)); // a distinct run id
        let out = stack
            .bare_load_test(&[&["--profile", name][..], &short, extra].concat())
            .output()
            .unwrap();
        (out, stack.results())
    };
    let tier_names = |results: &serde_json::Value| -> Vec<String> {
        results["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tier"].as_str().unwrap().to_string())
            .collect()
    };

    // Straight at the bench servers: fast enough that the baseline column holds.
    let (out, results) = plan("mcp-servers-baseline", &["--rate", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    assert_eq!(tier_names(&results), ["direct"]);
    assert_eq!(results["profile"]["model"], "open");
    let rps = threshold(&results, "rps>=19.8", "direct");
    assert_eq!(rps["passed"], true, "{rps}");
    threshold(&results, "p95<200ms", "direct");

    // REST at an arrival rate, judged on the rest tier.
    let (out, results) = plan("rest-baseline", &["--rate", "20"]);
    assert_eq!(tier_names(&results), ["rest"], "{}", printed(&out));
    assert_eq!(outcome(&results, "rest"), "ran", "{}", printed(&out));
    let rps = threshold(&results, "rps>=19.8", "rest");
    assert_eq!(rps["passed"], true, "{rps}");
    exit_matches_thresholds(&out, &results);

    // The ramp: 10/s → 100/s in 3 s on the gateway, and where the stress column broke.
    let (out, results) = plan("stress-ramp", &["--rate", "10", "--tiers", "gateway"]);
    let said = printed(&out);
    assert!(
        said.contains("stress ramp, tier gateway: the stress SLA"),
        "{said}"
    );
    let held = threshold(&results, "sla_held_to_rate>=100", "gateway");
    let at = held["actual"].as_f64().unwrap();
    assert!((10.0..=100.0).contains(&at), "{held}");
    assert_eq!(held["passed"] == true, at == 100.0, "{held}");
    let warnings = results["warnings"].to_string();
    assert!(warnings.contains("stress ramp, tier gateway"), "{warnings}");
    exit_matches_thresholds(&out, &results);

    // On the virtual server, the seed's JMETER_SERVER_ID plan: the gateway tier alone.
    let (out, results) = plan("mcp-baseline", &["--rate", "20"]);
    assert_eq!(tier_names(&results), ["gateway"], "{}", printed(&out));
    threshold(&results, "rps>=19.8", "gateway");
    exit_matches_thresholds(&out, &results);

    // The production load plan on every tier, its throughput judged on the gateway's.
    let (out, results) = plan("load", &["--rate", "20"]);
    assert_eq!(
        tier_names(&results),
        ["direct", "gateway", "nginx", "rest"],
        "{}",
        printed(&out)
    );
    assert_eq!(results["profile"]["sla_class"], "load");
    threshold(&results, "rps>=19.8", "gateway");
    threshold(&results, "p95<300ms", "nginx");
    exit_matches_thresholds(&out, &results);

    // The spike (10/s → 100/s → 10/s) and the soak (20/s, the gateway's memory sampled): the
    // stress and load columns, the spike's throughput not judged (its rate is no one number).
    let (out, results) = plan("spike", &["--rate", "10", "--tiers", "gateway"]);
    assert_eq!(
        results["profile"]["sla_class"],
        "stress",
        "{}",
        printed(&out)
    );
    threshold(&results, "p95<500ms", "gateway");
    assert!(
        !results["thresholds"].to_string().contains("rps>="),
        "{}",
        results["thresholds"]
    );
    exit_matches_thresholds(&out, &results);
    let (out, results) = plan("soak", &["--rate", "20", "--tiers", "gateway"]);
    assert_eq!(results["profile"]["sla_class"], "load", "{}", printed(&out));
    threshold(&results, "rps>=19.8", "gateway");
    exit_matches_thresholds(&out, &results);

    // The admin UI plan needs a gateway serving its UI; this stack's has it off (it runs on the
    // stream tests' stack, which has it on).
    let out = stack
        .bare_load_test(&[&["--profile", "admin-ui"][..], &short].concat())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(printed(&out).contains("--admin-ui"), "{}", printed(&out));
}

#[test]
fn without_nginx_the_nginx_tier_is_skipped_with_its_reason_and_both_eras_run_elsewhere() {
    let stack = Stack::new("no-nginx");
    let out = stack
        .load_test(
            "4s",
            &[
                "--no-sla",
                "--tiers",
                "direct,gateway,nginx",
                "--eras",
                "both",
            ],
        )
        .env("MCPBENCH_NGINX", "")
        .output()
        .unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let results = stack.results();
    assert_eq!(outcome(&results, "nginx"), "skipped");
    assert_eq!(outcome(&results, "nginx-stateless"), "skipped");
    // ContextForge 1.1.0 speaks both eras: the stateless era's tiers ran, without a handshake
    // and without ping, every request a success, and have their own overhead rows.
    for name in ["direct-stateless", "gateway-stateless"] {
        assert_eq!(outcome(&results, name), "ran", "{name}: {said}");
        let run = &tier(&results, name)["outcome"]["results"];
        assert_eq!(run["total"]["failures"], 0, "{name}: {said}");
        let operations = run["operations"].as_array().unwrap();
        let ops: Vec<&str> = operations
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        // server/discover is in the workload (a rare task: a 4 s tier may not pick it).
        assert!(ops.contains(&"server/discover"), "{name}: {ops:?}");
        assert!(
            !ops.contains(&"ping") && !ops.contains(&"mcp session setup"),
            "{name}: {ops:?}"
        );
        let calls = operations
            .iter()
            .find(|o| o["name"] == "tools/call")
            .unwrap();
        assert!(calls["requests"].as_u64() > Some(0), "{name}: {said}");
        assert_eq!(
            run["config"]["scenario"]["endpoints"][0]["era"],
            "stateless"
        );
    }
    let overhead = results["overhead"].as_array().unwrap();
    for name in ["gateway", "gateway-stateless"] {
        assert!(
            overhead
                .iter()
                .any(|r| r["tier"] == name && r["operation"] == "tools/call"),
            "{name} has its overhead against its own era's direct"
        );
    }
    let md = std::fs::read_to_string(stack.dir.join("reports/latest/report.md")).unwrap();
    assert!(
        md.contains("In the stateless era (2026-07-28), the gateway adds"),
        "{md}"
    );
    let reason = tier(&results, "nginx")["outcome"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("nginx"), "{reason}");
    assert!(requests(&results, "gateway") > 0);
    let md = std::fs::read_to_string(stack.dir.join("reports/latest/report.md")).unwrap();
    assert!(
        md.contains(&reason),
        "the skip reason is in report.md: {md}"
    );
    // A stack the run brought up is taken down with it.
    assert!(stack.ports_free(), "{said}");
}

#[test]
fn a_checkout_is_measured_with_its_revision_and_uncommitted_changes() {
    let stack = Stack::new("source");
    let release = contextforge::release::Release::newest_for_python_3_11();
    let checkout = contextforge_checkout(release.as_str(), &stack.dir.join("checkout")).unwrap();
    // A developer's change, not committed.
    let init = checkout.join("mcpgateway/__init__.py");
    let mut code = std::fs::read_to_string(&init).unwrap();
    code.push_str("\n# measured by mcpbench\n");
    std::fs::write(&init, code).unwrap();
    let head = Command::new("git")
        .arg("-C")
        .arg(&checkout)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_string();

    let source = checkout.to_str().unwrap();
    let out = stack
        .load_test(
            "2s",
            &["--no-sla", "--gateway-source", source, "--eras", "both"],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    // 1.0.7 predates the stateless era: its tiers are skipped with the gateway's answer, never
    // run in the session era instead; the bench server behind it speaks both.
    let results = stack.results();
    assert_eq!(outcome(&results, "direct-stateless"), "ran");
    for name in ["gateway-stateless", "nginx-stateless"] {
        assert_eq!(outcome(&results, name), "skipped", "{name}");
        let reason = tier(&results, name)["outcome"]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(
                "the target does not speak the stateless era (2026-07-28): server/discover at"
            ),
            "{reason}"
        );
    }
    let measured = &stack.results()["measured"];
    assert_eq!(measured["gateway_source"]["revision"], head.as_str());
    assert_eq!(measured["gateway_source"]["dirty"], true);
    assert!(
        measured["gateway_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.0.7")),
        "the checkout's own version: {measured}"
    );
    let md = std::fs::read_to_string(stack.dir.join("reports/latest/report.md")).unwrap();
    let said = format!(
        "checkout {source} at {}, with uncommitted changes",
        &head[..12]
    );
    assert!(md.contains(&said), "{md}");
    assert!(stack.ports_free(), "{}", printed(&out));
}

#[test]
fn sigterm_in_the_middle_writes_what_was_measured_and_leaves_nothing_running() {
    let stack = Stack::new("sigterm");
    let (mut guard, reader) = spawn_until_tier(
        &stack.dir,
        &mut stack.load_test("20s", &["--no-sla"]),
        "gateway",
    );
    std::thread::sleep(Duration::from_secs(3));
    let status = guard
        .signal_and_wait(libc::SIGTERM, Duration::from_secs(120))
        .unwrap();
    let seen = reader.join().unwrap();
    assert_eq!(status.code(), Some(143), "{seen}");
    let results = stack.results();
    assert_eq!(results["verdict"]["status"], "interrupted");
    assert_eq!(results["verdict"]["exit_code"], 143);
    assert!(requests(&results, "direct") > 0);
    assert!(tier(&results, "rest")["outcome"]["reason"]
        .as_str()
        .unwrap()
        .contains("stopped by SIGTERM"));
    assert!(stack.ports_free(), "{seen}");
}

/// Kills the gateway (its whole process group) during the gateway tier of a load-test run with
/// `extra` flags; the run must be an ERROR in every view, the rest of the stack taken down.
fn a_gateway_killed_mid_tier_is_an_error_everywhere(name: &str, extra: &[&str]) {
    let stack = Stack::new(name);
    let (guard, reader) =
        spawn_until_tier(&stack.dir, &mut stack.load_test("8s", extra), "gateway");
    std::thread::sleep(Duration::from_secs(2));
    let pid = gateway_pid(&stack.dir);
    // SAFETY: kill(2) on the gateway's process group, which the stack started for this test.
    assert_eq!(unsafe { libc::kill(-pid, libc::SIGKILL) }, 0);
    let status = { guard }.wait_timeout(Duration::from_secs(300)).unwrap();
    let seen = reader.join().unwrap();
    assert_eq!(status.code(), Some(3), "{seen}");
    assert!(seen.contains("ERROR (exit 3)"), "{seen}");
    let results = stack.results();
    assert_eq!(results["verdict"]["status"], "error", "{seen}");
    assert_eq!(results["verdict"]["exit_code"], 3);
    assert_eq!(outcome(&results, "direct"), "ran");
    for after in ["gateway", "nginx", "rest"] {
        assert_eq!(outcome(&results, after), "failed", "{after}: {seen}");
    }
    let overhead = results["overhead"].as_array().unwrap();
    assert!(
        overhead.is_empty(),
        "no overhead of a failed tier: {overhead:?}"
    );
    let run_dir = stack.dir.join("reports/latest");
    let read = |file: &str| std::fs::read_to_string(run_dir.join(file)).unwrap();
    assert!(read("report.html").contains("ERROR (exit 3)"));
    assert!(read("report.md").contains("**ERROR** (exit 3)"));
    assert!(read("junit.xml").contains("<failure message=\"ERROR: "));
    assert!(stack.ports_free(), "{seen}");
}

#[test]
fn a_gateway_killed_mid_tier_is_an_error_with_the_sla_thresholds() {
    a_gateway_killed_mid_tier_is_an_error_everywhere("killed-sla", &[]);
}

#[test]
fn a_gateway_killed_mid_tier_is_an_error_without_thresholds_too() {
    a_gateway_killed_mid_tier_is_an_error_everywhere("killed-no-sla", &["--no-sla"]);
}

#[test]
fn bad_input_is_refused_in_one_line_before_anything_starts() {
    let stack = Stack::new("bad-input");
    std::fs::write(stack.dir.join("typo.toml"), "name = \"typo\"\nuser = 5\n").unwrap();
    for (extra, why) in [
        (vec!["--profile", "typo.toml"], "unknown field `user`"),
        (vec!["--profile", "medium"], "no profile 'medium'"),
        (
            vec!["--threshold", "p95{tier=edge}<1s"],
            "names tier 'edge'",
        ),
        (vec!["--threshold", "p95<soon"], "invalid threshold"),
        (vec!["--threshold", "p95{op=tools/cal}<1s"], "tools/cal"),
        (vec!["--mcp-classes", "NoSuchUser"], "unknown user class"),
        (
            vec!["--host", "ftp://192.0.2.1:8080"],
            "http:// or https://",
        ),
        (
            vec!["--direct-url", "http://127.0.0.1:9/mcp"],
            "add --gateway-url",
        ),
        (
            vec!["--reports-dir", "/proc/mcpbench/reports"],
            "--reports-dir",
        ),
        (vec!["--rate", "5"], "users profile"),
        (
            vec!["--profile", "websocket"],
            "--users does not apply to the websocket plan",
        ),
        (
            vec!["--connections", "5"],
            "--connections sizes a streaming plan",
        ),
    ] {
        let out = stack.load_test("4s", &extra).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", printed(&out));
        assert!(err.contains(why), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
    }
    // The streaming plans' own subcommand checks its flags the same way.
    let out = stack.xtask(&["load-test-sse", "--tiers", "rest"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(
        err.contains("--tiers rest: the sse plan runs on direct, gateway and nginx"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // More connections than this machine's descriptor limit allows.
    let out = stack
        .bare_load_test(&["--users", "1000000"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(err.contains("ulimit -n"), "{err}");
    assert!(
        !stack.dir.join(".mcpbench").exists(),
        "a refused run must not touch the stack"
    );
}

#[test]
fn tune_check_reports_every_setting_and_its_exit_says_whether_to_change_any() {
    let stack = Stack::new("tune");
    let out = stack.xtask(&["tune", "check"]);
    let said = printed(&out);
    for setting in [
        "net.core.somaxconn",
        "net.ipv4.tcp_max_syn_backlog",
        "net.ipv4.ip_local_port_range",
        "ulimit -n (soft)",
    ] {
        assert!(said.contains(setting), "{said}");
    }
    let expected = if said.contains("CHANGE") { 1 } else { 0 };
    assert_eq!(out.status.code(), Some(expected), "{said}");
    let bad = stack.xtask(&["tune", "fix"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim().lines().count(),
        1
    );
}

/// `load-test --gateway-url` from a directory with no stack: a gateway this command did not
/// start (the test brings one up with `benchmark-up` elsewhere), reached with a token from the
/// environment, then with the JWT secret and `--server-id`; a forged token is refused in one line.
#[test]
fn an_existing_gateway_is_measured_by_url_and_nothing_is_started() {
    let stack = Stack::new("existing");
    let up = stack.xtask(&[
        "benchmark-up",
        "--runtime",
        "local",
        "--count",
        "2",
        "--start-port",
        &stack.bench.to_string(),
        "--gateway-port",
        &stack.gateway.to_string(),
        "--nginx-port",
        &stack.nginx.to_string(),
    ]);
    assert!(up.status.success(), "{}", printed(&up));
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack.dir.join(".mcpbench/stack.json")).unwrap(),
    )
    .unwrap();
    let secret = state["jwt_secret"].as_str().unwrap().to_string();
    let minted = stack.xtask(&["jwt", "--admin", "--exp", "60"]);
    let token = String::from_utf8_lossy(&minted.stdout).trim().to_string();
    assert!(
        minted.status.success() && token.starts_with("ey"),
        "{}",
        printed(&minted)
    );

    let elsewhere = stack.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let gateway_url = format!("http://127.0.0.1:{}", stack.gateway);
    let direct_url = format!("http://127.0.0.1:{}/mcp", stack.bench);
    let load_test = |extra: &[&str]| {
        let mut cmd = Command::new(binary("xtask"));
        cmd.current_dir(&elsewhere)
            .args(["load-test", "--users", "3", "--spawn-rate", "3"])
            .args(["--run-time", "3s", "--warmup", "1s", "--progress", "plain"])
            .args(["--no-sla", "--rest-classes", "HealthCheckUser"])
            .args(extra)
            .env_remove("LOADTEST_HOST")
            .env_remove("JWT_SECRET_KEY")
            .env_remove("MCPGATEWAY_BEARER_TOKEN");
        cmd
    };
    let results = || -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(elsewhere.join("reports/latest/results.json")).unwrap(),
        )
        .unwrap()
    };

    let out = load_test(&["--gateway-url", &gateway_url, "--direct-url", &direct_url])
        .env("MCPGATEWAY_BEARER_TOKEN", &token)
        .output()
        .unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let first = results();
    for ran in ["direct", "gateway", "rest"] {
        assert_eq!(outcome(&first, ran), "ran", "{ran}: {said}");
        assert!(requests(&first, ran) > 0, "{ran}: {said}");
    }
    assert_eq!(outcome(&first, "nginx"), "skipped");
    let reason = tier(&first, "nginx")["outcome"]["reason"].as_str().unwrap();
    assert!(reason.contains("existing gateway"), "{reason}");
    let measured = &first["measured"];
    assert_eq!(measured["kind"], "existing_gateway", "{measured}");
    assert_eq!(measured["gateway_url"], format!("{gateway_url}/"));
    assert_eq!(measured["direct_url"], direct_url);
    let server_id = measured["server_id"].as_str().unwrap().to_string();
    assert!(
        tier(&first, "gateway")["target"]
            .as_str()
            .unwrap()
            .contains(&server_id),
        "{said}"
    );
    let md = std::fs::read_to_string(elsewhere.join("reports/latest/report.md")).unwrap();
    assert!(md.contains("an existing gateway at"), "{md}");
    assert!(
        !elsewhere.join(".mcpbench").exists(),
        "nothing may be started"
    );
    let files = run_files(&elsewhere.join("reports/latest"));
    assert!(
        !files.contains(&token) && !files.contains(&secret),
        "a credential leaked"
    );

    // LOADTEST_HOST names the gateway (the Makefile's meaning); the secret mints the token.
    let out = load_test(&["--tiers", "gateway", "--server-id", &server_id])
        .env("LOADTEST_HOST", &gateway_url)
        .env("JWT_SECRET_KEY", &secret)
        .output()
        .unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(!said.contains(&secret), "the secret was printed");
    let second = results();
    assert_eq!(second["measured"]["server_id"], server_id.as_str());
    assert_eq!(second["measured"]["direct_url"], serde_json::Value::Null);
    assert_eq!(outcome(&second, "gateway"), "ran");

    // A token the gateway refuses: one line, exit 3, before any load.
    let out = load_test(&["--gateway-url", &gateway_url, "--token", "forged"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{}", printed(&out));
    assert!(err.contains("401"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Every process of this machine whose command line names `text`.
fn processes_naming(text: &str) -> Vec<String> {
    mcpbench::harness::process_dirs()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(text))
        .collect()
}

#[test]
fn a_profiled_run_has_the_gateways_stacks_its_own_timings_every_services_cpu_and_memory_and_the_hosts_sockets(
) {
    let stack = Stack::new("profile");
    let out = stack
        .load_test(
            "8s",
            &["--no-sla", "--tiers", "direct,gateway", "--profile-gateway"],
        )
        .output()
        .unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("profiling the gateway during the gateway tier with py-spy"),
        "{said}"
    );
    let results = stack.results();
    let run_dir = stack.dir.join("reports/latest");

    // py-spy's stacks: the gateway's own modules among them, in results.json and gateway.folded.
    let profile = &results["gateway_profile"];
    assert_eq!(profile["tier"], "gateway");
    assert_eq!(profile["stacks"]["kind"], "recorded", "{profile}");
    let stacks = profile["stacks"]["stacks"].as_array().unwrap();
    assert!(
        stacks
            .iter()
            .any(|s| s["stack"].as_str().unwrap().contains("(mcpgateway/")),
        "no frame of the gateway's own code"
    );
    let folded = std::fs::read_to_string(run_dir.join("gateway.folded")).unwrap();
    assert_eq!(folded.lines().count(), stacks.len());
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"flame-graph\""));
    assert!(html.contains("id=\"table-top-frames\""));
    let frame_titles = html.matches("<g class=\"frame\"><title>").count();
    assert!(frame_titles > 10, "{frame_titles} frames drawn");
    assert!(html.contains("(mcpgateway/"), "a gateway frame is labelled");
    // The gateway's own timings beside ours: the virtual server's MCP route.
    assert_eq!(profile["counters"]["kind"], "read", "{profile}");
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("### Gateway profile (gateway tier)"), "{md}");
    assert!(
        md.contains("| the gateway (inside it) | POST /mcp |"),
        "{md}"
    );

    // Every service's CPU and memory through the run, the gateway busy in its tier.
    let usage = results["service_usage"].as_array().unwrap();
    let services: Vec<&str> = usage
        .iter()
        .map(|u| u["service"].as_str().unwrap())
        .collect();
    for service in ["bench-servers", "gateway", "nginx"] {
        assert!(services.contains(&service), "{services:?}");
    }
    let gateway_cpu: Vec<f64> = usage.iter().find(|u| u["service"] == "gateway").unwrap()
        ["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["tier"] == "gateway")
        .filter_map(|s| s["cpu_percent"].as_f64())
        .collect();
    assert!(gateway_cpu.iter().any(|c| *c > 0.0), "{gateway_cpu:?}");
    let summary = results["usage_summary"].as_array().unwrap();
    assert!(summary.iter().any(|r| r["tier"] == "gateway"
        && r["service"] == "gateway"
        && r["max_rss_mib"].as_f64() > Some(10.0)));
    assert!(html.contains("id=\"chart-service-cpu\"") && html.contains("id=\"table-usage\""));
    assert!(md.contains("### CPU and memory per service"), "{md}");

    // The host's TCP sockets through the run (what `ss -s` shows), tagged by tier: the users'
    // connections held while the gateway tier ran, the tier's peaks, the host's own limits.
    let sockets = &results["sockets"];
    let gateway_established: Vec<u64> = sockets["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["tier"] == "gateway")
        .map(|s| s["established"].as_u64().unwrap())
        .collect();
    assert!(
        !gateway_established.is_empty() && gateway_established.iter().all(|e| *e > 0),
        "{sockets}"
    );
    let peaks = sockets["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tier"] == "gateway")
        .unwrap();
    assert_eq!(
        peaks["peak_established"].as_u64(),
        gateway_established.iter().max().copied()
    );
    assert!(
        sockets["limits"]["max_orphans"].as_u64() > Some(0),
        "{sockets}"
    );
    assert!(html.contains("id=\"chart-sockets\"") && html.contains("id=\"table-sockets\""));
    assert!(md.contains("### TCP sockets on the host (ss -s;"), "{md}");

    // The run brought the stack up and took it down, py-spy with it.
    assert!(stack.ports_free(), "{said}");
    let left = processes_naming(&stack.dir.display().to_string());
    assert!(left.is_empty(), "still running: {left:?}");
}
