//! A run from start to end: validate (nothing sent), probe and discover the target, run the
//! executor while the collector keeps time, drain, and assemble the results.
//!
//! How a run ends decides what happens to the requests still under way:
//! - the window elapsed or the request budget was spent: nothing new starts; arrivals already
//!   waiting (intended inside the window) and requests in flight finish — the drain waits up to
//!   the request timeout, and a request still unanswered then is recorded as a timeout with its
//!   latency so far;
//! - a stop signal: nothing new starts, waiting arrivals are dropped, requests in flight get a
//!   short grace and are then abandoned (counted as aborted in flight).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{HttpOptions, Tls};
use crate::collector::{self, Ended};
use crate::context::{Phase, RunContext, Window, Wire};
use crate::live::Live;
use crate::plan::{Model, Plan};
use crate::progress::{Progress, ProgressMode};
use crate::recorder::{OpStats, Recorder};
use crate::request_log::RequestLog;
use crate::results::{
    Environment, LoadModel, OperationResult, RunResults, SeriesPoint, TargetDown, AGGREGATED,
    SCHEMA,
};
use crate::scenario::{
    Era, Header, McpCall, McpEndpoint, McpTransport, Protocol, Scenario, Step, Task,
};

/// Requests in flight when a stop signal arrives get this long to finish.
pub const HALT_GRACE: Duration = Duration::from_secs(5);
/// A target whose last response is this far before the end, with connections failing since,
/// is down.
const DOWN_AFTER: Duration = Duration::from_secs(1);

/// A runtime sized to the CPUs this process may use: single-threaded when pinned to one core
/// (cheaper than one worker thread plus a separate driver), multi-threaded otherwise.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    runtime_with_workers(None)
}

/// A runtime with `workers` threads when given (Locust's worker processes, `LOADTEST_PROCESSES`),
/// else sized like [`runtime`]. One worker is the single-threaded runtime.
pub fn runtime_with_workers(workers: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let workers =
        workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut multi = tokio::runtime::Builder::new_multi_thread();
        multi.worker_threads(workers);
        multi
    };
    builder.enable_all().build()
}

/// Everything a run needs.
pub struct RunSpec {
    pub plan: Plan,
    pub scenario: Scenario,
    pub http: HttpOptions,
    pub command_line: Vec<String>,
    pub progress: ProgressMode,
    /// Shown before the progress line.
    pub label: String,
    /// A steerer (the web UI): the load target changed and the window ended while the run goes,
    /// a view of it once a second.
    pub live: Option<Live>,
    /// hey's per-request CSV: a row per measured request that got a response, as it finishes.
    pub request_log: Option<Arc<RequestLog>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plan or scenario is wrong: nothing was sent.
    #[error("{0}")]
    Config(String),
    /// The target could not be reached, discovered, or cannot serve what the scenario asks.
    #[error("{0}")]
    Target(String),
}

/// Validates, probes and discovers, runs, and returns the results. `stop` resolving (a signal)
/// halts the run; the results then say which signal.
pub async fn run(
    spec: RunSpec,
    stop: impl Future<Output = cli::Signal>,
) -> Result<RunResults, RunError> {
    let RunSpec {
        plan,
        scenario,
        http,
        command_line,
        progress,
        label,
        live,
        request_log,
    } = spec;
    let config = serde_json::json!({"plan": plan, "http": http, "scenario": scenario.describe()});
    let wire = prepare(&plan, scenario, http)?;
    crate::discovery::probe_origins(&wire)
        .await
        .map_err(RunError::Target)?;
    let catalogs = crate::discovery::discover_all(&wire)
        .await
        .map_err(RunError::Target)?;

    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let recorder = Recorder::new(wire.scenario.operation_names(), workers);
    let start = Instant::now();
    let window = Window {
        measured_from: start + plan.warmup,
        end: plan.measured_duration().map(|d| start + plan.warmup + d),
    };
    // The open model's schedule spends the budget itself (one arrival each).
    let budget = match plan.model {
        Model::Closed { .. } => plan.max_requests,
        Model::Open { .. } => None,
    };
    let mut ctx = RunContext::new(wire, catalogs, recorder, window, budget);
    ctx.steering = live.as_ref().map(Live::steering);
    ctx.request_log = request_log;
    let ctx = Arc::new(ctx);
    let cpu_at_start = crate::limits::process_cpu_seconds();
    let mut executor = tokio::spawn(crate::executor::execute(ctx.clone(), plan.clone(), start));
    let mut progress = Progress::new(progress, &label);
    tokio::pin!(stop);
    let (mut series, ended) = collector::collect(
        &ctx,
        &plan,
        start,
        &mut executor,
        stop.as_mut(),
        &mut progress,
        live.as_ref(),
    )
    .await;
    let stopped_at = Instant::now();
    let ended_early = (ended == Ended::Steered)
        .then(|| stopped_at.saturating_duration_since(window.measured_from));
    let stopped_by = finish(&ctx, ended, executor, stop, &mut progress).await;
    progress.finish();

    let measured_end = window.end.map_or(stopped_at, |e| e.min(stopped_at));
    let duration = measured_end.saturating_duration_since(window.measured_from);
    // The last, partial second, with what the drain completed.
    let tail = ctx.recorder.take_interval();
    if tail.iter().any(|i| i.requests > 0) && stopped_at > window.measured_from {
        let point = collector::point(&plan, duration, &ctx, 0, &tail);
        collector::append_tail(&mut series, point);
    }
    let cpu = crate::limits::process_cpu_seconds() - cpu_at_start;
    let wall = stopped_at.saturating_duration_since(start).as_secs_f64();
    let utilisation = if wall > 0.1 {
        cpu / (wall * workers.max(1) as f64)
    } else {
        0.0
    };
    let facts = Facts {
        plan: &plan,
        config,
        command_line,
        duration,
        measured_end,
        stopped_by,
        series,
        utilisation,
        workers,
        ended_early,
    };
    Ok(assemble(&ctx, facts))
}

