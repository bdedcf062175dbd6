//! The docker runtime: the stack's services as containers through the Docker Engine API (bollard;
//! Docker, or Podman's compatible service), on host networking and bound to 127.0.0.1. Every
//! container is labelled with its stack (a hash of the state directory) and service, so status,
//! down and clean find exactly what this stack made, even when the state file is gone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

use cli::Signal;
use contextforge::release::Release;
use contextforge::settings::{Cache, Database};
use contextforge::source::Checkout;

use crate::backend::Backend;
use crate::health::{self, FAILURE_LOG_LINES};
use crate::services::{
    self, NginxPaths, ServiceSpec, BENCH_SERVERS, GATEWAY, NGINX, POSTGRES, REDIS, SERVICES,
};
use crate::state::{private_dir, ContainerService, GatewayRun, Runtime, StackState, Started};
use crate::{
    images, infra, GatewayCode, Images, LogRequest, ServiceStatus, StackError, UpOptions,
    STOP_GRACE,
};

/// The stack a container belongs to (`state::stack_id`) and the service it runs.
const STACK_LABEL: &str = "io.mcpbench.stack";
const SERVICE_LABEL: &str = "io.mcpbench.service";
/// For people reading `podman ps`: which state directory the stack belongs to.
const STATE_DIR_LABEL: &str = "io.mcpbench.state-dir";
/// Where the rendered nginx configuration is mounted (nginx.Containerfile's CMD reads it).
const NGINX_CONFIG_IN_CONTAINER: &str = "/etc/mcpbench/nginx.conf";
/// Where the stack's TLS directory is mounted, when nginx has a TLS listener.
const NGINX_TLS_IN_CONTAINER: &str = "/etc/mcpbench/tls";
/// The gateway's SQLite database inside its container: removed with the container.
const GATEWAY_DATABASE_IN_CONTAINER: &str = "/tmp/mcp.db";

/// Where PostgreSQL's cluster and Redis's files live in their containers: removed with them.
const POSTGRES_DATA: &str = "/var/lib/postgresql/mcpbench/data";
const REDIS_DIR: &str = "/var/lib/redis/mcpbench";

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
        "no container engine answers at {}: install Docker, or Podman (`cargo xtask provision podman`, \
         then `podman system service --time=0 unix:///run/podman/podman.sock &` and \
         DOCKER_HOST=unix:///run/podman/podman.sock), or use --runtime local",
        addresses.join(" or ")
    ))
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

/// The bench-server and nginx images present, or pulled with a progress bar; a missing one is
/// named with how to build it.
async fn ensure_images(engine: &Docker, wanted: &Images) -> Result<(), StackError> {
    for image in [&wanted.bench_server, &wanted.nginx] {
        present_or_pulled(engine, image).await.map_err(|e| {
            infra(format!(
                "image {image} is not here and cannot be pulled ({e}): build the stack's images \
                 with `cargo xtask images build`"
            ))
        })?;
    }
    Ok(())
}

/// The database and cache server images a stack of `options` runs.
fn servers_of(options: &UpOptions) -> Vec<&'static str> {
    let mut wanted = Vec::new();
    if options.database() == Database::Postgres {
        wanted.push(images::POSTGRES);
    }
    if options.cache() == Cache::Redis {
        wanted.push(images::REDIS);
    }
    wanted
}

/// Whether `image` is here and built by this recipe (an image of an older one is not current).
async fn current(engine: &Docker, image: &str) -> bool {
    engine.inspect_image(image).await.is_ok_and(|i| {
        i.config.and_then(|c| c.labels).is_some_and(|l| {
            l.get(images::RECIPE_LABEL).map(String::as_str) == Some(images::RECIPE)
        })
    })
}

/// Builds an image of ours (PostgreSQL, Redis) by its recipe.
async fn build_ours(image: &str, work_dir: &Path) -> Result<(), StackError> {
    let name = image
        .trim_start_matches("localhost/mcpbench/")
        .trim_end_matches(":latest");
    images::build(&images::BuildOptions {
        base: None,
        only: vec![name.into()],
        gateway: images::GatewayBuild::Release(Release::newest()),
        bench_server_binary: None,
        work_dir: work_dir.to_path_buf(),
    })
    .await
    .map(|_| ())
}

