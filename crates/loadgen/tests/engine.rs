//! The load engine against a real server (bench-server, in-process on its own thread and
//! runtime): coordinated-omission correction, rate fidelity, saturation, failure accounting,
//! MCP session flows and limits.

use std::time::Duration;

use loadgen::{
    run, Arrival, Era, ErrorClass, HttpOptions, McpCall, McpEndpoint, McpTransport, Model, Plan,
    ProgressMode, RunResults, RunSpec, Scenario, ScheduleVerdict, SessionMode, Step, Task,
    ToolPick, Wait, SESSION_DELETE_OP, SESSION_SETUP_OP,
};

/// A bench-server fleet of one, served on its own thread; stopped when dropped.
struct Server {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let port_arg = port.to_string();
        let config = bench_server::Config::try_parse_args(
            ["bench-server", "--port", &port_arg, "--log-level", "error"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .unwrap();
        let fleet = bench_server::Fleet::bind(&config).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(fleet.serve(async {
                let _ = stopped.await;
            }))
            .unwrap();
        });
        Server {
            port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn mcp_url(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}/mcp", self.port)).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.thread.take().unwrap().join();
    }
}

fn mcp_scenario(server: &Server, session: SessionMode, call: McpCall) -> Scenario {
    Scenario {
        name: "test".into(),
        tasks: vec![Task {
            name: "call".into(),
            weight: 1,
            steps: vec![Step::Mcp { endpoint: 0, call }],
        }],
        endpoints: vec![McpEndpoint {
            url: server.mcp_url(),
            transport: McpTransport::StreamableHttp(Era::Session.protocol(session)),
            headers: vec![],
        }],
        classes: vec![],
    }
}

fn open_plan(rate: f64, secs: u64, max_in_flight: u32, max_backlog: u32) -> Plan {
    Plan {
        model: Model::Open {
            rate,
            arrival: Arrival::Constant,
            max_in_flight,
            max_backlog,
        },
        stages: vec![],
        duration: Some(Duration::from_secs(secs)),
        max_requests: None,
        warmup: Duration::ZERO,
        seed: 42,
    }
}

fn closed_plan(users: u32, max_requests: u64) -> Plan {
    Plan {
        model: Model::Closed {
            users,
            spawn_rate: 0.0,
            wait: Wait::None,
        },
        stages: vec![],
        duration: Some(Duration::from_secs(30)),
        max_requests: Some(max_requests),
        warmup: Duration::ZERO,
        seed: 42,
    }
}

/// Runs take this lock shared; a test that judges the generator's own schedule takes it alone,
/// so no other test's load on the 2 shared cores delays that schedule.
static SCHEDULE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// How many times a schedule-judging test may run before its lateness counts against the engine.
const TIMED_ATTEMPTS: u32 = 3;

/// Runs `plan` alone on the machine's cores and returns the first run whose generator kept its
/// schedule (`fell_behind` false), up to [`TIMED_ATTEMPTS`]. A shared CI runner can preempt the
/// generator for tens of milliseconds whatever it does; the engine then rightly says it fell
/// behind — that verdict is honest, but it is the machine's, not the engine's. An engine that
/// falls behind on every attempt still fails the test, with the last run's figures.
async fn go_timed(
    plan: Plan,
    scenario: Scenario,
    fell_behind: impl Fn(&RunResults) -> bool,
) -> RunResults {
    let _alone = SCHEDULE.write().await;
    let mut attempt = 1;
    loop {
        let r = run_spec(plan.clone(), scenario.clone()).await;
        if !fell_behind(&r) || attempt == TIMED_ATTEMPTS {
            return r;
        }
        eprintln!(
            "attempt {attempt}: the generator fell behind ({} late starts): running again",
            r.schedule.lateness.generator_late
        );
        attempt += 1;
    }
}

async fn go(plan: Plan, scenario: Scenario) -> RunResults {
    let _shared = SCHEDULE.read().await;
    run_spec(plan, scenario).await
}

async fn run_spec(plan: Plan, scenario: Scenario) -> RunResults {
    let spec = RunSpec {
        plan,
        scenario,
        http: HttpOptions::default(),
        command_line: vec!["test".into()],
        progress: ProgressMode::Quiet,
        label: "test".into(),
        live: None,
        request_log: None,
    };
    run(spec, std::future::pending()).await.unwrap()
}

