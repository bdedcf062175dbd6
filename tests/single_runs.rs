//! Single-target runs as first-class runs, end to end through the CLI against real bench
//! servers: `load` and `hey` write report.html, report.md, junit.xml and Locust's CSV set (read
//! back with a CSV parser against Locust's column lists, `Aggregated` rows present, failures from
//! injected faults); `report DIR` renders a saved load run again; `compare-baseline` compares two
//! load runs and two hey runs (targets that differ said in a warning) and refuses a tiered run
//! against a single one (exit 2, one line).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mcpbench::harness::{binary, printed, spawn_bench_server, test_workdir};

fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary("xtask"))
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .args(args)
        .output()
        .unwrap()
}

/// A 2 s `load` run into `dir/name`.
fn load(dir: &Path, name: &str, url: &str) -> PathBuf {
    let out = dir.join(name);
    let run = xtask(
        dir,
        &[
            "load",
            "--url",
            url,
            "--users",
            "4",
            "--ops",
            "tools/call=3,tools/list=1",
            "-z",
            "2s",
            "--progress",
            "quiet",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(run.status.success(), "{}", printed(&run));
    assert!(printed(&run).contains("report: "), "{}", printed(&run));
    out
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// Locust's CSV set under `--csv locust`'s names, with Locust's columns; the faulty run's
/// failures counted per operation and error class.
fn check_locust_csvs(baseline: &Path, current: &Path) {
    let (header, rows) = read_csv(&baseline.join("locust_stats.csv"));
    assert_eq!(header, loadgen::locust::stats_columns());
    let names: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(names, ["tools/call", "tools/list", "Aggregated"]);
    assert_eq!(rows[2][0], "", "Aggregated's Type is empty, as Locust's");
    let (header, rows) = read_csv(&baseline.join("locust_stats_history.csv"));
    assert_eq!(header, loadgen::locust::history_columns());
    assert_eq!(header.len(), 24);
    let aggregated: Vec<&Vec<String>> = rows.iter().filter(|r| r[3] == "Aggregated").collect();
    assert!(
        aggregated.len() >= 2,
        "an Aggregated row per second: {rows:?}"
    );
    let last = aggregated.last().unwrap();
    let total_requests: u64 = last[17].parse().unwrap();
    let results = loadgen::RunResults::from_json(
        &std::fs::read_to_string(baseline.join("results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        total_requests, results.total.requests,
        "Total Request Count"
    );
    assert!(
        last[6].parse::<f64>().unwrap() > 0.0,
        "50% of the second: {last:?}"
    );
    assert!(
        last[23].parse::<f64>().unwrap() > 0.0,
        "content size: {last:?}"
    );
    let (header, rows) = read_csv(&baseline.join("locust_failures.csv"));
    assert_eq!(header, loadgen::locust::FAILURES_COLUMNS);
    assert!(rows.is_empty(), "{rows:?}");
    let (header, rows) = read_csv(&baseline.join("locust_exceptions.csv"));
    assert_eq!(header, loadgen::locust::EXCEPTIONS_COLUMNS);
    assert!(rows.is_empty());
    // The injected faults, one row per operation and error class, counted.
    let (_, rows) = read_csv(&current.join("locust_failures.csv"));
    assert!(!rows.is_empty());
    let counted: u64 = rows.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
    let faulty = loadgen::RunResults::from_json(
        &std::fs::read_to_string(current.join("results.json")).unwrap(),
    )
    .unwrap();
    assert!(faulty.total.failures > 0);
    assert_eq!(counted, faulty.total.failures);
    assert!(
        rows.iter().all(|r| r[1] == "tools/call" && r[0] == "MCP"),
        "{rows:?}"
    );
}

#[test]
fn load_runs_report_write_locusts_csvs_and_compare() {
    let (_server, port) = spawn_bench_server(1, &[]).unwrap();
    let (_faulty, faulty_port) = spawn_bench_server(1, &["--error-rate", "0.3"]).unwrap();
    let dir = test_workdir("single-load");
    let baseline = load(&dir, "base", &format!("http://127.0.0.1:{port}/mcp"));
    let current = load(
        &dir,
        "faulty",
        &format!("http://127.0.0.1:{faulty_port}/mcp"),
    );

    // Every view, beside results.json.
    for file in ["results.json", "report.html", "report.md", "junit.xml"] {
        assert!(baseline.join(file).exists(), "{file}");
    }
    let html = std::fs::read_to_string(baseline.join("report.html")).unwrap();
    assert!(html.contains("mcpbench run report — load"), "title");
    assert!(
        !html.contains("Overhead against direct"),
        "no overhead for one target"
    );
    let md = std::fs::read_to_string(baseline.join("report.md")).unwrap();
    assert!(md.contains("| target | http://127.0.0.1:"), "{md}");
    let junit = std::fs::read_to_string(baseline.join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"target\""), "{junit}");

    check_locust_csvs(&baseline, &current);

    // `report DIR` writes the views again from results.json, which it leaves alone.
    let json_before = std::fs::read(baseline.join("results.json")).unwrap();
    let html_before = std::fs::read(baseline.join("report.html")).unwrap();
    std::fs::remove_file(baseline.join("report.html")).unwrap();
    std::fs::remove_file(baseline.join("locust_stats.csv")).unwrap();
    let again = xtask(&dir, &["report", baseline.to_str().unwrap()]);
    assert!(again.status.success(), "{}", printed(&again));
    assert_eq!(
        std::fs::read(baseline.join("report.html")).unwrap(),
        html_before
    );
    assert!(baseline.join("locust_stats.csv").exists());
    assert_eq!(
        std::fs::read(baseline.join("results.json")).unwrap(),
        json_before
    );

    // The same load compared with itself is within budget; against the faulty server, the
    // error rate regressed (exit 1) and the targets are said to differ.
    let b = baseline.join("results.json");
    let c = current.join("results.json");
    let same = xtask(
        &dir,
        &[
            "compare-baseline",
            "--baseline",
            b.to_str().unwrap(),
            "--current",
            b.to_str().unwrap(),
        ],
    );
    assert!(same.status.success(), "{}", printed(&same));
    assert!(
        printed(&same).contains("no regressions"),
        "{}",
        printed(&same)
    );
    let worse = xtask(
        &dir,
        &[
            "compare-baseline",
            "--baseline",
            b.to_str().unwrap(),
            "--current",
            c.to_str().unwrap(),
        ],
    );
    assert_eq!(worse.status.code(), Some(1), "{}", printed(&worse));
    let text = printed(&worse);
    assert!(
        text.contains("target Aggregated: error_rate 0.00% →"),
        "{text}"
    );
    assert!(text.contains("target URL: http://127.0.0.1:"), "{text}");

    // A tiered run against a single one: refused in one line, exit 2.
    let tiered = dir.join("tiered/results.json");
    report::fixture::run()
        .write_to_dir(tiered.parent().unwrap())
        .unwrap();
    let mixed = xtask(
        &dir,
        &[
            "compare-baseline",
            "--baseline",
            tiered.to_str().unwrap(),
            "--current",
            b.to_str().unwrap(),
        ],
    );
    assert_eq!(mixed.status.code(), Some(2), "{}", printed(&mixed));
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot compare a tiered run (load-test) with a single-target run (load)"),
        "{stderr}"
    );
}

#[test]
fn hey_direct_against_hey_through_another_target_compares_and_reports() {
    let (_direct, port) = spawn_bench_server(1, &["--stateless"]).unwrap();
    let (_other, other_port) =
        spawn_bench_server(1, &["--stateless", "--latency-ms", "2"]).unwrap();
    let dir = test_workdir("single-hey");
    std::fs::write(
        dir.join("call.json"),
        r#"{"jsonrpc":"2.0","id":{{seq}},"method":"tools/call","params":{"name":"benchmark_tool_1","arguments":{"param1":"x"}}}"#,
    )
    .unwrap();
    let hey = |log: &str, port: u16| {
        let url = format!("http://127.0.0.1:{port}/mcp");
        let out = xtask(
            &dir,
            &[
                "hey",
                "-z",
                "2s",
                "-c",
                "4",
                "-d",
                "call.json",
                "-u",
                &url,
                "-l",
                log,
            ],
        );
        assert!(out.status.success(), "{}", printed(&out));
        assert!(printed(&out).contains("Report: "), "{}", printed(&out));
    };
    hey("hey-direct.log", port);
    hey("hey-gateway.log", other_port);
    for file in [
        "hey-direct.json",
        "hey-direct.html",
        "hey-direct.md",
        "hey-direct.junit.xml",
        "hey-direct_stats.csv",
        "hey-direct_stats_history.csv",
        "hey-direct_failures.csv",
        "hey-direct_exceptions.csv",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    let (header, rows) = read_csv(&dir.join("hey-direct_stats.csv"));
    assert_eq!(header, loadgen::locust::stats_columns());
    assert_eq!(rows.last().unwrap()[1], "Aggregated");

    let compared = xtask(
        &dir,
        &[
            "compare-baseline",
            "--baseline",
            "hey-direct.json",
            "--current",
            "hey-gateway.json",
            "--budget",
            "p95=off",
            "--budget",
            "p99=off",
            "--budget",
            "rps=off",
        ],
    );
    let text = printed(&compared);
    assert!(compared.status.success(), "{text}");
    assert!(text.contains("Aggregated"), "{text}");
    assert!(
        text.contains(&format!(
            "target URL: http://127.0.0.1:{port}/mcp vs http://127.0.0.1:{other_port}/mcp"
        )),
        "{text}"
    );
    // With the latency budgets on, the slower target's 2 ms is a regression.
    let judged = xtask(
        &dir,
        &[
            "compare-baseline",
            "--baseline",
            "hey-direct.json",
            "--current",
            "hey-gateway.json",
        ],
    );
    assert_eq!(judged.status.code(), Some(1), "{}", printed(&judged));

    // `report` on a hey JSON elsewhere.
    let out = dir.join("rendered");
    let rendered = xtask(
        &dir,
        &["report", "hey-gateway.json", "--out", out.to_str().unwrap()],
    );
    assert!(rendered.status.success(), "{}", printed(&rendered));
    assert!(out.join("hey-gateway.html").exists() && out.join("hey-gateway_stats.csv").exists());
}
