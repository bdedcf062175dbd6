//! stack: the benchmark stack — N bench servers, the ContextForge gateway and nginx in front of
//! it — brought up as containers (`docker`, through bollard) or local process groups (`local`),
//! registered behind the gateway, and taken down again.
//!
//! This file is the front door and owns every sequence; a runtime (`backend::Backend`) only
//! starts, inspects and stops services its way. `up`: hold the stack's lock → load the state →
//! already up? → leftovers stopped → ports and preflight → record → bench servers → health →
//! gateway → health → nginx → health → register → save; a failure or a stop signal stops what
//! started (a failure keeps it with `--keep-on-failure`). Library code prints nothing (progress
//! spinners aside): each command returns what happened and the command line prints it.
//!
//! Invariants: `up`, `down` and `clean` on one state directory run one at a time (its lock);
//! every service is recorded in the state file before it is waited on, and carries the stack's
//! label (containers) or mark (processes), so a failure, a signal, `down` and `clean` stop
//! exactly this stack's services — with the state file present, missing or corrupt; ports are
//! checked before anything starts; `clean` deletes nothing while a marked process of the stack
//! runs or a labelled container exists (where an engine answers); the state directory is its
//! owner's only and the secrets stay in its 0600 state file.

mod backend;
pub mod debian;
mod docker;
mod flags;
mod health;
pub mod images;
mod limits;
mod local;
mod lock;
mod options;
mod outcome;
pub mod process;
pub mod profiler;
pub mod python;
mod register;
mod rootfs;
mod services;
pub mod state;
pub mod tls;
pub mod usage;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use cli::Signal;

use backend::Backend;
use docker::Containers;
use local::{Nginx, Processes};
use lock::StackLock;

pub use flags::{UpFlags, DEFAULT_NGINX_TLS_PORT};
pub use limits::{ContainerLimits, Cpus, MemorySize};
pub use local::GatewayPython;
pub use options::{BenchServerProgram, GatewayCode, Images, RuntimeChoice, UpOptions};
pub use outcome::{Clean, Down, ServiceStatus, Status, Up};
pub use services::{BENCH_SERVERS, GATEWAY, NGINX, POSTGRES, REDIS, SERVICES};
pub use state::{stack_id, Runtime, StackState};

/// The virtual server bundling every benchmark tool.
pub const VIRTUAL_SERVER_NAME: &str = "mcpbench-benchmark";

/// How long a service may take to stop before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long `down` and `clean` wait after stopping something before they look again for anything
/// of the stack still there.
const SETTLE: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// Bad options: nothing was started.
    #[error("{0}")]
    Usage(String),
    /// Something on this machine is missing or in the way, or a service failed.
    #[error("{0}")]
    Infrastructure(String),
    /// A system piece the local runtime needs is absent and was not installed.
    #[error("{0}")]
    Missing(provision::Missing),
    /// `--runtime docker` (or a stack in containers) and no container engine answers.
    #[error("{0}")]
    NoEngine(String),
    /// A stop signal arrived; what the command started was stopped.
    #[error("stopped by {0}: everything this command started was stopped")]
    Interrupted(Signal),
}

impl StackError {
    /// The command's exit status for this error.
    pub fn exit(&self) -> cli::Exit {
        match self {
            StackError::Usage(_) => cli::Exit::Usage,
            StackError::Missing(_) => cli::Exit::Missing,
            StackError::Infrastructure(_) | StackError::NoEngine(_) => cli::Exit::Infrastructure,
            StackError::Interrupted(signal) => cli::Exit::Stopped(*signal),
        }
    }

    /// The same error with `note` as a last line.
    fn with_note(self, note: &str) -> StackError {
        match self {
            StackError::Usage(m) => StackError::Usage(format!("{m}\n{note}")),
            StackError::Infrastructure(m) => StackError::Infrastructure(format!("{m}\n{note}")),
            StackError::NoEngine(m) => StackError::NoEngine(format!("{m}\n{note}")),
            StackError::Missing(m) => StackError::Infrastructure(format!("{m}\n{note}")),
            StackError::Interrupted(signal) => {
                StackError::Infrastructure(format!("stopped by {signal}, but {note}"))
            }
        }
    }
}

