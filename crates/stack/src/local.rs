//! The local runtime: the stack's services as child processes of this machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::health::{self, FAILURE_LOG_LINES};
use crate::process;
use crate::state::{Service, StackState};
use crate::{
    infra, tail, which, LogRequest, ServiceStatus, StackError, UpOptions, BENCH_SERVERS, GATEWAY,
    NGINX, SERVICES, STOP_GRACE,
};

/// nginx from `MCPBENCH_NGINX` (a path; empty: run without nginx), else PATH, else Debian's
/// `/usr/sbin/nginx` (not on a non-root user's PATH).
fn nginx_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MCPBENCH_NGINX") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    which("nginx").or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
}

/// Brings the stack up (or reports it already up). `interrupt` resolving stops what this call
/// started.
pub(crate) async fn up(
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
    crate::guarded_up(
        options,
        StackState::new("local", options),
        async |state| bring_up(options, state).await,
        interrupt,
        async |state| {
            stop_services(state);
            state.services.clear();
        },
    )
    .await
}

fn preflight(options: &UpOptions) -> Result<(), StackError> {
    options.check_ports(nginx_binary().is_some())?;
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
    bench.args(options.bench_server_args());
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
            let conf = write_nginx_config(options, dir)?;
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

    state.virtual_server_id =
        Some(crate::register::register(options, &state.jwt_secret, &gateway_url).await?);
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
    health::wait_healthy(
        name,
        url,
        within,
        async || !service.process.is_alive(),
        async || tail(&service.log, FAILURE_LOG_LINES),
    )
    .await
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

fn write_nginx_config(options: &UpOptions, dir: &Path) -> Result<PathBuf, StackError> {
    let nginx_dir = std::path::absolute(dir.join("nginx")).map_err(|e| infra(e.to_string()))?;
    std::fs::create_dir_all(&nginx_dir).map_err(|e| infra(e.to_string()))?;
    let error_log =
        std::path::absolute(dir.join("logs/nginx-error.log")).map_err(|e| infra(e.to_string()))?;
    let text = options.nginx_config(
        &nginx_dir.display().to_string(),
        &error_log.display().to_string(),
    )?;
    let conf = nginx_dir.join("nginx.conf");
    std::fs::write(&conf, text).map_err(|e| infra(e.to_string()))?;
    Ok(conf)
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
            health::probe(&client, &format!("{}{}", s.endpoint, s.health_path)).await
        };
        rows.push(ServiceStatus {
            service: s.name.clone(),
            state: if alive { "running" } else { "stopped" }.into(),
            endpoint: s.endpoint.clone(),
            health,
            pid: alive.then_some(s.process.pid),
            container: None,
        });
    }
    Ok(rows)
}

/// The log files' last lines; with `follow`, then everything appended until `stop` resolves.
pub async fn logs(
    state_dir: &Path,
    request: LogRequest<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StackError> {
    let files: Vec<(String, PathBuf)> = SERVICES
        .iter()
        .filter(|n| request.wants(n))
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
        for line in tail(path, request.lines).lines() {
            println!("{name} | {line}");
        }
        offsets.push(std::fs::metadata(path).map_or(0, |m| m.len()));
    }
    if !request.follow {
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
