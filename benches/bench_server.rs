//! Benchmark: bench-server — session and stateless (2026-07-28) eras, JSON and SSE — against the
//! official MCP Python SDK's FastMCP (stateless JSON mode),
//! measured in the same run on this machine.
//!
//! Figures: tools/call requests/s on one server with the server pinned to one core and the
//! generator (wrk, a neutral third party) pinned to the other; server CPU seconds per 100,000
//! requests; RSS with 1 and 100 servers; time from spawn until all servers answer /health.
//!
//! Run: `cargo xtask bench` (or `cargo bench --bench bench_server -- --duration 10`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mcpbench::harness::{
    binary, free_port_range, http_request, python_with_mcp_sdk, rss_kib, script, target_dir,
    wait_until_healthy, which, ChildGuard,
};
use serde_json::{json, Value};

const SERVER_CORE: &str = "1";
const GENERATOR_CORE: &str = "0";

struct Options {
    duration_secs: u64,
    connections: u32,
    spawn_rounds: u32,
}

fn parse_options() -> Result<Options> {
    let mut o = Options {
        duration_secs: 10,
        connections: 50,
        spawn_rounds: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<u64> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} needs a whole number"))
        };
        match arg.as_str() {
            "--duration" => o.duration_secs = value("--duration")?.clamp(1, 600),
            "--connections" => o.connections = value("--connections")?.clamp(1, 10_000) as u32,
            "--spawn-rounds" => o.spawn_rounds = value("--spawn-rounds")?.clamp(1, 50) as u32,
            "--bench" => {} // passed by `cargo bench`
            "--help" | "-h" => {
                println!(
                    "bench_server [--duration SECS=10] [--connections N=50] [--spawn-rounds N=5]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(o)
}

/// A server under test, pinned to its core.
struct Target {
    name: &'static str,
    child: ChildGuard,
    port: u16,
    /// Extra headers each request carries (a session id for the stateful run).
    headers: Vec<(String, String)>,
    /// The tools/call request it is loaded with.
    body: String,
}

fn pinned(core: &str, program: &Path) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", core]).arg(program);
    cmd
}

fn start_bench_server(name: &'static str, extra: &[&str]) -> Result<Target> {
    let port = free_port_range(1);
    let child = ChildGuard::spawn(
        pinned(SERVER_CORE, &binary("bench-server"))
            .args([
                "--port",
                &port.to_string(),
                "--log-level",
                "error",
                "--threads",
                "1",
            ])
            .args(extra),
    )?;
    wait_until_healthy(addr(port), "/health", Duration::from_secs(10))?;
    Ok(Target {
        name,
        child,
        port,
        headers: vec![],
        body: tools_call_body(),
    })
}

fn start_fastmcp(python: &Path) -> Result<Target> {
    let port = free_port_range(1);
    let child = ChildGuard::spawn(
        pinned(SERVER_CORE, python)
            .arg(script("benches/peers/fastmcp_server.py"))
            .args(["--port", &port.to_string(), "--tools", "100"])
            .stdout(Stdio::null()),
    )?;
    wait_until_healthy(addr(port), "/health", Duration::from_secs(60))?;
    Ok(Target {
        name: "FastMCP (official Python SDK, stateless JSON)",
        child,
        port,
        headers: vec![],
        body: tools_call_body(),
    })
}

fn addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

fn tools_call_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "benchmark_tool_0", "arguments": {"param1": "alpha", "param2": "beta"}}})
    .to_string()
}

/// The same call in the stateless era (2026-07-28): its version and the client's capabilities in
/// `_meta`, repeated in the headers the revision requires.
fn stateless_era(target: &mut Target) {
    let version = "2026-07-28";
    target.body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "benchmark_tool_0", "arguments": {"param1": "alpha", "param2": "beta"},
                   "_meta": {"io.modelcontextprotocol/protocolVersion": version,
                             "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    target.headers = [
        ("MCP-Protocol-Version", version),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "benchmark_tool_0"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
}

fn base_headers() -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        (
            "Accept".into(),
            "application/json, text/event-stream".into(),
        ),
    ]
}

/// POSTs `body` to `/mcp` with the MCP headers and `extra` ones.
fn post_mcp(
    port: u16,
    extra: &[(String, String)],
    body: &str,
) -> Result<mcpbench::harness::HttpResponse> {
    let headers: Vec<(String, String)> = base_headers()
        .into_iter()
        .chain(extra.iter().cloned())
        .collect();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http_request("POST", addr(port), "/mcp", &refs, body.as_bytes())
}