fn infra(message: impl Into<String>) -> StackError {
    StackError::Infrastructure(message.into())
}

/// How to get rid of an unusable state file.
const CLEAN_HINT: &str = "`cargo xtask benchmark-clean` stops the stack and removes it";

/// The state file as a command that must work without it finds it.
enum StateFile {
    Present,
    Missing,
    /// Unreadable or corrupt, and why.
    Unusable(String),
}

impl StateFile {
    /// The recorded stack in `state_dir` (None without a usable file), and what the file was.
    fn read(state_dir: &Path) -> (Option<StackState>, StateFile) {
        match StackState::load(state_dir) {
            Ok(Some(state)) => (Some(state), StateFile::Present),
            Ok(None) => (None, StateFile::Missing),
            Err(why) => (None, StateFile::Unusable(why)),
        }
    }
}

/// Brings the stack up, or finds it up, on the runtime `options` asks for (a stack already up
/// keeps its runtime). While another command holds the stack it waits, telling `on_wait` once.
/// `stop` resolving ends the wait, or stops everything this call started.
pub async fn up(
    options: &UpOptions,
    stop: impl Future<Output = Signal>,
    on_wait: impl FnOnce(&str),
) -> Result<Up, StackError> {
    // What is wrong with the request is refused before anything is touched.
    options.wanted_ports(true)?;
    options.check_limits().map_err(StackError::Usage)?;
    let nginx = local::find_nginx()?;
    tokio::pin!(stop);
    let lock = StackLock::hold(&options.state_dir, stop.as_mut(), on_wait).await?;
    let result = up_held(options, nginx, stop).await;
    drop(lock);
    result
}

/// `up` while holding the stack.
async fn up_held<S: Future<Output = Signal>>(
    options: &UpOptions,
    nginx: Nginx,
    stop: Pin<&mut S>,
) -> Result<Up, StackError> {
    let dir = &options.state_dir;
    let recorded = StackState::load(dir).map_err(|why| infra(format!("{why}: {CLEAN_HINT}")))?;
    if let Some(state) = recorded.as_ref().filter(|s| s.is_complete()) {
        let running = match state.runtime {
            Runtime::Local => Processes::new(dir).all_running(state).await,
            Runtime::Docker => connect(dir).await?.all_running(state).await,
        };
        if let (true, Some(running_other)) = (running, other_stack(options, state)) {
            return Err(StackError::Usage(format!(
                "the stack in {} runs {running_other}, not what was asked: \
                 `cargo xtask benchmark-down` first, or leave out the flags that differ",
                dir.display(),
            )));
        }
        if running {
            return Ok(Up {
                state: state.clone(),
                already_up: true,
                notes: vec![],
            });
        }
    }
    let images = options.images.clone();
    match options.runtime {
        RuntimeChoice::Local => {
            let local = Processes::with_nginx(dir, nginx);
            up_on(local, options, recorded, vec![], stop).await
        }
        RuntimeChoice::Docker => {
            let containers = connect(dir).await?.with_images(images);
            up_on(containers, options, recorded, vec![], stop).await
        }
        RuntimeChoice::Auto => match containers_ready(options, images).await {
            Ok(containers) => {
                let chose = "runtime: docker (a container engine answers and the images are \
                             here; `--runtime local` for processes)";
                up_on(containers, options, recorded, vec![chose.into()], stop).await
            }
            Err(why_not) if !options.limits.is_unlimited() => Err(StackError::Usage(format!(
                "{LIMITS_NEED_CONTAINERS}; --runtime auto would run processes here ({why_not})"
            ))),
            Err(why_not) => {
                let chose = format!("runtime: local ({why_not})");
                let local = Processes::with_nginx(dir, nginx);
                up_on(local, options, recorded, vec![chose], stop).await
            }
        },
    }
}

/// Why `--cpus`/`--memory` are refused without containers.
pub(crate) const LIMITS_NEED_CONTAINERS: &str = "--cpus and --memory limit the docker runtime's containers; \
     the local runtime runs processes, which they cannot limit: use --runtime docker or leave them out";