/// The MCP era the endpoint at `url` announces (`--protocol auto`): the stateless one when a
/// stateless `server/discover` lists its revision, else the session era; with the reason, in a
/// line. An endpoint that cannot be reached at all is a target error.
pub async fn announced_era(
    url: url::Url,
    headers: Vec<Header>,
    http: HttpOptions,
) -> Result<(Era, String), RunError> {
    let scenario = Scenario {
        name: "era probe".into(),
        tasks: vec![Task {
            name: "discover".into(),
            weight: 1,
            steps: vec![Step::Mcp {
                endpoint: 0,
                call: McpCall::Discover,
            }],
        }],
        endpoints: vec![McpEndpoint {
            url,
            transport: McpTransport::StreamableHttp(Protocol::Stateless),
            headers,
        }],
        classes: vec![],
    };
    let plan = Plan {
        model: Model::Closed {
            users: 1,
            spawn_rate: 0.0,
            wait: crate::plan::Wait::None,
        },
        stages: vec![],
        duration: None,
        max_requests: Some(1),
        warmup: Duration::ZERO,
        seed: 1,
    };
    let wire = prepare(&plan, scenario, http)?;
    crate::discovery::probe_origins(&wire)
        .await
        .map_err(RunError::Target)?;
    Ok(crate::discovery::announced_era(&wire).await)
}

/// Checks the plan and scenario and builds the wire: nothing is sent yet.
fn prepare(plan: &Plan, scenario: Scenario, http: HttpOptions) -> Result<Wire, RunError> {
    let config = |m: String| RunError::Config(m);
    plan.validate().map_err(|e| config(e.to_string()))?;
    scenario.validate().map_err(config)?;
    if http.timeout.is_zero() {
        return Err(config(
            "the request timeout must be longer than zero".into(),
        ));
    }
    let origins: std::collections::BTreeSet<String> = scenario
        .endpoints
        .iter()
        .map(|e| &e.url)
        .chain(
            scenario
                .tasks
                .iter()
                .flat_map(|t| &t.steps)
                .filter_map(|s| match s {
                    Step::Http(h) => Some(&h.url),
                    Step::Mcp { .. } => None,
                }),
        )
        .map(|u| u.origin().ascii_serialization())
        .collect();
    crate::limits::check_descriptors(max_users(plan) * origins.len() as u64).map_err(config)?;
    let tls = if origins.iter().any(|o| o.starts_with("https:")) {
        Some(Tls::new(&http).map_err(config)?)
    } else {
        None
    };
    let operations = scenario.operation_names();
    Wire::new(scenario, &operations, http, tls, plan.seed).map_err(config)
}

/// Ends the run as `ended` asks: drains (up to the drain deadline, a stop signal cutting it
/// short) or halts (a grace, then in-flight iterations are abandoned). Returns the signal that
/// stopped the run, if one did.
async fn finish(
    ctx: &RunContext,
    ended: Ended,
    mut executor: tokio::task::JoinHandle<()>,
    stop: std::pin::Pin<&mut impl Future<Output = cli::Signal>>,
    progress: &mut Progress,
) -> Option<cli::Signal> {
    let signal = match ended {
        Ended::ExecutorFinished => return None,
        Ended::Stopped(signal) => signal,
        Ended::WindowElapsed | Ended::Steered => {
            ctx.enter(Phase::Draining);
            // Every request ends by the drain deadline (its own timeout, or the cut at the
            // deadline); the margin covers the judging and recording after it.
            let deadline = ctx
                .drain_deadline
                .unwrap_or_else(|| Instant::now() + ctx.wire.http.timeout)
                + Duration::from_secs(1);
            let mut stop = stop;
            let mut told = false;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                        abandon(executor).await;
                        return None;
                    }
                    _ = &mut executor => return None,
                    signal = stop.as_mut() => break signal,
                    // Said only when the drain takes a while: a slow target is still answering.
                    _ = tokio::time::sleep(Duration::from_secs(1)), if !told => {
                        told = true;
                        progress.draining(ctx.drain_deadline);
                    }
                }
            }
        }
    };
    ctx.enter(Phase::Halted);
    let grace = HALT_GRACE.min(ctx.wire.http.timeout);
    if tokio::time::timeout(grace, &mut executor).await.is_err() {
        abandon(executor).await;
    }
    Some(signal)
}

