//! The docker runtime: the stack's services as containers through the Docker Engine API (bollard;
//! Docker, or Podman's compatible service), on host networking and bound to 127.0.0.1. Every
//! container is labelled with its stack (a hash of the state directory) and service, so status,
//! down and clean find exactly what this stack made, even when the state file is gone.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryStateEnum, HostConfig,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use crate::health::{self, FAILURE_LOG_LINES};
use crate::state::{ContainerService, StackState};
use crate::{
    images, infra, Images, LogRequest, ServiceStatus, StackError, UpOptions, BENCH_SERVERS,
    GATEWAY, NGINX, SERVICES, STOP_GRACE,
};

/// The stack a container belongs to (see [`stack_id`]) and the service it runs.
const STACK_LABEL: &str = "io.mcpbench.stack";
const SERVICE_LABEL: &str = "io.mcpbench.service";
/// For people reading `podman ps`: which state directory the stack belongs to.
const STATE_DIR_LABEL: &str = "io.mcpbench.state-dir";
/// Where the rendered nginx configuration is mounted (nginx.Containerfile's CMD reads it).
const NGINX_CONFIG_IN_CONTAINER: &str = "/etc/mcpbench/nginx.conf";
/// The gateway's SQLite database inside its container: removed with the container.
const GATEWAY_DATABASE_IN_CONTAINER: &str = "/tmp/mcp.db";

/// Engine addresses to try: DOCKER_HOST alone when set, else Docker's and Podman's system sockets.
fn engine_addresses() -> Vec<String> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => vec![host],
        _ => vec![
            "unix:///var/run/docker.sock".into(),
            "unix:///run/podman/podman.sock".into(),
        ],
    }
}

/// The first container engine that answers a ping; the error names what was tried and what to
/// install.
pub async fn connect() -> Result<Docker, String> {
    let addresses = engine_addresses();
    for address in &addresses {
        let Ok(engine) = Docker::connect_with_host(address) else {
            continue;
        };
        // Image builds stream for minutes: the per-request timeout must outlast them.
        let engine = engine.with_timeout(Duration::from_secs(1800));
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), engine.ping()).await {
            return Ok(engine);
        }
    }
    Err(format!(
        "no container engine answers at {}: install Docker, or Podman (`apt-get install podman runc`, \
         then `podman system service --time=0 unix:///run/podman/podman.sock &` and \
         DOCKER_HOST=unix:///run/podman/podman.sock), or use --runtime local",
        addresses.join(" or ")
    ))
}

/// The stack's label value: a hash (FNV-1a) of the state directory's absolute path, so a stack's
/// containers are found from its directory alone.
fn stack_id(state_dir: &Path) -> String {
    let path = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn engine_error(what: &str, e: bollard::errors::Error) -> StackError {
    infra(format!("{what}: {e}"))
}

/// Every container of the stack, running or not, in start order.
async fn labelled(engine: &Docker, stack: &str) -> Result<Vec<ContainerSummary>, StackError> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{STACK_LABEL}={stack}")])]);
    let mut found = engine
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(|e| engine_error("cannot list containers", e))?;
    found.sort_by_key(|c| SERVICES.iter().position(|s| Some(*s) == service_of(c)));
    Ok(found)
}

fn service_of(c: &ContainerSummary) -> Option<&str> {
    c.labels.as_ref()?.get(SERVICE_LABEL).map(String::as_str)
}

