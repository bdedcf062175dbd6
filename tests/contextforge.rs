//! Against the real ContextForge gateway (PyPI `mcp-contextforge-gateway`, pinned, installed
//! into target/contextforge-venv on first use): tokens from `cargo xtask jwt` are accepted and
//! tokens signed with another secret refused; a bench-server registers; `cargo xtask hey`
//! calls its tool through the gateway's `/rpc` with no failures, and counts the JSON-RPC errors
//! of hey.sh's legacy payload as failures although every response is HTTP 200.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mcpbench::harness::{
    binary, free_port_range, http_request, python_venv, spawn_bench_server, test_workdir,
    wait_until_healthy, ChildGuard,
};

/// Runs `cargo xtask ARGS` in `dir`; asserts success and returns its stdout.
fn xtask_ok(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(binary("xtask"))
        .args(args)
        .current_dir(dir)
        .env_remove("JWT_SECRET_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The pinned gateway on a free loopback port, on SQLite in a fresh directory, ready.
struct Gateway {
    _process: ChildGuard,
    addr: SocketAddr,
    secret: String,
    work: std::path::PathBuf,
    log: std::path::PathBuf,
}

fn start_gateway() -> Gateway {
    let venv = python_venv(
        "contextforge-venv",
        // The host's Python (bookworm's 3.11) runs this release; the stack tests run the newest.
        &contextforge::release::Release::newest_for_python_3_11().pip_requirement(),
    )
    .expect("a venv with the pinned ContextForge gateway");
    let work = test_workdir("contextforge");
    let secret = contextforge::secrets::generate();
    let env = contextforge::settings::load_test_env(
        &secret,
        &contextforge::secrets::generate(),
        &contextforge::settings::Storage::sqlite(&work.join("mcp.db")),
        contextforge::settings::Tracking::Off,
        contextforge::settings::AdminUi::Off,
    );
    let port = free_port_range(1);
    let log = work.join("gateway.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let process = ChildGuard::spawn(
        Command::new(venv.join("bin/mcpgateway"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(&work)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file),
    )
    .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = wait_until_healthy(addr, "/ready", Duration::from_secs(180)) {
        panic!("{e}\n--- gateway log ---\n{}", stack::tail(&log, 30));
    }
    Gateway {
        _process: process,
        addr,
        secret,
        work,
        log,
    }
}

/// `GET /gateways` with `token`: the HTTP status.
fn gateways_status(gateway: &Gateway, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    let r = http_request(
        "GET",
        gateway.addr,
        "/gateways",
        &[("Authorization", &bearer)],
        b"",
    )
    .unwrap();
    r.status
}

/// Tokens from `cargo xtask jwt`: ours is accepted (admin or not); one signed with another
/// secret is refused. Returns the admin token.
fn tokens_are_checked_as_the_gateway_does(gateway: &Gateway) -> String {
    let jwt = |args: &[&str]| {
        xtask_ok(&gateway.work, &[&["jwt"][..], args].concat())
            .trim()
            .to_string()
    };
    let token = jwt(&["--secret", &gateway.secret, "--admin", "--exp", "60"]);
    assert_eq!(gateways_status(gateway, &token), 200);
    // Another secret, starting with '-' as one generated secret in 64 does: still a value.
    let other_secret = format!("-{}", contextforge::secrets::generate());
    let forged = jwt(&["--secret", &other_secret, "--admin"]);
    assert_eq!(gateways_status(gateway, &forged), 401);
    let plain = jwt(&["--secret", &gateway.secret]);
    assert_eq!(
        gateways_status(gateway, &plain),
        200,
        "a non-admin token is a valid token too"
    );
    token
}

/// Registers the bench server on `server_port`; a second registration is a conflict.
fn a_bench_server_registers_once(gateway: &Gateway, bearer: &str, server_port: u16) -> String {
    let name = contextforge::naming::bench_gateway_name(server_port);
    let body = serde_json::json!({"name": name, "url": format!("http://127.0.0.1:{server_port}/mcp"), "transport": "STREAMABLEHTTP"}).to_string();
    let json_auth = [
        ("Authorization", bearer),
        ("Content-Type", "application/json"),
    ];
    let post = || {
        http_request(
            "POST",
            gateway.addr,
            "/gateways",
            &json_auth,
            body.as_bytes(),
        )
        .unwrap()
    };
    let r = post();
    assert!(
        matches!(r.status, 200 | 201),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(post().status, 409);
    name
}

#[test]
fn the_real_gateway_accepts_our_tokens_and_carries_tool_calls() {
    let gateway = start_gateway();
    let token = tokens_are_checked_as_the_gateway_does(&gateway);
    let bearer = format!("Bearer {token}");
    let (_server, server_port) = spawn_bench_server(1, &["--tools", "5"]).unwrap();
    let name = a_bench_server_registers_once(&gateway, &bearer, server_port);

    // tools/call through /rpc with cargo xtask hey: no failures.
    let work = &gateway.work;
    let tool = contextforge::naming::federated_tool_name(&name, "benchmark_tool_0");
    std::fs::write(
        work.join("call.json"),
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {"param1": "x"}}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        work.join("legacy.json"),
        r#"{"jsonrpc":"2.0","id":1,"method":"convert_time","params":{"source_timezone":"Europe/Berlin","target_timezone":"Europe/Dublin","time":"09:00"}}"#,
    )
    .unwrap();
    let rpc = format!("http://{}/rpc", gateway.addr);
    let hey = |payload: &str| {
        let header = format!("Authorization: {bearer}");
        let args = [
            "hey", "-n", "20", "-c", "2", "-d", payload, "-u", &rpc, "-H", &header,
        ];
        xtask_ok(work, &args)
    };
    let ok = hey("call.json");
    assert!(
        ok.contains("Failed requests:\t0 of 20"),
        "{ok}\n--- gateway log ---\n{}",
        stack::tail(&gateway.log, 20)
    );
    let legacy = hey("legacy.json");
    assert!(legacy.contains("[200]\t20 responses"), "{legacy}");
    assert!(legacy.contains("JSON-RPC errors in 2xx:\t20"), "{legacy}");
    assert!(
        !legacy.contains(&token) && !ok.contains(&token),
        "the token leaked into the output"
    );
}
