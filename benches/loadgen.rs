//! Benchmark: the mcpbench load engine against the load tools it replaces, in the same run.
//!
//! Targets: nginx `return 200` and bench-server `tools/call`, each pinned to core 1.
//! Generators, pinned to core 0, 50 connections: wrk, hey, oha, a minimal reqwest loop (the
//! baseline the engine's hyper client is measured against), and ours (`cargo xtask hey`).
//! Reported: requests/s, generator CPU seconds per 100,000 requests, ratios to each peer.
//! Memory: peak RSS of `cargo xtask load` with 4,000 users; with `--soak-secs N`, RSS after one
//! minute and after N seconds of an open-model run.
//!
//! Run: `cargo xtask bench loadgen` (or `cargo bench --bench loadgen -- --duration 10`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mcpbench::harness::{
    binary, free_port_range, rss_kib, target_dir, wait_until_healthy, which, ChildGuard,
};

const TARGET_CORE: &str = "1";
const GENERATOR_CORE: &str = "0";
const CONNECTIONS: u32 = 50;
const TOOLS_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"benchmark_tool_0","arguments":{"param1":"alpha"}}}"#;

struct Options {
    duration_secs: u64,
    soak_secs: u64,
    users: u32,
}

fn options() -> Result<Options> {
    let mut o = Options {
        duration_secs: 10,
        soak_secs: 0,
        users: 4000,
    };
    fn num(args: &mut impl Iterator<Item = String>, name: &str) -> Result<u64> {
        args.next()
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} needs a number"))
    }
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--duration" => o.duration_secs = num(&mut args, "--duration")?.clamp(1, 600),
            "--soak-secs" => o.soak_secs = num(&mut args, "--soak-secs")?.min(3600),
            "--users" => o.users = num(&mut args, "--users")?.clamp(1, 20_000) as u32,
            "--reqwest-generator" => {
                let url = args.next().context("url")?;
                let body = args.next().context("body")?;
                let secs = num(&mut args, "secs")?;
                return reqwest_generator(&url, &body, secs).map(|()| std::process::exit(0));
            }
            "--bench" => {}
            "--help" | "-h" => {
                println!("loadgen bench [--duration SECS=10] [--users N=4000] [--soak-secs N=0]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(o)
}

/// The reqwest baseline: CONNECTIONS tasks on one thread, each looping POST (or GET) for `secs`.
/// Prints the request count. Run as a child of this binary so it can be pinned and measured.
fn reqwest_generator(url: &str, body: &str, secs: u64) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let total = rt.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONNECTIONS as usize)
            .build()?;
        let end = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (client, url, body) = (client.clone(), url.to_string(), body.to_string());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while tokio::time::Instant::now() < end {
                    let req = if body.is_empty() {
                        client.get(&url)
                    } else {
                        client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("accept", "application/json")
                            .body(body.clone())
                    };
                    if let Ok(resp) = req.send().await {
                        if resp.bytes().await.is_ok() {
                            n += 1;
                        }
                    }
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await?;
        }
        anyhow::Ok(total)
    })?;
    println!("REQUESTS {total}");
    Ok(())
}

fn pinned(core: &str, program: &Path) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", core]).arg(program);
    c
}

fn children_cpu_seconds() -> f64 {
    // SAFETY: rusage is plain integers; all zeroes is a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we pass and has no other effects.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(u.ru_utime) + s(u.ru_stime)
}

struct Measured {
    tool: String,
    requests: f64,
    rps: f64,
    cpu_secs: f64,
}

/// Runs a generator to completion; returns its stdout and the CPU it used.
fn run_generator(cmd: &mut Command) -> Result<(String, f64)> {
    let before = children_cpu_seconds();
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("{cmd:?}"))?;
    let cpu = children_cpu_seconds() - before;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((stdout, cpu))
}