/// Stops (TERM, then KILL after the grace period) and removes every container of the stack;
/// returns how many there were. Lists again until none is left, so a transient engine error or a
/// container whose create was still in flight does not strand anything.
async fn remove_all(engine: &Docker, stack: &str) -> Result<usize, StackError> {
    const ATTEMPTS: usize = 3;
    let mut removed = 0;
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        match remove_listed(engine, stack).await {
            Ok(0) => return Ok(removed),
            Ok(n) => removed += n,
            Err(e) => {
                last_error = Some(e);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    match labelled(engine, stack).await {
        Ok(left) if left.is_empty() => Ok(removed),
        Ok(left) => Err(last_error.unwrap_or_else(|| {
            infra(format!(
                "{} container(s) of the stack remain after {ATTEMPTS} attempts to remove them",
                left.len()
            ))
        })),
        Err(e) => Err(e),
    }
}

/// One pass of [`remove_all`]: the stack's containers as listed now, all at once.
async fn remove_listed(engine: &Docker, stack: &str) -> Result<usize, StackError> {
    let ours = labelled(engine, stack).await?;
    let removals = ours
        .iter()
        .filter_map(|c| c.id.as_deref())
        .map(|id| async move {
            // Not running is fine (the engine answers 304); removal is what must succeed.
            let _ = engine
                .stop_container(
                    id,
                    Some(StopContainerOptions {
                        t: Some(STOP_GRACE.as_secs() as i32),
                        ..Default::default()
                    }),
                )
                .await;
            engine
                .remove_container(
                    id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await
        });
    for result in futures_util::future::join_all(removals).await {
        match result {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(engine_error("cannot remove a container", e)),
        }
    }
    Ok(ours.len())
}

async fn is_running(engine: &Docker, id: &str) -> bool {
    engine
        .inspect_container(id, None)
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.running)
        .unwrap_or(false)
}

/// The host's pid of a running container's main process.
async fn host_pid(engine: &Docker, id: &str) -> Option<u32> {
    let pid = engine.inspect_container(id, None).await.ok()?.state?.pid?;
    u32::try_from(pid).ok().filter(|p| *p > 0)
}

/// The last `n` lines a container wrote (stdout and stderr).
async fn last_log_lines(engine: &Docker, id: &str, n: usize) -> String {
    let mut stream = engine.logs(
        id,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: n.to_string(),
            ..Default::default()
        }),
    );
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&chunk.to_string());
    }
    text.trim_end().to_string()
}

