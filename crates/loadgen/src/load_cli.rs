//! `cargo xtask load`: the engine on an MCP endpoint from the command line — closed users or an
//! open arrival rate, stages, weighted MCP operations, sessions or churn — writing
//! `results.json`, Locust's CSV set (`locust_*.csv`) and the report views (`report.html`,
//! `report.md`, `junit.xml`), with the workspace's exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use cli::Exit;

use crate::threshold::Threshold;
use crate::{
    parse_duration, parse_rate, parse_stages, parse_url, parse_wait, Arrival, Era, Header,
    HttpOptions, McpCall, McpEndpoint, McpTransport, Model, Plan, ProgressMode, Protocol, RunSpec,
    Scenario, SessionMode, Step, Task, Trust,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TransportArg {
    /// MCP Streamable HTTP (`/mcp`).
    StreamableHttp,
    /// A gateway's JSON-RPC endpoint (`/rpc`), no sessions.
    Rpc,
    /// MCP's legacy HTTP+SSE transport held open (`--connections`): the URL is the stream's
    /// (ContextForge's `/servers/<id>/sse`, bench-server's `/sse`).
    Sse,
    /// JSON-RPC over WebSocket held open (`--connections`): a `ws://` URL (ContextForge's `/ws`).
    Websocket,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SessionArg {
    /// One session per user.
    PerUser,
    /// A new session every iteration (its setup reported as its own operation).
    Churn,
    /// No initialize (stateless servers).
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArrivalArg {
    Constant,
    Poisson,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Plain,
    Quiet,
}

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask load",
    about = "Load an MCP endpoint: closed users or an open arrival rate, honest latency"
)]
pub struct LoadArgs {
    /// The MCP endpoint, e.g. http://127.0.0.1:9000/mcp (or a gateway's /rpc with --transport rpc).
    #[arg(long)]
    pub url: String,
    #[arg(long, value_enum, default_value_t = TransportArg::StreamableHttp)]
    pub transport: TransportArg,
    /// Sessions in the session era (default per-user); the stateless era has none.
    #[arg(long, value_enum)]
    pub session: Option<SessionArg>,
    /// Operations with weights, e.g. `tools/call=8,tools/list=1,ping=1`. tools/call picks tools at
    /// random (`tools/call:NAME` or `tools/call:round-robin` to choose); arguments come from each
    /// tool's inputSchema.
    #[arg(long, default_value = "tools/call")]
    pub ops: String,
    /// MCP revision: `auto` (the stateless era when the target's server/discover lists it, else
    /// the session era, with a note of the choice), `2026-07-28` (stateless), or a session-era
    /// revision to offer in initialize (e.g. 2025-11-25).
    #[arg(long, alias = "protocol-version", default_value = "auto")]
    pub protocol: String,
    /// Header `Name: value` on every request (repeatable; templates allowed).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,

    /// Closed model: concurrent users (default 10 when no --rate).
    #[arg(long, conflicts_with_all = ["rate", "arrival", "max_in_flight", "max_backlog"])]
    pub users: Option<u32>,
    /// Closed model: users started per second (0 = all at once).
    #[arg(long, default_value_t = 0.0)]
    pub spawn_rate: f64,
    /// Closed model: wait between iterations: none, constant(1s), between(1s,3s),
    /// constant_throughput(2), constant_pacing(500ms).
    #[arg(long, default_value = "none")]
    pub wait: String,

    /// sse/websocket: connections held open for the whole run (default 100).
    #[arg(long)]
    pub connections: Option<u32>,
    /// sse/websocket: messages per second on each connection (`--ops ping` or
    /// `tools/call:NAME`), e.g. 1, 0.5, 30/m.
    #[arg(long, default_value = "1")]
    pub message_rate: String,

    /// Open model: arrivals per second (250, 250/s, 15000/m).
    #[arg(long)]
    pub rate: Option<String>,
    #[arg(long, value_enum)]
    pub arrival: Option<ArrivalArg>,
    /// Open model: iterations in flight at once (default: one second of arrivals, 50..10000).
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// Open model: arrivals allowed to wait for a free user before being dropped (default: as
    /// many as --max-in-flight).
    #[arg(long)]
    pub max_backlog: Option<u32>,

    /// Stages `TARGET:DURATION,…` (users, or rates with --rate), ramping linearly, e.g.
    /// `1000:10s,10000:0s,10000:30s,1000:10s`.
    #[arg(long)]
    pub stages: Option<String>,
    /// How long to measure (after warm-up): 30s, 2m, 1h.
    #[arg(short = 'z', long)]
    pub duration: Option<String>,
    /// Stop after this many measured iterations (each one request of the chosen operations;
    /// session setup not counted).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Run this long first and discard it.
    #[arg(long, default_value = "0s")]
    pub warmup: String,
    /// Seed of every random choice (recorded in the results).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Request timeout.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Use HTTP/2.
    #[arg(long)]
    pub h2: bool,
    /// Extra PEM CA certificates to trust (an https target's, e.g. the stack's
    /// `.mcpbench/tls/ca.pem`).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Verify no TLS certificate: any https server is trusted (said on stderr).
    #[arg(long, conflicts_with = "cacert")]
    pub insecure: bool,
    /// A new connection for every request.
    #[arg(long)]
    pub no_keepalive: bool,
    /// Directory for results.json, locust_*.csv, report.html, report.md, junit.xml (default
    /// reports/load-TIMESTAMP).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Pass/fail threshold (repeatable): `p95<300ms`, `p(99.9)<=1s`, `error_rate<0.5%`,
    /// `rps>1000`, scoped as `p95{op=tools/call}<300ms`. Exit 1 when one fails.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
}

/// What `--protocol` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolChoice {
    /// Whatever the target announces (see [`crate::announced_era`]).
    Auto,
    Pinned(Era),
    /// A session-era revision to offer in initialize.
    Offer(String),
}

