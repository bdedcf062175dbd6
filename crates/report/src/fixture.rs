//! Known inputs for tests — here and, through the `fixtures` feature, in the workspace's own
//! tests (the browser test renders a whole run): operations with exactly known latency
//! distributions, runs and tiers built from them, and a whole tiered run.

use loadgen::threshold::Threshold;
use loadgen::{
    Attributed, Environment, ErrorClass, ErrorTally, LoadModel, OpStats, OperationResult,
    RunResults, SeriesOp, SeriesPoint, Stamp, AGGREGATED,
};

use crate::document::{
    Measured, OverheadRun, ProfileInfo, ResourceSample, StackInfo, Tier, TierOutcome, TierRun,
};

/// An operation whose successful requests took exactly these microseconds, plus `failures`
/// failed requests (a JSON-RPC error, answered in 1 µs: they must not move the percentiles).
pub fn op(
    name: &str,
    latencies_us: impl IntoIterator<Item = u64>,
    failures: u64,
    duration_secs: f64,
) -> OperationResult {
    op_stamped(name, latencies_us, failures, duration_secs, None)
}

/// [`op`], each successful reply saying its backend took `handler_us` (None: no stamps).
pub fn op_stamped(
    name: &str,
    latencies_us: impl IntoIterator<Item = u64>,
    failures: u64,
    duration_secs: f64,
    handler_us: Option<u64>,
) -> OperationResult {
    let mut stats = OpStats::default();
    for (call, us) in latencies_us.into_iter().enumerate() {
        if let Some(handler_us) = handler_us {
            let stamp = Stamp {
                by: "0@1".into(),
                handler_us,
                call: Some(call as u64 + 1),
            };
            let seen = Attributed {
                stamp,
                rebound: false,
            };
            stats
                .attribution
                .record(std::time::Duration::from_micros(us), &seen);
        }
        stats.corrected.record(us).unwrap();
        stats.uncorrected.record(us).unwrap();
        stats.ttfb.record(us).unwrap();
        stats.requests += 1;
        *stats.status_codes.entry(200).or_default() += 1;
    }
    if failures > 0 {
        stats.requests += failures;
        *stats.status_codes.entry(200).or_default() += failures;
        stats.failed.record_n(1, failures).unwrap();
        stats.failures = failures;
        stats.errors.insert(
            ErrorClass::Jsonrpc,
            ErrorTally {
                count: failures,
                samples: vec!["code -32603: <internal> & \"quoted\"".into()],
            },
        );
    }
    OperationResult::from_stats(name, &stats, duration_secs)
}

/// A run of these operations; `total` merges them, the series spreads them evenly over the
/// seconds.
pub fn results(operations: Vec<OperationResult>, duration_secs: f64) -> RunResults {
    let mut total = OpStats::default();
    for op in &operations {
        total.merge(&op.to_stats().unwrap());
    }
    let seconds = duration_secs.ceil() as u64;
    let series = (1..=seconds)
        .map(|t| SeriesPoint {
            t: t as f64,
            target: 10.0,
            active: 10,
            dropped: 0,
            ops: operations
                .iter()
                .map(|o| SeriesOp {
                    requests: o.requests / seconds,
                    failures: o.failures / seconds,
                    p50_ms: o.latency.p50_ms,
                    p95_ms: o.latency.p95_ms,
                    p99_ms: o.latency.p99_ms,
                    max_ms: o.latency.max_ms,
                    locust: None,
                })
                .collect(),
            total: None,
        })
        .collect();
    RunResults {
        schema: loadgen::SCHEMA.into(),
        tool: "mcpbench".into(),
        tool_version: "0.1.0".into(),
        started_at: "2026-11-27T03:00:00Z".into(),
        finished_at: "2026-11-27T03:00:10Z".into(),
        duration_secs,
        warmup_secs: 0.0,
        stopped_by: None,
        command_line: vec![],
        seed: 1,
        model: LoadModel::Closed,
        config: serde_json::Value::Null,
        environment: Environment::default(),
        schedule: Default::default(),
        target_down: None,
        total: OperationResult::from_stats(AGGREGATED, &total, duration_secs),
        operations,
        series,
        warnings: vec![],
        thresholds: vec![],
    }
}

pub fn tier(tier: Tier, results: RunResults) -> TierRun {
    with_outcome(
        tier,
        TierOutcome::Ran {
            results: Box::new(results),
        },
    )
}

pub fn skipped(tier: Tier, reason: &str) -> TierRun {
    with_outcome(
        tier,
        TierOutcome::Skipped {
            reason: reason.into(),
        },
    )
}

pub fn failed(tier: Tier, reason: &str, results: Option<RunResults>) -> TierRun {
    with_outcome(
        tier,
        TierOutcome::Failed {
            reason: reason.into(),
            results: results.map(Box::new),
        },
    )
}

