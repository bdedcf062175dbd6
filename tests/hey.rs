//! `cargo xtask hey` end to end: the hey.sh flags against a real bench-server, its log and JSON,
//! JSON-RPC errors inside HTTP 200 reported as failures, exit codes, Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cli::Signal;
use mcpbench::harness::{binary, spawn_bench_server, ChildGuard};

fn server(extra: &[&str]) -> (ChildGuard, String) {
    let (child, port) = spawn_bench_server(1, &[&["--stateless"], extra].concat()).unwrap();
    (child, format!("http://127.0.0.1:{port}/mcp"))
}

fn workdir(name: &str) -> PathBuf {
    mcpbench::harness::test_workdir(name)
}

fn hey(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary("xtask"))
        .arg("hey")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

#[test]
fn jsonrpc_errors_inside_http_200_are_reported_apart_from_non_2xx() {
    let (_server, url) = server(&[]);
    let dir = workdir("hey-jsonrpc");
    // hey.sh's own payload: the legacy method-as-tool-name form, which an MCP server refuses.
    std::fs::write(
        dir.join("payload.json"),
        r#"{"jsonrpc":"2.0","id":1,"method":"convert_time","params":{"source_timezone":"Europe/Berlin","target_timezone":"Europe/Dublin","time":"09:00"}}"#,
    )
    .unwrap();
    let out = hey(
        &dir,
        &[
            "-n",
            "300",
            "-c",
            "10",
            "-u",
            &url,
            "-H",
            "Authorization: Bearer top-secret-token",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("[200]\t300 responses"), "{stdout}");
    assert!(stdout.contains("Non-2xx responses:\t0"), "{stdout}");
    assert!(stdout.contains("JSON-RPC errors in 2xx:\t300"), "{stdout}");
    assert!(stdout.contains("-32601"), "{stdout}");

    let logs = files_with(&dir, "log");
    assert_eq!(logs.len(), 1);
    let name = logs[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("hey-") && name.len() == "hey-YYYYMMDD_HHMMSS.log".len(),
        "{name}"
    );
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.contains("Requests/sec:"));
    let json = std::fs::read_to_string(logs[0].with_extension("json")).unwrap();
    let results = loadgen::RunResults::from_json(&json).unwrap();
    assert_eq!((results.total.requests, results.total.failures), (300, 300));
    for text in [&json, &log, &stdout.to_string()] {
        assert!(
            !text.contains("top-secret-token"),
            "the bearer token leaked"
        );
    }
}