/// What the running stack `state` is, when `options` ask for another gateway code, database,
/// cache, TLS listener or container limits (None: the same, or nothing in particular asked).
fn other_stack(options: &UpOptions, state: &StackState) -> Option<String> {
    let code = other_code(&options.gateway, state);
    let database = options
        .database
        .filter(|asked| *asked != state.database())
        .map(|_| format!("its gateway on {}", state.database()));
    let cache = options
        .cache
        .filter(|asked| *asked != state.cache)
        .map(|_| format!("its gateway's cache {}", state.cache));
    // A stack without nginx (MCPBENCH_NGINX empty) has no listener to differ: its nginx tiers
    // are skipped with that reason.
    let tls = options
        .nginx_tls_port
        .filter(|_| state.nginx_port.is_some())
        .filter(|asked| state.nginx_tls.as_ref().map(|t| t.port) != Some(*asked))
        .map(|_| match &state.nginx_tls {
            Some(tls) => format!("nginx's TLS listener on port {}", tls.port),
            None => "nginx without a TLS listener".to_string(),
        });
    let limits = (!options.limits.is_unlimited() && options.limits != state.container_limits)
        .then(|| format!("its containers with {}", state.container_limits));
    let differences: Vec<String> = [code, database, cache, tls, limits]
        .into_iter()
        .flatten()
        .collect();
    (!differences.is_empty()).then(|| differences.join(" and "))
}

/// What the running stack `state` runs, when `asked` names other code (None: the same, or
/// nothing in particular asked).
fn other_code(asked: &GatewayCode, state: &StackState) -> Option<String> {
    let running = match &state.gateway_source {
        Some(source) => format!("ContextForge from {}", source.path),
        None => format!("ContextForge {}", state.gateway_release),
    };
    let same = match (asked, &state.gateway_source) {
        (GatewayCode::Release(None), _) => true,
        (GatewayCode::Release(Some(release)), None) => *release == state.gateway_release,
        (GatewayCode::Source(dir), Some(source)) => {
            std::path::absolute(dir).is_ok_and(|d| d.display().to_string() == source.path)
        }
        _ => false,
    };
    (!same).then_some(running)
}

/// What `--runtime auto` takes: containers when an engine answers and every image is already
/// here (a fresh machine's first run never waits on an image build), else why not.
async fn containers_ready(
    options: &UpOptions,
    images: options::Images,
) -> Result<Containers, &'static str> {
    let containers = Containers::connect(&options.state_dir)
        .await
        .map_err(|_| "no container engine answers")?
        .with_images(images);
    if containers.images_present(options).await {
        Ok(containers)
    } else {
        Err(
            "a container engine answers, but the stack's images are not built here: \
             `cargo xtask images build`, then `--runtime docker`",
        )
    }
}

/// The docker runtime of the stack in `dir`, or why there is none.
async fn connect(dir: &Path) -> Result<Containers, StackError> {
    Containers::connect(dir).await.map_err(StackError::NoEngine)
}

/// What a failed `up` with `--keep-on-failure` adds to its error.
const KEPT: &str =
    "keeping the services that started (--keep-on-failure); `benchmark-down` stops them";

/// `up` on `backend`, from the leftovers on; `stop` resolving stops what started.
async fn up_on<B: Backend, S: Future<Output = Signal>>(
    mut backend: B,
    options: &UpOptions,
    recorded: Option<StackState>,
    mut notes: Vec<String>,
    stop: Pin<&mut S>,
) -> Result<Up, StackError> {
    let dir = &options.state_dir;
    let sequence = async {
        // Left over from a crash or a lost state file: stopped before anything starts afresh.
        if B::RUNTIME != Runtime::Local {
            Processes::new(dir).stop_all(recorded.as_ref()).await?;
        }
        backend.stop_all(recorded.as_ref()).await?;
        options.check_ports(backend.runs_nginx())?;
        let code = backend.prepare(options, &mut notes).await?;
        let mut state = StackState::new(B::RUNTIME, options, code);
        state.save(dir).map_err(infra)?;
        bring_up(&backend, options, &mut state, &mut notes).await?;
        Ok(state)
    };
    let outcome = tokio::select! {
        result = sequence => result,
        signal = stop => Err(StackError::Interrupted(signal)),
    };
    match outcome {
        Ok(state) => Ok(Up {
            state,
            already_up: false,
            notes,
        }),
        Err(e) if options.keep_on_failure && !matches!(e, StackError::Interrupted(_)) => {
            Err(e.with_note(KEPT))
        }
        Err(e) => Err(undo(&backend, dir, e).await),
    }
}

