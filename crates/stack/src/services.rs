//! The stack's three services as both runtimes run them: their names and start order, where each
//! answers its health check and how long it may take, bench-server's flags and the nginx
//! configuration (rendered from `compose/nginx.conf.tera`).

use std::time::Duration;

use crate::{StackError, UpOptions};

/// Service names, in start order.
pub const BENCH_SERVERS: &str = "bench-servers";
pub const GATEWAY: &str = "gateway";
pub const NGINX: &str = "nginx";
pub const SERVICES: [&str; 3] = [BENCH_SERVERS, GATEWAY, NGINX];

const NGINX_TEMPLATE: &str = include_str!("../../../compose/nginx.conf.tera");

/// One service of the stack: where it answers and how long it may take to start.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: &'static str,
    /// Its (first) port on 127.0.0.1.
    pub port: u16,
    pub health_path: &'static str,
    pub within: Duration,
}

impl ServiceSpec {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn health_url(&self) -> String {
        format!("{}{}", self.endpoint(), self.health_path)
    }
}

/// The bench servers: one process (or container) serving every port; this is the first.
pub fn bench_servers(options: &UpOptions) -> ServiceSpec {
    ServiceSpec {
        name: BENCH_SERVERS,
        port: options.start_port,
        health_path: "/health",
        within: Duration::from_secs(20),
    }
}

/// The gateway: its first start migrates the database, which takes a while on a slow machine.
pub fn gateway(options: &UpOptions) -> ServiceSpec {
    ServiceSpec {
        name: GATEWAY,
        port: options.gateway_port,
        health_path: contextforge::naming::READY_PATH,
        within: Duration::from_secs(240),
    }
}

pub fn nginx(options: &UpOptions) -> ServiceSpec {
    ServiceSpec {
        name: NGINX,
        port: options.nginx_port,
        health_path: "/health",
        within: Duration::from_secs(30),
    }
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
}

/// The nginx configuration for this stack.
pub fn nginx_config(options: &UpOptions, paths: &NginxPaths<'_>) -> Result<String, StackError> {
    let mut context = tera::Context::new();
    context.insert("workers", &1);
    context.insert("dir", paths.dir);
    context.insert("log", paths.error_log);
    context.insert("user", &paths.user);
    context.insert("gateway_port", &options.gateway_port);
    context.insert("port", &options.nginx_port);
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
        };
        let rendered = nginx_config(&UpOptions::defaults_for_tests(), &paths).unwrap();
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
        };
        let rendered = nginx_config(&UpOptions::defaults_for_tests(), &paths).unwrap();
        assert!(rendered.contains("\nuser root;\n"), "{rendered}");
        assert!(
            rendered.contains("pid /srv/x/nginx/nginx.pid;"),
            "{rendered}"
        );
    }
}
