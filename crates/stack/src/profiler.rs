//! The gateway's Python stacks sampled with py-spy (from PyPI) while a tier runs, as collapsed
//! stacks (`--format raw`: `frame;frame;… count` per line). The local runtime installs py-spy
//! into the gateway's own venv (`local::ensure_in_gateway_venv`: cached with it) and runs it on
//! the gateway's process from the host; the docker runtime installs and runs it inside the
//! gateway container through the engine's exec API, which needs the container started with
//! SYS_PTRACE (`UpOptions::tracking`). `--subprocesses` follows every gunicorn or uvicorn worker;
//! `--nolineno` merges a function's lines, so a frame is a function; `--nonblocking` leaves the
//! workers running while they are read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::StreamExt;

use crate::state::{private_dir, Runtime, StackState};

/// What pip installs.
const PY_SPY: &str = "py-spy";
/// Samples per second and process: py-spy's default, about 1% of a core per process sampled.
pub const RATE: u32 = 100;
/// How long py-spy may take to write its file once told to stop.
const WRITE_GRACE: Duration = Duration::from_secs(30);
/// Where the docker runtime's py-spy writes, inside the gateway container.
const IN_CONTAINER_OUTPUT: &str = "/tmp/mcpbench-gateway.folded";
const IN_CONTAINER_PID: &str = "/tmp/mcpbench-py-spy.pid";

/// py-spy, ready to record the gateway of one stack.
pub struct GatewayProfiler {
    target: Target,
    /// `py-spy 0.4.1`, as it says.
    pub version: String,
}

enum Target {
    /// py-spy on this host, on the gateway's process group leader, writing `output`.
    Host {
        program: PathBuf,
        pid: u32,
        output: PathBuf,
    },
    /// py-spy inside the gateway's container, on its first process.
    Container { engine: Docker, id: String },
}

/// A recording under way.
pub enum Recording {
    Host {
        child: tokio::process::Child,
        output: PathBuf,
    },
    Container {
        engine: Docker,
        id: String,
        task: tokio::task::JoinHandle<Result<String, String>>,
    },
}

/// py-spy for the gateway `state` records, installed where it runs when absent; `state_dir`
/// holds the local runtime's output, `cache` its venvs.
pub async fn gateway_profiler(
    state: &StackState,
    state_dir: &Path,
    cache: &Path,
) -> Result<GatewayProfiler, String> {
    let target = match state.runtime {
        Runtime::Local => {
            let gateway = state
                .service(crate::GATEWAY)
                .filter(|s| s.process.is_alive())
                .ok_or("the gateway's process is not running")?;
            let bin = crate::local::ensure_in_gateway_venv(state, cache, PY_SPY, PY_SPY)
                .await
                .map_err(|e| e.to_string())?;
            let dir = std::path::absolute(state_dir.join("profile")).map_err(|e| e.to_string())?;
            private_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            Target::Host {
                program: bin.join(PY_SPY),
                pid: gateway.process.pid,
                output: dir.join(format!("gateway-{}.folded", std::process::id())),
            }
        }
        Runtime::Docker => {
            let id = state
                .container(crate::GATEWAY)
                .ok_or("the stack records no gateway container")?
                .container_id
                .clone();
            let engine = crate::docker::connect().await?;
            let install = format!(
                "command -v {PY_SPY} >/dev/null || python3 -m pip install --quiet {PY_SPY}"
            );
            exec(&engine, &id, &["sh", "-c", &install]).await?;
            Target::Container { engine, id }
        }
    };
    let version = match &target {
        Target::Host { program, .. } => {
            let out = tokio::process::Command::new(program)
                .arg("--version")
                .output()
                .await
                .map_err(|e| format!("{}: {e}", program.display()))?;
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }
        Target::Container { engine, id } => exec(engine, id, &[PY_SPY, "--version"])
            .await?
            .trim()
            .to_string(),
    };
    Ok(GatewayProfiler { target, version })
}