fn number_after(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn oha() -> Option<PathBuf> {
    which("oha").or_else(|| {
        [
            "/work/tools-oha/bin/oha",
            &format!(
                "{}/.cargo/bin/oha",
                std::env::var("HOME").unwrap_or_default()
            ),
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    })
}

fn measure_all(url: &str, body: &str, secs: u64, work: &Path) -> Result<Vec<Measured>> {
    let mut rows = Vec::new();
    let d = format!("{secs}s");
    let post = !body.is_empty();
    let body_file = work.join("body.json");
    std::fs::write(&body_file, body)?;

    // wrk (the throughput bar).
    let wrk = which("wrk").context("wrk is not installed: apt-get install wrk")?;
    let lua = work.join("post.lua");
    std::fs::write(&lua, format!("wrk.method = \"POST\"\nwrk.body = {body:?}\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Accept\"] = \"application/json\"\n"))?;
    let mut cmd = pinned(GENERATOR_CORE, &wrk);
    cmd.args(["-t1", &format!("-c{CONNECTIONS}"), &format!("-d{d}")]);
    if post {
        cmd.arg("-s").arg(&lua);
    }
    let (out, cpu) = run_generator(cmd.arg(url))?;
    let requests = out
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("wrk count")?;
    rows.push(Measured {
        tool: "wrk".into(),
        requests,
        rps: number_after(&out, "Requests/sec:").context("wrk rps")?,
        cpu_secs: cpu,
    });

    // hey.
    let hey = which("hey").context("hey is not installed: apt-get install hey")?;
    let mut cmd = pinned(GENERATOR_CORE, &hey);
    cmd.args(["-c", &CONNECTIONS.to_string(), "-z", &d]);
    if post {
        cmd.args(["-m", "POST", "-T", "application/json", "-D"])
            .arg(&body_file);
    }
    let (out, cpu) = run_generator(cmd.arg(url))?;
    let responses: f64 = out
        .lines()
        .filter(|l| l.trim_start().starts_with('[') && l.contains("responses"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum();
    rows.push(Measured {
        tool: "hey".into(),
        requests: responses,
        rps: number_after(&out, "Requests/sec:").context("hey rps")?,
        cpu_secs: cpu,
    });

    // oha.
    match oha() {
        Some(oha) => {
            let mut cmd = pinned(GENERATOR_CORE, &oha);
            cmd.args(["-c", &CONNECTIONS.to_string(), "-z", &d, "--no-tui"]);
            if post {
                cmd.args(["-m", "POST", "-T", "application/json", "-D"])
                    .arg(&body_file);
            }
            let (out, cpu) = run_generator(cmd.arg(url))?;
            let rps = number_after(&out, "Requests/sec:").context("oha rps")?;
            rows.push(Measured {
                tool: "oha".into(),
                requests: rps * secs as f64,
                rps,
                cpu_secs: cpu,
            });
        }
        None => eprintln!("oha not found (cargo install oha --locked): skipped"),
    }

    // reqwest, the baseline our hyper-based client is measured against.
    let me = std::env::current_exe()?;
    let (out, cpu) = run_generator(pinned(GENERATOR_CORE, &me).args([
        "--reqwest-generator",
        url,
        body,
        &secs.to_string(),
    ]))?;
    let n = number_after(&out, "REQUESTS").context("reqwest count")?;
    rows.push(Measured {
        tool: "reqwest loop (baseline)".into(),
        requests: n,
        rps: n / secs as f64,
        cpu_secs: cpu,
    });

    // ours.
    let mut cmd = pinned(GENERATOR_CORE, &binary("xtask"));
    cmd.current_dir(work).args([
        "hey",
        "-c",
        &CONNECTIONS.to_string(),
        "-z",
        &d,
        "-u",
        url,
        "-l",
        "ours.log",
    ]);
    if post {
        cmd.args(["-d", "body.json", "-H", "Accept: application/json"]);
    } else {
        cmd.args(["-m", "GET"]);
    }
    let (_, cpu) = run_generator(&mut cmd)?;
    let results = loadgen::RunResults::from_json(&std::fs::read_to_string(work.join("ours.json"))?)
        .map_err(anyhow::Error::msg)?;
    if results.total.failures > 0 {
        bail!(
            "our run had {} failures: {:?}",
            results.total.failures,
            results.total.errors
        );
    }
    rows.push(Measured {
        tool: "mcpbench (cargo xtask hey)".into(),
        requests: results.total.requests as f64,
        rps: results.total.rps,
        cpu_secs: cpu,
    });
    Ok(rows)
}

fn print_rows(title: &str, rows: &[Measured]) {
    println!("\n### {title}\n");
    println!("| generator | req/s | CPU s per 100k req | mcpbench ÷ this (req/s) |");
    println!("|---|---:|---:|---:|");
    let ours = rows.last().expect("ours is measured last").rps;
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.2}× |",
            r.tool,
            r.rps,
            r.cpu_secs / r.requests.max(1.0) * 1e5,
            ours / r.rps
        );
    }
}

fn start_nginx(work: &Path) -> Result<(ChildGuard, String)> {
    let nginx = which("nginx")
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()))
        .context("nginx is not installed: apt-get install nginx-light")?;
    let port = free_port_range(1);
    let conf = work.join("nginx.conf");
    std::fs::write(&conf, format!(
        "daemon off;\nworker_processes 1;\npid {pid};\nerror_log stderr error;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  keepalive_requests 10000000;\n  client_body_temp_path {tmp};\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n",
        pid = work.join("nginx.pid").display(), tmp = work.display()))?;
    let child = ChildGuard::spawn(
        pinned(TARGET_CORE, &nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(work),
    )?;
    wait_until_healthy(([127, 0, 0, 1], port).into(), "/", Duration::from_secs(10))?;
    Ok((child, format!("http://127.0.0.1:{port}/")))
}