fn with_outcome(tier: Tier, outcome: TierOutcome) -> TierRun {
    TierRun {
        tier,
        target: format!("http://127.0.0.1:9000/{tier}"),
        outcome,
    }
}

/// direct (1..=1000 µs), gateway (1 ms slower, 5 failures), nginx skipped, rest (REST
/// classes): a tiered run with its overhead and verdict computed.
pub fn run() -> OverheadRun {
    let direct = results(
        vec![op_stamped("tools/call", 1..=1000, 0, 10.0, Some(1))],
        10.0,
    );
    let gateway = results(
        vec![op_stamped("tools/call", 1001..=2000, 5, 10.0, Some(1))],
        10.0,
    );
    let rest = results(vec![op("GET /health", 1..=500, 0, 10.0)], 10.0);
    let tiers = vec![
        tier(Tier::Direct, direct),
        tier(Tier::Gateway, gateway),
        skipped(
            Tier::Nginx,
            "MCPBENCH_NGINX is empty: the stack runs without nginx",
        ),
        tier(Tier::Rest, rest),
    ];
    let thresholds = vec![
        threshold("p95<300ms", Some("gateway"), 1.95, 300.0, true),
        threshold("error_rate<0.1%", Some("gateway"), 0.005, 0.001, false),
    ];
    OverheadRun {
        schema: crate::SCHEMA.into(),
        run_id: "20261127-030000-light".into(),
        tool_version: "0.1.0".into(),
        started_at: "2026-11-27T03:00:00Z".into(),
        finished_at: "2026-11-27T03:01:00Z".into(),
        command_line: vec!["cargo".into(), "xtask".into(), "load-test-light".into()],
        profile: ProfileInfo {
            name: "light".into(),
            sla_class: "baseline".into(),
            description: "10 users, spawn 2/s, 30 s".into(),
            model: LoadModel::Closed,
            duration_secs: 10.0,
            warmup_secs: 2.0,
            seed: 1,
            class_weights: "locustfile".into(),
            mcp_classes: vec!["MCPToolCallerUser:5".into()],
            rest_classes: vec!["HealthCheckUser:1".into()],
        },
        measured: Measured::Stack(StackInfo {
            runtime: stack::Runtime::Local,
            reused: false,
            bench_servers: 10,
            gateway_version: "1.0.7".into(),
            gateway_source: None,
            gateway_workers: 1,
            database: contextforge::settings::Database::Sqlite,
            cache: contextforge::settings::Cache::Database,
            gateway_settings: vec![],
            nginx_cache: false,
        }),
        environment: Environment::default(),
        overhead: crate::overhead_rows(&tiers),
        verdict: crate::verdict(&tiers, &thresholds, None),
        repeats: None,
        tiers,
        thresholds,
        gateway_rss: vec![],
        service_usage: vec![],
        usage_summary: vec![],
        sockets: None,
        gateway_profile: None,
        warnings: vec![],
    }
}

pub fn threshold(
    expression: &str,
    tier: Option<&str>,
    actual: f64,
    limit: f64,
    passed: bool,
) -> loadgen::threshold::ThresholdResult {
    loadgen::threshold::ThresholdResult {
        expression: expression.into(),
        tier: tier.map(str::to_string),
        actual: Some(actual),
        limit,
        passed,
    }
}

/// Seconds of the realistic run.
const SECONDS: u64 = 30;
/// (operation, share of iterations, latency multiplier): an MCP tool caller's mix.
const MIX: [(&str, u64, f64); 3] = [
    ("tools/call", 8, 1.0),
    ("tools/list", 1, 1.6),
    ("resources/read", 1, 0.8),
];

/// A deterministic stream of uniform numbers in (0, 1) (xorshift), so the data is the same on
/// every run without a random-number dependency.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A long-tailed latency around `median_ms`: log-normal body, rare slow outliers.
    fn latency_us(&mut self, median_ms: f64) -> u64 {
        let normal = (-2.0 * self.next().ln()).sqrt() * (std::f64::consts::TAU * self.next()).cos();
        let outlier = if self.next() < 0.003 { 8.0 } else { 1.0 };
        (median_ms * 1000.0 * (0.35 * normal).exp() * outlier) as u64
    }
}

