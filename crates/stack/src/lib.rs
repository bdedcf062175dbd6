//! stack: the benchmark stack — N bench servers, the ContextForge gateway and nginx in front of
//! it — brought up as local processes, registered behind the gateway, and taken down again.
//!
//! Invariants: everything `up` starts is recorded in the state file before it is waited on, so
//! a failure, `down` or Ctrl-C stops exactly that and nothing else; ports are checked before
//! anything starts; secrets stay in the 0600 state file.

mod local;
pub mod process;
pub mod python;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

pub use local::{clean, down, logs, status, status_table, up, ServiceStatus};
pub use state::StackState;

/// Service names, in start order.
pub const BENCH_SERVERS: &str = "bench-servers";
pub const GATEWAY: &str = "gateway";
pub const NGINX: &str = "nginx";
/// The virtual server bundling every benchmark tool.
pub const VIRTUAL_SERVER_NAME: &str = "mcpbench-benchmark";

#[derive(Debug, Clone)]
pub struct UpOptions {
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
}

impl UpOptions {
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.start_port..self.start_port + self.count
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
    #[error("interrupted: everything this command started was stopped")]
    Interrupted,
}

/// How long a service may take to stop before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

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
