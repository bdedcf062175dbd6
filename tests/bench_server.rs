//! End-to-end tests of the `bench-server` binary (and `cargo xtask bench-server`), driven over
//! real sockets and real signals as a user or a load generator would.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcpbench::harness::{
    binary, free_port_range, http_request, spawn_bench_server, wait_until_healthy, ChildGuard,
    HttpResponse,
};
use serde_json::{json, Value};

struct Fleet {
    child: ChildGuard,
    first: u16,
}

impl Fleet {
    fn start(count: u16, extra: &[&str]) -> Fleet {
        let (child, first) = spawn_bench_server(count, extra).unwrap();
        Fleet { child, first }
    }

    fn addr(&self, index: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.first + index))
    }

    fn post(&self, headers: &[(&str, &str)], body: &Value) -> HttpResponse {
        let mut all = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        all.extend_from_slice(headers);
        http_request(
            "POST",
            self.addr(0),
            "/mcp",
            &all,
            body.to_string().as_bytes(),
        )
        .unwrap()
    }

    /// initialize + notifications/initialized; returns the session id.
    fn open_session(&self) -> String {
        let r = self.post(&[], &initialize("2025-06-18"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let session = r
            .header("mcp-session-id")
            .expect("a session id")
            .to_string();
        let r = self.post(
            &[("Mcp-Session-Id", &session)],
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        );
        assert_eq!(r.status, 202);
        assert!(r.body.is_empty());
        session
    }
}

fn initialize(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}})
}