fn start_bench_server() -> Result<(ChildGuard, String)> {
    let port = free_port_range(1);
    let child = ChildGuard::spawn(pinned(TARGET_CORE, &binary("bench-server")).args([
        "--port",
        &port.to_string(),
        "--stateless",
        "--threads",
        "1",
        "--log-level",
        "error",
    ]))?;
    wait_until_healthy(
        ([127, 0, 0, 1], port).into(),
        "/health",
        Duration::from_secs(10),
    )?;
    Ok((child, format!("http://127.0.0.1:{port}/mcp")))
}

/// Peak RSS (KiB) of a `cargo xtask load` run, sampled every 100 ms, and RSS at given seconds.
fn load_rss(
    url: &str,
    args: &[&str],
    at_secs: &[u64],
    work: &Path,
) -> Result<(u64, Vec<u64>, loadgen::RunResults)> {
    let out = work.join("rss-run");
    let mut child = ChildGuard::spawn(
        Command::new(binary("xtask"))
            .args(["load", "--url", url, "--progress", "quiet", "--out"])
            .arg(&out)
            .args(args)
            .stdout(Stdio::null()),
    )?;
    let start = Instant::now();
    let mut peak = 0;
    let mut samples = vec![0; at_secs.len()];
    while child.child.try_wait()?.is_none() {
        if let Ok(rss) = rss_kib(child.pid()) {
            peak = peak.max(rss);
            for (i, at) in at_secs.iter().enumerate() {
                if samples[i] == 0 && start.elapsed() >= Duration::from_secs(*at) {
                    samples[i] = rss;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child.wait_timeout(Duration::from_secs(1))?;
    let results =
        loadgen::RunResults::from_json(&std::fs::read_to_string(out.join("results.json"))?)
            .map_err(anyhow::Error::msg)?;
    if !matches!(status.code(), Some(0) | Some(4)) {
        bail!("load run failed: {status}");
    }
    Ok((peak, samples, results))
}

fn main() -> Result<()> {
    let o = options()?;
    let work = target_dir().join("bench").join("loadgen");
    std::fs::create_dir_all(&work)?;
    println!("# Load generators, {} s each, {CONNECTIONS} connections, target on core {TARGET_CORE}, generator on core {GENERATOR_CORE}", o.duration_secs);

    let (nginx, url) = start_nginx(&work)?;
    print_rows(
        "nginx `return 200` (GET)",
        &measure_all(&url, "", o.duration_secs, &work)?,
    );
    drop(nginx);

    let (server, url) = start_bench_server()?;
    print_rows(
        "bench-server tools/call (POST, JSON-RPC)",
        &measure_all(&url, TOOLS_CALL, o.duration_secs, &work)?,
    );

    let users = o.users.to_string();
    let (peak, _, r) = load_rss(
        &url,
        &[
            "--session",
            "none",
            "--users",
            &users,
            "--wait",
            "constant(1s)",
            "-z",
            "20s",
            "--ops",
            "ping",
        ],
        &[],
        &work,
    )?;
    println!("\n### Memory\n");
    println!("| measure | value |\n|---|---:|");
    println!("| peak RSS, {users} users (closed, 1 req/s each, 20 s; {} requests, {} failures) | {:.1} MiB |", r.total.requests, r.total.failures, peak as f64 / 1024.0);
    if o.soak_secs > 60 {
        let secs = o.soak_secs.to_string() + "s";
        let (_, at, r) = load_rss(
            &url,
            &[
                "--session",
                "none",
                "--rate",
                "2000",
                "-z",
                &secs,
                "--ops",
                "tools/call",
            ],
            &[60, o.soak_secs - 2],
            &work,
        )?;
        println!(
            "| RSS after 60 s / after {} s (open, 2000 req/s; {} requests) | {:.1} / {:.1} MiB ({:+.1}%) |",
            o.soak_secs, r.total.requests, at[0] as f64 / 1024.0, at[1] as f64 / 1024.0, 100.0 * (at[1] as f64 - at[0] as f64) / at[0] as f64
        );
    }
    drop(server);
    Ok(())
}