fn op<'a>(r: &'a RunResults, name: &str) -> &'a loadgen::OperationResult {
    r.operations
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no operation {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrected_p99_shows_a_stall_that_uncorrected_latency_hides() {
    // Every 500th request freezes the server for 250 ms. With two connections, requests due
    // during a stall wait for a free one: only the corrected view charges them for it (wrk2).
    let server = Server::start(&["--stateless", "--stall-every", "500", "--stall-ms", "250"]);
    let scenario = mcp_scenario(
        &server,
        SessionMode::None,
        McpCall::ToolsCall(ToolPick::Named("benchmark_tool_0".into())),
    );
    let r = go_timed(open_plan(400.0, 5, 2, 10_000), scenario, |r| {
        r.schedule.generator_saturated()
    })
    .await;
    let call = op(&r, "tools/call");
    assert_eq!(call.failures, 0);
    assert!(
        call.latency.p99_ms >= 150.0,
        "corrected p99 {} ms should show the 250 ms stalls",
        call.latency.p99_ms
    );
    assert!(
        call.uncorrected.p99_ms < 50.0,
        "uncorrected p99 {} ms should hide them",
        call.uncorrected.p99_ms
    );
    assert!(r.schedule.lateness.queued_starts > 0);
    assert!(!r.schedule.generator_saturated(), "{:?}", r.schedule);
    assert!(
        r.schedule.accounting.balances(),
        "{:?}",
        r.schedule.accounting
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_model_that_keeps_up_achieves_its_rate_within_one_percent() {
    let server = Server::start(&["--stateless"]);
    let scenario = mcp_scenario(
        &server,
        SessionMode::None,
        McpCall::ToolsCall(ToolPick::RoundRobin),
    );
    let r = go_timed(open_plan(1000.0, 5, 100, 0), scenario, |r| {
        r.schedule.generator_saturated()
    })
    .await;
    let call = op(&r, "tools/call");
    assert_eq!(
        r.schedule.verdict,
        ScheduleVerdict::Kept,
        "{:?}",
        r.schedule
    );
    assert_eq!(call.failures, 0, "{:?}", call.errors);
    assert!(
        (call.rps - 1000.0).abs() <= 10.0,
        "achieved {} req/s",
        call.rps
    );
    assert!(
        (call.requests as f64 - 5000.0).abs() <= 50.0,
        "{} requests",
        call.requests
    );
    assert!(r.series.len() >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_cannot_keep_up_is_a_stalled_target_not_a_saturated_generator() {
    // Ten users on a 200 ms target carry 50/s of the 500/s asked: the rest wait or are dropped,
    // and that is the target's doing, counted and judged, not the generator's.
    let server = Server::start(&["--stateless", "--latency-ms", "200"]);
    let scenario = mcp_scenario(&server, SessionMode::None, McpCall::Ping);
    let r = go_timed(open_plan(500.0, 2, 10, 10), scenario, |r| {
        r.schedule.generator_saturated()
    })
    .await;
    let a = &r.schedule.accounting;
    assert!(
        matches!(r.schedule.verdict, ScheduleVerdict::TargetStalled { .. }),
        "{:?}",
        r.schedule
    );
    assert!(a.dropped.backlog_full > 500, "{a:?}");
    assert!(a.balances(), "{a:?}");
    assert!((a.intended as i64 - 1000).abs() <= 2, "{a:?}");
    // Every recorded iteration is a recorded ping: nothing vanished at the end of the window.
    assert_eq!(op(&r, "ping").requests, a.recorded, "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonrpc_errors_and_tool_errors_inside_http_200_are_failures() {
    for (kind, class) in [
        ("jsonrpc", ErrorClass::Jsonrpc),
        ("tool", ErrorClass::ToolError),
    ] {
        let server = Server::start(&["--stateless", "--error-rate", "1", "--error-kind", kind]);
        let scenario = mcp_scenario(
            &server,
            SessionMode::None,
            McpCall::ToolsCall(ToolPick::Random),
        );
        let r = go(closed_plan(2, 200), scenario).await;
        let call = op(&r, "tools/call");
        assert_eq!((call.requests, call.failures), (200, 200), "{kind}");
        assert_eq!(
            call.status_codes.get("200"),
            Some(&200),
            "all were HTTP 200"
        );
        assert_eq!(
            call.errors[class_name(class)].count,
            200,
            "{kind}: {:?}",
            call.errors
        );
    }
}

fn class_name(c: ErrorClass) -> &'static str {
    match c {
        ErrorClass::Jsonrpc => "jsonrpc",
        ErrorClass::ToolError => "tool_error",
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_open_once_per_user_and_churn_once_per_iteration() {
    let server = Server::start(&[]);
    let r = go(
        closed_plan(4, 400),
        mcp_scenario(
            &server,
            SessionMode::PerUser,
            McpCall::ToolsCall(ToolPick::Random),
        ),
    )
    .await;
    assert_eq!(op(&r, SESSION_SETUP_OP).requests, 4);
    assert_eq!(op(&r, "tools/call").requests, 400);
    assert_eq!(r.total.failures, 0, "{:?}", r.total.errors);

    let r = go(
        closed_plan(2, 100),
        mcp_scenario(&server, SessionMode::PerIteration, McpCall::ToolsList),
    )
    .await;
    let calls = op(&r, "tools/list").requests;
    assert_eq!(calls, 100);
    assert!(op(&r, SESSION_SETUP_OP).requests >= calls);
    assert!(op(&r, SESSION_DELETE_OP).requests >= calls - 2);
    assert_eq!(r.total.failures, 0, "{:?}", r.total.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_responses_time_first_byte_apart_from_the_final_message() {
    let server = Server::start(&[
        "--stateless",
        "--response-mode",
        "sse",
        "--latency-ms",
        "30",
    ]);
    let r = go(
        closed_plan(2, 40),
        mcp_scenario(&server, SessionMode::None, McpCall::ResourcesRead),
    )
    .await;
    let read = op(&r, "resources/read");
    assert_eq!(read.failures, 0, "{:?}", read.errors);
    assert!(
        read.ttfb.p50_ms < 10.0,
        "headers come first: ttfb p50 {}",
        read.ttfb.p50_ms
    );
    assert!(
        read.latency.p50_ms >= 30.0,
        "the event after the latency: p50 {}",
        read.latency.p50_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_schedule_and_still_returns_results() {
    let server = Server::start(&["--stateless"]);
    let spec = RunSpec {
        plan: open_plan(200.0, 60, 10, 0),
        scenario: mcp_scenario(&server, SessionMode::None, McpCall::Ping),
        http: HttpOptions::default(),
        command_line: vec![],
        progress: ProgressMode::Quiet,
        label: "t".into(),
        live: None,
        request_log: None,
    };
    let started = std::time::Instant::now();
    let stop = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cli::Signal::Interrupt
    };
    let r = run(spec, stop).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r.stopped_by, Some(cli::Signal::Interrupt));
    assert!(r.schedule.accounting.balances(), "{:?}", r.schedule);
    assert!(
        r.duration_secs > 1.0 && r.duration_secs < 2.5,
        "{}",
        r.duration_secs
    );
    assert!(op(&r, "ping").requests > 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_requests_are_not_in_the_results() {
    let server = Server::start(&["--stateless"]);
    let mut plan = open_plan(200.0, 2, 10, 0);
    plan.warmup = Duration::from_secs(1);
    let r = go(
        plan,
        mcp_scenario(&server, SessionMode::None, McpCall::Ping),
    )
    .await;
    let ping = op(&r, "ping");
    assert!(
        (ping.requests as f64 - 400.0).abs() <= 8.0,
        "{} requests measured",
        ping.requests
    );
    assert_eq!(r.warmup_secs, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_is_an_infrastructure_error_before_any_traffic() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scenario = Scenario {
        name: "t".into(),
        tasks: vec![Task {
            name: "t".into(),
            weight: 1,
            steps: vec![Step::Mcp {
                endpoint: 0,
                call: McpCall::ToolsCall(ToolPick::Random),
            }],
        }],
        endpoints: vec![McpEndpoint {
            url: url::Url::parse(&format!("http://127.0.0.1:{port}/mcp")).unwrap(),
            transport: McpTransport::StreamableHttp(Era::Session.protocol(SessionMode::None)),
            headers: vec![],
        }],
        classes: vec![],
    };
    let spec = RunSpec {
        plan: closed_plan(1, 10),
        scenario,
        http: HttpOptions::default(),
        command_line: vec![],
        progress: ProgressMode::Quiet,
        label: "t".into(),
        live: None,
        request_log: None,
    };
    let err = run(spec, std::future::pending()).await.unwrap_err();
    assert!(matches!(err, loadgen::RunError::Target(_)), "{err}");
    assert!(err.to_string().contains("connect"), "{err}");
}

fn http_get_scenario(url: &str, expect: loadgen::Expect) -> Scenario {
    Scenario {
        name: "get".into(),
        tasks: vec![Task {
            name: "get".into(),
            weight: 1,
            steps: vec![Step::Http(Box::new(loadgen::HttpStep {
                op: "GET /".into(),
                method: hyper::Method::GET,
                url: url::Url::parse(url).unwrap(),
                headers: vec![],
                body: None,
                expect,
                capture: None,
            }))],
        }],
        endpoints: vec![],
        classes: vec![],
    }
}

async fn go_with(
    plan: Plan,
    scenario: Scenario,
    http: HttpOptions,
) -> Result<RunResults, loadgen::RunError> {
    let _shared = SCHEDULE.read().await;
    let spec = RunSpec {
        plan,
        scenario,
        http,
        command_line: vec![],
        progress: ProgressMode::Quiet,
        label: "t".into(),
        live: None,
        request_log: None,
    };
    run(spec, std::future::pending()).await
}

/// Serves `respond(request version)` over hyper (HTTP/1.1 or HTTP/2), optionally behind TLS.
async fn spawn_server(tls: Option<tokio_rustls::TlsAcceptor>, close_after_each: bool) -> u16 {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
                        let mut resp = hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from(format!("{:?}", req.version())),
                        ));
                        if close_after_each {
                            resp.headers_mut().insert(
                                hyper::header::CONNECTION,
                                hyper::header::HeaderValue::from_static("close"),
                            );
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    },
                );
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_closing_keep_alive_connections_is_not_a_failure() {
    let port = spawn_server(None, true).await;
    let r = go_with(
        closed_plan(2, 100),
        http_get_scenario(&format!("http://127.0.0.1:{port}/"), Default::default()),
        HttpOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.total.requests, r.total.failures),
        (100, 0),
        "{:?}",
        r.total.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_custom_ca_and_http2_over_alpn() {
    use tokio_rustls::rustls;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let port = spawn_server(
        Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))),
        false,
    )
    .await;
    let ca_file = std::env::temp_dir().join(format!("loadgen-test-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let url = format!("https://localhost:{port}/");

    for (http2, version) in [(true, "HTTP/2.0"), (false, "HTTP/1.1")] {
        let http = HttpOptions {
            http2,
            trust: loadgen::Trust::WithCa(ca_file.clone()),
            ..HttpOptions::default()
        };
        let expect = loadgen::Expect {
            body_contains: Some(version.into()),
            ..Default::default()
        };
        let r = go_with(closed_plan(2, 50), http_get_scenario(&url, expect), http)
            .await
            .unwrap();
        assert_eq!(
            (r.total.requests, r.total.failures),
            (50, 0),
            "{version}: {:?}",
            r.total.errors
        );
    }

    // Without the CA the server is not trusted: every request fails to connect, and says why.
    let r = go_with(
        closed_plan(1, 5),
        http_get_scenario(&url, Default::default()),
        HttpOptions::default(),
    )
    .await
    .unwrap();
    let connect = &r.total.errors["connect"];
    assert_eq!(connect.count, 5);
    assert!(
        connect.samples[0].contains("TLS handshake")
            && connect.samples[0].contains("--cacert FILE trusts its CA"),
        "{:?}",
        connect.samples
    );

    // --insecure: any certificate, on HTTP/1.1 and HTTP/2 alike.
    for http2 in [true, false] {
        let http = HttpOptions {
            http2,
            trust: loadgen::Trust::Insecure,
            ..HttpOptions::default()
        };
        let r = go_with(
            closed_plan(1, 5),
            http_get_scenario(&url, Default::default()),
            http,
        )
        .await
        .unwrap();
        assert_eq!(
            (r.total.requests, r.total.failures),
            (5, 0),
            "h2 {http2}: {:?}",
            r.total.errors
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_with_prior_knowledge_drives_bench_server() {
    let server = Server::start(&["--stateless"]);
    let scenario = mcp_scenario(
        &server,
        SessionMode::None,
        McpCall::ToolsCall(ToolPick::Random),
    );
    let r = go_with(
        closed_plan(4, 400),
        scenario,
        HttpOptions {
            http2: true,
            ..HttpOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (r.total.requests, r.total.failures),
        (400, 0),
        "{:?}",
        r.total.errors
    );
}

fn timed_plan(model: Model, secs: u64, stages: &str) -> Plan {
    Plan {
        model,
        stages: if stages.is_empty() {
            vec![]
        } else {
            loadgen::parse_stages(stages).unwrap()
        },
        duration: (secs > 0).then(|| Duration::from_secs(secs)),
        max_requests: None,
        warmup: Duration::ZERO,
        seed: 7,
    }
}

fn per_second(r: &RunResults) -> Vec<u64> {
    r.series
        .iter()
        .map(|p| p.ops.iter().map(|o| o.requests).sum())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_arrivals_are_seeded_and_average_the_target_rate() {
    let server = Server::start(&["--stateless"]);
    let model = Model::Open {
        rate: 500.0,
        arrival: Arrival::Poisson,
        max_in_flight: 100,
        max_backlog: 100,
    };
    let first = go(
        timed_plan(model.clone(), 4, ""),
        mcp_scenario(&server, SessionMode::None, McpCall::Ping),
    )
    .await;
    let second = go(
        timed_plan(model, 4, ""),
        mcp_scenario(&server, SessionMode::None, McpCall::Ping),
    )
    .await;
    let n = op(&first, "ping").requests as f64;
    assert!((n - 2000.0).abs() <= 200.0, "{n} arrivals in 4 s at 500/s");
    assert_eq!(
        first.schedule.accounting.intended, second.schedule.accounting.intended,
        "the same seed gives the same schedule"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_stage_raises_and_lowers_the_arrival_rate() {
    let server = Server::start(&["--stateless"]);
    let model = Model::Open {
        rate: 200.0,
        arrival: Arrival::Constant,
        max_in_flight: 200,
        max_backlog: 200,
    };
    let plan = timed_plan(model, 0, "200:2s,1000:0s,1000:2s,200:0s,200:2s");
    let r = go(
        plan,
        mcp_scenario(&server, SessionMode::None, McpCall::Ping),
    )
    .await;
    let seconds = per_second(&r);
    assert!(seconds.len() >= 6, "{seconds:?}");
    for (i, want) in [200.0, 200.0, 1000.0, 1000.0, 200.0, 200.0]
        .iter()
        .enumerate()
    {
        let got = seconds[i] as f64;
        assert!(
            (got - want).abs() <= want * 0.15,
            "second {i}: {got} requests, wanted about {want} ({seconds:?})"
        );
    }
    assert_eq!(r.series[2].target, 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_users_start_at_the_spawn_rate() {
    let server = Server::start(&["--stateless"]);
    let model = Model::Closed {
        users: 10,
        spawn_rate: 4.0,
        wait: Wait::Constant { secs: 0.05 },
    };
    let r = go(
        timed_plan(model, 4, ""),
        mcp_scenario(&server, SessionMode::None, McpCall::Ping),
    )
    .await;
    let active: Vec<u64> = r.series.iter().map(|p| p.active).collect();
    assert!(
        active[0] <= 6,
        "4 users/s: at most 5-6 after the first second, got {active:?}"
    );
    assert_eq!(*active.last().unwrap(), 10, "{active:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_pacing_holds_each_user_to_its_interval() {
    let server = Server::start(&["--stateless"]);
    let model = Model::Closed {
        users: 2,
        spawn_rate: 0.0,
        wait: Wait::ConstantPacing { secs: 0.1 },
    };
    let r = go_timed(
        timed_plan(model, 3, ""),
        mcp_scenario(&server, SessionMode::None, McpCall::Ping),
        |r| r.schedule.lateness.generator_late > 0,
    )
    .await;
    let n = op(&r, "ping").requests as f64;
    assert!((n - 60.0).abs() <= 6.0, "2 users × 10/s × 3 s, got {n}");
    assert_eq!(r.schedule.lateness.generator_late, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_user_held_up_by_a_slow_target_is_not_a_saturated_generator() {
    // Pacing asks for an iteration every 100 ms; each takes 200 ms: every slot is missed while
    // the user waits on the target. That lateness is the target's.
    let server = Server::start(&["--stateless", "--latency-ms", "200"]);
    let model = Model::Closed {
        users: 2,
        spawn_rate: 0.0,
        wait: Wait::ConstantPacing { secs: 0.1 },
    };
    let r = go_timed(
        timed_plan(model, 2, ""),
        mcp_scenario(&server, SessionMode::None, McpCall::Ping),
        |r| r.schedule.generator_saturated(),
    )
    .await;
    assert!(!r.schedule.generator_saturated(), "{:?}", r.schedule);
    assert!(r.schedule.lateness.queued_starts > 10, "{:?}", r.schedule);
    assert!(op(&r, "ping").latency.p50_ms >= 200.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_loses_nothing_at_the_end_of_the_window() {
    // 20 users on a 50 ms target carry 400/s of the 500/s asked: arrivals queue, and those still
    // queued when the window closes run in the drain, charged from their intended time — they
    // are the slowest of the run and must be in it.
    let server = Server::start(&["--stateless", "--latency-ms", "50"]);
    let scenario = mcp_scenario(&server, SessionMode::None, McpCall::Ping);
    let r = go(open_plan(500.0, 2, 20, 10_000), scenario).await;
    let a = &r.schedule.accounting;
    assert!(a.balances(), "{a:?}");
    assert_eq!(a.dropped.total(), 0, "{a:?}");
    assert!((a.intended as i64 - 1000).abs() <= 2, "{a:?}");
    let ping = op(&r, "ping");
    assert_eq!((ping.requests, ping.failures), (a.intended, 0));
    assert!(
        ping.latency.max_ms >= 300.0,
        "the queue at the end of the window shows: max {} ms",
        ping.latency.max_ms
    );
    assert!(matches!(
        r.schedule.verdict,
        ScheduleVerdict::TargetStalled { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_unanswered_at_the_drain_deadline_is_a_timeout_and_the_queue_is_dropped() {
    let server = Server::start(&["--stateless", "--latency-ms", "800"]);
    let spec = RunSpec {
        plan: open_plan(20.0, 1, 2, 100),
        scenario: mcp_scenario(&server, SessionMode::None, McpCall::Ping),
        http: HttpOptions {
            timeout: Duration::from_secs(2),
            ..HttpOptions::default()
        },
        command_line: vec![],
        progress: ProgressMode::Quiet,
        label: "t".into(),
        live: None,
        request_log: None,
    };
    let started = std::time::Instant::now();
    let r = run(spec, std::future::pending()).await.unwrap();
    // The drain ends at the window's end plus the request timeout (and a second's margin).
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let a = &r.schedule.accounting;
    assert!(a.balances(), "{a:?}");
    assert!(a.dropped.window_closed > 0, "{a:?}");
    let ping = op(&r, "ping");
    let timeouts = &ping.errors["timeout"];
    assert!(timeouts.count >= 1, "{:?}", ping.errors);
    assert!(
        timeouts.samples[0].contains("when the run ended"),
        "{timeouts:?}"
    );
    assert_eq!(ping.requests, a.recorded);
    assert!(
        ping.failed_latency.max_ms >= 1000.0,
        "{:?}",
        ping.failed_latency
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_churn_the_call_carries_a_stall_and_warm_up_never_leaks() {
    // The server freezes for 300 ms every 600 requests (a churned iteration is 4 requests).
    // The user was scheduled for tools/call: the call is measured from the iteration's intended
    // time, session setup included, so the freezes show in tools/call whichever request of the
    // iteration they hit.
    let server = Server::start(&["--stall-every", "600", "--stall-ms", "300"]);
    let mut plan = open_plan(200.0, 3, 50, 1000);
    plan.warmup = Duration::from_millis(700);
    let scenario = mcp_scenario(
        &server,
        SessionMode::PerIteration,
        McpCall::ToolsCall(ToolPick::Named("echo".into())),
    );
    let r = go(plan, scenario).await;
    let a = &r.schedule.accounting;
    let call = op(&r, "tools/call");
    assert_eq!(call.failures, 0, "{:?}", call.errors);
    assert!(a.balances(), "{a:?}");
    // Exactly the measured iterations: none intended in the warm-up is in the results.
    assert_eq!(call.requests, a.recorded, "{a:?}");
    assert_eq!(op(&r, SESSION_SETUP_OP).requests, a.recorded);
    assert!((a.intended as i64 - 600).abs() <= 2, "{a:?}");
    assert!(
        call.latency.p99_ms >= 200.0,
        "tools/call p99 {} ms should carry the stalls",
        call.latency.p99_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_the_target_cannot_serve_is_refused_at_discovery_without_a_hang() {
    let server = Server::start(&["--stateless", "--resources", "0"]);
    for (call, needle) in [
        (
            McpCall::ToolsCall(ToolPick::Named("no_such_tool".into())),
            "no tool named 'no_such_tool'",
        ),
        (McpCall::ResourcesRead, "no resources to read"),
    ] {
        let spec = RunSpec {
            plan: closed_plan(2, 100),
            scenario: mcp_scenario(&server, SessionMode::None, call),
            http: HttpOptions::default(),
            command_line: vec![],
            progress: ProgressMode::Quiet,
            label: "t".into(),
            live: None,
            request_log: None,
        };
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(10), run(spec, std::future::pending()))
            .await
            .expect("refused, not hung")
            .unwrap_err();
        assert!(matches!(err, loadgen::RunError::Target(_)), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_is_down_its_failures_stay_out_of_success_latency_and_users_back_off() {
    let server = Server::start(&["--stateless", "--latency-ms", "20"]);
    let scenario = mcp_scenario(&server, SessionMode::None, McpCall::Ping);
    let mut plan = closed_plan(4, u64::MAX);
    plan.duration = Some(Duration::from_secs(3));
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        drop(server);
    });
    let r = go(plan, scenario).await;
    killer.join().unwrap();
    let ping = op(&r, "ping");
    assert!(ping.failures > 0, "{ping:?}");
    assert!(ping.errors.contains_key("connect"), "{:?}", ping.errors);
    // Refused connections answer in microseconds; the successes took 20 ms each.
    assert!(ping.latency.p50_ms >= 20.0, "{:?}", ping.latency);
    assert!(ping.latency.min_ms >= 19.0, "{:?}", ping.latency);
    // Backing off (10 ms doubling to 1 s, jittered), four users fail a few dozen times in two
    // seconds, not tens of thousands.
    assert!(
        ping.failures < 200,
        "{} failures: no backoff?",
        ping.failures
    );
    let down = r.target_down.as_ref().expect("the target is down");
    assert!(
        down.last_success_secs > 0.5 && down.last_success_secs < 2.0,
        "{down:?}"
    );
    assert!(r.schedule.accounting.balances());
}

/// Every operation of the stateless era, weighted evenly, on one endpoint.
fn stateless_scenario(server: &Server) -> Scenario {
    let calls = [
        McpCall::ToolsCall(ToolPick::Random),
        McpCall::ToolsList,
        McpCall::ResourcesRead,
        McpCall::PromptsGet,
        McpCall::Discover,
    ];
    let mut scenario = mcp_scenario(server, SessionMode::None, McpCall::ToolsList);
    scenario.endpoints[0].transport =
        McpTransport::StreamableHttp(Era::Stateless.protocol(SessionMode::None));
    scenario.tasks = calls
        .into_iter()
        .map(|call| Task {
            name: call.method().into(),
            weight: 1,
            steps: vec![Step::Mcp { endpoint: 0, call }],
        })
        .collect();
    scenario
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stateless_era_keeps_every_header_and_meta_rule_of_the_revision() {
    // bench-server refuses a stateless request whose headers or _meta break a rule (HTTP 400 with
    // the revision's error): zero failures means every request of every kind kept them all.
    let server = Server::start(&["--resources", "3", "--prompts", "3"]);
    let r = go(closed_plan(4, 400), stateless_scenario(&server)).await;
    assert_eq!(r.total.requests, 400);
    assert_eq!(r.total.failures, 0, "{:?}", r.total.errors);
    for call in [
        "tools/call",
        "resources/read",
        "prompts/get",
        "server/discover",
    ] {
        assert!(op(&r, call).requests > 0, "{call} was sent");
    }
    assert!(
        r.operations.iter().all(|o| o.name != SESSION_SETUP_OP),
        "no handshake in the stateless era"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_finds_the_stateless_era_where_it_is_announced_and_the_session_era_elsewhere() {
    let server = Server::start(&[]);
    let (era, why) = loadgen::announced_era(server.mcp_url(), vec![], HttpOptions::default())
        .await
        .unwrap();
    assert_eq!(era, Era::Stateless, "{why}");
    assert!(why.contains("lists 2026-07-28 in server/discover"), "{why}");
    // An endpoint that answers, but not MCP: the session era, with what it answered.
    let health = url::Url::parse(&format!("http://127.0.0.1:{}/health", server.port)).unwrap();
    let (era, why) = loadgen::announced_era(health, vec![], HttpOptions::default())
        .await
        .unwrap();
    assert_eq!(era, Era::Session);
    assert!(why.contains("server/discover at"), "{why}");
    drop(server);
    let gone = loadgen::announced_era(
        url::Url::parse("http://127.0.0.1:1/mcp").unwrap(),
        vec![],
        HttpOptions::default(),
    )
    .await;
    assert!(matches!(gone, Err(loadgen::RunError::Target(_))));
}

/// A steered run (the web UI's): the users are raised and the arrival rate changed mid-run
/// through the `Live` handle, every second reaches the steerer, and an early end drains like an
/// elapsed window — nothing intended goes missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steered_run_takes_its_new_target_and_ends_early_with_everything_accounted_for() {
    let server = Server::start(&[]);
    for (plan, new_target) in [
        (
            Plan {
                model: Model::Closed {
                    users: 2,
                    spawn_rate: 0.0,
                    wait: Wait::Constant { secs: 0.01 },
                },
                stages: vec![],
                duration: Some(Duration::from_secs(60)),
                max_requests: None,
                warmup: Duration::ZERO,
                seed: 42,
            },
            5.0,
        ),
        (open_plan(50.0, 60, 8, 100), 200.0),
    ] {
        let ticks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = ticks.clone();
        let live = loadgen::Live::new(move |tick| seen.lock().unwrap().push(tick));
        let steer = live.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            steer.set_target(new_target);
            tokio::time::sleep(Duration::from_millis(2000)).await;
            steer.end_now();
        });
        let spec = RunSpec {
            plan,
            scenario: mcp_scenario(&server, SessionMode::PerUser, McpCall::Ping),
            http: HttpOptions::default(),
            command_line: vec![],
            progress: ProgressMode::Quiet,
            label: "t".into(),
            live: Some(live.clone()),
            request_log: None,
        };
        let r = run(spec, std::future::pending()).await.unwrap();
        assert!(r.duration_secs < 10.0, "ended at {} s", r.duration_secs);
        assert!(
            r.warnings.iter().any(|w| w.contains("ended early")),
            "{:?}",
            r.warnings
        );
        let a = &r.schedule.accounting;
        assert_eq!(a.intended, a.recorded + a.dropped.total(), "{a:?}");
        assert_eq!(a.dropped.total(), 0, "{a:?}");
        let ticks = ticks.lock().unwrap();
        assert!(ticks.len() >= 3, "{} ticks", ticks.len());
        let last = ticks.last().unwrap();
        assert_eq!(last.point.target, new_target);
        let aggregated = last.operations.last().unwrap();
        assert_eq!(aggregated.name, loadgen::AGGREGATED);
        assert!(aggregated.requests > 0 && aggregated.requests <= r.total.requests);
        // The series the results keep shows the new target too.
        assert!(r.series.iter().any(|p| p.target == new_target));
        assert!(live.has_ended());
    }
}
