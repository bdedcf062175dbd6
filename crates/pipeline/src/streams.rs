//! A streaming plan on every tier (`load-test --profile sse|websocket`): N long-lived
//! connections (`loadgen::stream`) held against the bench server's own legacy SSE endpoint
//! (direct: the reference; bench-server speaks no WebSocket, as MCP defines none), then through
//! the gateway (its virtual server's SSE endpoint, `/ws`), then through nginx in front of it — one tier after
//! another, each between health checks of the services it passes, so a gateway that dies or
//! stalls during its tier cannot pass. The `report` crate judges and writes the run
//! (`report::stream`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cli::signal::StopReceiver;
use loadgen::stream::{StreamMessage, StreamTransport};
use loadgen::threshold::Threshold;
use report::stream::{
    stream_verdict, StreamPlanInfo, StreamRun, StreamTierOutcome, StreamTierRun, STREAM_RUN_SCHEMA,
};
use report::Tier;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};

use crate::cli::LoadTestArgs;
use crate::profile::StreamPlan;
use crate::run::{Event, RunFailure, RunTarget};
use crate::sampler::{RunSampler, Samples};
use crate::targets::Targets;
use crate::tiers::TierEvent;

/// What `load-test` was asked to do with a stream plan, resolved and validated.
pub struct StreamOptions {
    pub plan: StreamPlan,
    pub tiers: Vec<Tier>,
    /// Each scoped to a tier or, unscoped, applied to the gateway's tiers.
    pub thresholds: Vec<Threshold>,
    pub target: RunTarget,
    pub reports_dir: PathBuf,
    pub command_line: Vec<String>,
}

/// The tiers a stream plan runs on, in order.
const STREAM_TIERS: [Tier; 3] = [Tier::Direct, Tier::Gateway, Tier::Nginx];

/// For a connect (to a usable link) and for each reply: past it, a message counts as timed out.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of request profiles that mean nothing to held connections, refused by name.
fn refuse_request_flags(args: &LoadTestArgs, plan: &StreamPlan) -> Result<(), String> {
    let given = [
        ("--users", args.users.is_some()),
        ("--spawn-rate", args.spawn_rate.is_some()),
        ("--rate", args.rate.is_some()),
        ("--eras", args.eras.is_some()),
        ("--mcp-classes", args.mcp_classes.is_some()),
        ("--rest-classes", args.rest_classes.is_some()),
        ("--class-weights", args.class_weights != "locustfile"),
        ("--warmup", args.warmup.is_some()),
        ("--seed", args.seed.is_some()),
        ("--repeat", args.repeat != 1),
        ("--profile-gateway", args.profile_gateway),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(format!(
            "{flag} does not apply to the {} plan: it holds --connections open and sends --message-rate messages on each",
            plan.name
        )),
        None => Ok(()),
    }
}

