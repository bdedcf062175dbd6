//! The stack's services as both runtimes run them: their names and start order, where each
//! answers its health check and how long it may take, bench-server's flags, the nginx
//! configuration (rendered from `compose/nginx.conf.tera`), and the start scripts and settings of
//! the database and cache servers a production-like stack adds.

use std::time::Duration;

use crate::{StackError, UpOptions};

/// Service names, in start order (PostgreSQL and Redis only when asked for).
pub const BENCH_SERVERS: &str = "bench-servers";
pub const POSTGRES: &str = "postgres";
pub const REDIS: &str = "redis";
pub const GATEWAY: &str = "gateway";
pub const NGINX: &str = "nginx";
pub const SERVICES: [&str; 5] = [BENCH_SERVERS, POSTGRES, REDIS, GATEWAY, NGINX];

/// The scripts that start PostgreSQL and Redis, run by the local runtime as processes and by the
/// images as their commands.
pub const POSTGRES_SCRIPT: &str = include_str!("../../../compose/postgres-start.sh");
pub const REDIS_SCRIPT: &str = include_str!("../../../compose/redis-start.sh");

const NGINX_TEMPLATE: &str = include_str!("../../../compose/nginx.conf.tera");

/// One service of the stack: where it answers and how long it may take to start.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: &'static str,
    /// How it is spoken to: `http`, `postgresql` or `redis` (see `health.rs`).
    pub scheme: &'static str,
    /// Its (first) port on 127.0.0.1.
    pub port: u16,
    pub health_path: &'static str,
    pub within: Duration,
}

impl ServiceSpec {
    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    pub fn health_url(&self) -> String {
        format!("{}{}", self.endpoint(), self.health_path)
    }
}

/// The bench servers: one process (or container) serving every port; this is the first.
pub fn bench_servers(options: &UpOptions) -> ServiceSpec {
    ServiceSpec {
        name: BENCH_SERVERS,
        scheme: "http",
        port: options.start_port,
        health_path: "/health",
        within: Duration::from_secs(20),
    }
}

/// The gateway: its first start migrates the database, which takes a while on a slow machine.
pub fn gateway(options: &UpOptions) -> ServiceSpec {
    ServiceSpec {
        name: GATEWAY,
        scheme: "http",
        port: options.gateway_port,
        health_path: contextforge::naming::READY_PATH,
        within: Duration::from_secs(240),
    }
}

pub fn nginx(options: &UpOptions) -> ServiceSpec {
    ServiceSpec {
        name: NGINX,
        scheme: "http",
        port: options.nginx_port,
        health_path: "/health",
        within: Duration::from_secs(30),
    }
}

/// PostgreSQL: a fresh cluster is made at every start, in a second or two.
pub fn postgres(options: &UpOptions) -> ServiceSpec {
    ServiceSpec {
        name: POSTGRES,
        scheme: "postgresql",
        port: options.postgres_port,
        health_path: "",
        within: Duration::from_secs(60),
    }
}

pub fn redis(options: &UpOptions) -> ServiceSpec {
    ServiceSpec {
        name: REDIS,
        scheme: "redis",
        port: options.redis_port,
        health_path: "",
        within: Duration::from_secs(30),
    }
}

/// The environment `compose/postgres-start.sh` reads, for a cluster in `data` (as the server
/// sees it) that takes every connection `options.workers` gateway processes may open.
pub fn postgres_env(
    options: &UpOptions,
    password: &str,
    data: &str,
) -> Vec<(&'static str, String)> {
    // Room beyond the gateway's pools for the health probes and a person's psql.
    let connections = contextforge::settings::database_connections(options.workers) + 10;
    vec![
        ("PGDATA", data.to_string()),
        ("MCPBENCH_PG_PORT", options.postgres_port.to_string()),
        ("MCPBENCH_PG_MAX_CONNECTIONS", connections.to_string()),
        (
            "MCPBENCH_PG_USER",
            contextforge::settings::POSTGRES_USER.into(),
        ),
        (
            "MCPBENCH_PG_DATABASE",
            contextforge::settings::POSTGRES_DATABASE.into(),
        ),
        ("MCPBENCH_PG_PASSWORD", password.to_string()),
    ]
}

/// The environment `compose/redis-start.sh` reads, with its files in `dir` (as it sees it).
pub fn redis_env(options: &UpOptions, password: &str, dir: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MCPBENCH_REDIS_DIR", dir.to_string()),
        ("MCPBENCH_REDIS_PORT", options.redis_port.to_string()),
        ("MCPBENCH_REDIS_PASSWORD", password.to_string()),
    ]
}

