//! Conformance of bench-server against clients nobody here wrote: the official MCP Python SDK
//! 1.x (`streamablehttp_client` + `ClientSession`, and `stdio_client`), over JSON and SSE
//! responses, with a tool catalog large enough to need pagination; the SDK 2.x `Client` and the
//! official Rust SDK's client (rmcp 3.11, `benches/peers/rmcp-peer`) in both eras — the stateless
//! 2026-07-28 revision (found by their `server/discover` probes, or pinned) and the `initialize`
//! session — on the same endpoint. And the other direction: the engine against servers nobody
//! here wrote — the SDK 2.x server and rmcp's in both eras, FastMCP of the 1.x.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use mcpbench::harness::{
    binary, free_port_range, printed, python_with_mcp_sdk, python_with_mcp_sdk2, script,
    spawn_bench_server, test_workdir, wait_until_healthy, ChildGuard,
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

/// rmcp's client (`rmcp-peer check`) connecting to one bench server with `lifecycle`, which must
/// end up speaking `version` and find the whole paged catalog.
fn rmcp_client_speaks(response_mode: &str, lifecycle: &str, version: &str) {
    let args = [&["--response-mode", response_mode][..], &CATALOG].concat();
    let (_server, port) = spawn_bench_server(1, &args).unwrap();
    let out = Command::new(binary("rmcp-peer"))
        .args(["check", &format!("http://127.0.0.1:{port}/mcp")])
        .args(["--lifecycle", lifecycle, "--expect-version", version])
        .args(["--tool", "benchmark_tool_7"])
        // The benchmark tools and bench-server's three built-in ones.
        .args(["--expect-tools", "253", "--expect-resources", "120"])
        .args(["--expect-prompts", "110"])
        .output()
        .unwrap();
    let said = printed(&out);
    assert!(
        out.status.success(),
        "{lifecycle} over {response_mode}: {said}"
    );
    assert!(
        said.contains(&format!("rmcp conformance ok: {version}, 253 tools")),
        "{said}"
    );
}

#[test]
fn official_rust_sdk_client_completes_both_eras_over_json_and_sse() {
    rmcp_client_speaks("json", "auto", "2026-07-28");
    rmcp_client_speaks("sse", "discover", "2026-07-28");
    rmcp_client_speaks("json", "initialize", "2025-11-25");
    rmcp_client_speaks("sse", "initialize", "2025-11-25");
}

/// An official-SDK server started with `python` and `script` (`--port` added), once it answers.
struct SdkServer {
    _process: ChildGuard,
    url: String,
}

impl SdkServer {
    /// The SDK 2.x server of `tests/python/sdk2_server.py`: both eras on one endpoint.
    fn sdk2(response: &str) -> SdkServer {
        let python = python_with_mcp_sdk2().expect("a Python venv with the official MCP SDK 2.x");
        SdkServer::announcing(
            Command::new(python)
                .arg(script("tests/python/sdk2_server.py"))
                .args(["--port", "0", "--response", response, "--tools", "20"]),
        )
    }

    /// rmcp's Streamable HTTP server (`rmcp-peer serve`): both eras on one endpoint, real
    /// sessions in the session era.
    fn rmcp(response: &str) -> SdkServer {
        SdkServer::announcing(
            Command::new(binary("rmcp-peer"))
                .args(["serve", "--port", "0", "--response", response])
                .args(["--tools", "20", "--sessions"]),
        )
    }

    /// Starts `command`, a server that prints `ready URL` once it listens.
    fn announcing(command: &mut Command) -> SdkServer {
        let mut process = ChildGuard::spawn(command.stdout(Stdio::piped())).unwrap();
        let stdout = process.child.stdout.take().unwrap();
        let mut ready = String::new();
        BufReader::new(stdout).read_line(&mut ready).unwrap();
        let url = ready
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("{command:?} did not start: {ready:?}"))
            .to_string();
        SdkServer {
            _process: process,
            url,
        }
    }

    /// FastMCP of the SDK 1.x (`benches/peers/fastmcp_server.py`): the session era only.
    fn fastmcp() -> SdkServer {
        let python = python_with_mcp_sdk().expect("a Python venv with the official MCP SDK");
        let port = free_port_range(1);
        let process = ChildGuard::spawn(
            Command::new(python)
                .arg(script("benches/peers/fastmcp_server.py"))
                .args(["--port", &port.to_string(), "--tools", "20"]),
        )
        .unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        wait_until_healthy(addr, "/health", Duration::from_secs(60)).unwrap();
        SdkServer {
            _process: process,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }

    /// `cargo xtask load` on this server: 300 requests of `ops` by 4 users, plus `extra`. Every
    /// one must succeed; returns what the command said on stdout (the protocol note).
    fn loads_cleanly(&self, ops: &str, extra: &[&str]) -> String {
        // Each run its own directory: the tests of this file run at once in one process.
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out_dir = test_workdir(&format!("sdk-load-{run}"));
        let out = Command::new(binary("xtask"))
            .args(["load", "--url", &self.url, "--ops", ops])
            .args(["--users", "4", "-n", "300", "--progress", "quiet"])
            .args(["--threshold", "error_rate<0.0001%"])
            .arg("--out")
            .arg(&out_dir)
            .args(extra)
            .output()
            .unwrap();
        let said = printed(&out);
        assert_eq!(out.status.code(), Some(0), "{ops} {extra:?}: {said}");
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out_dir.join("results.json")).unwrap()).unwrap();
        assert!(results["total"]["requests"].as_u64() >= Some(300), "{said}");
        assert_eq!(results["total"]["failures"], 0, "{said}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

const STATELESS_OPS: &str =
    "tools/call=6,tools/list=1,resources/read=1,prompts/get=1,server/discover=1";
const SESSION_OPS: &str = "tools/call=6,tools/list=1,resources/read=1,prompts/get=1,ping=1";

/// The engine against `server` in both eras: auto finds the stateless era through
/// server/discover and keeps the revision's header and _meta rules the SDKs enforce on every
/// request; pinned to the session era, per user and under churn.
fn engine_loads_both_eras(server: &SdkServer) {
    let note = server.loads_cleanly(STATELESS_OPS, &[]);
    assert!(
        note.contains("protocol auto: the stateless era (2026-07-28), as"),
        "{note}"
    );
    server.loads_cleanly(SESSION_OPS, &["--protocol", "2025-11-25"]);
    server.loads_cleanly(
        "tools/call=3,tools/list=1",
        &["--protocol", "2025-11-25", "--session", "churn"],
    );
}

#[test]
fn the_engine_loads_the_official_sdk2_server_in_both_eras() {
    for response in ["json", "sse"] {
        engine_loads_both_eras(&SdkServer::sdk2(response));
    }
}

#[test]
fn the_engine_loads_the_official_rust_sdk_server_in_both_eras() {
    for response in ["json", "sse"] {
        engine_loads_both_eras(&SdkServer::rmcp(response));
    }
}

#[test]
fn the_engine_falls_back_to_the_session_era_on_an_sdk1_server_and_says_why() {
    let server = SdkServer::fastmcp();
    let note = server.loads_cleanly("tools/call=6,tools/list=1", &[]);
    assert!(
        note.contains("protocol auto: the session era (initialize, 2025-06-18 offered), as"),
        "{note}"
    );
    assert!(
        note.contains("server/discover at http://127.0.0.1:"),
        "{note}"
    );
}
