//! The production-like stack end to end on both runtimes: `--database postgres --cache redis
//! --workers 2` brings up PostgreSQL and Redis (Debian's packages as processes, or images built
//! from the same Debian base), health-gated before the gateway; the gateway really keeps its
//! catalog in PostgreSQL and its cache in Redis (asked with psql and redis-cli, the servers' own
//! clients); a short profile runs through it and its report records the database, the cache and
//! the pool settings without a password; a stack of another database is refused; PostgreSQL
//! killed from outside shows as stopped, and `down` leaves no server of the stack running.
//! The docker test fails in CI (CI=true) without an engine and is skipped elsewhere, saying so.

mod stack_common;

use std::path::Path;
use std::process::Command;

use mcpbench::harness::{
    container_engine, container_images, free_port_range, labelled_containers, skip,
};
use stack_common::{all_free, state, text, up_args, workdir, xtask, Ports};

/// Loopback ports for the stack's PostgreSQL and Redis.
struct ServerPorts {
    postgres: u16,
    redis: u16,
}

fn server_ports() -> ServerPorts {
    ServerPorts {
        postgres: free_port_range(1),
        redis: free_port_range(1),
    }
}

/// `command` (benchmark-up or load-test) of a two-worker stack on PostgreSQL and Redis.
fn storage_args(command: &str, p: &Ports, s: &ServerPorts, runtime: &str) -> Vec<String> {
    let postgres_port = s.postgres.to_string();
    let redis_port = s.redis.to_string();
    let mut args = up_args(
        p,
        &[
            "--runtime",
            runtime,
            "--database",
            "postgres",
            "--cache",
            "redis",
            "--workers",
            "2",
            "--postgres-port",
            &postgres_port,
            "--redis-port",
            &redis_port,
        ],
    );
    args[0] = command.into();
    args
}

/// A short light profile without thresholds.
const SHORT_PROFILE: [&str; 10] = [
    "--users",
    "3",
    "--spawn-rate",
    "3",
    "--run-time",
    "3s",
    "--warmup",
    "1s",
    "--progress",
    "plain",
];

/// The stack's passwords, from its state file.
fn passwords(dir: &Path) -> (String, String) {
    let recorded = state(dir);
    let password = |server: &str| recorded[server]["password"].as_str().unwrap().to_string();
    (password("postgres"), password("redis"))
}

/// The gateway's catalog, counted in PostgreSQL by psql.
fn tools_in_postgres(s: &ServerPorts, password: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &s.postgres.to_string()])
        .args(["-U", contextforge::settings::POSTGRES_USER])
        .args(["-d", contextforge::settings::POSTGRES_DATABASE])
        .args(["-tAc", "SELECT count(*) FROM tools"])
        .env("PGPASSWORD", password)
        .output()
        .expect("psql (PostgreSQL's client, installed with it)");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// How many keys the gateway keeps in Redis, counted by redis-cli.