/// The gateway image to run and the code it holds: a checkout's image, built from it now (the
/// engine's cache keeps an unchanged checkout quick); else the image asked for (present or
/// pulled); else the official image of the release, or the one built here, or the official one
/// pulled, or — no registry reachable — the one built here now.
async fn ensure_gateway_image(
    engine: &Docker,
    asked: Option<&str>,
    code: &GatewayCode,
    work_dir: &Path,
    notes: &mut Vec<String>,
) -> Result<(String, GatewayRun), StackError> {
    let build = |gateway| images::BuildOptions {
        base: None,
        only: vec!["gateway".into()],
        gateway,
        bench_server_binary: None,
        work_dir: work_dir.to_path_buf(),
    };
    let release = match code {
        GatewayCode::Source(dir) => {
            let checkout = Checkout::inspect(dir).map_err(StackError::Usage)?;
            let image = images::source_gateway(&checkout);
            let run = GatewayRun {
                release: checkout.version.clone(),
                source: Some(checkout.revision.clone()),
            };
            images::build(&build(images::GatewayBuild::Source(checkout))).await?;
            return Ok((image, run));
        }
        GatewayCode::Release(release) => release.clone().unwrap_or_else(Release::newest),
    };
    let run = GatewayRun::release(release.clone());
    if let Some(image) = asked {
        present_or_pulled(engine, image).await.map_err(|e| {
            infra(format!(
                "image {image} is not here and cannot be pulled ({e})"
            ))
        })?;
        return Ok((image.to_string(), run));
    }
    let official = images::official_gateway(&release);
    let local = images::gateway(&release);
    if engine.inspect_image(&official).await.is_ok() {
        return Ok((official, run));
    }
    if current(engine, &local).await {
        return Ok((local, run));
    }
    let Err(e) = pull(engine, &official).await else {
        return Ok((official, run));
    };
    notes.push(format!(
        "{official} cannot be pulled ({e}): built {local} here"
    ));
    images::build(&build(images::GatewayBuild::Release(release))).await?;
    Ok((local, run))
}

/// `image` is here, or pulled now.
async fn present_or_pulled(engine: &Docker, image: &str) -> Result<(), bollard::errors::Error> {
    if engine.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    pull(engine, image).await
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

/// What one service's container runs.
struct ContainerSpec<'a> {
    image: &'a str,
    /// None: the image's own command.
    cmd: Option<Vec<String>>,
    env: Vec<(&'static str, String)>,
    binds: Vec<String>,
    /// Capabilities beyond the engine's defaults (py-spy's SYS_PTRACE for a profiled gateway).
    cap_add: Vec<String>,
}

/// A database or cache server's container: its image's own command, configured by `env`.
fn server_spec(image: &'static str, env: Vec<(&'static str, String)>) -> ContainerSpec<'static> {
    ContainerSpec {
        image,
        cmd: None,
        env,
        binds: vec![],
        cap_add: vec![],
    }
}

/// The password of a server recorded with the stack.
fn password(server: &Option<crate::state::ServerLogin>) -> String {
    server
        .as_ref()
        .map(|s| s.password.clone())
        .expect("recorded with the stack")
}

/// The stack in one state directory as containers of one engine.
pub struct Containers {
    engine: Docker,
    state_dir: PathBuf,
    stack: String,
    /// The images `up` is asked to run.
    images: Images,
    /// The gateway image `up` runs, once prepared.
    gateway_image: Option<String>,
}

impl Containers {
    /// The docker stack in `state_dir`, through the first engine that answers.
    pub async fn connect(state_dir: &Path) -> Result<Containers, String> {
        Ok(Containers {
            engine: connect().await?,
            state_dir: state_dir.to_path_buf(),
            stack: crate::state::stack_id(state_dir),
            images: Images::default(),
            gateway_image: None,
        })
    }

    /// To bring up with `images`.
    pub fn with_images(self, images: Images) -> Containers {
        Containers { images, ..self }
    }

    /// Whether every image `up` would run for `code` is already here (the gateway's official
    /// image, or the one built here in its place), so `--runtime auto` chooses containers only
    /// when nothing must be built (a checkout always is).
    pub async fn images_present(&self, options: &UpOptions) -> bool {
        let here = |image: String| async move { self.engine.inspect_image(&image).await.is_ok() };
        let gateway = match (&self.images.gateway, &options.gateway) {
            (_, GatewayCode::Source(_)) => false,
            (Some(image), _) => here(image.clone()).await,
            (None, GatewayCode::Release(release)) => {
                let release = release.clone().unwrap_or_else(Release::newest);
                here(images::official_gateway(&release)).await
                    || current(&self.engine, &images::gateway(&release)).await
            }
        };
        let mut servers = true;
        for image in servers_of(options) {
            servers = servers && current(&self.engine, image).await;
        }
        gateway
            && servers
            && here(self.images.bench_server.clone()).await
            && here(self.images.nginx.clone()).await
    }