/// One tier: `rps` iterations a second for SECONDS, each operation's latency drawn around
/// `median_ms`; per-second percentiles come from per-second histograms, as the engine's do.
fn tier_results(seed: u64, rps: u64, median_ms: f64, error_every: u64) -> RunResults {
    let mut uniform = Uniform(seed);
    let mut totals: Vec<OpStats> = MIX.iter().map(|_| OpStats::default()).collect();
    let mut series = Vec::new();
    let weight_sum: u64 = MIX.iter().map(|m| m.1).sum();
    for second in 1..=SECONDS {
        // A short ramp, then steady load.
        let iterations = rps * second.min(5) / 5;
        let mut interval: Vec<OpStats> = MIX.iter().map(|_| OpStats::default()).collect();
        for i in 0..iterations {
            let pick = i % weight_sum;
            let (index, _) = MIX
                .iter()
                .enumerate()
                .scan(0, |acc, (index, m)| {
                    *acc += m.1;
                    Some((index, *acc))
                })
                .find(|(_, upto)| pick < *upto)
                .expect("the weights cover every pick");
            let us = uniform.latency_us(median_ms * MIX[index].2).max(1);
            let stats = &mut interval[index];
            stats.requests += 1;
            stats.bytes += 1200;
            *stats.status_codes.entry(200).or_default() += 1;
            if error_every > 0 && (second * rps + i).is_multiple_of(error_every) {
                stats.failed.saturating_record(us);
                stats.failures += 1;
                let tally = stats
                    .errors
                    .entry(loadgen::ErrorClass::Jsonrpc)
                    .or_default();
                tally.count += 1;
                if tally.samples.is_empty() {
                    tally
                        .samples
                        .push("code -32603: Internal error <upstream timeout>".into());
                }
            } else {
                stats.corrected.saturating_record(us);
                stats.uncorrected.saturating_record(us);
                stats.ttfb.saturating_record(us * 9 / 10);
            }
        }
        series.push(SeriesPoint {
            t: second as f64,
            target: 10.0,
            active: 10,
            dropped: 0,
            ops: interval
                .iter()
                .map(|s| {
                    let l = OperationResult::from_stats("", s, 1.0).latency;
                    SeriesOp {
                        requests: s.requests,
                        failures: s.failures,
                        p50_ms: l.p50_ms,
                        p95_ms: l.p95_ms,
                        p99_ms: l.p99_ms,
                        max_ms: l.max_ms,
                        locust: None,
                    }
                })
                .collect(),
            total: None,
        });
        for (total, s) in totals.iter_mut().zip(&interval) {
            total.merge(s);
        }
    }
    let duration = SECONDS as f64;
    let mut all = OpStats::default();
    for s in &totals {
        all.merge(s);
    }
    RunResults {
        schema: loadgen::SCHEMA.into(),
        tool: "mcpbench".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: "2026-11-27T03:00:00Z".into(),
        finished_at: "2026-11-27T03:00:30Z".into(),
        duration_secs: duration,
        warmup_secs: 5.0,
        stopped_by: None,
        command_line: vec![],
        seed: 1,
        model: LoadModel::Closed,
        config: serde_json::Value::Null,
        environment: Environment::capture(),
        schedule: loadgen::ScheduleReport {
            lateness: loadgen::Lateness {
                generator_cpu_utilisation: 0.35,
                ..Default::default()
            },
            ..Default::default()
        },
        target_down: None,
        operations: MIX
            .iter()
            .zip(&totals)
            .map(|((name, ..), s)| OperationResult::from_stats(name, s, duration))
            .collect(),
        total: OperationResult::from_stats(AGGREGATED, &all, duration),
        series,
        warnings: vec![],
        thresholds: vec![],
    }
}

/// The host's sockets over the realistic run: a few held on direct, more and churning through
/// the gateway (its backend connections), on this machine's default limits.
fn realistic_sockets() -> crate::sockets::HostSockets {
    let samples = (0..=20u32)
        .map(|i| {
            let gateway = i >= 7;
            crate::sockets::SocketSample {
                t: f64::from(i) * 5.0,
                tier: if gateway { Tier::Gateway } else { Tier::Direct },
                states: crate::sockets::SocketStates {
                    established: if gateway { 46 } else { 22 },
                    time_wait: if gateway { 40 + u64::from(i) * 12 } else { 3 },
                    orphaned: u64::from(gateway),
                    listen: 14,
                    allocated: 80,
                    in_use: 60,
                    memory_pages: 9,
                    ..crate::sockets::SocketStates::default()
                },
            }
        })
        .collect();
    let limits = crate::sockets::SocketLimits {
        max_time_wait: Some(131_072),
        ephemeral_ports: Some(28_232),
        max_orphans: Some(131_072),
    };
    crate::sockets::HostSockets::new(limits, samples)
}

