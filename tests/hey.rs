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
