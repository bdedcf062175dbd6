//! The flags that shape a stack (`benchmark-up`, and `load-test` when it brings one up): one
//! definition, so both commands accept the same spellings and defaults.

use std::path::PathBuf;

use contextforge::release::Release;
use contextforge::settings::{Cache, Database};

use crate::{GatewayCode, Images, RuntimeChoice, UpOptions};

/// nginx's TLS listener's port unless `--nginx-tls-port` says another (the seed's HTTPS port).
pub const DEFAULT_NGINX_TLS_PORT: u16 = 8443;

#[derive(Debug, Clone, clap::Args)]
pub struct UpFlags {
    /// auto (docker when a container engine answers, else local), docker or local.
    #[arg(long, value_enum, default_value_t = RuntimeChoice::Auto)]
    pub runtime: RuntimeChoice,
    /// The ContextForge release to run (a PyPI version; default: the newest the runtime can run,
    /// see the README).
    #[arg(long, value_name = "VERSION")]
    pub gateway_version: Option<Release>,
    /// Run a ContextForge checkout instead of a release (its git revision and dirty state go into
    /// the report).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["gateway_version", "gateway_image"])]
    pub gateway_source: Option<PathBuf>,
    /// The gateway's image (docker runtime; default: ghcr.io/ibm/mcp-context-forge:<version>,
    /// else localhost/mcpbench/gateway:<version>, built here when neither is present).
    #[arg(long)]
    pub gateway_image: Option<String>,
    /// The bench servers' image (docker runtime).
    #[arg(long, default_value = crate::images::BENCH_SERVER)]
    pub bench_server_image: String,
    /// nginx's image (docker runtime).
    #[arg(long, default_value = crate::images::NGINX)]
    pub nginx_image: String,
    /// Bench servers (ports START..START+N-1), 50 tools, 20 resources, 10 prompts each.
    #[arg(long, env = "BENCHMARK_SERVER_COUNT", default_value_t = 10)]
    pub count: u16,
    #[arg(long, env = "BENCHMARK_START_PORT", default_value_t = 9000)]
    pub start_port: u16,
    #[arg(long, default_value_t = 4444)]
    pub gateway_port: u16,
    #[arg(long, default_value_t = 8080)]
    pub nginx_port: u16,
    /// Gateway worker processes (gunicorn when more than 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
    /// Where the gateway keeps its data: sqlite (nothing else to run) or postgres (a PostgreSQL
    /// server of the stack). Default: what a running stack has, else sqlite.
    #[arg(long, value_enum)]
    pub database: Option<Database>,
    /// What the gateway caches in (CACHE_TYPE): none, memory, database, or redis (a Redis server
    /// of the stack). Default: what a running stack has, else database.
    #[arg(long, value_enum)]
    pub cache: Option<Cache>,
    /// PostgreSQL's port on loopback (--database postgres).
    #[arg(long, default_value_t = 15432)]
    pub postgres_port: u16,
    /// Redis's port on loopback (--cache redis).
    #[arg(long, default_value_t = 16379)]
    pub redis_port: u16,
    /// Cache list/admin pages in nginx, as the seed's config did (off: honest numbers).
    #[arg(long)]
    pub nginx_cache: bool,
    /// nginx's TLS listener too (on --nginx-tls-port), with a certificate of a CA the stack
    /// makes for itself: its certificate is `<state dir>/tls/ca.pem`.
    #[arg(long)]
    pub nginx_tls: bool,
    /// The TLS listener's port (default 8443; turns it on).
    #[arg(long, value_name = "PORT")]
    pub nginx_tls_port: Option<u16>,
    /// Serve the gateway's admin UI (MCPGATEWAY_UI_ENABLED; off by default: load tests measure
    /// the MCP path; the admin-ui load-test plan turns it on).
    #[arg(long)]
    pub admin_ui: bool,
    /// Leave what started running when `up` fails (for debugging).
    #[arg(long)]
    pub keep_on_failure: bool,
    /// CPUs each container may use, e.g. 2 or 1.5 (docker runtime; the seed's benchmark
    /// containers have 2).
    #[arg(long, value_name = "N")]
    pub cpus: Option<crate::Cpus>,
    /// Memory each container may use, e.g. 1g or 512m (docker runtime; the seed's: 1g).
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<crate::MemorySize>,
    /// Where the stack keeps its state, logs, database and secrets.
    #[arg(long, default_value_os_t = crate::default_state_dir())]
    pub state_dir: PathBuf,
}

impl UpFlags {
    /// The options for `up`, with the bench-server the local runtime starts.
    pub fn options(&self, bench_server: crate::BenchServerProgram) -> UpOptions {
        UpOptions {
            runtime: self.runtime,
            images: Images {
                bench_server: self.bench_server_image.clone(),
                gateway: self.gateway_image.clone(),
                nginx: self.nginx_image.clone(),
            },
            count: self.count,
            start_port: self.start_port,
            gateway_port: self.gateway_port,
            nginx_port: self.nginx_port,
            gateway: match &self.gateway_source {
                Some(dir) => GatewayCode::Source(dir.clone()),
                None => GatewayCode::Release(self.gateway_version.clone()),
            },
            workers: self.workers,
            database: self.database,
            cache: self.cache,
            postgres_port: self.postgres_port,
            redis_port: self.redis_port,
            nginx_cache: self.nginx_cache,
            nginx_tls_port: self
                .nginx_tls_port
                .or(self.nginx_tls.then_some(DEFAULT_NGINX_TLS_PORT)),
            keep_on_failure: self.keep_on_failure,
            tools_per_server: 50,
            state_dir: self.state_dir.clone(),
            bench_server,
            cache_dir: crate::default_cache_dir(),
            // `load-test --profile-gateway` turns it on; `benchmark-up` never profiles.
            tracking: contextforge::settings::Tracking::Off,
            limits: crate::ContainerLimits {
                cpus: self.cpus,
                memory: self.memory,
            },
            admin_ui: if self.admin_ui {
                contextforge::settings::AdminUi::On
            } else {
                contextforge::settings::AdminUi::Off
            },
        }
    }
}
