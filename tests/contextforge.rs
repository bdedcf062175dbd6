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
    binary, free_port_range, http_request, python_venv, spawn_bench_server, target_dir,
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

#[test]
fn the_real_gateway_accepts_our_tokens_and_carries_tool_calls() {
    let venv = python_venv(
        "contextforge-venv",
        &contextforge::settings::pip_requirement(),
    )
    .expect("a venv with the pinned ContextForge gateway");
    let work = target_dir()
        .join("test-work")
        .join(format!("contextforge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let secret = contextforge::secrets::generate();
    let env = contextforge::settings::load_test_env(
        &secret,
        &contextforge::secrets::generate(),
        &work.join("mcp.db"),
    );
    let port = free_port_range(1);
    let log = work.join("gateway.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let _gateway = ChildGuard::spawn(
        Command::new(venv.join("bin/mcpgateway"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(&work)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file),
    )
    .unwrap();
    let gateway = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = wait_until_healthy(gateway, "/ready", Duration::from_secs(180)) {
        panic!("{e}\n--- gateway log ---\n{}", stack::tail(&log, 30));
    }

    // Tokens: ours is accepted; one signed with another secret is refused.
    let jwt = |args: &[&str]| {
        xtask_ok(&work, &[&["jwt"][..], args].concat())
            .trim()
            .to_string()
    };
    let token = jwt(&["--secret", &secret, "--admin", "--exp", "60"]);
    let bearer = format!("Bearer {token}");
    let r = http_request(
        "GET",
        gateway,
        "/gateways",
        &[("Authorization", &bearer)],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let forged = jwt(&["--secret", &contextforge::secrets::generate(), "--admin"]);
    let r = http_request(
        "GET",
        gateway,
        "/gateways",
        &[("Authorization", &format!("Bearer {forged}"))],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let plain = jwt(&["--secret", &secret]);
    let r = http_request(
        "GET",
        gateway,
        "/gateways",
        &[("Authorization", &format!("Bearer {plain}"))],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200, "a non-admin token is a valid token too");

    // Register a bench-server; a second registration is a conflict.
    let (_server, server_port) = spawn_bench_server(1, &["--tools", "5"]).unwrap();
    let name = format!("benchmark-{server_port}");
    let body = serde_json::json!({"name": name, "url": format!("http://127.0.0.1:{server_port}/mcp"), "transport": "STREAMABLEHTTP"}).to_string();
    let json_auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let r = http_request("POST", gateway, "/gateways", &json_auth, body.as_bytes()).unwrap();
    assert!(
        matches!(r.status, 200 | 201),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        http_request("POST", gateway, "/gateways", &json_auth, body.as_bytes())
            .unwrap()
            .status,
        409
    );

    // tools/call through /rpc with cargo xtask hey: no failures.
    let tool = format!("{name}-benchmark-tool-0");
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
    let rpc = format!("http://127.0.0.1:{port}/rpc");
    let hey = |payload: &str| {
        xtask_ok(
            &work,
            &[
                "hey",
                "-n",
                "20",
                "-c",
                "2",
                "-d",
                payload,
                "-u",
                &rpc,
                "-H",
                &format!("Authorization: {bearer}"),
            ],
        )
    };
    let ok = hey("call.json");
    assert!(
        ok.contains("Failed requests:\t0 of 20"),
        "{ok}\n--- gateway log ---\n{}",
        stack::tail(&log, 20)
    );
    let legacy = hey("legacy.json");
    assert!(legacy.contains("[200]\t20 responses"), "{legacy}");
    assert!(legacy.contains("JSON-RPC errors in 2xx:\t20"), "{legacy}");
    assert!(
        !legacy.contains(&token) && !ok.contains(&token),
        "the token leaked into the output"
    );
}