/// Opens an MCP session (initialize + initialized) and returns the headers later calls carry.
fn open_session(port: u16) -> Result<Vec<(String, String)>> {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
    let r = post_mcp(port, &[], &init.to_string())?;
    let session = r
        .header("mcp-session-id")
        .context("no Mcp-Session-Id")?
        .to_string();
    let session_headers = vec![
        ("Mcp-Session-Id".to_string(), session),
        ("MCP-Protocol-Version".to_string(), "2025-06-18".to_string()),
    ];
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post_mcp(port, &session_headers, &note.to_string())?;
    Ok(session_headers)
}

/// One tools/call checked by hand before the load: wrk sees only HTTP status codes, so a server
/// answering HTTP 200 with a JSON-RPC error would otherwise be measured as fast and healthy.
fn verify_tools_call(target: &Target) -> Result<()> {
    let r = post_mcp(target.port, &target.headers, &target.body)?;
    let text = String::from_utf8_lossy(&r.body);
    let json_text = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or(&text);
    let v: Value = serde_json::from_str(json_text)
        .with_context(|| format!("{}: not JSON: {text}", target.name))?;
    if r.status != 200 || v.get("error").is_some() || v["result"]["isError"] == true {
        bail!(
            "{}: tools/call failed before the benchmark: {text}",
            target.name
        );
    }
    Ok(())
}

struct LoadResult {
    requests_per_sec: f64,
    requests: u64,
    p50_ms: f64,
    p99_ms: f64,
    bad_responses: u64,
    server_cpu_secs: f64,
}

fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("odd /proc stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks as f64 / hz)
}

fn run_wrk(target: &Target, o: &Options) -> Result<LoadResult> {
    verify_tools_call(target)?;
    let lua = target_dir().join(format!("bench/wrk-{}.lua", target.port));
    std::fs::create_dir_all(lua.parent().unwrap())?;
    let mut script_text = format!("wrk.method = \"POST\"\nwrk.body = {:?}\n", target.body);
    for (k, v) in base_headers().iter().chain(&target.headers) {
        script_text.push_str(&format!("wrk.headers[{k:?}] = {v:?}\n"));
    }
    // wrk's "Non-2xx" line only appears when there were some; count them from Lua to be sure.
    script_text.push_str(
        "bad = 0\nresponse = function(status, headers, body) if status ~= 200 then bad = bad + 1 end end\n\
         done = function(summary, latency, requests) io.write(string.format(\"BAD %d\\nP50 %d\\nP99 %d\\n\", bad, latency:percentile(50), latency:percentile(99))) end\n",
    );
    std::fs::write(&lua, script_text)?;
    let cpu_before = cpu_seconds(target.child.pid())?;
    let out = pinned(
        GENERATOR_CORE,
        &which("wrk").context("wrk is not installed: apt-get install wrk")?,
    )
    .args([
        "-t1",
        &format!("-c{}", o.connections),
        &format!("-d{}s", o.duration_secs),
        "-s",
    ])
    .arg(&lua)
    .arg(format!("http://127.0.0.1:{}/mcp", target.port))
    .output()?;
    let cpu_after = cpu_seconds(target.child.pid())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let field = |prefix: &str| -> Result<String> {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
            .with_context(|| format!("no '{prefix}' in wrk output:\n{stdout}"))
    };
    // "  123456 requests in 10.00s, 150.00MB read"
    let requests: u64 = stdout
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no request count in wrk output")?;
    Ok(LoadResult {
        requests_per_sec: field("Requests/sec:")?.parse()?,
        requests,
        p50_ms: field("P50")?.parse::<f64>()? / 1000.0,
        p99_ms: field("P99")?.parse::<f64>()? / 1000.0,
        bad_responses: field("BAD")?.parse()?,
        server_cpu_secs: cpu_after - cpu_before,
    })
}

