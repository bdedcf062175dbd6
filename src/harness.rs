//! Driving the workspace's binaries from tests and benchmarks: locating them, free loopback
//! ports, children that are killed when dropped, a small blocking HTTP/1.1 client, RSS readings
//! and the Python venv holding the official MCP SDK (the client nobody here wrote).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The official MCP Python SDK pinned for conformance tests and the FastMCP peer (1.x keeps
/// `FastMCP` and `streamablehttp_client`, which 2.x renamed).
pub const MCP_SDK_REQUIREMENT: &str = "mcp>=1.20,<2";
/// The official MCP Python SDK of the stateless era (2026-07-28): its `Client` speaks both eras.
pub const MCP_SDK2_REQUIREMENT: &str = "mcp==2.3.0";

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A release binary of the workspace. `cargo xtask test` builds them all before the tests run.
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join("release").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo xtask test` (it builds the binaries first)",
        path.display()
    );
    path
}

/// What a finished command printed: stdout, then stderr.
pub fn printed(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh, empty directory `target/test-work/<name>-<pid>` for one test's files.
pub fn test_workdir(name: &str) -> PathBuf {
    let dir = target_dir()
        .join("test-work")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a test work directory");
    dir
}

/// `count` consecutive loopback ports that are free now and not handed out before by this
/// process (tests run in parallel threads; checking for free alone would race).
pub fn free_port_range(count: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    // Below the ephemeral range (32768+), so outgoing connections do not take our ports; the
    // starting point varies by process so parallel test binaries rarely meet.
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..1000 {
        let offset = NEXT.fetch_add(count as u32, Ordering::SeqCst) % SPAN;
        if offset + count as u32 > SPAN {
            continue;
        }
        let start = (LOW + offset) as u16;
        if (start..start + count).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return start;
        }
    }
    panic!("no free range of {count} loopback ports")
}

/// `/proc/<pid>` of every process of this machine.
pub fn process_dirs() -> impl Iterator<Item = std::fs::DirEntry> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
}

/// A child process that is terminated (SIGTERM, then SIGKILL) when dropped, so a failing test
/// leaves nothing running.
pub struct ChildGuard {
    pub child: Child,
}

impl ChildGuard {
    pub fn spawn(cmd: &mut Command) -> Result<Self> {
        let child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
        Ok(ChildGuard { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and waits up to `within` for the exit status.
    pub fn signal_and_wait(&mut self, signal: i32, within: Duration) -> Result<ExitStatus> {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        self.wait_timeout(within)
    }

    pub fn wait_timeout(&mut self, within: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("pid {} still running after {within:?}", self.child.id());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.signal_and_wait(libc::SIGTERM, Duration::from_secs(2));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `count` bench servers (release binary) on free consecutive loopback ports with `args`
/// added, and waits until every one answers `/health`. Returns the process and the first port.
pub fn spawn_bench_server(count: u16, args: &[&str]) -> Result<(ChildGuard, u16)> {
    let first = free_port_range(count);
    let child = ChildGuard::spawn(
        Command::new(binary("bench-server"))
            .args([
                "--server-count",
                &count.to_string(),
                "--start-port",
                &first.to_string(),
            ])
            .args(["--log-level", "error"])
            .args(args),
    )?;
    for port in first..first + count {
        wait_until_healthy(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "/health",
            Duration::from_secs(10),
        )?;
    }
    Ok((child, first))
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response body is not JSON: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), blocking, with a timeout.
/// Enough for protocol tests and health checks; load is generated elsewhere.
pub fn http_request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the response")?;
    let head = std::str::from_utf8(&raw[..split])?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().context("empty response")?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .context("no status code")?
        .parse()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk size")?;
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end])?.trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).context("truncated chunk")?);
        data = data.get(size + 2..).context("truncated chunk end")?;
    }
}

/// Polls `GET path` until it answers 200 or `within` passes; returns the time it took.
pub fn wait_until_healthy(addr: SocketAddr, path: &str, within: Duration) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if let Ok(r) = http_request("GET", addr, path, &[], b"") {
            if r.status == 200 {
                return Ok(start.elapsed());
            }
        }
        if start.elapsed() > within {
            bail!("http://{addr}{path} not healthy after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Resident set size of a process, in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")
}

/// The Python interpreter of a venv (under target/) holding the official MCP SDK 1.x.
pub fn python_with_mcp_sdk() -> Result<PathBuf> {
    Ok(python_venv("py-venv", MCP_SDK_REQUIREMENT)?.join("bin/python"))
}

/// The Python interpreter of a venv (under target/) holding the official MCP SDK 2.x.
pub fn python_with_mcp_sdk2() -> Result<PathBuf> {
    Ok(python_venv("py-venv-sdk2", MCP_SDK2_REQUIREMENT)?.join("bin/python"))
}

/// A venv under target/`name` with `requirement` installed, created on first use (and again
/// when the requirement changes), safely from concurrent test processes. Returns its directory.
pub fn python_venv(name: &str, requirement: &str) -> Result<PathBuf> {
    let venv = target_dir().join(name);
    let pip_args = [requirement.to_string()];
    stack::python::ensure_venv(
        &venv,
        &pip_args,
        requirement,
        stack::python::PythonHome::Host,
    )
    .map_err(anyhow::Error::msg)?;
    Ok(venv)
}

/// A git clone in `dest` of ContextForge's published source for `release` (its sdist from PyPI,
/// committed once into a repository under target/ and cloned from there): a checkout for
/// `--gateway-source`, as a developer's would be.
pub fn contextforge_checkout(release: &str, dest: &Path) -> Result<PathBuf> {
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let repository = target_dir().join(format!("contextforge-source-{release}"));
    if !repository.join(".git").is_dir() {
        let download = target_dir().join(format!("contextforge-sdist-{release}"));
        let _ = std::fs::remove_dir_all(&download);
        std::fs::create_dir_all(&download)?;
        let python = python_with_mcp_sdk()?;
        let requirement = format!("mcp-contextforge-gateway=={release}");
        run_ok(
            Command::new(python)
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                ])
                .arg(&requirement)
                .arg("-d")
                .arg(&download),
        )?;
        let sdist = std::fs::read_dir(&download)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .context("pip downloaded no sdist")?;
        run_ok(
            Command::new("tar")
                .args(["--no-same-owner", "--strip-components=1", "-xzf"])
                .arg(&sdist)
                .arg("-C")
                .arg(&download),
        )?;
        std::fs::remove_file(&sdist)?;
        let git = |args: &[&str]| {
            run_ok(
                Command::new("git")
                    .arg("-C")
                    .arg(&download)
                    .args([
                        "-c",
                        "user.name=mcpbench",
                        "-c",
                        "user.email=mcpbench@localhost",
                    ])
                    .args(args),
            )
        };
        git(&["init", "--quiet"])?;
        git(&["add", "--all"])?;
        git(&[
            "commit",
            "--quiet",
            "-m",
            &format!("ContextForge {release}"),
        ])?;
        let _ = std::fs::remove_dir_all(&repository);
        std::fs::rename(&download, &repository)?;
    }
    let _ = std::fs::remove_dir_all(dest);
    run_ok(
        Command::new("git")
            .args(["clone", "--quiet"])
            .arg(&repository)
            .arg(dest),
    )?;
    Ok(dest.to_path_buf())
}

/// Runs `command`; an error carries its stderr.
fn run_ok(command: &mut Command) -> Result<()> {
    let out = command.output().with_context(|| format!("{command:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

pub use stack::which;

/// The unix socket of a container engine that answers `GET /_ping` (DOCKER_HOST when it is a
/// unix socket, else Docker's and Podman's system sockets), as the stack's docker runtime finds it.
pub use provision::engine::answering as container_engine;

/// One `GET` to the engine's API over its unix socket.
pub fn engine_get(socket: &Path, path: &str) -> Result<HttpResponse> {
    engine_request(socket, "GET", path)
}

/// Removes `image` from the engine (gone already is fine), so a test sees `up` build it.
pub fn remove_image(socket: &Path, image: &str) -> Result<()> {
    let response = engine_request(socket, "DELETE", &format!("/images/{image}?force=true"))?;
    anyhow::ensure!(
        matches!(response.status, 200 | 404),
        "removing {image}: HTTP {}",
        response.status
    );
    Ok(())
}

/// One request without a body to the engine's API over its unix socket.
fn engine_request(socket: &Path, method: &str, path: &str) -> Result<HttpResponse> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)
        .with_context(|| format!("connecting to {}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: engine\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Ids of the containers (running or not) carrying `label` (`key=value`).
pub fn labelled_containers(socket: &Path, label: &str) -> Result<Vec<String>> {
    let filters = serde_json::json!({ "label": [label] }).to_string();
    let encoded: String = filters
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let listing = engine_get(
        socket,
        &format!("/containers/json?all=true&filters={encoded}"),
    )?
    .json()?;
    Ok(listing
        .as_array()
        .context("the container list is not an array")?
        .iter()
        .filter_map(|c| c["Id"].as_str().map(String::from))
        .collect())
}

/// Builds the stack's container images with `cargo xtask images build` (once per test process).
/// The engine, cargo and the image builder cache every step, so this is quick when nothing
/// changed, and bench-server's image always holds the current code.
pub fn container_images() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let out = Command::new(binary("xtask"))
            .args(["images", "build"])
            .current_dir(workspace_root())
            .output()
            .expect("running cargo xtask images build");
        assert!(
            out.status.success(),
            "cargo xtask images build failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A test that cannot run here for want of a component: in CI (`CI=true`) that fails it;
/// elsewhere it says "skipped: <test>: <why>", and appends that line to the file
/// `MCPBENCH_SKIPS` names (`cargo xtask test` prints it after the run, so a skip is never just
/// an "ok").
pub fn skip(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: CI must run this, but {why}"
    );
    let line = format!("skipped: {test}: {why}");
    eprintln!("{line}");
    let Some(list) = std::env::var_os("MCPBENCH_SKIPS") else {
        return;
    };
    let recorded = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&list)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = recorded {
        eprintln!(
            "cannot record the skip in {}: {e}",
            Path::new(&list).display()
        );
    }
}

/// A path under the workspace's `tests/python` or `benches/peers` scripts.
pub fn script(relative: &str) -> PathBuf {
    let p = workspace_root().join(relative);
    assert!(Path::new(&p).exists(), "{} is missing", p.display());
    p
}

/// Starts `cmd` (a `load-test`) and returns it once its stdout says the tier `name` started,
/// with the lines it will have printed when it ends; its stderr goes to `dir/stderr.log`.
pub fn spawn_until_tier(
    dir: &Path,
    cmd: &mut Command,
    name: &str,
) -> (ChildGuard, std::thread::JoinHandle<String>) {
    let log = dir.join("stderr.log");
    let mut guard = ChildGuard::spawn(
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap()),
    )
    .unwrap();
    let stdout = guard.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = format!("── tier {name} (");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.starts_with(&marker) {
                let _ = tx.send(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    if rx.recv_timeout(Duration::from_secs(400)).is_err() {
        panic!(
            "the {name} tier never started: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    (guard, reader)
}

/// The main process of the gateway of the stack whose state is in `dir`, as
/// `benchmark-status` reports it.
pub fn gateway_pid(dir: &Path) -> i32 {
    let status = Command::new(binary("xtask"))
        .args(["benchmark-status", "--json"])
        .current_dir(dir)
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&status.stdout).unwrap();
    let row = rows.iter().find(|r| r["service"] == "gateway").unwrap();
    row["pid"].as_i64().unwrap() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_reassembled() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello world");
    }
}
