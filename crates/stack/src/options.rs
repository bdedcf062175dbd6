//! What `up` is asked for: the runtime choice, counts and ports, images, directories — and the
//! checks on them that run before anything starts (every port wanted once, and free).

use std::collections::HashSet;
use std::path::PathBuf;

use contextforge::release::Release;
use contextforge::settings::{Cache, Database};

use crate::{images, StackError};

/// Where the stack's services should run (`--runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeChoice {
    /// `docker` when a container engine answers, else `local`.
    Auto,
    /// Containers through the Docker Engine API (Docker, or Podman's compatible service).
    Docker,
    /// Process groups of this machine.
    Local,
}

/// How the local runtime starts bench-server: a program and the arguments that go before
/// bench-server's own. `cargo xtask` names itself with `bench-server` (its subcommand), so the
/// server is built with the command and is never missing or older than it.
#[derive(Debug, Clone)]
pub struct BenchServerProgram {
    pub path: PathBuf,
    pub leading_args: Vec<String>,
}

impl BenchServerProgram {
    /// A `bench-server` binary at `path`.
    pub fn binary(path: PathBuf) -> BenchServerProgram {
        BenchServerProgram {
            path,
            leading_args: Vec::new(),
        }
    }
}

/// The ContextForge code the gateway runs (`--gateway-version`, `--gateway-source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayCode {
    /// A release from PyPI; None: the newest the runtime can run.
    Release(Option<Release>),
    /// A source checkout: its directory, installed from there (editable on the local runtime).
    Source(PathBuf),
}

/// The images the docker runtime runs.
#[derive(Debug, Clone)]
pub struct Images {
    pub bench_server: String,
    /// None: the official image of the release, else the one built here (built when absent).
    pub gateway: Option<String>,
    pub nginx: String,
}

