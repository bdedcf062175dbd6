//! The settings a load test needs (facts verified on this
//! project's machines: see `docs/contextforge.md`).

/// The setting that holds the gateway's JWT signing secret.
pub const JWT_SECRET_ENV: &str = "JWT_SECRET_KEY";

/// The gateway's own server (uvicorn, one worker) in its venv's `bin/`.
pub const SERVER_BINARY: &str = "mcpgateway";
/// The ASGI application gunicorn serves with several workers.
pub const ASGI_APP: &str = "mcpgateway.main:app";

/// Environment for a headless gateway on SQLite, tuned for load tests: rate limiting off (it
/// answers 429 otherwise), loopback registration allowed, errors-only logging, no admin UI.
/// Start it from a directory without a `.env` file: pydantic reads one from the working directory.
pub fn load_test_env(
    jwt_secret: &str,
    auth_encryption_secret: &str,
    database_path: &std::path::Path,
) -> Vec<(&'static str, String)> {
    vec![
        (JWT_SECRET_ENV, jwt_secret.to_string()),
        ("AUTH_ENCRYPTION_SECRET", auth_encryption_secret.to_string()),
        (
            "DATABASE_URL",
            format!("sqlite:///{}", database_path.display()),
        ),
        ("RATE_LIMITING_ENABLED", "false".into()),
        ("SSRF_ALLOW_LOCALHOST", "true".into()),
        ("SSRF_ALLOW_PRIVATE_NETWORKS", "true".into()),
        ("LOG_LEVEL", "ERROR".into()),
        ("MCPGATEWAY_UI_ENABLED", "false".into()),
        ("MCPGATEWAY_ADMIN_API_ENABLED", "true".into()),
        ("CACHE_TYPE", "database".into()),
        ("PLATFORM_ADMIN_EMAIL", crate::naming::ADMIN_EMAIL.into()),
        ("PLATFORM_ADMIN_PASSWORD", crate::secrets::generate()),
        // Required by 1.1.0 and later (at least 12 characters); earlier releases ignore it.
        ("DEFAULT_USER_PASSWORD", crate::secrets::generate()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_is_an_absolute_sqlite_path() {
        let env = load_test_env("a", "b", std::path::Path::new("/tmp/x/mcp.db"));
        let url = &env.iter().find(|(k, _)| *k == "DATABASE_URL").unwrap().1;
        assert_eq!(url, "sqlite:////tmp/x/mcp.db");
        assert!(env
            .iter()
            .any(|(k, v)| *k == "RATE_LIMITING_ENABLED" && v == "false"));
    }
}
