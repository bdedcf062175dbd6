//! What each piece is, how to tell it is here, and which Debian packages make it.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::which;

/// A system piece some mcpbench command or test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Piece {
    /// Python 3 with `venv` and `ensurepip`: the gateway's venv (local runtime) and the
    /// official MCP SDK's venv (conformance tests, FastMCP peer).
    PythonVenv,
    /// nginx: the stack's reverse proxy on the local runtime.
    Nginx,
    /// Chromium: the browser test of report.html.
    Chromium,
    /// Podman with runc: a container engine for the docker runtime and its tests.
    Podman,
    /// debootstrap: the Debian base image when no registry is reachable.
    Debootstrap,
    /// PostgreSQL's server programs: the stack's database with `--database postgres` (local
    /// runtime).
    Postgres,
    /// Redis's server: the stack's cache with `--cache redis` (local runtime).
    Redis,
}

/// Podman's settings on machines like the CI's: rlimits cannot be raised there (so the
/// containers' defaults must fit), and crun rejects the hybrid cgroup layout (so runc).
const CONTAINERS_CONF: &str = "[containers]\n\
    default_ulimits = [\"nofile=16384:16384\", \"nproc=8192:8192\"]\n\
    [engine]\n\
    runtime = \"runc\"\n";
const CONTAINERS_CONF_PATH: &str = "/etc/containers/containers.conf";

impl Piece {
    pub const ALL: [Piece; 7] = [
        Piece::PythonVenv,
        Piece::Nginx,
        Piece::Chromium,
        Piece::Podman,
        Piece::Debootstrap,
        Piece::Postgres,
        Piece::Redis,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Piece::PythonVenv => "python-venv",
            Piece::Nginx => "nginx",
            Piece::Chromium => "chromium",
            Piece::Podman => "podman",
            Piece::Debootstrap => "debootstrap",
            Piece::Postgres => "postgres",
            Piece::Redis => "redis",
        }
    }

    /// What needs it, for the line that installs it or names it missing.
    pub fn needed_for(self) -> &'static str {
        match self {
            Piece::PythonVenv => "the gateway's and the MCP SDK's Python venvs",
            Piece::Nginx => "the nginx tier",
            Piece::Chromium => "the report's browser test",
            Piece::Podman => "the docker runtime",
            Piece::Debootstrap => "building the Debian base image",
            Piece::Postgres => "the stack's PostgreSQL database (--database postgres)",
            Piece::Redis => "the stack's Redis cache (--cache redis)",
        }
    }

    /// The Debian (and Ubuntu) packages that make this piece.
    pub fn packages(self) -> &'static [&'static str] {
        match self {
            Piece::PythonVenv => &["python3", "python3-venv"],
            Piece::Nginx => &["nginx-light"],
            Piece::Chromium => &["chromium"],
            Piece::Podman => &["podman", "runc"],
            Piece::Debootstrap => &["debootstrap"],
            Piece::Postgres => &["postgresql"],
            Piece::Redis => &["redis-server"],
        }
    }

    pub fn present(self) -> bool {
        match self {
            Piece::PythonVenv => python_has_venv(),
            Piece::Nginx => which("nginx").is_some(),
            Piece::Chromium => which("chromium")
                .or_else(|| which("chromium-browser"))
                .is_some(),
            Piece::Podman => which("podman").is_some() && which("runc").is_some(),
            Piece::Debootstrap => which("debootstrap").is_some(),
            Piece::Postgres => postgres_bin_dir().is_some(),
            Piece::Redis => which("redis-server").is_some(),
        }
    }

    /// Settings a freshly installed piece needs (written only where none exist).
    pub(crate) fn configure(self) -> Result<(), String> {
        if self != Piece::Podman || Path::new(CONTAINERS_CONF_PATH).exists() {
            return Ok(());
        }
        eprintln!("mcpbench: writing {CONTAINERS_CONF_PATH} (runc; container rlimits this machine allows)");
        std::fs::create_dir_all("/etc/containers")
            .and_then(|()| std::fs::write(CONTAINERS_CONF_PATH, CONTAINERS_CONF))
            .map_err(|e| format!("{CONTAINERS_CONF_PATH}: {e}"))
    }
}

/// The directory of PostgreSQL's server programs (`initdb`, `postgres`): Debian keeps them out
/// of PATH, one directory per major version (the newest wins); elsewhere they are on PATH.
pub fn postgres_bin_dir() -> Option<std::path::PathBuf> {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin);
    newest.or_else(|| {
        let postgres = which("postgres")?;
        let bin = postgres.parent()?.to_path_buf();
        bin.join("initdb").is_file().then_some(bin)
    })
}

/// Debian splits `venv`'s pip bootstrap into python3-venv; without it `python3 -m venv` fails.
fn python_has_venv() -> bool {
    which("python3").is_some_and(|python| {
        Command::new(python)
            .args(["-c", "import venv, ensurepip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}