impl ProtocolChoice {
    pub fn parse(text: &str) -> Result<ProtocolChoice, String> {
        let looks_like_a_revision = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        match text {
            "auto" => Ok(ProtocolChoice::Auto),
            crate::STATELESS_PROTOCOL_VERSION | "stateless" => {
                Ok(ProtocolChoice::Pinned(Era::Stateless))
            }
            "session" => Ok(ProtocolChoice::Pinned(Era::Session)),
            // A newer revision than the engine knows would be spoken wrongly: refuse it.
            t if looks_like_a_revision && t < crate::STATELESS_PROTOCOL_VERSION => {
                Ok(ProtocolChoice::Offer(t.to_string()))
            }
            t => Err(format!(
                "unknown --protocol '{t}': use auto, {} (stateless), or a session-era revision such as 2025-11-25",
                crate::STATELESS_PROTOCOL_VERSION
            )),
        }
    }
}

/// How the endpoint is spoken: `era` (for `--protocol auto`, what the target announced), the
/// sessions `--session` asks for — refused in one line in the stateless era.
fn protocol(
    args: &LoadArgs,
    choice: &ProtocolChoice,
    announced: Option<Era>,
) -> Result<McpTransport, String> {
    if let TransportArg::Rpc | TransportArg::Sse | TransportArg::Websocket = args.transport {
        return match choice {
            ProtocolChoice::Pinned(Era::Stateless) => Err(
                "--transport rpc has no protocol era: --protocol 2026-07-28 applies to Streamable HTTP".into(),
            ),
            _ => Ok(McpTransport::JsonRpc),
        };
    }
    let session = match args.session {
        None | Some(SessionArg::PerUser) => SessionMode::PerUser,
        Some(SessionArg::Churn) => SessionMode::PerIteration,
        Some(SessionArg::None) => SessionMode::None,
    };
    let (era, offered) = match choice {
        ProtocolChoice::Offer(v) => (Era::Session, v.clone()),
        ProtocolChoice::Pinned(era) => (*era, crate::DEFAULT_PROTOCOL_VERSION.to_string()),
        ProtocolChoice::Auto => (
            announced.unwrap_or(Era::Session),
            crate::DEFAULT_PROTOCOL_VERSION.to_string(),
        ),
    };
    match (era, args.session) {
        (Era::Stateless, Some(s)) => Err(format!(
            "--session {} does not apply to the {}: it has no sessions",
            s.to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string()),
            Era::Stateless.describe()
        )),
        (Era::Stateless, None) => Ok(McpTransport::StreamableHttp(Protocol::Stateless)),
        (Era::Session, _) => Ok(McpTransport::StreamableHttp(Protocol::Session {
            offered,
            session,
        })),
    }
}

