//! The executors: closed users (spawned at a rate, each looping iteration → wait) and open
//! arrivals (a schedule on its own thread hands intended start times to a fixed pool of virtual
//! users). Also warm-up, limits, the per-second collector, Ctrl-C drain and the saturation verdict.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::client::{HttpOptions, Tls};
use crate::plan::{Arrival, Model, Plan, Wait};
use crate::progress::{Progress, ProgressMode, Snapshot};
use crate::recorder::Recorder;
use crate::results::{
    Environment, OperationResult, RunResults, Saturation, SeriesOp, SeriesPoint, SCHEMA,
};
use crate::scenario::{McpCall, Scenario, Step};
use crate::vu::{discover, Next, RunContext, VirtualUser};

/// An iteration that starts this long after its intended time is a late start.
pub const LATE_START: Duration = Duration::from_millis(10);
/// More than this share of late starts in an open model means the generator fell behind.
pub const LATE_SHARE_SATURATED: f64 = 0.01;

/// A runtime sized to the CPUs this process may use: single-threaded when pinned to one core
/// (cheaper than one worker thread plus a separate driver), multi-threaded otherwise.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
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
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plan or scenario is wrong: nothing was sent.
    #[error("{0}")]
    Config(String),
    /// The target could not be reached or discovered before the run.
    #[error("{0}")]
    Infrastructure(String),
}

/// Counters the executors share with the collector.
#[derive(Default)]
struct Schedule {
    scheduled: AtomicU64,
    late_starts: AtomicU64,
    queued_starts: AtomicU64,
    dropped: AtomicU64,
    max_lag_us: AtomicU64,
    active: AtomicU64,
}

impl Schedule {
    /// An iteration starts. `queued`: it had to wait for a free user, so lateness is the
    /// target's doing, not the generator's.
    fn note_start(&self, intended: Instant, measured: bool, queued: bool) {
        let lag = Instant::now().saturating_duration_since(intended);
        if measured {
            self.scheduled.fetch_add(1, Ordering::Relaxed);
            if queued {
                self.queued_starts.fetch_add(1, Ordering::Relaxed);
            } else if lag > LATE_START {
                self.late_starts.fetch_add(1, Ordering::Relaxed);
            }
            self.max_lag_us
                .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
        }
    }
}