    /// The gateway: configured through the environment only, the interface of the official
    /// image.
    fn gateway_spec(&self, options: &UpOptions, state: &StackState) -> ContainerSpec<'_> {
        let mut env = contextforge::settings::load_test_env(
            &state.jwt_secret,
            &state.auth_secret,
            &state.storage(Path::new(GATEWAY_DATABASE_IN_CONTAINER)),
            options.tracking,
            options.admin_ui,
        );
        env.extend([
            ("HOST", "127.0.0.1".to_string()),
            ("PORT", options.gateway_port.to_string()),
            ("GUNICORN_WORKERS", options.workers.to_string()),
        ]);
        ContainerSpec {
            image: self
                .gateway_image
                .as_deref()
                .expect("prepared before anything starts"),
            cmd: None,
            env,
            binds: vec![],
            // py-spy reads the workers' memory (process_vm_readv), which ptrace's rules guard.
            cap_add: match options.tracking {
                contextforge::settings::Tracking::Performance => vec!["SYS_PTRACE".into()],
                contextforge::settings::Tracking::Off => vec![],
            },
        }
    }

    /// nginx: the configuration rendered here (0600, in the stack's owner-only directory),
    /// mounted read-only; it logs to the container's stderr.
    fn nginx_spec(&self, options: &UpOptions) -> Result<ContainerSpec<'_>, StackError> {
        let dir =
            std::path::absolute(self.state_dir.join(NGINX)).map_err(|e| infra(e.to_string()))?;
        private_dir(&dir).map_err(|e| infra(format!("{}: {e}", dir.display())))?;
        let config = dir.join("nginx.conf");
        let paths = NginxPaths {
            dir: "/tmp",
            error_log: "/dev/stderr",
            user: None,
            tls_dir: NGINX_TLS_IN_CONTAINER,
        };
        contextforge::secrets::write_private(
            &config,
            services::nginx_config(options, &paths)?.as_bytes(),
        )
        .map_err(|e| infra(format!("{}: {e}", config.display())))?;
        let mut binds = vec![format!(
            "{}:{NGINX_CONFIG_IN_CONTAINER}:ro",
            config.display()
        )];
        if options.nginx_tls_port.is_some() {
            let tls = std::path::absolute(self.state_dir.join(crate::tls::TLS_DIR))
                .map_err(|e| infra(e.to_string()))?;
            binds.push(format!("{}:{NGINX_TLS_IN_CONTAINER}:ro", tls.display()));
        }
        Ok(ContainerSpec {
            image: &self.images.nginx,
            cmd: None,
            env: vec![],
            binds,
            cap_add: vec![],
        })
    }

    /// Creates a service's container (labelled, host network) and starts it; returns its id
    /// and name. A container that fails to start keeps its label, so it is removed with the
    /// rest of the stack.
    async fn create_and_start(
        &self,
        service: &str,
        spec: ContainerSpec<'_>,
        limits: crate::ContainerLimits,
    ) -> Result<(String, String), StackError> {
        let container_name = format!("mcpbench-{}-{service}", &self.stack[..8]);
        let state_dir = std::path::absolute(&self.state_dir).map_err(|e| infra(e.to_string()))?;
        let labels = HashMap::from([
            (STACK_LABEL.to_string(), self.stack.clone()),
            (SERVICE_LABEL.to_string(), service.to_string()),
            (STATE_DIR_LABEL.to_string(), state_dir.display().to_string()),
        ]);
        // The body carries the gateway's secrets: it is never logged, and errors show the
        // engine's message only.
        let mut host_config = HostConfig {
            network_mode: Some("host".into()),
            binds: Some(spec.binds),
            cap_add: Some(spec.cap_add),
            ..Default::default()
        };
        limits.apply_to(&mut host_config);
        let body = ContainerCreateBody {
            image: Some(spec.image.to_string()),
            cmd: spec.cmd,
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            host_config: Some(host_config),
            ..Default::default()
        };
        let created = self
            .engine
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(container_name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| engine_error(&format!("cannot create the {service} container"), e))?;
        if let Err(e) = self.engine.start_container(&created.id, None).await {
            return Err(infra(format!(
                "cannot start {service}: {e}; its last log lines:\n{}",
                last_log_lines(&self.engine, &created.id, FAILURE_LOG_LINES).await
            )));
        }
        Ok((created.id, container_name))
    }

    fn recorded_id<'a>(state: &'a StackState, service: &str) -> Option<&'a str> {
        state.container(service).map(|c| c.container_id.as_str())
    }
}