/// A whole tiered run with realistic synthetic numbers — long-tailed latency, a ramp, rare
/// outliers and errors — for views that must look right at scale (the browser test).
pub fn realistic_run() -> OverheadRun {
    let service_usage: Vec<crate::usage::ServiceUsage> =
        [("gateway", 60.0, 270.0), ("nginx", 4.0, 12.0)]
            .into_iter()
            .map(|(service, cpu, rss)| crate::usage::ServiceUsage {
                service: service.into(),
                samples: (0..=20)
                    .map(|i| crate::usage::UsageSample {
                        t: f64::from(i) * 5.0,
                        tier: if i < 7 { Tier::Direct } else { Tier::Gateway },
                        cpu_percent: (i > 0).then_some(if i < 7 { 1.0 } else { cpu }),
                        rss_mib: rss + f64::from(i) * 0.4,
                    })
                    .collect(),
            })
            .collect();
    let at = |tier, target: &str, results| TierRun {
        target: target.into(),
        ..self::tier(tier, results)
    };
    let tiers = vec![
        at(
            Tier::Direct,
            "http://127.0.0.1:9000/mcp",
            tier_results(1, 400, 0.6, 0),
        ),
        at(
            Tier::Gateway,
            "http://127.0.0.1:4444/servers/1/mcp",
            tier_results(2, 300, 14.0, 450),
        ),
        at(
            Tier::Nginx,
            "http://127.0.0.1:8080/servers/1/mcp",
            tier_results(3, 280, 15.5, 450),
        ),
        skipped(Tier::Rest, "the profile selects no REST or admin classes"),
    ];
    let thresholds = [
        "p95{tier=gateway}<300ms",
        "error_rate{tier=gateway}<0.1%",
        "p99{tier=nginx}<500ms",
    ]
    .iter()
    .map(|text| {
        let threshold = Threshold::parse(text).unwrap();
        let tier = tiers
            .iter()
            .find(|t| threshold.tier.as_deref() == Some(t.tier.name()))
            .unwrap();
        let mut result = threshold.evaluate(tier.ran().unwrap());
        result.tier = threshold.tier.clone();
        result
    })
    .collect::<Vec<_>>();
    let base = run();
    OverheadRun {
        finished_at: "2026-11-27T03:02:10Z".into(),
        profile: ProfileInfo {
            duration_secs: SECONDS as f64,
            warmup_secs: 5.0,
            class_weights: "locustfile".into(),
            mcp_classes: vec!["MCPToolCallerUser:8".into(), "MCPDiscoveryUser:2".into()],
            rest_classes: vec![],
            ..base.profile
        },
        measured: Measured::Stack(StackInfo {
            runtime: stack::Runtime::Local,
            reused: true,
            bench_servers: 10,
            gateway_version: "1.0.7.post20260921".into(),
            gateway_source: None,
            gateway_workers: 1,
            database: contextforge::settings::Database::Sqlite,
            cache: contextforge::settings::Cache::Database,
            gateway_settings: vec![],
            nginx_cache: false,
        }),
        environment: Environment::capture(),
        overhead: crate::overhead_rows(&tiers),
        verdict: crate::verdict(&tiers, &thresholds, None),
        gateway_rss: (0..=20)
            .map(|i| ResourceSample {
                t: f64::from(i) * 5.0,
                tier: if i < 7 { Tier::Direct } else { Tier::Gateway },
                rss_mib: 270.0 + f64::from(i) * 0.4,
            })
            .collect(),
        usage_summary: crate::usage::summarise(&service_usage),
        service_usage,
        sockets: Some(realistic_sockets()),
        gateway_profile: Some(gateway_profile()),
        warnings: vec!["the stack was already up: reused, not restarted".into()],
        tiers,
        thresholds,
        ..base
    }
}

/// A profile of the gateway tier: a few stacks of the gateway's own code and its libraries, and
/// its counters around the tier.
pub fn gateway_profile() -> crate::profile::GatewayProfile {
    let folded = "\
process 41:\"gunicorn: worker\";run (uvicorn/server.py);handle (mcpgateway/transports/streamablehttp_transport.py);call_tool (mcpgateway/services/tool_service.py);post (httpx/_client.py) 420
process 41:\"gunicorn: worker\";run (uvicorn/server.py);handle (mcpgateway/transports/streamablehttp_transport.py);verify_jwt_token (mcpgateway/utils/verify_credentials.py) 130
process 41:\"gunicorn: worker\";run (uvicorn/server.py);select (selectors.py) 250
process 41:\"gunicorn: worker\";run (uvicorn/server.py);execute (sqlalchemy/engine/base.py) 200
";
    let counters = |requests: u64, seconds: f64| {
        vec![contextforge::api::RouteTiming {
            route: "POST /mcp".into(),
            requests,
            seconds,
        }]
    };
    crate::profile::GatewayProfile {
        tier: Tier::Gateway,
        sampler: "py-spy 0.4.1, 100 samples/s per process, every worker (--subprocesses)".into(),
        stacks: crate::profile::Stacks::Recorded {
            stacks: crate::flame::parse(folded).expect("collapsed stacks"),
        },
        counters: crate::profile::Counters::Read {
            before: counters(100, 2.0),
            after: counters(1100, 40.0),
        },
    }
}
