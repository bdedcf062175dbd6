//! Known inputs for the unit tests: operations with exactly known latency distributions, runs
//! and tiers built from them, and a whole tiered run.

use loadgen::{
    Environment, ErrorClass, ErrorTally, OpStats, OperationResult, RunResults, Saturation,
    SeriesOp, SeriesPoint,
};

use crate::document::{OverheadRun, ProfileInfo, StackInfo, TierRun};

/// An operation whose requests took exactly these microseconds; the first `failures` of them
/// failed with a JSON-RPC error.
pub fn op(
    name: &str,
    latencies_us: impl IntoIterator<Item = u64>,
    failures: u64,
    duration_secs: f64,
) -> OperationResult {
    let mut stats = OpStats::default();
    for us in latencies_us {
        stats.corrected.record(us).unwrap();
        stats.uncorrected.record(us).unwrap();
        stats.ttfb.record(us).unwrap();
        stats.requests += 1;
        *stats.status_codes.entry(200).or_default() += 1;
    }
    if failures > 0 {
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
            ops: operations
                .iter()
                .map(|o| SeriesOp {
                    requests: o.requests / seconds,
                    failures: o.failures / seconds,
                    p50_ms: o.latency.p50_ms,
                    p95_ms: o.latency.p95_ms,
                    p99_ms: o.latency.p99_ms,
                    max_ms: o.latency.max_ms,
                })
                .collect(),
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
        interrupted: false,
        command_line: vec![],
        seed: 1,
        model: "closed".into(),
        config: serde_json::Value::Null,
        environment: Environment::default(),
        saturation: Saturation::default(),
        total: OperationResult::from_stats("Aggregated", &total, duration_secs),
        operations,
        series,
        warnings: vec![],
        thresholds: vec![],
    }
}

pub fn tier(name: &str, results: RunResults) -> TierRun {
    TierRun {
        name: name.into(),
        description: format!("the {name} tier"),
        target: format!("http://127.0.0.1:9000/{name}"),
        skipped: None,
        failed: false,
        results: Some(results),
    }
}

pub fn skipped(name: &str, reason: &str) -> TierRun {
    TierRun {
        name: name.into(),
        description: format!("the {name} tier"),
        target: String::new(),
        skipped: Some(reason.into()),
        failed: false,
        results: None,
    }
}

/// direct (1..=1000 µs), gateway (1 ms slower, 5 failures), nginx skipped, rest (REST
/// classes): a tiered run with its overhead and verdict computed.
pub fn run() -> OverheadRun {
    let direct = results(vec![op("tools/call", 1..=1000, 0, 10.0)], 10.0);
    let gateway = results(vec![op("tools/call", 1001..=2000, 5, 10.0)], 10.0);
    let rest = results(vec![op("GET /health", 1..=500, 0, 10.0)], 10.0);
    let tiers = vec![
        tier("direct", direct),
        tier("gateway", gateway),
        skipped(
            "nginx",
            "nginx is not on PATH (apt-get install nginx-light)",
        ),
        tier("rest", rest),
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
            model: "closed".into(),
            duration_secs: 10.0,
            warmup_secs: 2.0,
            seed: 1,
            mcp_classes: vec!["MCPToolCallerUser:5".into()],
            rest_classes: vec!["HealthCheckUser:1".into()],
        },
        stack: StackInfo {
            runtime: "local".into(),
            reused: false,
            bench_servers: 10,
            gateway_version: "1.0.7".into(),
            gateway_workers: 1,
            nginx_cache: false,
        },
        environment: Environment::default(),
        overhead: crate::overhead_rows(&tiers),
        verdict: crate::verdict(&tiers, &thresholds, false),
        tiers,
        thresholds,
        gateway_rss: vec![],
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
        actual,
        limit,
        passed,
    }
}