/// The engine's inputs for these flags, or a one-line reason they are wrong. `announced`: the
/// era the target announced, when `--protocol auto` asked it.
pub fn build(
    args: &LoadArgs,
    announced: Option<Era>,
) -> Result<(Plan, Scenario, HttpOptions, Vec<Threshold>), String> {
    let url = parse_url(&args.url)?;
    if matches!(args.transport, TransportArg::Sse | TransportArg::Websocket) {
        return Err("--transport sse/websocket runs a stream plan (crate::stream)".into());
    }
    if args.connections.is_some() {
        return Err(
            "--connections applies to --transport sse or websocket (held connections)".into(),
        );
    }
    let transport = protocol(args, &ProtocolChoice::parse(&args.protocol)?, announced)?;
    let mut tasks = Vec::new();
    for part in args.ops.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = match part.rsplit_once('=') {
            Some((n, w)) => (
                n,
                w.parse::<u32>()
                    .map_err(|_| format!("invalid weight in '{part}': use OP=WHOLE_NUMBER"))?,
            ),
            None => (part, 1),
        };
        let call = McpCall::parse(name)?;
        tasks.push(Task {
            name: name.to_string(),
            weight,
            steps: vec![Step::Mcp { endpoint: 0, call }],
        });
    }
    let headers = args
        .headers
        .iter()
        .map(|h| Header::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    let scenario = Scenario {
        name: "load".into(),
        tasks,
        endpoints: vec![McpEndpoint {
            url,
            transport,
            headers,
        }],
        classes: vec![],
    };
    scenario.validate()?;

    let stages = args
        .stages
        .as_deref()
        .map(parse_stages)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let model = match &args.rate {
        Some(rate) => {
            let rate = parse_rate(rate).map_err(|e| e.to_string())?;
            let peak = stages.iter().map(|s| s.target).fold(rate, f64::max);
            let max_in_flight = args
                .max_in_flight
                .unwrap_or((peak.ceil() as u32).clamp(50, 10_000));
            Model::Open {
                rate,
                arrival: match args.arrival.unwrap_or(ArrivalArg::Constant) {
                    ArrivalArg::Constant => Arrival::Constant,
                    ArrivalArg::Poisson => Arrival::Poisson,
                },
                max_in_flight,
                max_backlog: args.max_backlog.unwrap_or(max_in_flight),
            }
        }
        None => Model::Closed {
            users: args.users.unwrap_or(10),
            spawn_rate: args.spawn_rate,
            wait: parse_wait(&args.wait).map_err(|e| e.to_string())?,
        },
    };
    let plan = Plan {
        model,
        stages,
        duration: args
            .duration
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| e.to_string())?,
        max_requests: args.requests,
        warmup: parse_duration(&args.warmup).map_err(|e| e.to_string())?,
        seed: args.seed,
    };
    plan.validate().map_err(|e| e.to_string())?;
    let timeout = parse_duration(&args.timeout).map_err(|e| e.to_string())?;
    if timeout.is_zero() {
        return Err("--timeout must be longer than zero: every request has a timeout".into());
    }
    let http = HttpOptions {
        http2: args.h2,
        timeout,
        keep_alive: !args.no_keepalive,
        trust: Trust::from_flags(args.cacert.as_deref(), args.insecure),
        ..HttpOptions::default()
    };
    let thresholds = Threshold::parse_for_plain_run(&args.thresholds, &scenario)?;
    Ok((plan, scenario, http, thresholds))
}