#[test]
fn a_successful_tools_call_run_counts_every_request() {
    let (_server, url) = server(&[]);
    let dir = workdir("hey-ok");
    std::fs::write(
        dir.join("call.json"),
        r#"{"jsonrpc":"2.0","id":{{seq}},"method":"tools/call","params":{"name":"benchmark_tool_1","arguments":{"param1":"{{uuid}}"}}}"#,
    )
    .unwrap();
    let out = hey(
        &dir,
        &[
            "-n",
            "500",
            "-c",
            "20",
            "-d",
            "call.json",
            "-u",
            &url,
            "-l",
            "run.log",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Failed requests:\t0 of 500"), "{stdout}");
    assert!(dir.join("run.log").exists() && dir.join("run.json").exists());
}

#[test]
fn a_missing_payload_file_exits_3_with_one_line() {
    let dir = workdir("hey-missing");
    let out = hey(&dir, &["-u", "http://127.0.0.1:9/rpc"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("payload.json"), "{stderr}");
    assert!(
        files_with(&dir, "log").is_empty(),
        "nothing ran, nothing logged"
    );
}

#[test]
fn bad_input_is_refused_before_any_traffic() {
    let dir = workdir("hey-bad");
    std::fs::write(dir.join("payload.json"), "{}").unwrap();
    let limit = loadgen::nofile_soft_limit().to_string();
    for args in [
        vec!["-u", "127.0.0.1:4444/rpc"],
        vec!["-u", "http://127.0.0.1:9/rpc", "-z", "forever"],
        vec!["-u", "http://127.0.0.1:9/rpc", "-q", "0"],
        vec!["-u", "http://127.0.0.1:9/rpc", "-H", "Broken"],
        vec!["-u", "http://127.0.0.1:9/rpc", "-c", &limit],
        vec!["-u", "http://127.0.0.1:9/rpc", "--no-such-flag"],
        // hey's flags with no meaning here, each refused in one line.
        vec!["-u", "http://127.0.0.1:9/rpc", "-o", "json"],
        vec!["-u", "https://127.0.0.1:9/rpc", "-x", "127.0.0.1:3128"],
        vec![
            "-u",
            "http://127.0.0.1:9/rpc",
            "-h2",
            "-x",
            "127.0.0.1:3128",
        ],
        vec!["-u", "http://127.0.0.1:9/rpc", "-t", "0"],
        vec!["-u", "http://127.0.0.1:9/rpc", "-cpus", "0"],
        vec!["-u", "http://127.0.0.1:9/rpc", "--threshold", "p95<soon"],
        vec![
            "-u",
            "http://127.0.0.1:9/rpc",
            "--threshold",
            "p95{tier=gateway}<1s",
        ],
        vec![
            "-u",
            "http://127.0.0.1:9/rpc",
            "--threshold",
            "p95{op=tools/call}<1s",
        ],
    ] {
        let out = hey(&dir, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    assert!(files_with(&dir, "log").is_empty());
}

#[test]
fn sigint_and_sigterm_stop_the_run_write_results_and_exit_128_plus_the_signal() {
    let (_server, url) = server(&[]);
    for (signal, code, name) in [
        (libc::SIGINT, 130, Signal::Interrupt),
        (libc::SIGTERM, 143, Signal::Terminate),
    ] {
        let dir = workdir(&format!("hey-signal-{code}"));
        std::fs::write(
            dir.join("payload.json"),
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        )
        .unwrap();
        let mut child = ChildGuard::spawn(
            Command::new(binary("xtask"))
                .args(["hey", "-z", "60s", "-c", "4", "-q", "50", "-u", &url])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2000));
        let status = child
            .signal_and_wait(signal, Duration::from_secs(10))
            .unwrap();
        assert_eq!(status.code(), Some(code));
        let json: Vec<PathBuf> = files_with(&dir, "json")
            .into_iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("hey-"))
            .collect();
        assert_eq!(json.len(), 1, "{json:?}");
        let results =
            loadgen::RunResults::from_json(&std::fs::read_to_string(&json[0]).unwrap()).unwrap();
        assert_eq!(results.stopped_by, Some(name));
        assert!(results.total.requests > 50, "{}", results.total.requests);
        assert!(
            results.schedule.accounting.balances(),
            "{:?}",
            results.schedule
        );
    }
}

#[test]
fn dry_run_sends_nothing_and_redacts_secrets() {
    let dir = workdir("hey-dry");
    std::fs::write(dir.join("payload.json"), "{}").unwrap();
    let out = hey(
        &dir,
        &[
            "--dry-run",
            "-u",
            "http://127.0.0.1:9/rpc",
            "-H",
            "Authorization: Bearer abc123",
        ],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Authorization: <redacted>") && !stdout.contains("abc123"),
        "{stdout}"
    );
    assert!(files_with(&dir, "log").is_empty());
}

/// One of the payloads shipped in `tests/hey/` (the seed's `payload.json`, and `tools-call.json`
/// for an MCP server addressed directly).
fn shipped(name: &str) -> String {
    let path = mcpbench::harness::workspace_root()
        .join("tests/hey")
        .join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path.to_string_lossy().into_owned()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn results_of(dir: &Path, log: &str) -> loadgen::RunResults {
    let json = std::fs::read_to_string(dir.join(log).with_extension("json")).unwrap();
    loadgen::RunResults::from_json(&json).unwrap()
}

/// hey's Details line `  NAME:\tA secs, F secs, S secs` as (average, fastest, slowest).
fn details_line(stdout: &str, name: &str) -> (f64, f64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} line in {stdout}"));
    let numbers: Vec<f64> = line
        .split_once(':')
        .unwrap()
        .1
        .split(',')
        .map(|v| v.trim().trim_end_matches("secs").trim().parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 3, "{line}");
    (numbers[0], numbers[1], numbers[2])
}

#[test]
fn the_details_block_is_measured_per_request_and_kept_in_the_json() {
    let (_server, url) = server(&[]);
    // By name, so a DNS lookup happens on every new connection.
    let url = url.replace("127.0.0.1", "localhost");
    let dir = workdir("hey-details");
    let payload = shipped("tools-call.json");
    let out = hey(
        &dir,
        &[
            "-n", "200", "-c", "4", "-d", &payload, "-l", "run.log", &url,
        ],
    );
    let stdout = stdout_of(&out);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Failed requests:\t0 of 200"), "{stdout}");
    let details = stdout
        .find("Details (average, fastest, slowest):")
        .expect("Details");
    let (latency, status) = (
        stdout.find("Latency distribution:").unwrap(),
        stdout.find("Status code distribution:").unwrap(),
    );
    assert!(
        latency < details && details < status,
        "hey's order: {stdout}"
    );
    for name in [
        "DNS+dialup",
        "DNS-lookup",
        "req write",
        "resp wait",
        "resp read",
    ] {
        let (avg, fastest, slowest) = details_line(&stdout, name);
        assert!(
            0.0 <= fastest && fastest <= avg && avg <= slowest,
            "{name}: {avg} {fastest} {slowest}"
        );
    }
    let r = results_of(&dir, "run.log");
    let p = r.total.phases.expect("phases in the results JSON");
    let write = p.request_write.expect("HTTP/1.1 measures the write");
    for phase in [
        &p.dns_dialup,
        &p.dns_lookup,
        &write,
        &p.response_wait,
        &p.response_read,
    ] {
        assert_eq!(phase.count, 200);
        assert!(
            0.0 <= phase.min_ms && phase.min_ms <= phase.mean_ms && phase.mean_ms <= phase.max_ms
        );
    }
    // Four users, four connections: their first requests dialled (and looked up the name),
    // the other 196 reused a connection, as hey reports them (zero).
    assert!(
        p.dns_dialup.max_ms > 0.0 && p.dns_dialup.min_ms == 0.0,
        "{p:?}"
    );
    assert!(
        p.dns_lookup.max_ms > 0.0 && p.dns_lookup.min_ms == 0.0,
        "{p:?}"
    );
    assert!(
        p.dns_lookup.max_ms <= p.dns_dialup.max_ms,
        "the lookup is part of the dial-up"
    );
    assert!(p.response_wait.min_ms > 0.0, "{p:?}");
    // The phases are parts of the request's time: together no more than the whole.
    let parts = p.dns_dialup.total_ms
        + write.total_ms
        + p.response_wait.total_ms
        + p.response_read.total_ms;
    let whole = r.total.uncorrected.mean_ms * 200.0;
    assert!(
        parts <= whole * 1.01 + 1.0,
        "phases {parts} ms > requests {whole} ms"
    );
    assert!(
        parts >= whole * 0.5,
        "phases {parts} ms ≪ requests {whole} ms"
    );

    // Without keep-alive every request dials.
    let out = hey(
        &dir,
        &[
            "-n",
            "50",
            "-c",
            "2",
            "-disable-keepalive",
            "-d",
            &payload,
            "-l",
            "fresh.log",
            &url,
        ],
    );
    assert!(out.status.success(), "{}", stdout_of(&out));
    let p = results_of(&dir, "fresh.log").total.phases.unwrap();
    assert!(
        p.dns_dialup.min_ms > 0.0 && p.dns_lookup.min_ms > 0.0,
        "{p:?}"
    );
}

#[test]
fn csv_output_is_heys_rows_one_per_request_and_nothing_else_on_stdout() {
    let (_server, url) = server(&[]);
    let dir = workdir("hey-csv");
    let out = hey(
        &dir,
        &[
            "-n",
            "120",
            "-c",
            "6",
            "-o",
            "csv",
            "-d",
            &shipped("tools-call.json"),
            "-l",
            "csv.log",
            &url,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = stdout_of(&out);
    let mut reader = csv::Reader::from_reader(stdout.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>().join(","),
        "response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 120, "one row per request (-n)");
    let r = results_of(&dir, "csv.log");
    for row in &rows {
        let v: Vec<f64> = row.iter().map(|f| f.parse().unwrap()).collect();
        assert_eq!(v[6], 200.0, "{row:?}");
        assert!(v.iter().all(|x| *x >= 0.0), "{row:?}");
        // 4-decimal rounding of each column: the parts within the whole plus rounding.
        assert!(v[1] + v[3] + v[4] + v[5] <= v[0] + 0.0003, "{row:?}");
        assert!(
            v[7] <= r.duration_secs + 0.001,
            "offset within the run: {row:?}"
        );
    }
    // The summary still goes to the log; stdout had the rows only.
    let log = std::fs::read_to_string(dir.join("csv.log")).unwrap();
    assert!(
        log.contains("Details (average, fastest, slowest):"),
        "{log}"
    );
    assert_eq!(r.total.requests, 120);
}

#[test]
fn thresholds_and_fail_on_error_decide_the_exit_status() {
    let payload = shipped("tools-call.json");
    let (_server, url) = server(&[]);
    let dir = workdir("hey-thresholds");
    let run = |extra: &[&str]| {
        let args = [
            &["-n", "100", "-c", "4", "-d", &payload, "-u", &url][..],
            extra,
        ]
        .concat();
        hey(&dir, &args)
    };
    let pass = run(&[
        "--threshold",
        "p95<30s",
        "--threshold",
        "failures==0",
        "--fail-on-error",
    ]);
    let stdout = stdout_of(&pass);
    assert_eq!(pass.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("PASS p95<30s") && stdout.contains("PASS failures==0 (--fail-on-error)"),
        "{stdout}"
    );
    let fail = run(&["--threshold", "p95<30s", "--threshold", "rps>1000000000"]);
    let stdout = stdout_of(&fail);
    assert_eq!(fail.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL rps>1000000000"), "{stdout}");

    // Half the tools/call answered with a JSON-RPC error inside HTTP 200 (bench-server's fault
    // injection): done (0) without the switch, judged and failed (1) with it.
    let (_faulty, faulty_url) = server(&[
        "--error-rate",
        "0.5",
        "--error-kind",
        "jsonrpc",
        "--fault-seed",
        "7",
    ]);
    let base = ["-n", "100", "-c", "4", "-d", &payload, "-u", &faulty_url];
    let tolerated = hey(&dir, &base);
    assert_eq!(
        tolerated.status.code(),
        Some(0),
        "{}",
        stdout_of(&tolerated)
    );
    let failed = hey(&dir, &[&base[..], &["--fail-on-error"]].concat());
    let stdout = stdout_of(&failed);
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL failures==0 (--fail-on-error)"),
        "{stdout}"
    );
    assert!(!stdout.contains("JSON-RPC errors in 2xx:\t0"), "{stdout}");
}

#[test]
fn the_seeds_payload_runs_against_a_real_bench_server() {
    // hey.sh's sample is the gateway's /rpc form (the tool's name as the method): an MCP server
    // answers each with a JSON-RPC error inside HTTP 200, which is counted, not hidden.
    let (_server, url) = server(&[]);
    let dir = workdir("hey-seed-payload");
    let out = hey(
        &dir,
        &[
            "-n",
            "40",
            "-c",
            "2",
            "-d",
            &shipped("payload.json"),
            "-u",
            &url,
        ],
    );
    let stdout = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("[200]\t40 responses"), "{stdout}");
    assert!(stdout.contains("JSON-RPC errors in 2xx:\t40"), "{stdout}");
}

#[test]
fn a_proxy_gets_absolute_form_requests_and_relays_them() {
    let (_server, url) = server(&[]);
    let target: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    // A relay standing in for an HTTP proxy: it records each connection's first request line
    // and passes the bytes on to bench-server both ways.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = lines.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || relay(client, target, &seen));
        }
    });
    let dir = workdir("hey-proxy");
    let out = hey(
        &dir,
        &[
            "-n",
            "30",
            "-c",
            "2",
            "-x",
            &proxy.to_string(),
            "-d",
            &shipped("tools-call.json"),
            "-u",
            &url,
        ],
    );
    let stdout = stdout_of(&out);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Failed requests:\t0 of 30"), "{stdout}");
    let lines = lines.lock().unwrap();
    assert!(!lines.is_empty(), "nothing went through the proxy");
    for line in lines.iter() {
        assert_eq!(
            line,
            &format!("POST {url} HTTP/1.1"),
            "absolute form to the proxy"
        );
    }
}

fn relay(
    client: std::net::TcpStream,
    target: std::net::SocketAddr,
    seen: &std::sync::Mutex<Vec<String>>,
) {
    use std::io::{BufRead, BufReader, Write};
    let server = std::net::TcpStream::connect(target).unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    seen.lock().unwrap().push(first.trim_end().to_string());
    let mut upstream = server.try_clone().unwrap();
    upstream.write_all(first.as_bytes()).unwrap();
    let (mut back, mut to_client) = (server, client);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut back, &mut to_client);
    });
    let _ = std::io::copy(&mut reader, &mut upstream);
}
