//! The settings a load test needs (facts verified on this project's machines: see
//! `docs/contextforge.md`): where the gateway keeps its data (SQLite or PostgreSQL), what it
//! caches in (`CACHE_TYPE`, Redis), its pools — and which of them a report records.

use std::path::Path;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// The setting that holds the gateway's JWT signing secret.
pub const JWT_SECRET_ENV: &str = "JWT_SECRET_KEY";

/// The port the gateway calls itself on (`127.0.0.1:PORT`): its SSE bridge and WebSocket relay
/// POST every message to its own `/rpc` there. The server's `--port` flag does not set it (the
/// default is 4444), so a gateway on another port must be given it too.
pub const PORT_ENV: &str = "PORT";

/// The gateway's own server (uvicorn, one worker) in its venv's `bin/`.
pub const SERVER_BINARY: &str = "mcpgateway";
/// The ASGI application gunicorn serves with several workers.
pub const ASGI_APP: &str = "mcpgateway.main:app";

/// The PostgreSQL driver the gateway's `postgresql+psycopg://` URLs need; no release lists it
/// among its own dependencies (its `postgres` extra wants a C build), so venvs and images add it.
pub const POSTGRES_DRIVER: &str = "psycopg[binary]>=3.3.4";

/// The PostgreSQL role and database a stack's gateway uses.
pub const POSTGRES_USER: &str = "mcpbench";
pub const POSTGRES_DATABASE: &str = "mcp";

/// The gateway's database pool, per worker process (`DB_POOL_SIZE`, `DB_MAX_OVERFLOW`): set
/// explicitly so the report states what ran, at ContextForge's own defaults.
pub const POOL_SIZE: u32 = 200;
pub const POOL_OVERFLOW: u32 = 10;

/// The database server connections `workers` gateway processes may open at most.
pub fn database_connections(workers: u32) -> u32 {
    workers * (POOL_SIZE + POOL_OVERFLOW)
}

/// Where the gateway keeps its data (`--database`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    /// A SQLite file: nothing else to run (the gateway's default).
    #[default]
    Sqlite,
    /// A PostgreSQL server, as production deployments run it.
    Postgres,
}

/// What the gateway caches in and keeps its session registry in (`CACHE_TYPE`, `--cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Cache {
    /// Nothing cached or shared between workers.
    None,
    /// Each worker's own memory.
    Memory,
    /// The gateway's database (ContextForge's default).
    #[default]
    Database,
    /// A Redis server shared by every worker, as production deployments run it.
    Redis,
}

impl Cache {
    /// Its `CACHE_TYPE` value.
    pub fn setting(self) -> &'static str {
        match self {
            Cache::None => "none",
            Cache::Memory => "memory",
            Cache::Database => "database",
            Cache::Redis => "redis",
        }
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Database::Sqlite => "sqlite",
            Database::Postgres => "postgres",
        })
    }
}

impl std::fmt::Display for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.setting())
    }
}

/// A server on loopback the gateway logs in to, by port and password.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    pub port: u16,
    pub password: &'a str,
}

/// Where the gateway's data lives.
#[derive(Debug, Clone, Copy)]
pub enum DatabaseAt<'a> {
    Sqlite(&'a Path),
    Postgres(Login<'a>),
}

/// The gateway's data and cache, as its settings name them.
#[derive(Debug, Clone, Copy)]
pub struct Storage<'a> {
    pub database: DatabaseAt<'a>,
    pub cache: Cache,
    /// The Redis server, with [`Cache::Redis`].
    pub redis: Option<Login<'a>>,
}

impl Storage<'_> {
    /// A SQLite file and the database cache: what runs with nothing else installed.
    pub fn sqlite(path: &Path) -> Storage<'_> {
        Storage {
            database: DatabaseAt::Sqlite(path),
            cache: Cache::Database,
            redis: None,
        }
    }

    fn database_url(&self) -> String {
        match self.database {
            DatabaseAt::Sqlite(path) => format!("sqlite:///{}", path.display()),
            DatabaseAt::Postgres(Login { port, password }) => format!(
                "postgresql+psycopg://{POSTGRES_USER}:{password}@127.0.0.1:{port}/{POSTGRES_DATABASE}"
            ),
        }
    }
}

/// Whether the gateway serves its admin UI (`MCPGATEWAY_UI_ENABLED`): off in a load-test stack
/// (it is work the MCP path does not need), on for the admin-ui plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdminUi {
    #[default]
    Off,
    On,
}