/// After a failed or interrupted `up`: stops every service of the stack (by label or mark, so a
/// start still in flight is caught too) and forgets them in the state file.
async fn undo<B: Backend>(backend: &B, dir: &Path, error: StackError) -> StackError {
    let stopped = backend.stop_all(None).await;
    if let Ok(Some(mut state)) = StackState::load(dir) {
        state.forget_services();
        let _ = state.save(dir);
    }
    match stopped {
        Ok(_) => error,
        Err(e) => error.with_note(&format!("what started could not all be stopped: {e}")),
    }
}

/// Starts the services in order, each healthy before the next, then registers the bench servers.
async fn bring_up<B: Backend>(
    backend: &B,
    options: &UpOptions,
    state: &mut StackState,
    notes: &mut Vec<String>,
) -> Result<(), StackError> {
    let bench = services::bench_servers(options);
    start_healthy(backend, options, state, &bench).await?;
    // The first server answered; the same process serves the others.
    for port in options.ports().skip(1) {
        let url = format!("http://127.0.0.1:{port}{}", bench.health_path);
        wait_healthy(backend, state, &bench, &url).await?;
    }
    if state.postgres.is_some() {
        start_healthy(backend, options, state, &services::postgres(options)).await?;
    }
    if state.redis.is_some() {
        start_healthy(backend, options, state, &services::redis(options)).await?;
    }
    let gateway = services::gateway(options);
    let env = contextforge::settings::load_test_env(
        "",
        "",
        &state.storage(Path::new("mcp.db")),
        options.tracking,
        options.admin_ui,
    );
    state.gateway_settings = contextforge::settings::performance_settings(&env);
    start_healthy(backend, options, state, &gateway).await?;
    if backend.runs_nginx() {
        let ca_cert = match options.nginx_tls_port {
            Some(_) => {
                Some(tls::issue(&options.state_dir, &stack_id(&options.state_dir)).map_err(infra)?)
            }
            None => None,
        };
        start_healthy(backend, options, state, &services::nginx(options)).await?;
        state.nginx_port = Some(options.nginx_port);
        state.nginx_tls = options
            .nginx_tls_port
            .zip(ca_cert)
            .map(|(port, ca_cert)| state::NginxTls { port, ca_cert });
    }
    state.save(&options.state_dir).map_err(infra)?;
    let registered = register::register(options, &state.jwt_secret, &gateway.endpoint()).await?;
    state.virtual_server_id = Some(registered.server_id);
    notes.push(registered.summary);
    state.save(&options.state_dir).map_err(infra)
}

/// Starts `service`, records it, and waits until it answers its health URL.
async fn start_healthy<B: Backend>(
    backend: &B,
    options: &UpOptions,
    state: &mut StackState,
    service: &services::ServiceSpec,
) -> Result<(), StackError> {
    let started = backend.start(service, options, state).await?;
    state.record(started);
    // Recorded before it is waited on.
    state.save(&options.state_dir).map_err(infra)?;
    wait_healthy(backend, state, service, &service.health_url()).await
}

async fn wait_healthy<B: Backend>(
    backend: &B,
    state: &StackState,
    service: &services::ServiceSpec,
    url: &str,
) -> Result<(), StackError> {
    health::wait_healthy(
        service.name,
        url,
        service.within,
        async || backend.has_exited(state, service.name).await,
        async || {
            backend
                .last_lines(state, service.name, health::FAILURE_LOG_LINES)
                .await
        },
    )
    .await
}