fn call_tool(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

/// The JSON-RPC message in an SSE body (`event: message` / `data: …`).
fn sse_data(body: &[u8]) -> Value {
    let text = std::str::from_utf8(body).unwrap();
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no data line in {text:?}"));
    serde_json::from_str(data).unwrap()
}

#[test]
fn every_server_of_the_fleet_answers_health_version_and_its_own_resources() {
    let fleet = Fleet::start(
        5,
        &[
            "--tools",
            "50",
            "--resources",
            "20",
            "--prompts",
            "10",
            "--stateless",
        ],
    );
    for i in 0..5u16 {
        let health = http_request("GET", fleet.addr(i), "/health", &[], b"")
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(health["status"], "healthy");
        assert_eq!(health["server_index"], i);
        let version = http_request("GET", fleet.addr(i), "/version", &[], b"")
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(version["tools"], 53);
    }
    let list = fleet
        .post(
            &[],
            &json!({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}),
        )
        .json()
        .unwrap();
    let uris: Vec<&str> = list["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris.len(), 20);
    assert_eq!(uris[3], "benchmark://server0/resource_3");
}

#[test]
fn streamable_http_session_lifecycle_follows_the_spec() {
    let fleet = Fleet::start(1, &[]);
    // Without a session: 400. With an unknown one: 404.
    let call = call_tool(1, "benchmark_tool_1", json!({"param1": "x"}));
    assert_eq!(fleet.post(&[], &call).status, 400);
    assert_eq!(
        fleet
            .post(
                &[("Mcp-Session-Id", "0123456789abcdef0123456789abcdef")],
                &call
            )
            .status,
        404
    );

    let session = fleet.open_session();
    let headers = [
        ("Mcp-Session-Id", session.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    let r = fleet.post(&headers, &call);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json().unwrap();
    assert_eq!(v["result"]["isError"], false);
    let text: Value =
        serde_json::from_str(v["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["tool"], "benchmark_tool_1");
    assert_eq!(text["data"].as_str().unwrap().len(), 1000);

    // An unsupported protocol version header is a bad request.
    let r = fleet.post(
        &[
            ("Mcp-Session-Id", &session),
            ("MCP-Protocol-Version", "1999-01-01"),
        ],
        &call,
    );
    assert_eq!(r.status, 400);

    // GET opens no server stream here: 405, as the spec allows.
    let r = http_request(
        "GET",
        fleet.addr(0),
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", &session),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 405);

    // DELETE ends the session; the id is then unknown.
    let r = http_request(
        "DELETE",
        fleet.addr(0),
        "/mcp",
        &[("Mcp-Session-Id", &session)],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(fleet.post(&headers, &call).status, 404);
}

#[test]
fn malformed_json_is_400_with_parse_error_and_unknown_methods_are_32601() {
    let fleet = Fleet::start(1, &["--stateless"]);
    let r = http_request(
        "POST",
        fleet.addr(0),
        "/mcp",
        &[("Content-Type", "application/json")],
        b"{\"jsonrpc\":",
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json().unwrap()["error"]["code"], -32700);
    let r = fleet.post(
        &[],
        &json!({"jsonrpc": "2.0", "id": 9, "method": "sampling/createMessage"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap()["error"]["code"], -32601);
    let r = fleet.post(&[], &call_tool(3, "convert_time", json!({"time": 5})));
    assert_eq!(r.json().unwrap()["error"]["code"], -32602);
}

#[test]
fn response_framing_follows_response_mode_and_accept() {
    let sse = Fleet::start(1, &["--stateless", "--response-mode", "sse"]);
    let r = sse.post(&[], &call_tool(7, "echo", json!({"message": "hi"})));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let msg = sse_data(&r.body);
    assert_eq!(msg["id"], 7);
    assert_eq!(msg["result"]["content"][0]["text"], "hi");
    let only_json = [("Accept", "application/json")];
    let r = http_request(
        "POST",
        sse.addr(0),
        "/mcp",
        &only_json,
        call_tool(1, "echo", json!({"message": "m"}))
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 406);

    // auto: JSON when the client takes both, SSE when it takes only an event stream.
    let auto = Fleet::start(1, &["--stateless"]);
    let only_sse = [("Accept", "text/event-stream")];
    let r = http_request(
        "POST",
        auto.addr(0),
        "/mcp",
        &only_sse,
        call_tool(1, "echo", json!({"message": "m"}))
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(sse_data(&r.body)["result"]["content"][0]["text"], "m");
    assert_eq!(
        auto.post(&[], &call_tool(1, "echo", json!({"message": "m"})))
            .header("content-type"),
        Some("application/json")
    );
}

#[test]
fn auth_token_guards_the_mcp_endpoint_but_not_health() {
    let first = free_port_range(1);
    let _child = ChildGuard::spawn(
        Command::new(binary("bench-server"))
            .args([
                "--port",
                &first.to_string(),
                "--stateless",
                "--log-level",
                "error",
            ])
            .env("AUTH_TOKEN", "s3cret-token"),
    )
    .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], first));
    wait_until_healthy(addr, "/health", Duration::from_secs(10)).unwrap();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let r = http_request("POST", addr, "/mcp", &[], ping.as_bytes()).unwrap();
    assert_eq!(r.status, 401);
    let r = http_request(
        "POST",
        addr,
        "/mcp",
        &[("Authorization", "Bearer wrong")],
        ping.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let r = http_request(
        "POST",
        addr,
        "/mcp",
        &[("Authorization", "Bearer s3cret-token")],
        ping.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn injected_errors_are_jsonrpc_errors_and_tool_errors_on_http_200() {
    let fleet = Fleet::start(
        1,
        &["--stateless", "--error-rate", "1", "--error-kind", "mixed"],
    );
    let (mut rpc, mut tool) = (0, 0);
    for id in 0..20 {
        let r = fleet.post(&[], &call_tool(id, "benchmark_tool_0", json!({})));
        assert_eq!(r.status, 200);
        let v = r.json().unwrap();
        if v.get("error").is_some() {
            rpc += 1;
        } else if v["result"]["isError"] == true {
            tool += 1;
        }
    }
    assert_eq!(rpc + tool, 20);
    assert!(rpc > 0 && tool > 0, "rpc={rpc} tool={tool}");
}

#[test]
fn a_stall_pauses_requests_that_arrive_during_it() {
    let fleet = Fleet::start(
        1,
        &["--stateless", "--stall-every", "3", "--stall-ms", "400"],
    );
    // /health calls count too; the fleet start used one. Find the stall by timing a few pings.
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let slow = (0..6)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(fleet.post(&[], &ping).status, 200);
            t.elapsed()
        })
        .filter(|d| *d >= Duration::from_millis(390))
        .count();
    assert_eq!(
        slow, 2,
        "every third request should wait out a 400 ms stall"
    );
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero_within_a_second() {
    let mut fleet = Fleet::start(1, &["--stateless"]);
    let addr = fleet.addr(0);
    let in_flight = std::thread::spawn(move || {
        let body = call_tool(1, "echo", json!({"message": "late", "delay_ms": 300})).to_string();
        http_request(
            "POST",
            addr,
            "/mcp",
            &[("Accept", "application/json")],
            body.as_bytes(),
        )
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let status = fleet
        .child
        .signal_and_wait(libc::SIGTERM, Duration::from_secs(2))
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    let r = in_flight.join().unwrap().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap()["result"]["content"][0]["text"], "late");
    assert!(
        http_request("GET", addr, "/health", &[], b"").is_err(),
        "no longer listening"
    );
}

#[test]
fn sigint_stops_the_fleet_with_exit_zero() {
    let mut fleet = Fleet::start(3, &[]);
    let status = fleet
        .child
        .signal_and_wait(libc::SIGINT, Duration::from_secs(1))
        .unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_port_in_use_is_named_and_no_server_is_left_running() {
    let first = free_port_range(4);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", first + 2)).unwrap();
    let out = Command::new(binary("bench-server"))
        .args(["--server-count", "4", "--start-port", &first.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "port {} on 127.0.0.1 is already in use",
            first + 2
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for port in [first, first + 1, first + 3] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} still held"
        );
    }
}

#[test]
fn bad_flags_get_one_line_and_exit_2_from_the_binary_and_from_xtask() {
    let cases: [&[&str]; 6] = [
        &["--port", "0"],
        &["--port", "70000"],
        &["-server-count=0"],
        &["--start-port", "65530", "--server-count", "10"],
        &["--no-such-flag"],
        &["--error-rate", "2"],
    ];
    for args in cases {
        for (program, prefix) in [
            (binary("bench-server"), vec![]),
            (binary("xtask"), vec!["bench-server"]),
        ] {
            let out = Command::new(&program)
                .args(&prefix)
                .args(args)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

#[test]
fn go_style_flags_from_existing_compose_files_work() {
    let first = free_port_range(3);
    let _child = ChildGuard::spawn(Command::new(binary("bench-server")).args([
        "-transport=http",
        "-server-count=3",
        &format!("-start-port={first}"),
        "-tools=50",
        "-resources=20",
        "-prompts=10",
        "-log-level=error",
    ]))
    .unwrap();
    let last = SocketAddr::from(([127, 0, 0, 1], first + 2));
    wait_until_healthy(last, "/health", Duration::from_secs(10)).unwrap();
    let v = http_request("GET", last, "/version", &[], b"")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (
            v["tools"].as_u64(),
            v["resources"].as_u64(),
            v["prompts"].as_u64()
        ),
        (Some(53), Some(20), Some(10))
    );
}

#[test]
fn stdio_transport_answers_newline_delimited_json_rpc() {
    let mut child = ChildGuard::spawn(
        Command::new(binary("bench-server"))
            .args([
                "--transport",
                "stdio",
                "--tools",
                "3",
                "--log-level",
                "error",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    )
    .unwrap();
    let mut stdin = child.child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.child.stdout.take().unwrap());
    for msg in [
        initialize("2025-11-25"),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ] {
        writeln!(stdin, "{msg}").unwrap();
    }
    let mut replies = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        replies.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    replies.sort_by_key(|v| v["id"].as_u64());
    assert_eq!(replies[0]["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(replies[1]["result"]["tools"].as_array().unwrap().len(), 6);
    drop(stdin);
    assert!(child
        .wait_timeout(Duration::from_secs(2))
        .unwrap()
        .success());
}

#[test]
fn an_sse_reply_ready_at_once_is_sent_whole_and_a_slow_one_head_first() {
    let body = call_tool(1, "echo", json!({"message": "m"}));
    let fast = Fleet::start(1, &["--stateless", "--response-mode", "sse"]);
    let r = fast.post(&[], &body);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    // One write with its length, as a JSON reply: no chunked body, no second wake-up.
    let length = r.header("content-length").map(str::to_string);
    assert_eq!(length, Some(r.body.len().to_string()));
    assert_eq!(sse_data(&r.body)["result"]["content"][0]["text"], "m");

    let slow = Fleet::start(
        1,
        &[
            "--stateless",
            "--response-mode",
            "sse",
            "--latency-ms",
            "20",
        ],
    );
    let r = slow.post(&[], &body);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(sse_data(&r.body)["result"]["content"][0]["text"], "m");
}