/// Environment for a headless gateway tuned for load tests: rate limiting off (it answers 429
/// otherwise), loopback registration allowed, errors-only logging, the admin UI as asked (off
/// unless a plan needs it; the admin API always on), the WebSocket relay on, its storage and
/// pools stated. Start it from a directory without a `.env` file: pydantic reads one from the
/// working directory.
pub fn load_test_env(
    jwt_secret: &str,
    auth_encryption_secret: &str,
    storage: &Storage<'_>,
    tracking: Tracking,
    ui: AdminUi,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (JWT_SECRET_ENV, jwt_secret.to_string()),
        ("AUTH_ENCRYPTION_SECRET", auth_encryption_secret.to_string()),
        ("DATABASE_URL", storage.database_url()),
        ("DB_POOL_SIZE", POOL_SIZE.to_string()),
        ("DB_MAX_OVERFLOW", POOL_OVERFLOW.to_string()),
        ("CACHE_TYPE", storage.cache.setting().into()),
        ("RATE_LIMITING_ENABLED", "false".into()),
        ("SSRF_ALLOW_LOCALHOST", "true".into()),
        ("SSRF_ALLOW_PRIVATE_NETWORKS", "true".into()),
        ("LOG_LEVEL", "ERROR".into()),
        (UI_ENABLED, (ui == AdminUi::On).to_string()),
        ("MCPGATEWAY_ADMIN_API_ENABLED", "true".into()),
        // `/ws` (JSON-RPC over WebSocket, relayed to /rpc) is off by default; the websocket
        // stream workload measures it.
        ("MCPGATEWAY_WS_RELAY_ENABLED", "true".into()),
        ("PLATFORM_ADMIN_EMAIL", crate::naming::ADMIN_EMAIL.into()),
        ("PLATFORM_ADMIN_PASSWORD", crate::secrets::generate()),
        // Required by 1.1.0 and later (at least 12 characters); earlier releases ignore it.
        ("DEFAULT_USER_PASSWORD", crate::secrets::generate()),
    ];
    if let Some(Login { port, password }) = storage.redis {
        env.push((
            "REDIS_URL",
            format!("redis://:{password}@127.0.0.1:{port}/0"),
        ));
    }
    if tracking == Tracking::Performance {
        env.push((METRICS, "true".to_string()));
    }
    env
}

/// The setting that turns the gateway's admin UI on.
pub const UI_ENABLED: &str = "MCPGATEWAY_UI_ENABLED";

/// The setting that installs the gateway's Prometheus middleware and `/metrics/prometheus`.
const METRICS: &str = "ENABLE_METRICS";

/// Whether the gateway keeps its own per-route timings (`--profile-gateway` asks for them): off
/// by default, since its Prometheus middleware is work on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tracking {
    #[default]
    Off,
    /// `ENABLE_METRICS`: `/metrics/prometheus` counts each route's requests and their time
    /// (`api::Client::route_timings`).
    Performance,
}

/// The settings of `env` that shape the gateway's performance besides its database, cache and
/// workers (which reports state on their own), as a report records them: never a secret.
pub fn performance_settings(env: &[(&'static str, String)]) -> Vec<(String, String)> {
    const RECORDED: [&str; 7] = [
        "DB_POOL_SIZE",
        "DB_MAX_OVERFLOW",
        "CACHE_TYPE",
        "LOG_LEVEL",
        "RATE_LIMITING_ENABLED",
        METRICS,
        UI_ENABLED,
    ];
    RECORDED
        .iter()
        .filter_map(|name| env.iter().find(|(k, _)| k == name))
        .map(|(name, value)| ((*name).to_string(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting<'e>(env: &'e [(&'static str, String)], name: &str) -> &'e str {
        &env.iter().find(|(k, _)| *k == name).unwrap().1
    }

    #[test]
    fn the_database_url_is_an_absolute_sqlite_path() {
        let env = load_test_env(
            "a",
            "b",
            &Storage::sqlite(Path::new("/tmp/x/mcp.db")),
            Tracking::Off,
            AdminUi::Off,
        );
        assert_eq!(setting(&env, "DATABASE_URL"), "sqlite:////tmp/x/mcp.db");
        assert_eq!(setting(&env, UI_ENABLED), "false");
        assert_eq!(setting(&env, "RATE_LIMITING_ENABLED"), "false");
        assert!(!env.iter().any(|(k, _)| *k == "REDIS_URL"));
    }

    #[test]
    fn postgres_and_redis_are_reached_on_loopback_and_no_secret_is_recorded() {
        let storage = Storage {
            database: DatabaseAt::Postgres(Login {
                port: 15432,
                password: "pg-secret",
            }),
            cache: Cache::Redis,
            redis: Some(Login {
                port: 16379,
                password: "redis-secret",
            }),
        };
        let env = load_test_env(
            "jwt-secret",
            "auth-secret",
            &storage,
            Tracking::Off,
            AdminUi::On,
        );
        assert_eq!(setting(&env, UI_ENABLED), "true");
        assert_eq!(
            setting(&env, "DATABASE_URL"),
            "postgresql+psycopg://mcpbench:pg-secret@127.0.0.1:15432/mcp"
        );
        assert_eq!(setting(&env, "CACHE_TYPE"), "redis");
        assert_eq!(
            setting(&env, "REDIS_URL"),
            "redis://:redis-secret@127.0.0.1:16379/0"
        );
        let recorded = format!("{:?}", performance_settings(&env));
        for secret in ["pg-secret", "redis-secret", "jwt-secret", "auth-secret"] {
            assert!(!recorded.contains(secret), "{recorded}");
        }
        assert!(
            recorded.contains("(\"DB_POOL_SIZE\", \"200\")"),
            "{recorded}"
        );
        assert!(
            recorded.contains("(\"CACHE_TYPE\", \"redis\")"),
            "{recorded}"
        );
    }
}
