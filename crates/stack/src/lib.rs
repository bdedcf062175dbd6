//! stack: the benchmark stack — N bench servers, the ContextForge gateway and nginx in front of
//! it — brought up as containers (`docker`, through bollard) or local processes (`local`),
//! registered behind the gateway, and taken down again.
//!
//! Invariants: everything `up` starts is recorded in the state file before it is waited on, and
//! every container carries the stack's label, so a failure, `down` or Ctrl-C stops exactly that
//! and nothing else; ports are checked before anything starts; secrets stay in the 0600 state file.

mod docker;
mod flags;
mod health;
pub mod images;
mod local;
pub mod process;
pub mod python;
mod register;
pub mod state;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use flags::UpFlags;
pub use state::StackState;

/// Service names, in start order.
pub const BENCH_SERVERS: &str = "bench-servers";
pub const GATEWAY: &str = "gateway";
pub const NGINX: &str = "nginx";
pub const SERVICES: [&str; 3] = [BENCH_SERVERS, GATEWAY, NGINX];
/// The virtual server bundling every benchmark tool.
pub const VIRTUAL_SERVER_NAME: &str = "mcpbench-benchmark";

const NGINX_TEMPLATE: &str = include_str!("../../../compose/nginx.conf.tera");

/// Where the stack's services run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `docker` when a container engine answers, else `local`.
    Auto,
    /// Containers through the Docker Engine API (Docker, or Podman's compatible service).
    Docker,
    /// Child processes of this machine.
    Local,
}

impl std::str::FromStr for Runtime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Runtime::Auto),
            "docker" => Ok(Runtime::Docker),
            "local" => Ok(Runtime::Local),
            _ => Err(format!("unknown runtime '{s}' (auto, docker or local)")),
        }
    }
}

/// The images the docker runtime runs.
#[derive(Debug, Clone)]
pub struct Images {
    pub bench_server: String,
    pub gateway: String,
    pub nginx: String,
}