/// Stops the executor where it is: the iterations it had in flight are never recorded (the
/// ledger counts them as aborted in flight).
async fn abandon(executor: tokio::task::JoinHandle<()>) {
    executor.abort();
    let _ = executor.await;
}

/// What the run knows at its end besides the context.
struct Facts<'a> {
    plan: &'a Plan,
    config: serde_json::Value,
    command_line: Vec<String>,
    duration: Duration,
    measured_end: Instant,
    stopped_by: Option<cli::Signal>,
    series: Vec<SeriesPoint>,
    utilisation: f64,
    workers: usize,
    /// The steerer ended the window this far into it.
    ended_early: Option<Duration>,
}

fn assemble(ctx: &RunContext, f: Facts<'_>) -> RunResults {
    let duration_secs = f.duration.as_secs_f64();
    let totals = ctx.recorder.totals();
    let operations: Vec<OperationResult> = ctx
        .recorder
        .ops()
        .iter()
        .zip(&totals)
        .map(|(name, stats)| OperationResult::from_stats(name, stats, duration_secs))
        .collect();
    let mut all = OpStats::default();
    for s in &totals {
        all.merge(s);
    }
    let model = match f.plan.model {
        Model::Closed { .. } => LoadModel::Closed,
        Model::Open { .. } => LoadModel::Open,
    };
    let schedule = ctx.ledger.report(model == LoadModel::Open, f.utilisation);
    let mut warnings = Vec::new();
    if f.utilisation > 0.9 {
        warnings.push(format!(
            "the generator used {:.0}% of its {} worker thread(s): it may be the bottleneck, not the target",
            f.utilisation * 100.0,
            f.workers
        ));
    }
    if let Some(at) = f.ended_early {
        warnings.push(format!(
            "ended early by its steerer after {:.1} s of the window: the figures cover the run until then",
            at.as_secs_f64()
        ));
    }
    if let Some(signal) = f.stopped_by {
        warnings.push(format!(
            "stopped by {signal}: the figures cover the run until then"
        ));
    }
    let to_rfc = rfc3339_of();
    RunResults {
        schema: SCHEMA.into(),
        tool: "mcpbench".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: to_rfc(ctx.window.measured_from),
        finished_at: to_rfc(f.measured_end),
        duration_secs,
        warmup_secs: f.plan.warmup.as_secs_f64(),
        stopped_by: f.stopped_by,
        command_line: f.command_line,
        seed: f.plan.seed,
        model,
        config: f.config,
        environment: Environment::capture(),
        schedule,
        target_down: target_down(ctx, f.measured_end),
        total: OperationResult::from_stats(AGGREGATED, &all, duration_secs),
        operations,
        series: f.series,
        warnings,
        thresholds: vec![],
    }
}

/// Wall-clock time of an `Instant` of this run, as RFC 3339.
fn rfc3339_of() -> impl Fn(Instant) -> String {
    let (now, now_instant) = (chrono::Utc::now(), Instant::now());
    move |t: Instant| {
        let ago = now_instant.saturating_duration_since(t);
        (now - chrono::Duration::from_std(ago).unwrap_or_default())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// The target is down when connections to it failed after its last successful response and
/// that response (or the window's start, if none came) is at least [`DOWN_AFTER`] before the
/// end of the window.
fn target_down(ctx: &RunContext, end: Instant) -> Option<TargetDown> {
    let contact = ctx.recorder.contact();
    let failed_at = contact.last_connect_failure?;
    let answered_at = contact.last_success.unwrap_or(ctx.window.measured_from);
    if failed_at < answered_at || end.saturating_duration_since(answered_at) < DOWN_AFTER {
        return None;
    }
    let last_success_secs = contact.last_success.map_or(0.0, |t| {
        t.saturating_duration_since(ctx.window.measured_from)
            .as_secs_f64()
    });
    let reason = match contact.last_success {
        Some(_) => format!(
            "the target stopped accepting connections: no successful response after {last_success_secs:.1} s, connections failing since"
        ),
        None => "the target accepted no connection for the whole run".to_string(),
    };
    Some(TargetDown {
        last_success_secs,
        reason,
    })
}

/// The most users (or in-flight iterations) the plan can have at once: each needs connections.
fn max_users(plan: &Plan) -> u64 {
    match plan.model {
        Model::Closed { users, .. } => plan
            .stages
            .iter()
            .map(|s| s.target.ceil() as u64)
            .chain([u64::from(users)])
            .max()
            .unwrap_or(1),
        Model::Open { max_in_flight, .. } => u64::from(max_in_flight),
    }
}