/// For `--protocol auto` on Streamable HTTP: the era the target announces, with the choice noted
/// in one line on stdout.
fn announce(args: &LoadArgs) -> Result<Option<Era>, (Exit, String)> {
    let usage = |m: String| (Exit::Usage, m);
    let auto = ProtocolChoice::parse(&args.protocol).map_err(usage)? == ProtocolChoice::Auto;
    if !auto || !matches!(args.transport, TransportArg::StreamableHttp) {
        return Ok(None);
    }
    if let Some(why) = asks_for_sessions(args) {
        println!(
            "load: protocol auto: the {}, as {why}",
            Era::Session.describe()
        );
        return Ok(Some(Era::Session));
    }
    let url = parse_url(&args.url).map_err(usage)?;
    let headers = args
        .headers
        .iter()
        .map(|h| Header::parse(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let http = HttpOptions {
        http2: args.h2,
        trust: Trust::from_flags(args.cacert.as_deref(), args.insecure),
        ..HttpOptions::default()
    };
    let runtime = crate::runtime().map_err(|e| {
        (
            Exit::Infrastructure,
            format!("cannot start the async runtime: {e}"),
        )
    })?;
    let (era, why) = runtime
        .block_on(crate::announced_era(url, headers, http))
        .map_err(|e| match e {
            crate::RunError::Config(m) => (Exit::Usage, m),
            crate::RunError::Target(m) => (Exit::Infrastructure, m),
        })?;
    println!("load: protocol auto: the {}, as {why}", era.describe());
    Ok(Some(era))
}

/// Why the flags can only mean the session era (an explicit `--session`, or `ping`, which the
/// stateless era removed), if they do.
fn asks_for_sessions(args: &LoadArgs) -> Option<String> {
    if let Some(session) = args.session.and_then(|s| s.to_possible_value()) {
        return Some(format!(
            "--session {} asks for sessions",
            session.get_name()
        ));
    }
    let op_names = args
        .ops
        .split(',')
        .map(|p| p.split('=').next().unwrap_or("").trim());
    op_names
        .into_iter()
        .any(|op| McpCall::parse(op) == Ok(McpCall::Ping))
        .then(|| "--ops has ping, which only the session era has".to_string())
}

impl From<ProgressArg> for ProgressMode {
    fn from(arg: ProgressArg) -> ProgressMode {
        match arg {
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::Plain => ProgressMode::Plain,
            ProgressArg::Quiet => ProgressMode::Quiet,
        }
    }
}

/// The whole `load` command. `args[0]` is the program name; `views` writes the report views
/// into the run's directory.
pub fn main_with_args(args: Vec<String>, views: crate::WriteViews) -> ExitCode {
    let parsed: LoadArgs = match cli::args::parse("load", &args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let streaming = matches!(
        parsed.transport,
        TransportArg::Sse | TransportArg::Websocket
    );
    if streaming {
        if let Err(m) = crate::stream::plan_from_args(&parsed) {
            return Exit::Usage.fail("load", &m);
        }
    }
    // Every flag is checked before the target is asked anything (for `--protocol auto`, valid
    // in one era or the other).
    let checked = if streaming {
        Ok(())
    } else {
        build(&parsed, None)
            .or_else(|e| build(&parsed, Some(Era::Stateless)).map_err(|_| e))
            .map(|_| ())
    };
    if let Err(m) = checked {
        return Exit::Usage.fail("load", &m);
    }
    let out = parsed.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "load-{}",
            chrono::Local::now().format("%Y%m%d_%H%M%S")
        ))
    });
    if let Err(m) = cli::paths::ensure_writable_dir(&out) {
        return Exit::Usage.fail("load", &format!("--out: {m}"));
    }
    if streaming {
        return crate::stream::load_main(&parsed, &out);
    }
    let announced = match announce(&parsed) {
        Ok(a) => a,
        Err((exit, m)) => return exit.fail("load", &m),
    };
    let (plan, scenario, http, thresholds) = match build(&parsed, announced) {
        Ok(b) => b,
        Err(m) => return Exit::Usage.fail("load", &m),
    };
    let spec = RunSpec {
        plan,
        scenario,
        http,
        command_line: cli::redact::redact_command_line(&args),
        progress: parsed.progress.into(),
        label: "load".into(),
        live: None,
        request_log: None,
    };
    let mut results = match crate::command::run_until_stopped("load", spec, None) {
        Ok(r) => r,
        Err((exit, m)) => return exit.fail("load", &m),
    };
    results.thresholds = thresholds.iter().map(|t| t.evaluate(&results)).collect();
    print!("{}", crate::summary::summary(&results));
    if let Err(e) = results.write_to_dir(&out) {
        return Exit::Infrastructure.fail(
            "load",
            &format!("cannot write results to {}: {e}", out.display()),
        );
    }
    let json = out.join("results.json");
    println!("results: {}", json.display());
    match views(&results, &json) {
        Ok(html) => println!("report: {}", html.display()),
        Err(e) => return Exit::Infrastructure.fail("load", &e),
    }
    crate::command::outcome(&results).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> LoadArgs {
        LoadArgs::try_parse_from(
            ["load", "--url", "http://127.0.0.1:9000/mcp"]
                .iter()
                .chain(extra),
        )
        .unwrap()
    }

    #[test]
    fn rate_selects_the_open_model_and_users_the_closed_one() {
        let (plan, ..) = build(&args(&["--rate", "500", "-z", "10s"]), None).unwrap();
        assert!(matches!(
            plan.model,
            Model::Open {
                rate: 500.0,
                max_in_flight: 500,
                max_backlog: 500,
                ..
            }
        ));
        let (plan, scenario, ..) = build(
            &args(&["--users", "4", "-n", "100", "--ops", "tools/call=8,ping=2"]),
            None,
        )
        .unwrap();
        assert!(matches!(plan.model, Model::Closed { users: 4, .. }));
        assert_eq!(
            scenario.tasks.iter().map(|t| t.weight).collect::<Vec<_>>(),
            [8, 2]
        );
        assert!(LoadArgs::try_parse_from([
            "load",
            "--url",
            "http://x/",
            "--users",
            "2",
            "--rate",
            "5"
        ])
        .is_err());
    }

    #[test]
    fn cacert_and_insecure_choose_the_trust_and_exclude_each_other() {
        let trust = |extra: &[&str]| {
            let (_, _, http, _) = build(&args(&[&["-z", "1s"], extra].concat()), None).unwrap();
            http.trust
        };
        assert_eq!(trust(&[]), Trust::WebRoots);
        assert_eq!(
            trust(&["--cacert", "ca.pem"]),
            Trust::WithCa(PathBuf::from("ca.pem"))
        );
        assert_eq!(trust(&["--insecure"]), Trust::Insecure);
        let both = [
            "load",
            "--url",
            "https://x/",
            "--cacert",
            "ca.pem",
            "--insecure",
        ];
        assert!(LoadArgs::try_parse_from(both).is_err());
    }

    #[test]
    fn malformed_values_name_themselves() {
        for (extra, needle) in [
            (vec!["--ops", "tools/lst", "-z", "1s"], "tools/lst"),
            (vec!["--ops", "ping=x", "-z", "1s"], "ping=x"),
            (vec!["--wait", "sometimes", "-z", "1s"], "sometimes"),
            (vec!["--rate", "lots", "-z", "1s"], "lots"),
            (vec!["--stages", "10-5s"], "10-5s"),
            (vec![], "every run must end"),
            (vec!["-z", "0s"], "longer than zero"),
            (
                vec!["-z", "1s", "--timeout", "0s"],
                "--timeout must be longer than zero",
            ),
        ] {
            let err = build(&args(&extra), None).unwrap_err();
            assert!(err.contains(needle), "{extra:?}: {err}");
        }
    }

    #[test]
    fn the_protocol_flag_picks_the_era_and_refuses_sessions_in_the_stateless_one() {
        let era = |extra: &[&str], announced| {
            build(&args(&[&["-z", "1s"], extra].concat()), announced)
                .map(|(_, s, ..)| s.endpoints[0].transport.clone())
        };
        assert_eq!(
            era(&["--protocol", "2026-07-28"], None).unwrap(),
            McpTransport::StreamableHttp(Protocol::Stateless)
        );
        assert_eq!(
            era(&[], Some(Era::Stateless)).unwrap(),
            McpTransport::StreamableHttp(Protocol::Stateless),
            "auto takes what the target announced"
        );
        assert_eq!(
            era(&["--protocol", "2024-11-05", "--session", "churn"], None).unwrap(),
            McpTransport::StreamableHttp(Protocol::Session {
                offered: "2024-11-05".into(),
                session: SessionMode::PerIteration
            })
        );
        let err = era(&["--protocol", "2026-07-28", "--session", "churn"], None).unwrap_err();
        assert_eq!(
            err,
            "--session churn does not apply to the stateless era (2026-07-28): it has no sessions"
        );
        let err = era(&["--session", "per-user"], Some(Era::Stateless)).unwrap_err();
        assert!(err.contains("--session per-user does not apply"), "{err}");
        let err = era(&["--protocol", "2026-07-28", "--ops", "ping"], None).unwrap_err();
        assert_eq!(err, "ping does not exist in the stateless era (2026-07-28)");
        for bad in ["2099-01-01", "latest", "2025-1-25"] {
            let err = era(&["--protocol", bad], None).unwrap_err();
            assert!(
                err.starts_with(&format!("unknown --protocol '{bad}'")),
                "{err}"
            );
        }
    }
}