impl Backend for Containers {
    const RUNTIME: Runtime = Runtime::Docker;

    async fn prepare(
        &mut self,
        options: &UpOptions,
        notes: &mut Vec<String>,
    ) -> Result<GatewayRun, StackError> {
        ensure_images(&self.engine, &self.images).await?;
        for image in servers_of(options) {
            if !current(&self.engine, image).await {
                build_ours(image, &options.cache_dir).await?;
                notes.push(format!("built {image} here"));
            }
        }
        let asked = self.images.gateway.as_deref();
        let (image, run) = ensure_gateway_image(
            &self.engine,
            asked,
            &options.gateway,
            &options.cache_dir,
            notes,
        )
        .await?;
        self.gateway_image = Some(image);
        Ok(run)
    }

    fn runs_nginx(&self) -> bool {
        true
    }

    async fn start(
        &self,
        service: &ServiceSpec,
        options: &UpOptions,
        state: &StackState,
    ) -> Result<Started, StackError> {
        let spec = match service.name {
            BENCH_SERVERS => ContainerSpec {
                image: &self.images.bench_server,
                cmd: Some(services::bench_server_args(options)),
                env: vec![],
                binds: vec![],
                cap_add: vec![],
            },
            POSTGRES => server_spec(
                images::POSTGRES,
                services::postgres_env(options, &password(&state.postgres), POSTGRES_DATA),
            ),
            REDIS => server_spec(
                images::REDIS,
                services::redis_env(options, &password(&state.redis), REDIS_DIR),
            ),
            GATEWAY => self.gateway_spec(options, state),
            NGINX => self.nginx_spec(options)?,
            other => return Err(infra(format!("the docker runtime cannot start {other}"))),
        };
        let (container_id, container_name) = self
            .create_and_start(service.name, spec, options.limits)
            .await?;
        Ok(Started::Container(ContainerService {
            name: service.name.to_string(),
            container_id,
            container_name,
            endpoint: service.endpoint(),
            health_path: service.health_path.to_string(),
        }))
    }

    async fn has_exited(&self, state: &StackState, service: &str) -> bool {
        match Self::recorded_id(state, service) {
            Some(id) => !is_running(&self.engine, id).await,
            None => true,
        }
    }

    async fn last_lines(&self, state: &StackState, service: &str, lines: usize) -> String {
        match Self::recorded_id(state, service) {
            Some(id) => last_log_lines(&self.engine, id, lines).await,
            None => String::new(),
        }
    }

    async fn all_running(&self, state: &StackState) -> bool {
        let mut all_running = !state.containers.is_empty();
        for c in &state.containers {
            all_running &= is_running(&self.engine, &c.container_id).await;
        }
        all_running
    }

    async fn stop_all(&self, _recorded: Option<&StackState>) -> Result<usize, StackError> {
        // By label: a container whose create was in flight, or that was never recorded, too.
        remove_all(&self.engine, &self.stack).await
    }

    async fn still_there(&self) -> Result<usize, StackError> {
        Ok(labelled(&self.engine, &self.stack).await?.len())
    }

    async fn status(
        &self,
        recorded: Option<&StackState>,
    ) -> Result<Vec<ServiceStatus>, StackError> {
        let client = crate::health::probe_client();
        let mut rows = Vec::new();
        for c in labelled(&self.engine, &self.stack).await? {
            let service = service_of(&c).unwrap_or("?").to_string();
            let known = recorded.and_then(|s| s.container(&service));
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
                    host_pid(&self.engine, &id).await
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

    async fn logs(
        &self,
        request: LogRequest<'_>,
        mut line: impl FnMut(&str, &str),
        stop: impl std::future::Future<Output = Signal>,
    ) -> Result<(), StackError> {
        let ours: Vec<(String, String)> = labelled(&self.engine, &self.stack)
            .await?
            .iter()
            .filter_map(|c| Some((service_of(c)?.to_string(), c.id.clone()?)))
            .filter(|(name, _)| request.wants(name))
            .collect();
        let streams = ours.into_iter().map(|(name, id)| {
            self.engine
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
                signal = &mut stop => return Err(StackError::Interrupted(signal)),
                next = output.next() => match next {
                    None => return Ok(()),
                    Some((name, Ok(chunk))) => {
                        for text in chunk.to_string().lines() {
                            line(&name, text);
                        }
                    }
                    Some((_, Err(e))) => return Err(engine_error("cannot read the logs", e)),
                },
            }
        }
    }
}