/// py-spy's arguments: the gateway and its workers, collapsed stacks, functions as frames.
fn record_args(pid: u32, longest: Duration, output: &str) -> Vec<String> {
    [
        "record",
        "--pid",
        &pid.to_string(),
        "--subprocesses",
        "--format",
        "raw",
        "--nolineno",
        // Read the workers' memory without pausing them: blocking sampling halves a busy
        // gateway's throughput; the price is an occasional torn stack.
        "--nonblocking",
        "--rate",
        &RATE.to_string(),
        "--duration",
        &longest.as_secs().max(1).to_string(),
        "--output",
        output,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl GatewayProfiler {
    /// Starts sampling; it stops by itself after `longest` if `Recording::finish` is not called
    /// before.
    pub async fn start(&self, longest: Duration) -> Result<Recording, String> {
        match &self.target {
            Target::Host {
                program,
                pid,
                output,
            } => {
                let _ = std::fs::remove_file(output);
                let output_text = output.display().to_string();
                let child = tokio::process::Command::new(program)
                    .args(record_args(*pid, longest, &output_text))
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
                Ok(Recording::Host {
                    child,
                    output: output.clone(),
                })
            }
            Target::Container { engine, id } => {
                let record = record_args(1, longest, IN_CONTAINER_OUTPUT).join(" ");
                let script = format!(
                    "rm -f {IN_CONTAINER_OUTPUT}; echo $$ > {IN_CONTAINER_PID}; exec {PY_SPY} {record}"
                );
                let (engine, id) = (engine.clone(), id.clone());
                let task = {
                    let (engine, id) = (engine.clone(), id.clone());
                    tokio::spawn(async move { exec(&engine, &id, &["sh", "-c", &script]).await })
                };
                Ok(Recording::Container { engine, id, task })
            }
        }
    }
}

impl Recording {
    /// Stops sampling (SIGINT: py-spy writes what it has) and returns the collapsed stacks.
    pub async fn finish(self) -> Result<String, String> {
        match self {
            Recording::Host { child, output } => {
                if let Some(pid) = child.id() {
                    // SAFETY: kill(2) on our own child's pid; no memory effects.
                    unsafe { libc::kill(pid as i32, libc::SIGINT) };
                }
                let waited = tokio::time::timeout(WRITE_GRACE, child.wait_with_output()).await;
                let said = match &waited {
                    Ok(Ok(out)) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("py-spy did not finish within {WRITE_GRACE:?}"),
                };
                let text = std::fs::read_to_string(&output)
                    .map_err(|e| format!("py-spy wrote no stacks ({e}): {said}"));
                let _ = std::fs::remove_file(&output);
                text
            }
            Recording::Container { engine, id, task } => {
                let stop = format!("kill -INT $(cat {IN_CONTAINER_PID}) 2>/dev/null; true");
                exec(&engine, &id, &["sh", "-c", &stop]).await?;
                let said = tokio::time::timeout(WRITE_GRACE, task)
                    .await
                    .map_err(|_| format!("py-spy did not finish within {WRITE_GRACE:?}"))?
                    .map_err(|e| e.to_string())?;
                exec(&engine, &id, &["cat", IN_CONTAINER_OUTPUT])
                    .await
                    .map_err(|e| {
                        format!(
                            "py-spy wrote no stacks ({e}): {}",
                            said.unwrap_or_else(|e| e)
                        )
                    })
            }
        }
    }
}

/// Runs `cmd` in container `id`; its output, or an error with it when it exits non-zero.
async fn exec(engine: &Docker, id: &str, cmd: &[&str]) -> Result<String, String> {
    let created = engine
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("exec in the gateway container: {e}"))?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = engine
        .start_exec(&created.id, None)
        .await
        .map_err(|e| format!("exec in the gateway container: {e}"))?
    {
        while let Some(Ok(chunk)) = output.next().await {
            text.push_str(&chunk.to_string());
        }
    }
    let code = engine
        .inspect_exec(&created.id)
        .await
        .ok()
        .and_then(|i| i.exit_code);
    match code {
        Some(0) => Ok(text),
        other => Err(format!(
            "`{}` in the gateway container exited {}: {}",
            cmd.join(" "),
            other.map_or_else(|| "?".to_string(), |c| c.to_string()),
            text.trim().lines().last().unwrap_or("no output")
        )),
    }
}