/// Stops everything of the stack in `state_dir` — its recorded services and every process marked
/// and every container labelled as its own, whether the state file is present, missing or
/// corrupt — and forgets them in the state file. Nothing up is not an error; something of the
/// stack still there afterwards is. Waits while another command holds the stack.
pub async fn down(
    state_dir: &Path,
    stop: impl Future<Output = Signal>,
    on_wait: impl FnOnce(&str),
) -> Result<Down, StackError> {
    tokio::pin!(stop);
    let lock = StackLock::hold(state_dir, stop, on_wait).await?;
    let result = stop_everything(state_dir).await;
    lock.release();
    let (mut down, state_file) = result?;
    let found = down.stopped + down.removed > 0;
    down.notes.extend(match state_file {
        StateFile::Missing if found => Some(format!(
            "{} was missing: the stack was found by its processes' marks and its containers' labels",
            state_dir.join(state::STATE_FILE).display()
        )),
        StateFile::Unusable(why) => Some(format!("{why}: {CLEAN_HINT}")),
        StateFile::Present | StateFile::Missing => None,
    });
    Ok(down)
}

/// `down`, then the state directory (state, database, logs, secrets; a corrupt state file too)
/// removed — unless something of the stack is still there, when it refuses and removes nothing.
pub async fn clean(
    state_dir: &Path,
    stop: impl Future<Output = Signal>,
    on_wait: impl FnOnce(&str),
) -> Result<Clean, StackError> {
    tokio::pin!(stop);
    let lock = StackLock::hold(state_dir, stop, on_wait).await?;
    let (mut down, state_file) = stop_everything(state_dir).await.map_err(|e| {
        infra(format!(
            "refusing to remove {}: {}",
            state_dir.display(),
            e.to_string().replace('\n', " ")
        ))
    })?;
    let existed = !lock.made_dir();
    // Removed while held: a command waiting for the lock finds its file gone and starts afresh.
    std::fs::remove_dir_all(state_dir)
        .map_err(|e| infra(format!("cannot remove {}: {e}", state_dir.display())))?;
    drop(lock);
    if let StateFile::Unusable(why) = state_file {
        down.notes
            .push(format!("{why}: removed with the directory"));
    }
    Ok(Clean {
        down,
        removed: existed.then(|| state_dir.to_path_buf()),
    })
}

/// What `down` and `clean` share, holding the stack: every service of the stack stopped and
/// forgotten in the state file, and nothing of it left.
async fn stop_everything(state_dir: &Path) -> Result<(Down, StateFile), StackError> {
    let (recorded, state_file) = StateFile::read(state_dir);
    let processes = Processes::new(state_dir);
    let stopped = processes.stop_all(recorded.as_ref()).await?;
    let containers = match Containers::connect(state_dir).await {
        Ok(containers) => Some(containers),
        Err(e) if recorded.as_ref().is_some_and(|s| !s.containers.is_empty()) => {
            return Err(StackError::NoEngine(format!(
                "the stack's containers cannot be removed: {e}"
            )))
        }
        Err(_) => None,
    };
    let removed = match &containers {
        Some(containers) => containers.stop_all(recorded.as_ref()).await?,
        None => 0,
    };
    if stopped + removed > 0 {
        // Whatever was racing us (a restart, a start in flight elsewhere) shows itself.
        tokio::time::sleep(SETTLE).await;
    }
    let mut left = processes.still_there().await?;
    if let Some(containers) = &containers {
        left += containers.still_there().await?;
    }
    if left > 0 {
        return Err(infra(format!(
            "{left} service(s) of the stack are still running after SIGTERM and SIGKILL (something \
             keeps starting them?)"
        )));
    }
    if let Some(mut state) = recorded {
        state.forget_services();
        state.save(state_dir).map_err(infra)?;
    }
    let down = Down {
        stopped,
        removed,
        notes: vec![],
    };
    Ok((down, state_file))
}

