//! The results document of a tiered run: profile, stack, one [`TierRun`] per tier (each holding
//! the load engine's own [`loadgen::RunResults`]), the overhead of each tier against `direct`,
//! thresholds and the verdict.

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to [`OverheadRun`].
pub const SCHEMA: &str = "mcpbench.overhead/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverheadRun {
    pub schema: String,
    /// `YYYYMMDD-HHMMSS-<profile>`: also the directory name under `reports/`.
    pub run_id: String,
    pub tool_version: String,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: String,
    pub command_line: Vec<String>,
    pub profile: ProfileInfo,
    pub stack: StackInfo,
    pub environment: loadgen::Environment,
    /// In run order: `direct`, `gateway`, `nginx` (the MCP workload), then `rest` (the REST and
    /// admin classes against the gateway). A tier that did not run is present with its reason.
    pub tiers: Vec<TierRun>,
    /// Each MCP tier's operations against the same operation on `direct`.
    pub overhead: Vec<OverheadRow>,
    /// Every threshold checked, with its tier (`ThresholdResult::tier`).
    pub thresholds: Vec<loadgen::threshold::ThresholdResult>,
    pub verdict: Verdict,
    /// The gateway's resident memory over the run (sampled every few seconds; the soak profile's
    /// leak check). Empty when the gateway's process could not be read.
    #[serde(default)]
    pub gateway_rss: Vec<ResourceSample>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileInfo {
    /// `light`, `heavy`, …, or the custom profile's name.
    pub name: String,
    /// Which column of the SLA table applies: `baseline`, `load` or `stress`.
    pub sla_class: String,
    /// One line: "10 users, spawn 2/s, 30 s" or "arrivals 1000/s → 10000/s → 1000/s".
    pub description: String,
    /// `closed` or `open`.
    pub model: String,
    /// Measured seconds per tier (after warm-up).
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// Same seed for every tier: same operation mix, same tool picks.
    pub seed: u64,
    /// The MCP user classes and their weights, e.g. `MCPToolCallerUser:5`.
    pub mcp_classes: Vec<String>,
    /// The REST/admin user classes run against the gateway tier.
    pub rest_classes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackInfo {
    /// `local` or `docker`.
    pub runtime: String,
    /// The stack was already up (reused) rather than started for this run.
    pub reused: bool,
    pub bench_servers: u32,
    pub gateway_version: String,
    pub gateway_workers: u32,
    /// nginx caches list/admin pages: numbers through nginx are then not the gateway's.
    pub nginx_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierRun {
    /// `direct`, `gateway`, `nginx` or `rest`.
    pub name: String,
    /// What the tier measures, e.g. "bench-server directly" or "nginx → gateway".
    pub description: String,
    /// The endpoint the workload ran against (no credentials in it).
    pub target: String,
    /// Why the tier did not run (its component is missing, or it failed); None when it ran.
    pub skipped: Option<String>,
    /// The tier's target failed (unreachable, discovery refused): not merely absent. Such a
    /// run cannot pass.
    #[serde(default)]
    pub failed: bool,
    pub results: Option<loadgen::RunResults>,
}

/// One operation of one tier against the same operation on the `direct` tier. `Aggregated` is
/// the row for all operations together. Latencies are the corrected (intended-time) ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverheadRow {
    pub tier: String,
    pub operation: String,
    pub requests: u64,
    pub rps: f64,
    pub direct_rps: f64,
    pub p50_ms: f64,
    pub direct_p50_ms: f64,
    pub p95_ms: f64,
    pub direct_p95_ms: f64,
    pub p99_ms: f64,
    pub direct_p99_ms: f64,
    pub error_rate: f64,
    pub direct_error_rate: f64,
    /// p50 added by the tier over direct, in ms (p50_ms − direct_p50_ms).
    pub added_p50_ms: f64,
    pub added_p95_ms: f64,
    pub added_p99_ms: f64,
    /// Throughput relative to direct (rps / direct_rps; None when direct had none).
    pub rps_ratio: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictStatus {
    /// Every threshold passed and the generator kept up.
    Pass,
    /// A threshold failed (exit 1).
    Fail,
    /// The generator could not keep its schedule: the numbers understate latency (exit 4).
    Saturated,
    /// Stopped by Ctrl-C: the numbers cover the time until then (exit 130).
    Interrupted,
    /// A tier's target failed, so the comparison is incomplete (exit 3).
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: VerdictStatus,
    /// The process exit code this verdict maps to.
    pub exit_code: i32,
    /// Why, one line each: failed thresholds, saturated tiers, skipped tiers.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Seconds since the start of the first tier.
    pub t: f64,
    /// Which tier was running.
    pub tier: String,
    pub rss_mib: f64,
}