/// Validates, discovers, runs, and returns the results. `interrupt` resolving (Ctrl-C) stops
/// the schedule; in-flight requests get `plan.drain` to finish and the results are marked.
pub async fn run(
    spec: RunSpec,
    interrupt: impl Future<Output = ()>,
) -> Result<RunResults, RunError> {
    let RunSpec {
        plan,
        scenario,
        http,
        command_line,
        progress,
        label,
    } = spec;
    plan.validate()
        .map_err(|e| RunError::Config(e.to_string()))?;
    scenario.validate().map_err(RunError::Config)?;
    let connections_per_user = {
        let mut origins: Vec<String> = scenario
            .endpoints
            .iter()
            .map(|e| e.url.origin().ascii_serialization())
            .collect();
        origins.extend(
            scenario
                .tasks
                .iter()
                .flat_map(|t| &t.steps)
                .filter_map(|s| match s {
                    Step::Http(h) => Some(h.url.origin().ascii_serialization()),
                    _ => None,
                }),
        );
        origins.sort();
        origins.dedup();
        origins.len() as u64
    };
    crate::limits::check_descriptors(max_users(&plan) * connections_per_user)
        .map_err(RunError::Config)?;
    let uses_tls = scenario.endpoints.iter().any(|e| e.url.scheme() == "https")
        || scenario
            .tasks
            .iter()
            .flat_map(|t| &t.steps)
            .any(|s| matches!(s, Step::Http(h) if h.url.scheme() == "https"));
    let tls = if uses_tls {
        Some(Tls::new(&http).map_err(RunError::Config)?)
    } else {
        None
    };

    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let recorder = Recorder::new(scenario.operation_names(), workers);
    let config = serde_json::json!({"plan": plan, "http": http, "scenario": scenario.describe()});
    let mut ctx = RunContext::new(scenario, recorder, http, tls, plan.seed, plan.max_requests)
        .map_err(RunError::Config)?;
    for endpoint in 0..ctx.scenario.endpoints.len() {
        let needed = ctx.scenario.tasks.iter().flat_map(|t| &t.steps).any(|s| {
            matches!(s, Step::Mcp { endpoint: e, call } if *e == endpoint
                && matches!(call, McpCall::ToolsCall(_) | McpCall::ResourcesRead | McpCall::PromptsGet))
        });
        if needed {
            ctx.catalogs[endpoint] = discover(&ctx, endpoint)
                .await
                .map_err(RunError::Infrastructure)?;
        }
    }

    let start = Instant::now();
    ctx.measured_from = start + plan.warmup;
    let ctx = Arc::new(ctx);
    let schedule = Arc::new(Schedule::default());
    let cpu_at_start = crate::limits::process_cpu_seconds();
    let end = plan.measured_duration().map(|d| ctx.measured_from + d);

    let executor = {
        let (ctx, schedule, plan) = (ctx.clone(), schedule.clone(), plan.clone());
        tokio::spawn(async move {
            match plan.model {
                Model::Closed { .. } => run_closed(ctx, schedule, plan, start).await,
                Model::Open { .. } => run_open(ctx, schedule, plan, start).await,
            }
        })
    };

    let mut progress = Progress::new(progress, &label);
    let mut series = Vec::new();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(start + Duration::from_secs(1)),
        Duration::from_secs(1),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(interrupt);
    let mut interrupted = false;
    let mut executor = executor;
    let mut executor_done = false;
    let mut cpu_at_measured = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                if now >= ctx.measured_from && cpu_at_measured.is_none() {
                    cpu_at_measured = Some(crate::limits::process_cpu_seconds());
                }
                let interval = ctx.recorder.take_interval();
                let warming_up = now < ctx.measured_from;
                let since = now.saturating_duration_since(ctx.measured_from);
                if !warming_up {
                    series.push(series_point(&plan, since, &schedule, &interval));
                }
                let totals: (u64, u64) = series.iter().flat_map(|p: &SeriesPoint| &p.ops).fold((0, 0), |a, o| (a.0 + o.requests, a.1 + o.failures));
                let last = series.last().filter(|_| !warming_up);
                progress.update(&Snapshot {
                    elapsed: if warming_up { now - start } else { since },
                    total: if warming_up { Some(plan.warmup) } else { plan.measured_duration() },
                    warming_up,
                    requests: totals.0,
                    failures: totals.1,
                    rps: last.map_or(0.0, |p| p.ops.iter().map(|o| o.requests).sum::<u64>() as f64),
                    p95_ms: last.map_or(0.0, |p| p.ops.iter().map(|o| o.p95_ms).fold(0.0, f64::max)),
                    active: schedule.active.load(Ordering::Relaxed),
                    saturated: schedule.dropped.load(Ordering::Relaxed) > 0,
                });
                if end.is_some_and(|e| now >= e) {
                    break;
                }
            }
            result = &mut executor, if !executor_done => {
                executor_done = true;
                result.expect("executor task");
                break;
            }
            () = &mut interrupt => {
                interrupted = true;
                break;
            }
        }
    }
    ctx.request_stop();
    let stopped_at = Instant::now();
    if !executor_done
        && tokio::time::timeout(plan.drain, &mut executor)
            .await
            .is_err()
    {
        executor.abort();
    }
    progress.finish();

    let measured_end = end
        .map_or(stopped_at, |e| e.min(stopped_at))
        .max(ctx.measured_from);
    let duration = measured_end.saturating_duration_since(ctx.measured_from);
    let duration_secs = duration.as_secs_f64();
    // A partial last second (count limit, Ctrl-C, the drain) still belongs in the series.
    let tail = ctx.recorder.take_interval();
    if tail.iter().any(|i| i.requests > 0) && stopped_at > ctx.measured_from {
        let point = series_point(&plan, duration, &schedule, &tail);
        append_tail(&mut series, point);
    }
    let cpu_secs = crate::limits::process_cpu_seconds() - cpu_at_measured.unwrap_or(cpu_at_start);
    let totals = ctx.recorder.totals();
    let operations: Vec<OperationResult> = ctx
        .recorder
        .ops()
        .iter()
        .zip(&totals)
        .map(|(name, stats)| OperationResult::from_stats(name, stats, duration_secs))
        .collect();
    let mut all = crate::recorder::OpStats::default();
    for s in &totals {
        all.merge(s);
    }
    let total = OperationResult::from_stats("Aggregated", &all, duration_secs);
    let saturation = verdict(&plan, &schedule, cpu_secs, duration_secs.max(1e-9), workers);
    let mut warnings = Vec::new();
    if saturation.generator_cpu_utilisation > 0.9 {
        warnings.push(format!(
            "the generator used {:.0}% of its {workers} worker thread(s): it may be the bottleneck, not the target",
            saturation.generator_cpu_utilisation * 100.0
        ));
    }
    if interrupted {
        warnings.push("interrupted (Ctrl-C): the figures cover the run until then".into());
    }
    let now = chrono::Utc::now();
    let to_rfc = |t: Instant| {
        let ago = Instant::now().saturating_duration_since(t);
        (now - chrono::Duration::from_std(ago).unwrap_or_default())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    Ok(RunResults {
        schema: SCHEMA.into(),
        tool: "mcpbench".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: to_rfc(ctx.measured_from),
        finished_at: to_rfc(measured_end),
        duration_secs,
        warmup_secs: plan.warmup.as_secs_f64(),
        interrupted,
        command_line,
        seed: plan.seed,
        model: match plan.model {
            Model::Closed { .. } => "closed".into(),
            Model::Open { .. } => "open".into(),
        },
        config,
        environment: Environment::capture(),
        saturation,
        operations,
        total,
        series,
        warnings,
        thresholds: vec![],
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

/// Appends the run's last, partial interval. One that ends within half a second of the last
/// point (the drain after a duration limit) is folded into it — counts added, percentiles the
/// larger of the two — so the series keeps increasing times and no rate is computed over a
/// sliver of a second.
fn append_tail(series: &mut Vec<SeriesPoint>, tail: SeriesPoint) {
    match series.last_mut() {
        Some(last) if tail.t < last.t + 0.5 => {
            for (op, extra) in last.ops.iter_mut().zip(&tail.ops) {
                op.requests += extra.requests;
                op.failures += extra.failures;
                op.p50_ms = op.p50_ms.max(extra.p50_ms);
                op.p95_ms = op.p95_ms.max(extra.p95_ms);
                op.p99_ms = op.p99_ms.max(extra.p99_ms);
                op.max_ms = op.max_ms.max(extra.max_ms);
            }
        }
        _ => series.push(tail),
    }
}

fn series_point(
    plan: &Plan,
    t: Duration,
    schedule: &Schedule,
    interval: &[crate::recorder::IntervalStats],
) -> SeriesPoint {
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    SeriesPoint {
        t: t.as_secs_f64(),
        target: plan.target_at(t),
        active: schedule.active.load(Ordering::Relaxed),
        ops: interval
            .iter()
            .map(|i| SeriesOp {
                requests: i.requests,
                failures: i.failures,
                p50_ms: ms(&i.latency, 0.5),
                p95_ms: ms(&i.latency, 0.95),
                p99_ms: ms(&i.latency, 0.99),
                max_ms: if i.latency.is_empty() {
                    0.0
                } else {
                    i.latency.max() as f64 / 1000.0
                },
            })
            .collect(),
    }
}

fn verdict(plan: &Plan, s: &Schedule, cpu_secs: f64, wall_secs: f64, workers: usize) -> Saturation {
    let scheduled = s.scheduled.load(Ordering::Relaxed);
    let late = s.late_starts.load(Ordering::Relaxed);
    let dropped = s.dropped.load(Ordering::Relaxed);
    let mut reasons = Vec::new();
    if let Model::Open {
        max_in_flight,
        max_backlog,
        ..
    } = plan.model
    {
        if dropped > 0 {
            reasons.push(format!(
                "{dropped} arrivals were dropped: all {max_in_flight} users busy and {max_backlog} waiting; raise --max-in-flight or lower the rate"
            ));
        }
        if scheduled > 0 && late as f64 / scheduled as f64 > LATE_SHARE_SATURATED {
            reasons.push(format!(
                "{:.1}% of iterations started more than {} ms after their scheduled time: the generator could not keep its schedule",
                100.0 * late as f64 / scheduled as f64,
                LATE_START.as_millis()
            ));
        }
    }
    Saturation {
        saturated: !reasons.is_empty(),
        reasons,
        scheduled,
        late_starts: late,
        queued_starts: s.queued_starts.load(Ordering::Relaxed),
        dropped_iterations: dropped,
        max_start_lag_ms: s.max_lag_us.load(Ordering::Relaxed) as f64 / 1000.0,
        generator_cpu_utilisation: cpu_secs / (wall_secs * workers.max(1) as f64),
    }
}

/// Resolves when the run is stopping, so waits end early.
async fn stopping(ctx: &RunContext) {
    let mut rx = ctx.stop_signal.subscribe();
    let _ = rx.wait_for(|stopped| *stopped).await;
}

async fn sleep_unless_stopped(ctx: &RunContext, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stopping(ctx) => false,
    }
}

async fn run_closed(ctx: Arc<RunContext>, schedule: Arc<Schedule>, plan: Plan, start: Instant) {
    let Model::Closed {
        spawn_rate,
        ref wait,
        ..
    } = plan.model
    else {
        unreachable!("closed model")
    };
    let (desired_tx, desired_rx) = tokio::sync::watch::channel(0u64);
    let mut users = JoinSet::new();
    let mut spawned = 0u64;
    while !ctx.stopped() {
        let now = Instant::now();
        let t = now.saturating_duration_since(ctx.measured_from);
        let mut desired = plan.target_at(t).round() as u64;
        if spawn_rate > 0.0 {
            desired = desired.min((spawn_rate * (now - start).as_secs_f64()).floor() as u64 + 1);
        }
        while spawned < desired {
            let (ctx, schedule, wait, desired_rx) = (
                ctx.clone(),
                schedule.clone(),
                wait.clone(),
                desired_rx.clone(),
            );
            let id = spawned as u32;
            users.spawn(async move { closed_user(id, ctx, schedule, wait, desired_rx).await });
            spawned += 1;
        }
        let _ = desired_tx.send(desired);
        schedule
            .active
            .store(desired.min(spawned), Ordering::Relaxed);
        if users.is_empty() && desired == 0 && plan.stages.is_empty() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            Some(_) = users.join_next(), if !users.is_empty() => {
                // A user stopped (request budget spent): the run is ending.
                if ctx.stopped() { break; }
            }
        }
    }
    while users.join_next().await.is_some() {}
}

async fn closed_user(
    id: u32,
    ctx: Arc<RunContext>,
    schedule: Arc<Schedule>,
    wait: Wait,
    mut desired: tokio::sync::watch::Receiver<u64>,
) {
    let mut user = VirtualUser::new(id, &ctx);
    let wait = ctx.class_wait(user.class).cloned().unwrap_or(wait);
    let pacing = wait.pacing();
    let mut slot = Instant::now();
    while !ctx.stopped() {
        if u64::from(id) >= *desired.borrow() {
            // Parked by a ramp-down; wake when the target rises again or the run ends.
            tokio::select! {
                changed = desired.changed() => if changed.is_err() { return },
                _ = stopping(&ctx) => return,
            }
            slot = Instant::now();
            continue;
        }
        let intended = if pacing.is_some() {
            slot
        } else {
            Instant::now()
        };
        if pacing.is_some() {
            schedule.note_start(intended, intended >= ctx.measured_from, false);
            // A late iteration is measured from its slot, but the schedule resumes from now:
            // Locust's pacing does not burst to catch up.
            slot = slot.max(Instant::now());
        }
        if user.iteration(&ctx, intended).await == Next::Stop {
            return;
        }
        let pause = match wait {
            Wait::None => continue,
            Wait::Constant { secs } => Duration::from_secs_f64(secs),
            Wait::Between { min_secs, max_secs } => {
                Duration::from_secs_f64(user.rng().gen_range(min_secs..=max_secs))
            }
            Wait::ConstantThroughput { .. } | Wait::ConstantPacing { .. } => {
                slot += pacing.expect("pacing wait");
                slot.saturating_duration_since(Instant::now())
            }
        };
        if !pause.is_zero() && !sleep_unless_stopped(&ctx, pause).await {
            return;
        }
    }
}

struct ArrivalToken {
    intended: Instant,
    /// Every user was busy when it arrived: it waits in the backlog.
    queued: bool,
}

async fn run_open(ctx: Arc<RunContext>, schedule: Arc<Schedule>, plan: Plan, start: Instant) {
    let Model::Open {
        arrival,
        max_in_flight,
        max_backlog,
        ..
    } = plan.model
    else {
        unreachable!("open model")
    };
    let (tx, rx) = async_channel::unbounded::<ArrivalToken>();
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut vus = JoinSet::new();
    for id in 0..max_in_flight {
        let (ctx, schedule, rx, in_flight) =
            (ctx.clone(), schedule.clone(), rx.clone(), in_flight.clone());
        vus.spawn(async move {
            let mut user = VirtualUser::new(id, &ctx);
            while let Ok(token) = rx.recv().await {
                schedule.note_start(
                    token.intended,
                    token.intended >= ctx.measured_from,
                    token.queued,
                );
                let next = user.iteration(&ctx, token.intended).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                schedule
                    .active
                    .store(in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
                if next == Next::Stop {
                    break;
                }
            }
        });
    }
    drop(rx);
    // The schedule runs on its own thread: a busy async runtime must not delay arrivals, and
    // std's sleep is far finer than the runtime's millisecond timer.
    let scheduler = {
        let (ctx, schedule, in_flight) = (ctx.clone(), schedule.clone(), in_flight.clone());
        std::thread::Builder::new()
            .name("loadgen-schedule".into())
            .spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(plan.seed);
                let end = plan.measured_duration().map(|d| ctx.measured_from + d);
                let mut next = start;
                while !ctx.stopped() && end.is_none_or(|e| next < e) {
                    let t = next.saturating_duration_since(ctx.measured_from);
                    let rate = plan.target_at(t);
                    if rate <= 0.0 {
                        next += Duration::from_millis(10);
                        continue;
                    }
                    let now = Instant::now();
                    if next > now {
                        // Short naps so a stop is noticed promptly even at low rates.
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                        continue;
                    }
                    let measured = next >= ctx.measured_from;
                    let waiting = in_flight.load(Ordering::Relaxed);
                    if waiting >= u64::from(max_in_flight) + u64::from(max_backlog) {
                        if measured {
                            schedule.scheduled.fetch_add(1, Ordering::Relaxed);
                            schedule.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    } else {
                        in_flight.fetch_add(1, Ordering::Relaxed);
                        let queued = waiting >= u64::from(max_in_flight);
                        if tx
                            .send_blocking(ArrivalToken {
                                intended: next,
                                queued,
                            })
                            .is_err()
                        {
                            break;
                        }
                    }
                    let gap = match arrival {
                        Arrival::Constant => 1.0 / rate,
                        Arrival::Poisson => -(1.0 - rng.gen::<f64>()).ln() / rate,
                    };
                    next += Duration::from_secs_f64(gap);
                }
                drop(tx);
            })
            .expect("spawn the schedule thread")
    };
    while vus.join_next().await.is_some() {}
    // The VUs ended (channel closed or budget spent): make sure the schedule ends too.
    ctx.request_stop();
    let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, requests: u64, p99_ms: f64) -> SeriesPoint {
        SeriesPoint {
            t,
            target: 1.0,
            active: 1,
            ops: vec![SeriesOp {
                requests,
                failures: 0,
                p50_ms: 1.0,
                p95_ms: 2.0,
                p99_ms,
                max_ms: p99_ms,
            }],
        }
    }

    #[test]
    fn a_sliver_of_a_tail_folds_into_the_last_second_and_times_keep_increasing() {
        let mut series = vec![point(29.0, 10, 5.0), point(30.002, 12, 5.0)];
        append_tail(&mut series, point(30.0, 9, 8.0));
        assert_eq!(series.len(), 2);
        assert_eq!(series[1].ops[0].requests, 21);
        assert_eq!(series[1].ops[0].p99_ms, 8.0);
        // A real partial second (Ctrl-C 0.7 s after the last tick) stays a point of its own.
        append_tail(&mut series, point(30.7, 4, 1.0));
        assert_eq!(series.len(), 3);
        assert!(series.windows(2).all(|w| w[0].t < w[1].t));
    }
}