/// Spawns `servers` bench servers and returns (time until all answer /health, RSS KiB then,
/// RSS KiB after one tools/list and tools/call on each).
fn fleet_startup(servers: u16) -> Result<(Duration, u64, u64)> {
    let first = free_port_range(servers);
    let started = Instant::now();
    let child = ChildGuard::spawn(
        Command::new(binary("bench-server"))
            .args([
                "--server-count",
                &servers.to_string(),
                "--start-port",
                &first.to_string(),
            ])
            .args(["--log-level", "error"]),
    )?;
    for i in 0..servers {
        wait_until_healthy(addr(first + i), "/health", Duration::from_secs(10))?;
    }
    let ready = started.elapsed();
    let idle = rss_kib(child.pid())?;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    for port in first..first + servers {
        let session = open_session(port)?;
        let r = post_mcp(port, &session, &list)?;
        if r.status != 200 {
            bail!("tools/list on port {port} answered HTTP {}", r.status);
        }
    }
    let touched = rss_kib(child.pid())?;
    Ok((ready, idle, touched))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let o = parse_options()?;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        bail!("needs two cores: one for the server, one for the generator");
    }
    let python = python_with_mcp_sdk()?;
    println!("# bench-server vs FastMCP — tools/call, {} s, {} connections, server on core {SERVER_CORE}, wrk on core {GENERATOR_CORE}\n", o.duration_secs, o.connections);

    let mut rows = Vec::new();
    let stateless = start_bench_server("bench-server --stateless (JSON)", &["--stateless"])?;
    rows.push((stateless.name, run_wrk(&stateless, &o)?));
    drop(stateless);
    let mut stateful = start_bench_server("bench-server with a session (JSON)", &[])?;
    stateful.headers = open_session(stateful.port)?;
    rows.push((stateful.name, run_wrk(&stateful, &o)?));
    drop(stateful);
    let sse = start_bench_server(
        "bench-server --stateless (SSE)",
        &["--stateless", "--response-mode", "sse"],
    )?;
    rows.push((sse.name, run_wrk(&sse, &o)?));
    drop(sse);
    for (name, mode) in [
        ("bench-server, 2026-07-28 era (JSON)", "json"),
        ("bench-server, 2026-07-28 era (SSE)", "sse"),
    ] {
        let mut era = start_bench_server(name, &["--response-mode", mode])?;
        stateless_era(&mut era);
        rows.push((era.name, run_wrk(&era, &o)?));
    }
    let peer = start_fastmcp(&python)?;
    let peer_idle_rss = rss_kib(peer.child.pid())?;
    rows.push((peer.name, run_wrk(&peer, &o)?));
    let peer_loaded_rss = rss_kib(peer.child.pid())?;
    drop(peer);

    println!(
        "| server | tools/call req/s | p50 ms | p99 ms | non-200 | server CPU s per 100k req |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, r) in &rows {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {:.2} |",
            r.requests_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.bad_responses,
            r.server_cpu_secs / r.requests as f64 * 100_000.0
        );
    }
    let ours = rows[0].1.requests_per_sec;
    let theirs = rows.last().expect("the peer's row").1.requests_per_sec;
    println!(
        "\nratio bench-server/FastMCP (stateless JSON): {:.1}x",
        ours / theirs
    );

    let mut one = Vec::new();
    let mut hundred = Vec::new();
    let (mut rss1, mut rss100) = ((0, 0), (0, 0));
    for _ in 0..o.spawn_rounds {
        let (t, idle, touched) = fleet_startup(1)?;
        one.push(t);
        rss1 = (idle, touched);
        let (t, idle, touched) = fleet_startup(100)?;
        hundred.push(t);
        rss100 = (idle, touched);
    }
    let mut peer_spawn = Vec::new();
    for _ in 0..o.spawn_rounds.min(3) {
        let t = Instant::now();
        let p = start_fastmcp(&python)?;
        peer_spawn.push(t.elapsed());
        drop(p);
    }
    println!("\n| measure | bench-server | FastMCP |");
    println!("|---|---:|---:|");
    println!("| RSS, 1 server, idle / after a session + tools/list | {:.1} / {:.1} MiB | {:.1} MiB idle, {:.1} MiB after load |",
        rss1.0 as f64 / 1024.0, rss1.1 as f64 / 1024.0, peer_idle_rss as f64 / 1024.0, peer_loaded_rss as f64 / 1024.0);
    println!("| RSS, 100 servers in one process, idle / after a session + tools/list on each | {:.1} / {:.1} MiB | n/a (one process per server) |",
        rss100.0 as f64 / 1024.0, rss100.1 as f64 / 1024.0);
    println!(
        "| spawn → 1 server healthy (median of {}) | {:.1} ms | {:.0} ms |",
        o.spawn_rounds,
        median(one).as_secs_f64() * 1e3,
        median(peer_spawn).as_secs_f64() * 1e3
    );
    println!(
        "| spawn → all 100 servers healthy (median of {}) | {:.1} ms | n/a |",
        o.spawn_rounds,
        median(hundred).as_secs_f64() * 1e3
    );
    Ok(())
}