impl Default for Images {
    fn default() -> Self {
        Images {
            bench_server: images::BENCH_SERVER.into(),
            gateway: format!(
                "ghcr.io/ibm/mcp-context-forge:{}",
                contextforge::settings::PINNED_VERSION
            ),
            nginx: images::NGINX.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub runtime: Runtime,
    pub count: u16,
    pub start_port: u16,
    pub gateway_port: u16,
    pub nginx_port: u16,
    /// Gateway worker processes (gunicorn beyond 1).
    pub workers: u32,
    /// Cache list/admin pages in nginx (the seed's setting; off for honest numbers).
    pub nginx_cache: bool,
    pub keep_on_failure: bool,
    pub tools_per_server: u32,
    pub state_dir: PathBuf,
    pub bench_server_bin: PathBuf,
    /// Where the gateway's venv is cached between stacks.
    pub cache_dir: PathBuf,
    pub images: Images,
}

impl UpOptions {
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.start_port..self.start_port + self.count
    }

    /// bench-server's flags for this stack (both runtimes run the same command).
    fn bench_server_args(&self) -> Vec<String> {
        [
            "--server-count",
            &self.count.to_string(),
            "--start-port",
            &self.start_port.to_string(),
            "--tools",
            &self.tools_per_server.to_string(),
            "--resources",
            "20",
            "--prompts",
            "10",
            "--log-level",
            "warn",
        ]
        .map(String::from)
        .to_vec()
    }

    /// The nginx configuration for this stack; `dir` holds its pid and temp files, `error_log`
    /// is where it logs.
    fn nginx_config(&self, dir: &str, error_log: &str) -> Result<String, StackError> {
        let mut context = tera::Context::new();
        context.insert("workers", &1);
        context.insert("dir", dir);
        context.insert("log", error_log);
        context.insert("gateway_port", &self.gateway_port);
        context.insert("port", &self.nginx_port);
        context.insert("cache", &self.nginx_cache);
        tera::Tera::one_off(NGINX_TEMPLATE, &context, false)
            .map_err(|e| StackError::Infrastructure(format!("nginx template: {e}")))
    }

    /// Checks counts and ports before anything starts: every port wanted once, and free.
    fn check_ports(&self, with_nginx: bool) -> Result<(), StackError> {
        if self.count == 0 {
            return Err(StackError::Usage("--count must be at least 1".into()));
        }
        if u32::from(self.start_port) + u32::from(self.count) > 65_536 {
            return Err(StackError::Usage(format!(
                "{} servers from port {} run past 65535",
                self.count, self.start_port
            )));
        }
        let mut wanted: Vec<(u16, String)> = self
            .ports()
            .map(|p| (p, format!("bench server {p}")))
            .collect();
        wanted.push((self.gateway_port, "the gateway".into()));
        if with_nginx {
            wanted.push((self.nginx_port, "nginx".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (port, who) in &wanted {
            if !seen.insert(*port) {
                return Err(StackError::Usage(format!(
                    "port {port} is wanted twice (by {who})"
                )));
            }
        }
        let port_is_free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if let Some((port, who)) = wanted.iter().find(|(p, _)| !port_is_free(*p)) {
            return Err(StackError::Infrastructure(format!(
                "port {port} (for {who}) is already in use: stop what holds it or choose other ports"
            )));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// Bad options: nothing was started.
    #[error("{0}")]
    Usage(String),
    /// Something on this machine is missing or in the way, or a service failed.
    #[error("{0}")]
    Infrastructure(String),
    /// `--runtime docker` and no container engine answers.
    #[error("{0}")]
    NoEngine(String),
    #[error("interrupted: everything this command started was stopped")]
    Interrupted,
}

fn infra(message: impl Into<String>) -> StackError {
    StackError::Infrastructure(message.into())
}

/// How long a service may take to stop before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Brings the stack up (or reports it already up) on the runtime `options` asks for; a stack
/// already recorded in the state directory keeps its runtime. `interrupt` resolving stops what
/// this call started.
pub async fn up(
    options: &UpOptions,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<StackState, StackError> {
    let recorded = StackState::load(&options.state_dir).map_err(infra)?;
    let runtime = match recorded.as_ref().and_then(StackState::running_on) {
        Some(runtime) => runtime,
        None => options.runtime,
    };
    match runtime {
        Runtime::Local => local::up(options, interrupt).await,
        Runtime::Docker => {
            let engine = docker::connect().await.map_err(StackError::NoEngine)?;
            docker::up(&engine, options, interrupt).await
        }
        Runtime::Auto => {
            match docker::connect().await {
                Ok(engine) => {
                    println!("runtime: docker (a container engine answers; `--runtime local` for processes)");
                    docker::up(&engine, options, interrupt).await
                }
                Err(_) => {
                    println!("runtime: local (no container engine answers)");
                    local::up(options, interrupt).await
                }
            }
        }
    }
}

/// Saves the new `state`, then runs `bring_up` until it is done or `interrupt` resolves; on
/// failure or interruption `stop_started` undoes what it started (a failure keeps it with
/// `--keep-on-failure`).
async fn guarded_up(
    options: &UpOptions,
    mut state: StackState,
    bring_up: impl AsyncFnOnce(&mut StackState) -> Result<(), StackError>,
    interrupt: impl std::future::Future<Output = ()>,
    stop_started: impl AsyncFnOnce(&mut StackState),
) -> Result<StackState, StackError> {
    state.save(&options.state_dir).map_err(infra)?;
    let result = tokio::select! {
        r = bring_up(&mut state) => r,
        () = interrupt => Err(StackError::Interrupted),
    };
    match result {
        Ok(()) => Ok(state),
        Err(e) => {
            if options.keep_on_failure && !matches!(e, StackError::Interrupted) {
                eprintln!("keeping the services that started (--keep-on-failure); `benchmark-down` stops them");
            } else {
                stop_started(&mut state).await;
                let _ = state.save(&options.state_dir);
            }
            Err(e)
        }
    }
}

/// Stops everything the stack started: its recorded processes, and every container labelled
/// with this state directory's stack (found through the engine even without a state file).
/// Nothing up is not an error.
pub async fn down(state_dir: &Path) -> Result<String, StackError> {
    let said = local::down(state_dir)?;
    let removed = match docker::connect().await {
        Ok(engine) => docker::down(&engine, state_dir).await?,
        Err(e) => {
            let recorded = StackState::load(state_dir).map_err(infra)?;
            if recorded.is_some_and(|s| !s.containers.is_empty()) {
                return Err(StackError::NoEngine(format!(
                    "the stack's containers cannot be removed: {e}"
                )));
            }
            0
        }
    };
    Ok(if removed > 0 {
        format!("removed {removed} container(s)")
    } else {
        said
    })
}

/// `down`, then the state directory (database, logs, secrets) removed.
pub async fn clean(state_dir: &Path) -> Result<String, StackError> {
    let said = down(state_dir).await?;
    if state_dir.exists() {
        std::fs::remove_dir_all(state_dir)
            .map_err(|e| infra(format!("cannot remove {}: {e}", state_dir.display())))?;
        return Ok(format!("{said}; removed {}", state_dir.display()));
    }
    Ok(said)
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub state: String,
    pub endpoint: String,
    pub health: String,
    /// The main process (for a container: as the host sees it).
    pub pid: Option<u32>,
    /// The container's name (docker runtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// One row per service the stack knows about.
pub async fn status(state_dir: &Path) -> Result<Vec<ServiceStatus>, StackError> {
    let recorded = StackState::load(state_dir).map_err(infra)?;
    if recorded.as_ref().is_some_and(|s| s.runtime == "local") {
        return local::status(state_dir).await;
    }
    match docker::connect().await {
        Ok(engine) => docker::status(&engine, state_dir, recorded.as_ref()).await,
        Err(e) if recorded.is_some_and(|s| !s.containers.is_empty()) => Err(StackError::NoEngine(
            format!("the stack runs in containers: {e}"),
        )),
        Err(_) => Ok(vec![]),
    }
}

/// The status rows as a table.
pub fn status_table(rows: &[ServiceStatus]) -> String {
    let mut out = format!(
        "{:<14} {:<9} {:<28} {:<12} {:<8} {}\n",
        "SERVICE", "STATE", "ENDPOINT", "HEALTH", "PID", "CONTAINER"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<14} {:<9} {:<28} {:<12} {:<8} {}\n",
            r.service,
            r.state,
            r.endpoint,
            r.health,
            r.pid.map_or("-".into(), |p| p.to_string()),
            r.container.as_deref().unwrap_or("-")
        ));
    }
    out
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

/// The last lines of a service's log (every service's when none is named); with `follow`, then
/// everything written until `stop` resolves.
pub async fn logs(
    state_dir: &Path,
    request: LogRequest<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StackError> {
    let Some(state) = StackState::load(state_dir).map_err(infra)? else {
        return Err(StackError::Usage(
            "no stack here: run benchmark-up first".into(),
        ));
    };
    if let Some(name) = request.service {
        if !SERVICES.contains(&name) {
            return Err(StackError::Usage(format!(
                "unknown service '{name}' (known: {})",
                SERVICES.join(", ")
            )));
        }
    }
    if state.runtime == "docker" {
        let engine = docker::connect().await.map_err(StackError::NoEngine)?;
        return docker::logs(&engine, state_dir, request, stop).await;
    }
    local::logs(state_dir, request, stop).await
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

/// The first `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// The last `n` lines of a log file (for failure messages and `logs`).
pub fn tail(path: &std::path::Path, n: usize) -> String {
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
    fn compose_nginx_conf_is_the_template_rendered_with_the_defaults() {
        let defaults = UpOptions {
            runtime: Runtime::Docker,
            count: 10,
            start_port: 9000,
            gateway_port: 4444,
            nginx_port: 8080,
            workers: 1,
            nginx_cache: false,
            keep_on_failure: false,
            tools_per_server: 50,
            state_dir: default_state_dir(),
            bench_server_bin: PathBuf::new(),
            cache_dir: default_cache_dir(),
            images: Images::default(),
        };
        let rendered = defaults.nginx_config("/tmp", "/dev/stderr").unwrap();
        assert_eq!(
            rendered,
            include_str!("../../../compose/nginx.conf"),
            "compose/nginx.conf is out of step with nginx.conf.tera; the rendering is:\n{rendered}"
        );
    }
}