fn keys_in_redis(s: &ServerPorts, password: &str) -> u64 {
    let out = Command::new("redis-cli")
        .args(["-p", &s.redis.to_string(), "--no-auth-warning", "dbsize"])
        .env("REDISCLI_AUTH", password)
        .output()
        .expect("redis-cli (installed with redis-server)");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Nothing listens on the stack's PostgreSQL and Redis ports any more.
fn servers_gone(s: &ServerPorts) -> bool {
    [s.postgres, s.redis]
        .iter()
        .all(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
}

/// The run's results.json as the latest report in `dir`.
fn latest_results(dir: &Path) -> serde_json::Value {
    let run = std::fs::read_link(dir.join("reports/latest")).unwrap();
    let path = dir.join("reports").join(run).join("results.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The report says what the gateway ran on, and no password of the stack is in any report file.
fn report_records_storage_without_secrets(dir: &Path, secrets: &[&str]) {
    let results = latest_results(dir);
    let measured = &results["measured"];
    assert_eq!(measured["database"], "postgres", "{measured}");
    assert_eq!(measured["cache"], "redis", "{measured}");
    assert_eq!(measured["gateway_workers"], 2, "{measured}");
    let settings = measured["gateway_settings"].to_string();
    assert!(
        settings.contains("[\"DB_POOL_SIZE\",\"200\"]"),
        "{settings}"
    );
    let run = dir
        .join("reports")
        .join(std::fs::read_link(dir.join("reports/latest")).unwrap());
    for file in std::fs::read_dir(&run).unwrap().flatten() {
        let body = std::fs::read_to_string(file.path()).unwrap_or_default();
        for secret in secrets {
            assert!(
                !body.contains(secret),
                "a password in {}",
                file.path().display()
            );
        }
    }
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("on PostgreSQL, cache redis"), "{md}");
}

#[test]
fn a_local_stack_on_postgres_and_redis_answers_a_short_profile() {
    let dir = workdir("postgres-local");
    let (p, s) = (stack_common::ports(), server_ports());
    let up = storage_args("benchmark-up", &p, &s, "local");
    let up: Vec<&str> = up.iter().map(String::as_str).collect();
    let out = xtask(&dir, &up);
    assert!(out.status.success(), "{}", text(&out));
    let (pg_password, redis_password) = passwords(&dir);
    assert!(!text(&out).contains(&pg_password) && !text(&out).contains(&redis_password));

    let status = xtask(&dir, &["benchmark-status", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&status.stdout).unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bench-servers", "postgres", "redis", "gateway", "nginx"]
    );
    assert!(rows.iter().all(|r| r["health"] == "healthy"), "{rows:?}");
    assert_eq!(
        tools_in_postgres(&s, &pg_password),
        "106",
        "the catalog is in PostgreSQL"
    );
    assert!(
        keys_in_redis(&s, &redis_password) > 0,
        "the gateway uses Redis"
    );

    // The running stack is reused by a load test that does not name a database…
    let mut run = up_args(&p, &["--runtime", "local"]);
    run[0] = "load-test".into();
    run.extend(SHORT_PROFILE.iter().map(|a| a.to_string()));
    run.push("--no-sla".into());
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    let out = xtask(&dir, &run);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    report_records_storage_without_secrets(&dir, &[&pg_password, &redis_password]);
    let results = latest_results(&dir);
    let tiers = results["tiers"].as_array().unwrap();
    let gateway = tiers.iter().find(|t| t["tier"] == "gateway").unwrap();
    assert_eq!(gateway["outcome"]["kind"], "ran", "{gateway}");
    assert!(
        gateway["outcome"]["results"]["total"]["requests"]
            .as_u64()
            .unwrap()
            > 0
    );

    // …and refused by one that names another.
    let mut sqlite = run.clone();
    sqlite.extend(["--database", "sqlite"]);
    let out = xtask(&dir, &sqlite);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("its gateway on postgres"),
        "{}",
        text(&out)
    );

    // PostgreSQL killed from outside: status says so, and down stops the rest.
    let postgres_pid = rows[1]["pid"].as_u64().unwrap();
    let group = format!("-{postgres_pid}");
    let killed = Command::new("kill")
        .args(["-s", "KILL", "--", &group])
        .status();
    assert!(killed.unwrap().success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = xtask(&dir, &["benchmark-status", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[1]["state"], "stopped", "{rows:?}");
    let down = xtask(&dir, &["benchmark-down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(all_free(&p) && servers_gone(&s));
}

#[test]
fn a_docker_stack_on_postgres_and_redis_answers_a_short_profile() {
    let test = "stack_storage::a_docker_stack_on_postgres_and_redis_answers_a_short_profile";
    let Some(engine) = container_engine() else {
        skip(
            test,
            "no container engine answers (`cargo xtask test` starts Podman's service)",
        );
        return;
    };
    container_images();
    let dir = workdir("postgres-docker");
    let (p, s) = (stack_common::ports(), server_ports());
    let mut run = storage_args("load-test", &p, &s, "docker");
    run.extend(SHORT_PROFILE.iter().map(|a| a.to_string()));
    run.push("--no-sla".into());
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    let out = xtask(&dir, &run);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (pg_password, redis_password) = passwords(&dir);
    report_records_storage_without_secrets(&dir, &[&pg_password, &redis_password]);
    let state_dir = std::path::absolute(dir.join(".mcpbench")).unwrap();
    let label = format!("io.mcpbench.state-dir={}", state_dir.display());
    assert!(
        labelled_containers(&engine, &label).unwrap().is_empty(),
        "load-test took its stack down"
    );
    assert!(all_free(&p) && servers_gone(&s));
}