impl Default for Images {
    fn default() -> Self {
        Images {
            bench_server: images::BENCH_SERVER.into(),
            gateway: None,
            nginx: images::NGINX.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub runtime: RuntimeChoice,
    pub count: u16,
    pub start_port: u16,
    pub gateway_port: u16,
    pub nginx_port: u16,
    /// The ContextForge code the gateway runs.
    pub gateway: GatewayCode,
    /// Gateway worker processes (gunicorn beyond 1).
    pub workers: u32,
    /// Where the gateway keeps its data; None: what a running stack has, else SQLite.
    pub database: Option<Database>,
    /// What the gateway caches in; None: what a running stack has, else its database.
    pub cache: Option<Cache>,
    /// The stack's PostgreSQL and Redis ports on loopback, when they run.
    pub postgres_port: u16,
    pub redis_port: u16,
    /// Cache list/admin pages in nginx (the seed's setting; off for honest numbers).
    pub nginx_cache: bool,
    /// nginx's TLS listener's port, with a certificate of the stack's own CA; None: no TLS
    /// listener (for a running stack: whatever it has).
    pub nginx_tls_port: Option<u16>,
    pub keep_on_failure: bool,
    pub tools_per_server: u32,
    pub state_dir: PathBuf,
    pub bench_server: BenchServerProgram,
    /// Where the gateway's venv is cached between stacks.
    pub cache_dir: PathBuf,
    pub images: Images,
    /// Whether the gateway is started to be profiled (`load-test --profile-gateway`): its
    /// performance counters on and, in a container, the capability py-spy needs (SYS_PTRACE).
    pub tracking: contextforge::settings::Tracking,
    /// `--cpus`/`--memory` for every container (docker runtime only; the local runtime refuses).
    pub limits: crate::ContainerLimits,
    /// The gateway's admin UI (`--admin-ui`; `load-test --profile admin-ui` turns it on).
    pub admin_ui: contextforge::settings::AdminUi,
}

impl UpOptions {
    /// `--cpus`/`--memory` asked of the local runtime, which has no container to limit: refused
    /// before anything starts (`--runtime auto` is refused later, if it chooses processes).
    pub fn check_limits(&self) -> Result<(), String> {
        match self.runtime {
            RuntimeChoice::Local if !self.limits.is_unlimited() => {
                Err(crate::LIMITS_NEED_CONTAINERS.into())
            }
            _ => Ok(()),
        }
    }

    pub fn database(&self) -> Database {
        self.database.unwrap_or_default()
    }

    pub fn cache(&self) -> Cache {
        self.cache.unwrap_or_default()
    }

    /// The bench servers' ports (counted in u32: the last may be 65535 itself).
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        let start = u32::from(self.start_port);
        (start..start + u32::from(self.count)).filter_map(|p| u16::try_from(p).ok())
    }

    /// Every port the stack wants and who wants it; a usage error when there are no bench
    /// servers, when they run past 65535, or when a port is wanted twice.
    pub fn wanted_ports(&self, with_nginx: bool) -> Result<Vec<(u16, String)>, StackError> {
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
        if self.database() == Database::Postgres {
            wanted.push((self.postgres_port, "PostgreSQL".into()));
        }
        if self.cache() == Cache::Redis {
            wanted.push((self.redis_port, "Redis".into()));
        }
        wanted.push((self.gateway_port, "the gateway".into()));
        if with_nginx {
            wanted.push((self.nginx_port, "nginx".into()));
            if let Some(port) = self.nginx_tls_port {
                wanted.push((port, "nginx's TLS listener".into()));
            }
        }
        let mut seen = HashSet::new();
        if let Some((port, who)) = wanted.iter().find(|(port, _)| !seen.insert(*port)) {
            return Err(StackError::Usage(format!(
                "port {port} is wanted twice (by {who})"
            )));
        }
        Ok(wanted)
    }

    /// [`Self::wanted_ports`], and each of them free on loopback (else an infrastructure error
    /// naming the first one in use).
    pub fn check_ports(&self, with_nginx: bool) -> Result<(), StackError> {
        let port_is_free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        match self
            .wanted_ports(with_nginx)?
            .into_iter()
            .find(|(port, _)| !port_is_free(*port))
        {
            Some((port, who)) => Err(StackError::Infrastructure(format!(
                "port {port} (for {who}) is already in use: stop what holds it or choose other ports"
            ))),
            None => Ok(()),
        }
    }

    /// The defaults of `benchmark-up`, for unit tests.
    #[cfg(test)]
    pub(crate) fn defaults_for_tests() -> UpOptions {
        UpOptions {
            runtime: RuntimeChoice::Auto,
            count: 10,
            start_port: 9000,
            gateway_port: 4444,
            nginx_port: 8080,
            gateway: GatewayCode::Release(None),
            workers: 1,
            database: None,
            cache: None,
            postgres_port: 15432,
            redis_port: 16379,
            nginx_cache: false,
            nginx_tls_port: None,
            keep_on_failure: false,
            tools_per_server: 50,
            state_dir: crate::default_state_dir(),
            bench_server: BenchServerProgram::binary(PathBuf::from("bench-server")),
            cache_dir: crate::default_cache_dir(),
            images: Images::default(),
            tracking: contextforge::settings::Tracking::Off,
            limits: crate::ContainerLimits::default(),
            admin_ui: contextforge::settings::AdminUi::Off,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(start_port: u16, count: u16, gateway_port: u16, nginx_port: u16) -> UpOptions {
        UpOptions {
            start_port,
            count,
            gateway_port,
            nginx_port,
            ..UpOptions::defaults_for_tests()
        }
    }

    fn usage(result: Result<(), StackError>) -> String {
        match result {
            Err(StackError::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn no_servers_or_servers_past_65535_are_usage_errors() {
        assert_eq!(
            usage(on(9000, 0, 4444, 8080).check_ports(true)),
            "--count must be at least 1"
        );
        assert_eq!(
            usage(on(65_530, 10, 4444, 8080).check_ports(true)),
            "10 servers from port 65530 run past 65535"
        );
        // Up to 65535 itself is fine.
        assert_eq!(
            on(65_526, 10, 4444, 8080).wanted_ports(true).unwrap().len(),
            12
        );
    }

    #[test]
    fn a_port_wanted_twice_is_a_usage_error_and_nginx_counts_only_when_it_runs() {
        assert_eq!(
            usage(on(9000, 10, 9005, 8080).check_ports(true)),
            "port 9005 is wanted twice (by the gateway)"
        );
        assert_eq!(
            usage(on(9000, 2, 4444, 4444).check_ports(true)),
            "port 4444 is wanted twice (by nginx)"
        );
        assert_eq!(
            on(9000, 2, 4444, 4444).wanted_ports(false).unwrap().len(),
            3
        );
        let tls_on_nginx = UpOptions {
            nginx_tls_port: Some(8080),
            ..on(9000, 2, 4444, 8080)
        };
        assert_eq!(
            usage(tls_on_nginx.check_ports(true)),
            "port 8080 is wanted twice (by nginx's TLS listener)"
        );
        assert_eq!(tls_on_nginx.wanted_ports(false).unwrap().len(), 3);
    }

    #[test]
    fn a_port_in_use_is_named_with_who_wanted_it() {
        let holder = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let taken = holder.local_addr().unwrap().port();
        let free = {
            let probe = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
            probe.local_addr().unwrap().port()
        };
        let options = on(free, 1, taken, 8080);
        match options.check_ports(false) {
            Err(StackError::Infrastructure(m)) => assert!(
                m.starts_with(&format!("port {taken} (for the gateway) is already in use")),
                "{m}"
            ),
            other => panic!("expected the port in use, got {other:?}"),
        }
    }
}