/// One row per service of the stack: those recorded, or — the state file missing or corrupt —
/// those found by their marks and labels. Takes no lock: it changes nothing.
pub async fn status(state_dir: &Path) -> Result<Status, StackError> {
    let (recorded, state_file) = StateFile::read(state_dir);
    let rows = match recorded.as_ref().map(|s| s.runtime) {
        Some(Runtime::Local) => Processes::new(state_dir).status(recorded.as_ref()).await?,
        Some(Runtime::Docker) => match Containers::connect(state_dir).await {
            Ok(containers) => containers.status(recorded.as_ref()).await?,
            Err(e) if recorded.as_ref().is_some_and(|s| !s.containers.is_empty()) => {
                return Err(StackError::NoEngine(format!(
                    "the stack runs in containers: {e}"
                )))
            }
            Err(_) => vec![],
        },
        None => {
            let mut rows = Processes::new(state_dir).status(None).await?;
            if let Ok(containers) = Containers::connect(state_dir).await {
                rows.extend(containers.status(None).await?);
            }
            rows
        }
    };
    let found_without_file = "these services were found by their processes' marks and their \
                              containers' labels; `benchmark-down` stops them";
    let notes = match state_file {
        StateFile::Missing if !rows.is_empty() => vec![format!(
            "{} is missing: {found_without_file}",
            state_dir.join(state::STATE_FILE).display()
        )],
        StateFile::Unusable(why) if !rows.is_empty() => {
            vec![format!("{why}: {found_without_file}")]
        }
        StateFile::Unusable(why) => vec![format!("{why}: {CLEAN_HINT}")],
        StateFile::Present | StateFile::Missing => vec![],
    };
    Ok(Status { rows, notes })
}

/// What `benchmark-logs` asks for.
#[derive(Debug, Clone, Copy)]
pub struct LogRequest<'a> {
    /// One service, or every one.
    pub service: Option<&'a str>,
    /// How many of the last lines to print first.
    pub lines: usize,
    /// Then keep printing what is written until stopped.
    pub follow: bool,
}

impl LogRequest<'_> {
    fn wants(&self, service: &str) -> bool {
        self.service.is_none_or(|s| s == service)
    }
}

/// The last lines of a service's log (every service's when none is named), each handed to
/// `line` (service, text); with `follow`, then everything written until `stop` resolves, which
/// ends it with [`StackError::Interrupted`].
pub async fn logs(
    state_dir: &Path,
    request: LogRequest<'_>,
    line: impl FnMut(&str, &str),
    stop: impl Future<Output = Signal>,
) -> Result<(), StackError> {
    if let Some(name) = request.service {
        if !SERVICES.contains(&name) {
            return Err(StackError::Usage(format!(
                "unknown service '{name}' (known: {})",
                SERVICES.join(", ")
            )));
        }
    }
    // Without a usable state file the local logs are still in their files.
    let runtime = match StackState::load(state_dir) {
        Ok(Some(state)) => state.runtime,
        _ if state_dir.join("logs").is_dir() => Runtime::Local,
        _ => {
            return Err(StackError::Usage(
                "no stack here: run benchmark-up first".into(),
            ))
        }
    };
    match runtime {
        Runtime::Docker => connect(state_dir).await?.logs(request, line, stop).await,
        Runtime::Local => Processes::new(state_dir).logs(request, line, stop).await,
    }
}

/// The default state directory: `.mcpbench/` in the current directory.
pub fn default_state_dir() -> PathBuf {
    PathBuf::from(".mcpbench")
}

/// The default cache: `$XDG_CACHE_HOME/mcpbench` or `~/.cache/mcpbench`.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("mcpbench")
}

pub use provision::which;

/// The last `n` lines of a log file (for failure messages and `logs`).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` to completion; on failure, the error carries its last line of stderr (or stdout).
pub(crate) fn run_checked(cmd: &mut std::process::Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    Err(format!(
        "{cmd:?} failed: {}",
        stderr
            .lines()
            .last()
            .or_else(|| stdout.lines().last())
            .unwrap_or("no output")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_exit_status_and_a_missing_engine_is_infrastructure() {
        let cases = [
            (StackError::Usage("u".into()), 2),
            (StackError::Infrastructure("i".into()), 3),
            (StackError::NoEngine("n".into()), 3),
            (StackError::Interrupted(Signal::Terminate), 143),
            (StackError::Interrupted(Signal::Interrupt), 130),
            (StackError::Interrupted(Signal::Hangup), 129),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit().code(), code, "{error:?}");
        }
        let noted = StackError::Interrupted(Signal::Terminate).with_note("x failed");
        assert_eq!(
            noted.exit().code(),
            3,
            "a stop that left something running is not clean"
        );
    }
}
