//! Benchmark: bench-server — session and stateless (2026-07-28) eras, JSON and SSE — against the
//! official MCP SDKs' servers: rmcp 3.11 (Rust; both eras, `benches/peers/rmcp-peer`) and
//! FastMCP (Python, stateless JSON mode), measured in the same run on this machine.
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
/// The rows the ratios are taken between.
const STATELESS_JSON: &str = "bench-server --stateless (JSON)";
/// rmcp answers in SSE whenever it keeps sessions.
const RMCP_SESSION: &str = "rmcp 3.11 with a session (SSE)";
const FASTMCP: &str = "FastMCP (official Python SDK, stateless JSON)";

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
        name: FASTMCP,
        child,
        port,
        headers: vec![],
        body: tools_call_body(),
    })
}

/// The rmcp peer (`rmcp-peer serve`), on one thread like bench-server `--threads 1`.
fn start_rmcp(name: &'static str, extra: &[&str]) -> Result<Target> {
    let port = free_port_range(1);
    let child = ChildGuard::spawn(
        pinned(SERVER_CORE, &binary("rmcp-peer"))
            .args(["serve", "--port", &port.to_string(), "--tools", "100"])
            .args(extra)
            .stdout(Stdio::null()),
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
    // An SSE reply may open with a priming event (empty data) before the response's.
    let json_text = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .rfind(|data| !data.trim().is_empty())
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

/// The throughput table, the peers' ratios, and each bench-server mode against its fastest.
fn print_rates(rows: &[(&'static str, LoadResult)]) {
    println!(
        "| server | tools/call req/s | p50 ms | p99 ms | non-200 | server CPU s per 100k req |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, r) in rows {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {:.2} |",
            r.requests_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.bad_responses,
            r.server_cpu_secs / r.requests as f64 * 100_000.0
        );
    }
    let rate = |name: &str| {
        rows.iter()
            .find(|(row, _)| *row == name)
            .map(|(_, r)| r.requests_per_sec)
            .expect("a measured row")
    };
    println!();
    for (ours, theirs) in [
        (STATELESS_JSON, FASTMCP),
        (
            "bench-server, 2026-07-28 era (JSON)",
            "rmcp 3.11, 2026-07-28 era (JSON)",
        ),
        ("bench-server with a session (SSE)", RMCP_SESSION),
    ] {
        println!("ratio {ours} / {theirs}: {:.1}x", rate(ours) / rate(theirs));
    }
    // Each of bench-server's modes against its fastest: what a session, SSE or the 2026-07-28
    // era's rules cost on the same server.
    for (name, _) in rows
        .iter()
        .filter(|(name, _)| name.starts_with("bench-server"))
    {
        println!(
            "{name} / {STATELESS_JSON}: {:.2}x",
            rate(name) / rate(STATELESS_JSON)
        );
    }
}

fn main() -> Result<()> {
    let o = parse_options()?;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        bail!("needs two cores: one for the server, one for the generator");
    }
    let python = python_with_mcp_sdk()?;
    println!("# bench-server vs rmcp and FastMCP — tools/call, {} s, {} connections, server on core {SERVER_CORE}, wrk on core {GENERATOR_CORE}\n", o.duration_secs, o.connections);

    let mut rows = Vec::new();
    let stateless = start_bench_server(STATELESS_JSON, &["--stateless"])?;
    rows.push((stateless.name, run_wrk(&stateless, &o)?));
    drop(stateless);
    let mut stateful = start_bench_server("bench-server with a session (JSON)", &[])?;
    stateful.headers = open_session(stateful.port)?;
    rows.push((stateful.name, run_wrk(&stateful, &o)?));
    drop(stateful);
    let mut session_sse = start_bench_server(
        "bench-server with a session (SSE)",
        &["--response-mode", "sse"],
    )?;
    session_sse.headers = open_session(session_sse.port)?;
    rows.push((session_sse.name, run_wrk(&session_sse, &o)?));
    drop(session_sse);
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
    let mut rmcp_era = start_rmcp("rmcp 3.11, 2026-07-28 era (JSON)", &[])?;
    stateless_era(&mut rmcp_era);
    let rmcp_idle_rss = rss_kib(rmcp_era.child.pid())?;
    rows.push((rmcp_era.name, run_wrk(&rmcp_era, &o)?));
    let rmcp_loaded_rss = rss_kib(rmcp_era.child.pid())?;
    drop(rmcp_era);
    let mut rmcp_session = start_rmcp(RMCP_SESSION, &["--sessions"])?;
    rmcp_session.headers = open_session(rmcp_session.port)?;
    rows.push((rmcp_session.name, run_wrk(&rmcp_session, &o)?));
    drop(rmcp_session);
    let peer = start_fastmcp(&python)?;
    let peer_idle_rss = rss_kib(peer.child.pid())?;
    rows.push((peer.name, run_wrk(&peer, &o)?));
    let peer_loaded_rss = rss_kib(peer.child.pid())?;
    drop(peer);

    print_rates(&rows);

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
    let spawn_median = |start: &dyn Fn() -> Result<Target>| -> Result<Duration> {
        let mut times = Vec::new();
        for _ in 0..o.spawn_rounds.min(3) {
            let t = Instant::now();
            drop(start()?);
            times.push(t.elapsed());
        }
        Ok(median(times))
    };
    let peer_spawn = spawn_median(&|| start_fastmcp(&python))?;
    let rmcp_spawn = spawn_median(&|| start_rmcp("rmcp", &[]))?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("\n| measure | bench-server | rmcp 3.11 | FastMCP |");
    println!("|---|---:|---:|---:|");
    println!(
        "| RSS, 1 server, idle / after load | {:.1} / {:.1} MiB | {:.1} / {:.1} MiB | {:.1} / {:.1} MiB |",
        mib(rss1.0), mib(rss1.1), mib(rmcp_idle_rss), mib(rmcp_loaded_rss), mib(peer_idle_rss), mib(peer_loaded_rss)
    );
    println!(
        "| RSS, 100 servers in one process, idle / after a session + tools/list on each | {:.1} / {:.1} MiB | n/a | n/a |",
        mib(rss100.0), mib(rss100.1)
    );
    println!(
        "| spawn → 1 server healthy (median) | {:.1} ms | {:.1} ms | {:.0} ms |",
        median(one).as_secs_f64() * 1e3,
        rmcp_spawn.as_secs_f64() * 1e3,
        peer_spawn.as_secs_f64() * 1e3
    );
    println!(
        "| spawn → all 100 servers healthy (median of {}) | {:.1} ms | n/a | n/a |",
        o.spawn_rounds,
        median(hundred).as_secs_f64() * 1e3
    );
    Ok(())
}
