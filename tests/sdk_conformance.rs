//! Conformance of bench-server against a client nobody here wrote: the official MCP Python SDK
//! 1.x (`streamablehttp_client` + `ClientSession`, and `stdio_client`), over JSON and SSE
//! responses, with a tool catalog large enough to need pagination; and the SDK 2.x `Client` in
//! both eras — the stateless 2026-07-28 revision (found by its `server/discover` probe, or pinned)
//! and the `initialize` session — on the same endpoint.

use std::process::Command;

use mcpbench::harness::{
    binary, python_with_mcp_sdk, python_with_mcp_sdk2, script, spawn_bench_server,
};

const CATALOG: [&str; 8] = [
    "--tools",
    "250",
    "--resources",
    "120",
    "--prompts",
    "110",
    "--page-size",
    "100",
];
const EXPECT: [&str; 6] = [
    "--expect-tools",
    "250",
    "--expect-resources",
    "120",
    "--expect-prompts",
    "110",
];

/// Runs the conformance `script` of `tests/python/` with `python` and `args`: it must succeed and
/// say `ok_line`.
fn script_passes(python: std::path::PathBuf, name: &str, args: &[String], ok_line: &str) {
    let out = Command::new(python)
        .arg(script(&format!("tests/python/{name}")))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains(ok_line), "{stdout}");
}

fn run_sdk_client(args: &[String]) {
    let python = python_with_mcp_sdk().expect("a Python venv with the official MCP SDK");
    let args: Vec<String> = EXPECT
        .iter()
        .map(|a| a.to_string())
        .chain(args.iter().cloned())
        .collect();
    script_passes(python, "sdk_conformance.py", &args, "sdk conformance ok");
}

fn over_http(response_mode: &str, extra: &[&str]) {
    let args = [&["--response-mode", response_mode][..], &CATALOG, extra].concat();
    let (_server, port) = spawn_bench_server(1, &args).unwrap();
    run_sdk_client(&["http".into(), format!("http://127.0.0.1:{port}/mcp")]);
}

#[test]
fn official_sdk_client_passes_over_http_with_json_responses() {
    over_http("json", &[]);
}

#[test]
fn official_sdk_client_passes_over_http_with_sse_responses() {
    over_http("sse", &[]);
}

#[test]
fn official_sdk_client_passes_against_a_stateless_server() {
    over_http("auto", &["--stateless"]);
}

#[test]
fn official_sdk_client_passes_over_stdio() {
    let mut args = vec![
        "stdio".to_string(),
        binary("bench-server").display().to_string(),
    ];
    args.extend(CATALOG.iter().map(|s| s.to_string()));
    run_sdk_client(&args);
}

/// The SDK 2.x client connecting to one bench server with `mode`, which must end up speaking
/// `version`.
fn sdk2_client_speaks(response_mode: &str, mode: &str, version: &str) {
    let args = [&["--response-mode", response_mode][..], &CATALOG].concat();
    let (_server, port) = spawn_bench_server(1, &args).unwrap();
    let python = python_with_mcp_sdk2().expect("a Python venv with the official MCP SDK 2.x");
    let args = [
        format!("http://127.0.0.1:{port}/mcp"),
        mode.into(),
        version.into(),
    ];
    script_passes(
        python,
        "sdk2_conformance.py",
        &args,
        "sdk2 conformance ok: ",
    );
}

#[test]
fn official_sdk2_client_discovers_the_stateless_era_over_json_and_sse() {
    sdk2_client_speaks("json", "auto", "2026-07-28");
    sdk2_client_speaks("sse", "2026-07-28", "2026-07-28");
}

#[test]
fn official_sdk2_client_keeps_the_session_era_when_it_asks_for_it() {
    sdk2_client_speaks("auto", "legacy", "2025-11-25");
}