/// The plan with its flags applied (`--connections`, `--message-rate`, `--duration` or
/// `LOADTEST_RUN_TIME`); the Makefile's user variables are refused rather than ignored.
fn sized(
    mut plan: StreamPlan,
    args: &LoadTestArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<StreamPlan, String> {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(name) = ["LOADTEST_USERS", "LOADTEST_SPAWN_RATE"]
        .into_iter()
        .find(|name| set(name).is_some())
    {
        return Err(format!(
            "{name} does not apply to the {} plan: unset it, and size the plan with --connections",
            plan.name
        ));
    }
    if let Some(n) = args.connections {
        plan.connections = n;
    }
    if let Some(rate) = &args.message_rate {
        plan.message_rate =
            loadgen::parse_rate(rate).map_err(|e| format!("--message-rate: {e}"))?;
    }
    if let Some(time) = args.run_time.clone().or_else(|| set("LOADTEST_RUN_TIME")) {
        plan.duration = loadgen::parse_duration(&time).map_err(|e| e.to_string())?;
    }
    loadgen::stream::check_sizes(plan.connections, plan.message_rate, plan.duration, TIMEOUT)?;
    Ok(plan)
}

/// The plan's SLA column (unless `--no-sla`) and every `--threshold`, parsed; a tier scope
/// must name a tier of the run.
fn thresholds(
    args: &LoadTestArgs,
    plan: &StreamPlan,
    tiers: &[Tier],
) -> Result<Vec<Threshold>, String> {
    let sla = plan.sla.latency_thresholds();
    let sla = if args.no_sla { &[][..] } else { &sla[..] };
    let mut parsed = Vec::new();
    for text in sla
        .iter()
        .copied()
        .chain(args.thresholds.iter().map(String::as_str))
    {
        let threshold = Threshold::parse(text)?;
        if let Some(tier) = threshold.tier.as_deref() {
            if !tiers.iter().any(|t| t.name() == tier) {
                return Err(format!(
                    "threshold '{text}' names tier '{tier}', which this run does not have"
                ));
            }
        }
        parsed.push(threshold);
    }
    Ok(parsed)
}

/// Resolves the flags into a stream run's options: nothing is sent.
pub fn resolve(
    args: &LoadTestArgs,
    plan: StreamPlan,
    env: impl Fn(&str) -> Option<String>,
    bench_server: stack::BenchServerProgram,
    command_line: Vec<String>,
) -> Result<StreamOptions, String> {
    refuse_request_flags(args, &plan)?;
    let plan = sized(plan, args, &env)?;
    let tiers = match &args.tiers {
        Some(named) => crate::tiers::parse_tiers(named)?,
        None => STREAM_TIERS.to_vec(),
    };
    if let Some(tier) = tiers.iter().find(|t| !STREAM_TIERS.contains(t)) {
        return Err(format!(
            "--tiers {tier}: the {} plan runs on direct, gateway and nginx",
            plan.name
        ));
    }
    let thresholds = thresholds(args, &plan, &tiers)?;
    let target = crate::cli::target(
        &args.target,
        false,
        contextforge::settings::AdminUi::Off,
        &env,
        bench_server,
    )?;
    cli::paths::ensure_writable_dir(&args.reports_dir)
        .map_err(|e| format!("--reports-dir: {e}"))?;
    Ok(StreamOptions {
        plan,
        tiers,
        thresholds,
        target,
        reports_dir: args.reports_dir.clone(),
        command_line,
    })
}

/// The message each tier sends: a `tools/call` of the bench server's first tool on the stack
/// (by its federated name through the gateway); `ping` on a gateway this tool did not start,
/// whose tools it does not know.
struct TierMessages {
    direct: StreamMessage,
    gateway: StreamMessage,
}

impl TierMessages {
    fn on_stack(state: &stack::StackState) -> TierMessages {
        let tool = bench_server::benchmark_tool_name(0);
        let backend = contextforge::naming::bench_gateway_name(state.bench_start_port);
        TierMessages {
            gateway: StreamMessage::ToolCall(contextforge::naming::federated_tool_name(
                &backend, &tool,
            )),
            direct: StreamMessage::ToolCall(tool),
        }
    }
}

/// The whole run. `stop` carries the first stop signal; `on` hears progress.
pub async fn run(
    options: StreamOptions,
    stop: StopReceiver,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<StreamRun, RunFailure> {
    let started_at = chrono::Utc::now();
    match &options.target {
        RunTarget::Stack { options: up, keep } => {
            let lease = crate::lease::StackLease::acquire(up, &stop, on).await?;
            let result = async {
                let targets = crate::targets::prepare(lease.state(), false)
                    .await
                    .map_err(RunFailure::Infrastructure)?;
                let messages = TierMessages::on_stack(lease.state());
                let measured = report::Measured::Stack(crate::run::stack_info(&lease));
                let mut notes = Vec::new();
                let meter = stack::usage::Meter::of(lease.state())
                    .await
                    .map_err(|e| notes.push(format!("the stack's services were not sampled: {e}")))
                    .ok();
                let facts = measure(&options, &targets, &messages, meter, notes, &stop, on).await;
                Ok(document(&options, measured, facts, &messages, started_at))
            }
            .await;
            lease.release(*keep, on).await;
            result
        }
        RunTarget::Existing(existing) => {
            let (targets, measured) = crate::targets::existing(existing, false)
                .await
                .map_err(RunFailure::Infrastructure)?;
            let messages = TierMessages {
                direct: StreamMessage::Ping,
                gateway: StreamMessage::Ping,
            };
            let facts = measure(&options, &targets, &messages, None, vec![], &stop, on).await;
            let measured = report::Measured::ExistingGateway(measured);
            Ok(document(&options, measured, facts, &messages, started_at))
        }
    }
}

/// What the tiers measured and what was sampled while they ran.
struct TierFacts {
    tiers: Vec<StreamTierRun>,
    samples: Samples,
    socket_limits: report::SocketLimits,
    notes: Vec<String>,
}

/// How often the stack's services and the host's sockets are read: each second, as the
/// stream's own series.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Each tier in turn, the stack's services (`meter`) and the host's sockets sampled
/// throughout; a tier stopped by a signal skips the rest.
async fn measure(
    options: &StreamOptions,
    targets: &Targets,
    messages: &TierMessages,
    meter: Option<stack::usage::Meter>,
    mut notes: Vec<String>,
    stop: &StopReceiver,
    on: &mut dyn FnMut(Event<'_>),
) -> TierFacts {
    let (sources, socket_limits) = crate::run::sources(meter, &mut notes);
    let first = options.tiers.first().copied().unwrap_or(Tier::Direct);
    let sampler = RunSampler::start(sources, SAMPLE_EVERY, first);
    let mut runs = Vec::new();
    for &tier in &options.tiers {
        sampler.tier_started(tier);
        let url = tier_url(tier, options.plan.transport, targets);
        let target = url
            .as_ref()
            .map_or_else(|_| "-".into(), without_credentials);
        let stopped_by = *stop.borrow();
        let outcome = match (stopped_by, url) {
            (Some(signal), _) => StreamTierOutcome::Skipped {
                reason: format!("stopped by {signal} before this tier"),
            },
            (None, Err(reason)) => StreamTierOutcome::Skipped { reason },
            (None, Ok(url)) => {
                on(Event::Tier(TierEvent::Starting {
                    tier,
                    target: &target,
                }));
                let plan = tier_plan(options, tier, url, targets, messages);
                let outcome = run_tier(tier, plan, targets, stop).await;
                if let Some(results) = match &outcome {
                    StreamTierOutcome::Ran { results } => Some(results),
                    _ => None,
                } {
                    on(Event::Note(results.summary().trim_end()));
                }
                outcome
            }
        };
        if let StreamTierOutcome::Skipped { reason } | StreamTierOutcome::Failed { reason, .. } =
            &outcome
        {
            on(Event::Tier(TierEvent::NotRun {
                tier,
                why: reason.clone(),
            }));
        }
        runs.push(StreamTierRun {
            tier,
            target,
            outcome,
        });
    }
    TierFacts {
        tiers: runs,
        samples: sampler.finish(),
        socket_limits,
        notes,
    }
}

/// The stream's URL on `tier`, or why the tier has none.
fn tier_url(tier: Tier, transport: StreamTransport, targets: &Targets) -> Result<url::Url, String> {
    let path = match transport {
        StreamTransport::Sse => {
            contextforge::naming::virtual_server_sse_path(&targets.virtual_server_id)
        }
        StreamTransport::WebSocket => contextforge::naming::WEBSOCKET_PATH.to_string(),
    };
    let base = match tier {
        Tier::Direct => return direct_url(transport, targets),
        Tier::Gateway => targets.gateway.clone(),
        _ => targets.nginx.clone()?,
    };
    let mut url = base.join(&path).map_err(|e| e.to_string())?;
    if transport == StreamTransport::WebSocket {
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|()| format!("{url}: no WebSocket URL"))?;
    }
    Ok(url)
}

/// The backend's legacy SSE endpoint beside its MCP endpoint (`…/mcp` → `…/sse`, as
/// bench-server and the SDKs' servers serve them).
fn direct_url(transport: StreamTransport, targets: &Targets) -> Result<url::Url, String> {
    let mcp = targets.direct.clone()?;
    match transport {
        StreamTransport::WebSocket => Err(
            "the backend speaks no WebSocket (MCP defines none; the gateway's /ws is its own \
             JSON-RPC relay): the gateway's cost is read against the SSE plan's direct tier"
                .into(),
        ),
        StreamTransport::Sse => match mcp.path().strip_suffix("mcp") {
            Some(dir) => {
                let mut sse = mcp.clone();
                sse.set_path(&format!("{dir}sse"));
                Ok(sse)
            }
            None => Err(format!(
                "the backend's MCP endpoint {mcp} does not end in /mcp: its SSE endpoint is not known"
            )),
        },
    }
}

fn without_credentials(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.to_string()
}

/// The engine's plan for one tier: the gateway's tiers carry the bearer token (marked
/// sensitive, so no debug output shows it).
fn tier_plan(
    options: &StreamOptions,
    tier: Tier,
    url: url::Url,
    targets: &Targets,
    messages: &TierMessages,
) -> loadgen::stream::StreamPlan {
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let message = if tier == Tier::Direct {
        messages.direct.clone()
    } else {
        if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", targets.token)) {
            value.set_sensitive(true);
            headers.push((AUTHORIZATION, value));
        }
        messages.gateway.clone()
    };
    loadgen::stream::StreamPlan {
        transport: options.plan.transport,
        url,
        connections: options.plan.connections,
        message_rate: options.plan.message_rate,
        duration: options.plan.duration,
        message,
        timeout: TIMEOUT,
        headers: Arc::new(headers),
    }
}

/// One tier between health checks of the services it passes: one that does not answer
/// before or after, or a tier that never connected, is a failed tier.
async fn run_tier(
    tier: Tier,
    plan: loadgen::stream::StreamPlan,
    targets: &Targets,
    stop: &StopReceiver,
) -> StreamTierOutcome {
    if let Err(why) = targets.health.check(tier).await {
        return StreamTierOutcome::Failed {
            reason: format!("before the tier: {why}"),
            results: None,
        };
    }
    let results = match loadgen::stream::run(plan, cli::signal::stopped(stop.clone())).await {
        Ok(results) => Box::new(results),
        Err(reason) => {
            return StreamTierOutcome::Failed {
                reason,
                results: None,
            }
        }
    };
    if results.stopped_by.is_some() {
        return StreamTierOutcome::Ran { results };
    }
    let failure = match (results.connect.count, targets.health.check(tier).await) {
        (0, _) => Some(format!(
            "no connection was ever established ({:?})",
            results.connect_failures
        )),
        (_, Err(why)) => Some(format!("during the tier, {why}")),
        (_, Ok(())) => None,
    };
    match failure {
        Some(reason) => StreamTierOutcome::Failed {
            reason,
            results: Some(results),
        },
        None => StreamTierOutcome::Ran { results },
    }
}

/// The run's document: thresholds judged on the tiers that ran (unscoped ones on the
/// gateway's tiers), and the verdict.
fn document(
    options: &StreamOptions,
    measured: report::Measured,
    facts: TierFacts,
    messages: &TierMessages,
    started_at: chrono::DateTime<chrono::Utc>,
) -> StreamRun {
    let TierFacts {
        tiers,
        samples,
        socket_limits,
        mut notes,
    } = facts;
    let sockets = (!samples.sockets.is_empty())
        .then(|| report::HostSockets::new(socket_limits, samples.sockets));
    notes.extend(sockets.iter().flat_map(report::HostSockets::warnings));
    notes.push(format!(
        "each connection sends {} directly and {} through the gateway",
        messages.direct.label(),
        messages.gateway.label()
    ));
    let mut judged = Vec::new();
    for (tier, results) in tiers.iter().filter_map(|t| Some((t, t.ran()?))) {
        for threshold in &options.thresholds {
            let applies = match threshold.tier.as_deref() {
                Some(name) => name == tier.tier.name(),
                None => tier.judged(),
            };
            if applies {
                let mut result = threshold.judge(results.threshold_value(threshold).ok().flatten());
                result.tier = Some(tier.tier.name().into());
                judged.push(result);
            }
        }
    }
    let plan = &options.plan;
    let stopped_by = tiers.iter().find_map(|t| t.measured()?.stopped_by);
    StreamRun {
        schema: STREAM_RUN_SCHEMA.into(),
        run_id: format!("{}-{}", started_at.format("%Y%m%d-%H%M%S"), plan.name),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        command_line: options.command_line.clone(),
        plan: StreamPlanInfo {
            name: plan.name.into(),
            transport: plan.transport,
            connections: plan.connections,
            message_rate: plan.message_rate,
            duration_secs: plan.duration.as_secs_f64(),
            sla_class: plan.sla.name().into(),
        },
        measured,
        verdict: stream_verdict(&tiers, &judged, stopped_by),
        tiers,
        thresholds: judged,
        notes,
        usage_summary: report::summarise_usage(&samples.service_usage),
        service_usage: samples.service_usage,
        sockets,
    }
}

/// Writes the run's files and points `reports/latest` at them; returns the run's directory.
pub fn write_reports(run: &StreamRun, reports_dir: &std::path::Path) -> Result<PathBuf, String> {
    let dir = reports_dir.join(&run.run_id);
    run.write_to_dir(&dir)
        .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    crate::run::link_latest(reports_dir, &run.run_id)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(direct: &str) -> Targets {
        let url = |u: &str| url::Url::parse(u).unwrap();
        Targets {
            direct: Ok(url(direct)),
            gateway: url("http://127.0.0.1:4444/"),
            nginx: Err("no nginx".into()),
            nginx_tls: Err("no nginx".into()),
            virtual_server_id: "abc".into(),
            token: "t".into(),
            entities: Default::default(),
            health: crate::targets::Health {
                backend: None,
                gateway: None,
                nginx: None,
            },
        }
    }

    #[test]
    fn each_tier_addresses_its_own_stream_endpoint() {
        let t = targets("http://127.0.0.1:9000/mcp");
        let url = |tier, transport| tier_url(tier, transport, &t).map(|u| u.to_string());
        assert_eq!(
            url(Tier::Direct, StreamTransport::Sse).unwrap(),
            "http://127.0.0.1:9000/sse"
        );
        assert_eq!(
            url(Tier::Gateway, StreamTransport::Sse).unwrap(),
            format!(
                "http://127.0.0.1:4444/{}",
                contextforge::naming::virtual_server_sse_path("abc")
            )
        );
        assert_eq!(
            url(Tier::Gateway, StreamTransport::WebSocket).unwrap(),
            "ws://127.0.0.1:4444/ws"
        );
        assert!(url(Tier::Direct, StreamTransport::WebSocket)
            .unwrap_err()
            .contains("no WebSocket"));
        assert_eq!(
            url(Tier::Nginx, StreamTransport::Sse).unwrap_err(),
            "no nginx"
        );
        let other = targets("http://10.0.0.5:8000/rpc");
        assert!(tier_url(Tier::Direct, StreamTransport::Sse, &other)
            .unwrap_err()
            .contains("does not end in /mcp"));
    }
}