/// bench-server's flags for this stack (both runtimes run the same command).
pub fn bench_server_args(options: &UpOptions) -> Vec<String> {
    [
        "--server-count",
        &options.count.to_string(),
        "--start-port",
        &options.start_port.to_string(),
        "--tools",
        &options.tools_per_server.to_string(),
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

/// Where nginx keeps its files and logs, and which user its workers run as.
pub struct NginxPaths<'a> {
    /// Its pid file and temporary files.
    pub dir: &'a str,
    pub error_log: &'a str,
    /// The workers' user, when the master runs as root and they must reach an owner-only
    /// directory (None: nginx's default).
    pub user: Option<&'a str>,
    /// The stack's TLS directory (`tls::TLS_DIR`) as nginx sees it.
    pub tls_dir: &'a str,
}

/// One `server` of nginx's configuration: a port, plain or TLS.
#[derive(serde::Serialize)]
struct Listener {
    port: u16,
    tls: Option<TlsFiles>,
}

/// The TLS listener's certificate and key, as nginx sees them.
#[derive(serde::Serialize)]
struct TlsFiles {
    cert: String,
    key: String,
}

/// The nginx configuration for this stack.
pub fn nginx_config(options: &UpOptions, paths: &NginxPaths<'_>) -> Result<String, StackError> {
    let mut context = tera::Context::new();
    context.insert("workers", &1);
    context.insert("dir", paths.dir);
    context.insert("log", paths.error_log);
    context.insert("user", &paths.user);
    context.insert("gateway_port", &options.gateway_port);
    let plain = Listener {
        port: options.nginx_port,
        tls: None,
    };
    let tls = options.nginx_tls_port.map(|port| Listener {
        port,
        tls: Some(TlsFiles {
            cert: format!("{}/{}", paths.tls_dir, crate::tls::SERVER_CERT),
            key: format!("{}/{}", paths.tls_dir, crate::tls::SERVER_KEY),
        }),
    });
    let listeners: Vec<Listener> = std::iter::once(plain).chain(tls).collect();
    context.insert("listeners", &listeners);
    context.insert("cache", &options.nginx_cache);
    tera::Tera::one_off(NGINX_TEMPLATE, &context, false)
        .map_err(|e| StackError::Infrastructure(format!("nginx template: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_nginx_conf_is_the_template_rendered_with_the_defaults() {
        let paths = NginxPaths {
            dir: "/tmp",
            error_log: "/dev/stderr",
            user: None,
            tls_dir: "/etc/mcpbench/tls",
        };
        let rendered = nginx_config(&UpOptions::defaults_for_tests(), &paths).unwrap();
        assert!(!rendered.contains("ssl"), "no TLS unless asked for");
        assert_eq!(
            rendered,
            include_str!("../../../compose/nginx.conf"),
            "compose/nginx.conf is out of step with nginx.conf.tera; the rendering is:\n{rendered}"
        );
    }

    #[test]
    fn a_worker_user_is_named_only_when_asked_for() {
        let paths = NginxPaths {
            dir: "/srv/x/nginx",
            error_log: "/srv/x/logs/nginx-error.log",
            user: Some("root"),
            tls_dir: "/srv/x/tls",
        };
        let rendered = nginx_config(&UpOptions::defaults_for_tests(), &paths).unwrap();
        assert!(rendered.contains("\nuser root;\n"), "{rendered}");
        assert!(
            rendered.contains("pid /srv/x/nginx/nginx.pid;"),
            "{rendered}"
        );
    }

    #[test]
    fn a_tls_listener_is_a_second_server_with_the_same_locations() {
        let paths = NginxPaths {
            dir: "/srv/x/nginx",
            error_log: "/srv/x/logs/nginx-error.log",
            user: None,
            tls_dir: "/srv/x/tls",
        };
        let options = UpOptions {
            nginx_tls_port: Some(8443),
            ..UpOptions::defaults_for_tests()
        };
        let rendered = nginx_config(&options, &paths).unwrap();
        assert!(rendered.contains("listen 127.0.0.1:8080;\n"), "{rendered}");
        assert!(
            rendered.contains("listen 127.0.0.1:8443 ssl http2;\n"),
            "{rendered}"
        );
        assert!(rendered.contains("ssl_certificate /srv/x/tls/server.pem;"));
        assert!(rendered.contains("ssl_certificate_key /srv/x/tls/server-key.pem;"));
        assert_eq!(rendered.matches("server {").count(), 2, "{rendered}");
        assert_eq!(rendered.matches("proxy_buffering off;").count(), 2);
    }
}