/// Brings the stack up as containers (or reports it already up).
pub async fn up(
    engine: &Docker,
    options: &UpOptions,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<StackState, StackError> {
    let stack = stack_id(&options.state_dir);
    if let Some(state) = StackState::load(&options.state_dir).map_err(infra)? {
        let mut all_running = !state.containers.is_empty();
        for c in &state.containers {
            all_running &= is_running(engine, &c.container_id).await;
        }
        if all_running {
            println!(
                "the stack is already up ({} containers); `benchmark-down` stops it",
                state.containers.len()
            );
            return Ok(state);
        }
    }
    // Left over from a crash or a lost state file: found by label, removed before starting afresh.
    remove_all(engine, &stack).await?;
    options.check_ports(true)?;
    let images = ensure_images(engine, &options.images).await?;
    let options = &UpOptions {
        images,
        ..options.clone()
    };
    std::fs::create_dir_all(options.state_dir.join("nginx"))
        .map_err(|e| infra(format!("{}: {e}", options.state_dir.display())))?;
    crate::guarded_up(
        options,
        StackState::new("docker", options),
        async |state| bring_up(engine, options, state, &stack).await,
        interrupt,
        async |state| {
            // By label: a container whose create was in flight when interrupted is found too.
            if let Err(e) = remove_all(engine, &stack).await {
                eprintln!("{e}");
            }
            state.containers.clear();
        },
    )
    .await
}

/// Each image present, or pulled with a progress bar; a missing one is named with how to build
/// it. The default gateway image (the official one) gives way to the locally built one when it
/// cannot be pulled (no registry reachable) and `images build` made that; returns the images used.
async fn ensure_images(engine: &Docker, wanted: &Images) -> Result<Images, StackError> {
    let mut used = wanted.clone();
    let local_gateway = images::gateway();
    for image in [&mut used.bench_server, &mut used.gateway, &mut used.nginx] {
        if engine.inspect_image(image).await.is_ok() {
            continue;
        }
        let Err(e) = pull(engine, image).await else {
            continue;
        };
        let is_default_gateway = *image == Images::default().gateway;
        if is_default_gateway && engine.inspect_image(&local_gateway).await.is_ok() {
            println!("{image} cannot be pulled ({e}): using {local_gateway}, built here");
            *image = local_gateway.clone();
            continue;
        }
        return Err(infra(format!(
            "image {image} is not here and cannot be pulled ({e}): build the stack's images with \
             `cargo xtask images build`"
        )));
    }
    Ok(used)
}

async fn pull(engine: &Docker, image: &str) -> Result<(), bollard::errors::Error> {
    let bar = images::byte_bar(format!("pulling {image}"));
    let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
    let mut stream = engine.create_image(
        Some(CreateImageOptions {
            from_image: Some(image.to_string()),
            ..Default::default()
        }),
        None,
        None,
    );
    while let Some(info) = stream.next().await {
        let info = info?;
        if let (Some(id), Some(detail)) = (info.id, info.progress_detail) {
            let entry = layers.entry(id).or_default();
            entry.0 = detail.current.unwrap_or(0).max(0) as u64;
            entry.1 = detail.total.unwrap_or(0).max(0) as u64;
            bar.set_length(layers.values().map(|l| l.1).sum());
            bar.set_position(layers.values().map(|l| l.0).sum());
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// What one service's container runs, and how long it may take to answer its health URL.
struct ContainerSpec<'a> {
    service: &'a str,
    image: &'a str,
    /// None: the image's own command.
    cmd: Option<Vec<String>>,
    env: Vec<(&'static str, String)>,
    binds: Vec<String>,
    endpoint: String,
    health_path: &'a str,
    within: Duration,
}

async fn bring_up(
    engine: &Docker,
    options: &UpOptions,
    state: &mut StackState,
    stack: &str,
) -> Result<(), StackError> {
    let bench = ContainerSpec {
        service: BENCH_SERVERS,
        image: &options.images.bench_server,
        cmd: Some(options.bench_server_args()),
        env: vec![],
        binds: vec![],
        endpoint: format!("http://127.0.0.1:{}", options.start_port),
        health_path: "/health",
        within: Duration::from_secs(20),
    };
    let within = bench.within;
    start_healthy(engine, options, state, stack, bench).await?;
    // The first server answered; the container serves the others too.
    for port in options.ports().skip(1) {
        wait_healthy(
            engine,
            state,
            BENCH_SERVERS,
            &format!("http://127.0.0.1:{port}/health"),
            within,
        )
        .await?;
    }

    // The gateway: configured through the environment only, the interface of the official image.
    let mut env = contextforge::settings::load_test_env(
        &state.jwt_secret,
        &state.auth_secret,
        Path::new(GATEWAY_DATABASE_IN_CONTAINER),
    );
    env.extend([
        ("HOST", "127.0.0.1".to_string()),
        ("PORT", options.gateway_port.to_string()),
        ("GUNICORN_WORKERS", options.workers.to_string()),
    ]);
    let gateway_url = format!("http://127.0.0.1:{}", options.gateway_port);
    let gateway = ContainerSpec {
        service: GATEWAY,
        image: &options.images.gateway,
        cmd: None,
        env,
        binds: vec![],
        endpoint: gateway_url.clone(),
        health_path: "/ready",
        within: Duration::from_secs(240),
    };
    start_healthy(engine, options, state, stack, gateway).await?;

    // nginx: the configuration rendered here, mounted read-only; it logs to the container's stderr.
    let config = std::path::absolute(options.state_dir.join("nginx/nginx.conf"))
        .map_err(|e| infra(e.to_string()))?;
    std::fs::write(&config, options.nginx_config("/tmp", "/dev/stderr")?)
        .map_err(|e| infra(format!("{}: {e}", config.display())))?;
    let nginx = ContainerSpec {
        service: NGINX,
        image: &options.images.nginx,
        cmd: None,
        env: vec![],
        binds: vec![format!(
            "{}:{NGINX_CONFIG_IN_CONTAINER}:ro",
            config.display()
        )],
        endpoint: format!("http://127.0.0.1:{}", options.nginx_port),
        health_path: "/health",
        within: Duration::from_secs(30),
    };
    start_healthy(engine, options, state, stack, nginx).await?;
    state.nginx_port = Some(options.nginx_port);
    state.save(&options.state_dir).map_err(infra)?;

    state.virtual_server_id =
        Some(crate::register::register(options, &state.jwt_secret, &gateway_url).await?);
    state.save(&options.state_dir).map_err(infra)
}

/// Creates a service's container (labelled, host network), records it, starts it, and waits
/// until it answers on its health URL.
async fn start_healthy(
    engine: &Docker,
    options: &UpOptions,
    state: &mut StackState,
    stack: &str,
    spec: ContainerSpec<'_>,
) -> Result<(), StackError> {
    let container_name = format!("mcpbench-{}-{}", &stack[..8], spec.service);
    let state_dir = std::path::absolute(&options.state_dir).map_err(|e| infra(e.to_string()))?;
    let labels = HashMap::from([
        (STACK_LABEL.to_string(), stack.to_string()),
        (SERVICE_LABEL.to_string(), spec.service.to_string()),
        (STATE_DIR_LABEL.to_string(), state_dir.display().to_string()),
    ]);
    // The body carries the gateway's secrets: it is never logged, and errors show the engine's
    // message only.
    let body = ContainerCreateBody {
        image: Some(spec.image.to_string()),
        cmd: spec.cmd,
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            binds: Some(spec.binds),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = engine
        .create_container(
            Some(CreateContainerOptions {
                name: Some(container_name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| engine_error(&format!("cannot create the {} container", spec.service), e))?;
    let health_url = format!("{}{}", spec.endpoint, spec.health_path);
    state.containers.push(ContainerService {
        name: spec.service.to_string(),
        container_id: created.id.clone(),
        container_name,
        endpoint: spec.endpoint,
        health_path: spec.health_path.to_string(),
    });
    // Recorded before it starts: whatever happens next, `down` can find it.
    state.save(&options.state_dir).map_err(infra)?;
    if let Err(e) = engine.start_container(&created.id, None).await {
        return Err(infra(format!(
            "cannot start {}: {e}; its last log lines:\n{}",
            spec.service,
            last_log_lines(engine, &created.id, FAILURE_LOG_LINES).await
        )));
    }
    wait_healthy(engine, state, spec.service, &health_url, spec.within).await
}

async fn wait_healthy(
    engine: &Docker,
    state: &StackState,
    name: &str,
    url: &str,
    within: Duration,
) -> Result<(), StackError> {
    let id = &state
        .containers
        .iter()
        .find(|c| c.name == name)
        .expect("created before it is waited on")
        .container_id;
    health::wait_healthy(
        name,
        url,
        within,
        async || !is_running(engine, id).await,
        async || last_log_lines(engine, id, FAILURE_LOG_LINES).await,
    )
    .await
}

/// Removes every container of the stack in `state_dir` (by label) and forgets them in its state
/// file; returns how many there were.
pub async fn down(engine: &Docker, state_dir: &Path) -> Result<usize, StackError> {
    let removed = remove_all(engine, &stack_id(state_dir)).await?;
    if let Some(mut state) = StackState::load(state_dir).map_err(infra)? {
        if state.runtime == "docker" {
            state.containers.clear();
            state.virtual_server_id = None;
            state.save(state_dir).map_err(infra)?;
        }
    }
    Ok(removed)
}

/// One row per container of the stack.
pub async fn status(
    engine: &Docker,
    state_dir: &Path,
    recorded: Option<&StackState>,
) -> Result<Vec<ServiceStatus>, StackError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("HTTP client");
    let mut rows = Vec::new();
    for c in labelled(engine, &stack_id(state_dir)).await? {
        let service = service_of(&c).unwrap_or("?").to_string();
        let known = recorded.and_then(|s| s.containers.iter().find(|k| k.name == service));
        let running = c.state == Some(ContainerSummaryStateEnum::RUNNING);
        let id = c.id.clone().unwrap_or_default();
        let health = match known {
            Some(k) if running => {
                health::probe(&client, &format!("{}{}", k.endpoint, k.health_path)).await
            }
            _ => "-".into(),
        };
        rows.push(ServiceStatus {
            service,
            state: if running { "running" } else { "stopped" }.into(),
            endpoint: known.map_or("-".into(), |k| k.endpoint.clone()),
            health,
            pid: if running {
                host_pid(engine, &id).await
            } else {
                None
            },
            container: c
                .names
                .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string())),
        });
    }
    Ok(rows)
}

/// Each container's last lines; with `follow`, then what they write until `stop` resolves.
pub async fn logs(
    engine: &Docker,
    state_dir: &Path,
    request: LogRequest<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StackError> {
    let ours: Vec<(String, String)> = labelled(engine, &stack_id(state_dir))
        .await?
        .iter()
        .filter_map(|c| Some((service_of(c)?.to_string(), c.id.clone()?)))
        .filter(|(name, _)| request.wants(name))
        .collect();
    let streams = ours.into_iter().map(|(name, id)| {
        engine
            .logs(
                &id,
                Some(LogsOptions {
                    follow: request.follow,
                    stdout: true,
                    stderr: true,
                    tail: request.lines.to_string(),
                    ..Default::default()
                }),
            )
            .map(move |chunk| (name.clone(), chunk))
            .boxed()
    });
    // Without --follow each service's tail comes whole, in start order; with it, as written.
    let mut output = if request.follow {
        futures_util::stream::select_all(streams).boxed()
    } else {
        futures_util::stream::iter(streams).flatten().boxed()
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            next = output.next() => match next {
                None => return Ok(()),
                Some((name, Ok(chunk))) => {
                    for line in chunk.to_string().lines() {
                        println!("{name} | {line}");
                    }
                }
                Some((_, Err(e))) => return Err(engine_error("cannot read the logs", e)),
            },
        }
    }
}
