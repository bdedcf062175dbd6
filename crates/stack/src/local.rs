//! The local runtime: the stack's services as child processes of this machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::process;
use crate::state::{Service, StackState};
use crate::{
    tail, which, StackError, UpOptions, BENCH_SERVERS, GATEWAY, NGINX, STOP_GRACE,
    VIRTUAL_SERVER_NAME,
};

const NGINX_TEMPLATE: &str = include_str!("../../../compose/nginx.conf.tera");

fn infra(message: impl Into<String>) -> StackError {
    StackError::Infrastructure(message.into())
}

/// nginx from `MCPBENCH_NGINX` (a path; empty: run without nginx), else PATH, else Debian's
/// `/usr/sbin/nginx` (not on a non-root user's PATH).
fn nginx_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MCPBENCH_NGINX") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    which("nginx").or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Brings the stack up (or reports it already up). `interrupt` resolving stops what this call
/// started.
pub async fn up(
    options: &UpOptions,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<StackState, StackError> {
    if let Some(state) = StackState::load(&options.state_dir).map_err(infra)? {
        if !state.services.is_empty() && state.services.iter().all(|s| s.process.is_alive()) {
            println!(
                "the stack is already up ({} services); `benchmark-down` stops it",
                state.services.len()
            );
            return Ok(state);
        }
        // Left over from a crash: stop what still runs before starting afresh.
        stop_services(&state);
    }
    preflight(options)?;
    std::fs::create_dir_all(options.state_dir.join("logs"))
        .map_err(|e| infra(format!("{}: {e}", options.state_dir.display())))?;
    let mut state = StackState {
        runtime: "local".into(),
        created_at: chrono::Utc::now().to_rfc3339(),
        jwt_secret: contextforge::secrets::generate(),
        auth_secret: contextforge::secrets::generate(),
        bench_count: options.count,
        bench_start_port: options.start_port,
        gateway_port: options.gateway_port,
        nginx_port: None,
        nginx_cache: options.nginx_cache,
        virtual_server_id: None,
        services: vec![],
    };
    state.save(&options.state_dir).map_err(infra)?;
    let result = tokio::select! {
        r = bring_up(options, &mut state) => r,
        () = interrupt => Err(StackError::Interrupted),
    };
    match result {
        Ok(()) => Ok(state),
        Err(e) => {
            if options.keep_on_failure && !matches!(e, StackError::Interrupted) {
                eprintln!("keeping the services that started (--keep-on-failure); `benchmark-down` stops them");
            } else {
                stop_services(&state);
                state.services.clear();
                let _ = state.save(&options.state_dir);
            }
            Err(e)
        }
    }
}

fn preflight(options: &UpOptions) -> Result<(), StackError> {
    if options.count == 0 {
        return Err(StackError::Usage("--count must be at least 1".into()));
    }
    if u32::from(options.start_port) + u32::from(options.count) > 65_536 {
        return Err(StackError::Usage(format!(
            "{} servers from port {} run past 65535",
            options.count, options.start_port
        )));
    }
    let mut wanted: Vec<(u16, String)> = options
        .ports()
        .map(|p| (p, format!("bench server {p}")))
        .collect();
    wanted.push((options.gateway_port, "the gateway".into()));
    if nginx_binary().is_some() {
        wanted.push((options.nginx_port, "nginx".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for (port, who) in &wanted {
        if !seen.insert(*port) {
            return Err(StackError::Usage(format!(
                "port {port} is wanted twice (by {who})"
            )));
        }
    }
    if let Some((port, who)) = wanted.iter().find(|(p, _)| !port_is_free(*p)) {
        return Err(infra(format!(
            "port {port} (for {who}) is already in use: stop what holds it or choose other ports"
        )));
    }
    if !options.bench_server_bin.is_file() {
        return Err(infra(format!(
            "{} is missing: build it with `cargo build --release -p bench-server`",
            options.bench_server_bin.display()
        )));
    }
    if which("python3").is_none() {
        return Err(infra("python3 is not on PATH: the gateway needs Python 3.11 (apt-get install python3 python3-venv)"));
    }
    Ok(())
}

async fn bring_up(options: &UpOptions, state: &mut StackState) -> Result<(), StackError> {
    let dir = &options.state_dir;
    let log = |name: &str| dir.join("logs").join(format!("{name}.log"));
    let venv = ensure_gateway_venv(&options.cache_dir).await?;

    // Bench servers.
    let mut bench = Command::new(&options.bench_server_bin);
    let tools = options.tools_per_server.to_string();
    bench.args([
        "--server-count",
        &options.count.to_string(),
        "--start-port",
        &options.start_port.to_string(),
    ]);
    bench.args([
        "--tools",
        &tools,
        "--resources",
        "20",
        "--prompts",
        "10",
        "--log-level",
        "warn",
    ]);
    let first = format!("http://127.0.0.1:{}", options.start_port);
    start(
        state,
        dir,
        BENCH_SERVERS,
        &mut bench,
        &first,
        "/health",
        &log(BENCH_SERVERS),
    )?;
    for port in options.ports() {
        wait_healthy(
            state,
            BENCH_SERVERS,
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(20),
        )
        .await?;
    }

    // The gateway.
    let gateway_dir = dir.join("gateway");
    std::fs::create_dir_all(&gateway_dir).map_err(|e| infra(e.to_string()))?;
    let db = std::path::absolute(gateway_dir.join("mcp.db")).map_err(|e| infra(e.to_string()))?;
    let env = contextforge::settings::load_test_env(&state.jwt_secret, &state.auth_secret, &db);
    let port = options.gateway_port.to_string();
    let mut gateway = if options.workers > 1 {
        let mut c = Command::new(venv.join("bin/gunicorn"));
        c.args([
            "-k",
            "uvicorn.workers.UvicornWorker",
            "-w",
            &options.workers.to_string(),
        ])
        .args([
            "-b",
            &format!("127.0.0.1:{port}"),
            "--timeout",
            "600",
            "--no-control-socket",
        ])
        .args([
            "--access-logfile",
            "/dev/null",
            "--error-logfile",
            "-",
            "mcpgateway.main:app",
        ]);
        c
    } else {
        let mut c = Command::new(venv.join("bin/mcpgateway"));
        c.args(["--host", "127.0.0.1", "--port", &port]);
        c
    };
    // No .env may sit in its working directory: pydantic would read it.
    gateway.current_dir(&gateway_dir).envs(env);
    let gateway_url = format!("http://127.0.0.1:{port}");
    start(
        state,
        dir,
        GATEWAY,
        &mut gateway,
        &gateway_url,
        "/ready",
        &log(GATEWAY),
    )?;
    wait_healthy(
        state,
        GATEWAY,
        &format!("{gateway_url}/ready"),
        Duration::from_secs(240),
    )
    .await?;

    // nginx, when installed.
    match nginx_binary() {
        Some(nginx) => {
            let conf = render_nginx(options, dir)?;
            let mut cmd = Command::new(nginx);
            cmd.arg("-c").arg(&conf).arg("-p").arg(dir.join("nginx"));
            let url = format!("http://127.0.0.1:{}", options.nginx_port);
            start(state, dir, NGINX, &mut cmd, &url, "/health", &log(NGINX))?;
            wait_healthy(
                state,
                NGINX,
                &format!("{url}/health"),
                Duration::from_secs(30),
            )
            .await?;
            state.nginx_port = Some(options.nginx_port);
        }
        None => eprintln!(
            "nginx not found (apt-get install nginx-light, or MCPBENCH_NGINX=PATH): the stack runs without it"
        ),
    }
    state.save(dir).map_err(infra)?;

    register(options, state, &gateway_url).await?;
    state.save(dir).map_err(infra)
}

fn start(
    state: &mut StackState,
    dir: &Path,
    name: &str,
    cmd: &mut Command,
    endpoint: &str,
    health_path: &str,
    log: &Path,
) -> Result<(), StackError> {
    let id = process::spawn(cmd, log).map_err(|e| infra(format!("cannot start {name}: {e}")))?;
    state.services.push(Service {
        name: name.into(),
        process: id,
        endpoint: endpoint.into(),
        health_path: health_path.into(),
        log: log.to_path_buf(),
    });
    // Recorded before waiting: whatever happens next, `down` can find it.
    state.save(dir).map_err(infra)
}

async fn wait_healthy(
    state: &StackState,
    name: &str,
    url: &str,
    within: Duration,
) -> Result<(), StackError> {
    let service = state.service(name).expect("started before it is waited on");
    let bar =
        indicatif::ProgressBar::new_spinner().with_message(format!("waiting for {name} ({url})"));
    bar.enable_steady_tick(Duration::from_millis(200));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client");
    let start = Instant::now();
    let result = loop {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break Ok(());
        }
        if !service.process.is_alive() {
            break Err(infra(format!(
                "{name} exited during start-up; its last log lines:\n{}",
                tail(&service.log, 20)
            )));
        }
        if start.elapsed() > within {
            break Err(infra(format!(
                "{name} not healthy at {url} after {within:?}; its last log lines:\n{}",
                tail(&service.log, 20)
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    result
}

/// The gateway's venv, cached per pinned version; created with a spinner on first use.
async fn ensure_gateway_venv(cache: &Path) -> Result<PathBuf, StackError> {
    let venv = cache.join(format!(
        "contextforge-{}",
        contextforge::settings::PINNED_VERSION
    ));
    let bar = indicatif::ProgressBar::new_spinner().with_message(format!(
        "preparing ContextForge {} in {} (the first time takes about a minute)",
        contextforge::settings::PINNED_VERSION,
        venv.display()
    ));
    bar.enable_steady_tick(Duration::from_millis(200));
    let target = venv.clone();
    let result = tokio::task::spawn_blocking(move || {
        crate::python::ensure_venv(&target, &contextforge::settings::pip_requirement())
    })
    .await
    .expect("venv task");
    bar.finish_and_clear();
    result
        .map(|_| venv)
        .map_err(|e| infra(format!("cannot install the gateway: {e}")))
}

fn render_nginx(options: &UpOptions, dir: &Path) -> Result<PathBuf, StackError> {
    let nginx_dir = std::path::absolute(dir.join("nginx")).map_err(|e| infra(e.to_string()))?;
    std::fs::create_dir_all(&nginx_dir).map_err(|e| infra(e.to_string()))?;
    let mut context = tera::Context::new();
    context.insert("workers", &1);
    context.insert("dir", &nginx_dir.display().to_string());
    context.insert(
        "log",
        &std::path::absolute(dir.join("logs/nginx-error.log"))
            .map_err(|e| infra(e.to_string()))?
            .display()
            .to_string(),
    );
    context.insert("gateway_port", &options.gateway_port);
    context.insert("port", &options.nginx_port);
    context.insert("cache", &options.nginx_cache);
    let text = tera::Tera::one_off(NGINX_TEMPLATE, &context, false)
        .map_err(|e| infra(format!("nginx template: {e}")))?;
    let conf = nginx_dir.join("nginx.conf");
    std::fs::write(&conf, text).map_err(|e| infra(e.to_string()))?;
    Ok(conf)
}

/// Registers every bench server, waits until all their benchmark tools are listed, and bundles
/// them into one virtual server.
async fn register(
    options: &UpOptions,
    state: &mut StackState,
    gateway_url: &str,
) -> Result<(), StackError> {
    let token = contextforge::jwt::mint(
        &contextforge::jwt::TokenRequest {
            username: "admin@example.com".into(),
            expires_in_minutes: 60,
            admin: true,
            teams: None,
        },
        &state.jwt_secret,
    )
    .map_err(|e| infra(e.to_string()))?;
    let api = contextforge::api::Client::new(gateway_url, &token);
    let bar = indicatif::ProgressBar::new(u64::from(options.count))
        .with_message("registering bench servers");
    for port in options.ports() {
        api.register_gateway(
            &format!("benchmark-{port}"),
            &format!("http://127.0.0.1:{port}/mcp"),
        )
        .await
        .map_err(|e| infra(e.to_string()))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let wanted = u64::from(options.count) * u64::from(options.tools_per_server);
    let names: Vec<String> = options.ports().map(|p| format!("benchmark-{p}")).collect();
    let start = Instant::now();
    let ids = loop {
        let tools = api.tools().await.map_err(|e| infra(e.to_string()))?;
        let ours: Vec<String> = tools
            .iter()
            .filter(|t| {
                t.original_name.starts_with("benchmark_tool_")
                    && t.gateway_slug.as_ref().is_some_and(|g| names.contains(g))
            })
            .map(|t| t.id.clone())
            .collect();
        if ours.len() as u64 >= wanted {
            break ours;
        }
        if start.elapsed() > Duration::from_secs(120) {
            return Err(infra(format!(
                "only {} of {wanted} benchmark tools visible through the gateway after 120 s",
                ours.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let id = match api
        .find_server(VIRTUAL_SERVER_NAME)
        .await
        .map_err(|e| infra(e.to_string()))?
    {
        Some(id) => id,
        None => api
            .create_server(VIRTUAL_SERVER_NAME, &ids)
            .await
            .map_err(|e| infra(e.to_string()))?,
    };
    println!(
        "registered {} bench servers, {} tools; virtual server {id}",
        options.count,
        ids.len()
    );
    state.virtual_server_id = Some(id);
    Ok(())
}

fn stop_services(state: &StackState) -> usize {
    let mut stopped = 0;
    for service in state.services.iter().rev() {
        if service.process.is_alive() {
            if !service.process.terminate(STOP_GRACE) {
                eprintln!(
                    "{} (pid {}) did not stop",
                    service.name, service.process.pid
                );
            }
            stopped += 1;
        }
    }
    stopped
}

/// Stops everything the stack started. Nothing up is not an error.
pub fn down(state_dir: &Path) -> Result<String, StackError> {
    let Some(mut state) = StackState::load(state_dir).map_err(infra)? else {
        return Ok("nothing is up".into());
    };
    let stopped = stop_services(&state);
    state.services.clear();
    state.virtual_server_id = None;
    state.save(state_dir).map_err(infra)?;
    Ok(if stopped == 0 {
        "nothing was running".into()
    } else {
        format!("stopped {stopped} service(s)")
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub state: String,
    pub endpoint: String,
    pub health: String,
    pub pid: Option<u32>,
}

/// One row per service the stack knows about.
pub async fn status(state_dir: &Path) -> Result<Vec<ServiceStatus>, StackError> {
    let Some(state) = StackState::load(state_dir).map_err(infra)? else {
        return Ok(vec![]);
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("HTTP client");
    let mut rows = Vec::new();
    for s in &state.services {
        let alive = s.process.is_alive();
        let health = if !alive {
            "-".to_string()
        } else {
            match client
                .get(format!("{}{}", s.endpoint, s.health_path))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => "healthy".into(),
                Ok(r) => format!("HTTP {}", r.status().as_u16()),
                Err(_) => "unreachable".into(),
            }
        };
        rows.push(ServiceStatus {
            service: s.name.clone(),
            state: if alive { "running" } else { "stopped" }.into(),
            endpoint: s.endpoint.clone(),
            health,
            pid: alive.then_some(s.process.pid),
        });
    }
    Ok(rows)
}

/// `down`, then the state directory (database, logs, secrets) removed.
pub fn clean(state_dir: &Path) -> Result<String, StackError> {
    let said = down(state_dir)?;
    if state_dir.exists() {
        std::fs::remove_dir_all(state_dir)
            .map_err(|e| infra(format!("cannot remove {}: {e}", state_dir.display())))?;
        return Ok(format!("{said}; removed {}", state_dir.display()));
    }
    Ok(said)
}

/// The status rows as a table.
pub fn status_table(rows: &[ServiceStatus]) -> String {
    let mut out = format!(
        "{:<14} {:<9} {:<28} {:<12} {}\n",
        "SERVICE", "STATE", "ENDPOINT", "HEALTH", "PID"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<14} {:<9} {:<28} {:<12} {}\n",
            r.service,
            r.state,
            r.endpoint,
            r.health,
            r.pid.map_or("-".into(), |p| p.to_string())
        ));
    }
    out
}

/// The last `lines` of a service's log (every service's when `service` is None); with `follow`,
/// then everything appended until `stop` resolves.
pub async fn logs(
    state_dir: &Path,
    service: Option<&str>,
    lines: usize,
    follow: bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StackError> {
    if StackState::load(state_dir).map_err(infra)?.is_none() {
        return Err(StackError::Usage(
            "no stack here: run benchmark-up first".into(),
        ));
    }
    let known: Vec<&str> = [BENCH_SERVERS, GATEWAY, NGINX].into_iter().collect();
    if let Some(name) = service {
        if !known.contains(&name) {
            return Err(StackError::Usage(format!(
                "unknown service '{name}' (known: {})",
                known.join(", ")
            )));
        }
    }
    let files: Vec<(String, PathBuf)> = known
        .iter()
        .filter(|n| service.is_none_or(|s| s == **n))
        .map(|n| {
            (
                n.to_string(),
                state_dir.join("logs").join(format!("{n}.log")),
            )
        })
        .filter(|(_, p)| p.exists())
        .collect();
    let mut offsets = Vec::new();
    for (name, path) in &files {
        for line in tail(path, lines).lines() {
            println!("{name} | {line}");
        }
        offsets.push(std::fs::metadata(path).map_or(0, |m| m.len()));
    }
    if !follow {
        return Ok(());
    }
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        for ((name, path), offset) in files.iter().zip(offsets.iter_mut()) {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            if (bytes.len() as u64) > *offset {
                for line in String::from_utf8_lossy(&bytes[*offset as usize..]).lines() {
                    println!("{name} | {line}");
                }
                *offset = bytes.len() as u64;
            }
        }
    }
}
