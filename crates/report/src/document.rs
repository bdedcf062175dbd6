//! The results document of a tiered run: profile, stack, one [`TierRun`] per tier (each holding
//! its [`TierOutcome`]: the load engine's own [`loadgen::RunResults`] when it ran), the overhead
//! of each tier against `direct`, thresholds and the verdict.

use contextforge::source::SourceRevision;
use loadgen::RunResults;
use serde::{Deserialize, Serialize};

pub use crate::tier::Tier;

/// Bumped on any incompatible change to [`OverheadRun`].
pub const SCHEMA: &str = "mcpbench.overhead/v3";
/// The schema before `measured` replaced `stack` (read, and moved forward, by `from_json`).
pub const SCHEMA_V2: &str = "mcpbench.overhead/v2";

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
    pub measured: Measured,
    pub environment: loadgen::Environment,
    /// In run order: `direct`, `gateway`, `nginx` (the MCP workload), then `rest` (the REST and
    /// admin classes against the gateway). A tier that did not run is present with its reason.
    pub tiers: Vec<TierRun>,
    /// Each MCP tier's operations against the same operation on `direct`.
    pub overhead: Vec<OverheadRow>,
    /// Every threshold checked, with its tier (`ThresholdResult::tier`).
    pub thresholds: Vec<loadgen::threshold::ThresholdResult>,
    pub verdict: Verdict,
    /// With `--repeat N` (N > 1): every figure round by round with its confidence interval
    /// (`tiers` and `overhead` then hold every round's requests merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<crate::repeats::Repeats>,
    /// The gateway's resident memory over the run, as runs recorded it before every service was
    /// sampled (`service_usage`); empty in later runs.
    #[serde(default)]
    pub gateway_rss: Vec<ResourceSample>,
    /// What each service of the stack used (CPU, memory) through the run, sampled every few
    /// seconds; empty when nothing could be read (an existing gateway).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_usage: Vec<crate::usage::ServiceUsage>,
    /// `service_usage` per tier and service: mean and highest CPU, highest memory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage_summary: Vec<crate::usage::UsageSummary>,
    /// The host's TCP sockets by state through the run (`ss -s`), with its limits and each
    /// tier's peaks; None in runs recorded before they were sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<crate::sockets::HostSockets>,
    /// `--profile-gateway`: the gateway's stacks and its own counters over the gateway tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_profile: Option<crate::profile::GatewayProfile>,
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
    pub model: loadgen::LoadModel,
    /// Measured seconds per tier (after warm-up).
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// Same seed for every tier: same operation mix, same tool picks.
    pub seed: u64,
    /// Whose table the classes' weights came from: `locustfile` (the gateway's, the default;
    /// also every run recorded before the choice) or `seed` (the seed's User Classes table).
    #[serde(default = "locustfile")]
    pub class_weights: String,
    /// The MCP user classes and their weights, e.g. `MCPToolCallerUser:5`.
    pub mcp_classes: Vec<String>,
    /// The REST/admin user classes run against the gateway tier.
    pub rest_classes: Vec<String>,
}

fn locustfile() -> String {
    "locustfile".into()
}

/// What the run measured: the stack mcpbench runs, or a gateway it did not start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measured {
    /// The benchmark stack, brought up for the run or found up.
    Stack(StackInfo),
    /// A gateway reached by URL (`--gateway-url`): nothing was started.
    ExistingGateway(ExistingGateway),
    /// One endpoint a single-target run (`cargo xtask load`, `cargo xtask hey`) was pointed at:
    /// no tiers, nothing measured against anything.
    Target(SingleTarget),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleTarget {
    /// `load` or `hey`.
    pub tool: String,
    /// The URL the run addressed, without credentials.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExistingGateway {
    /// The gateway's base URL, without credentials.
    pub gateway_url: String,
    /// The virtual server the MCP tiers addressed.
    pub server_id: String,
    /// The backend the direct tier called (`--direct-url`), if one was named.
    pub direct_url: Option<String>,
}

impl Measured {
    /// nginx cached list and admin pages: numbers through nginx are then not the gateway's.
    pub fn nginx_cache(&self) -> bool {
        matches!(self, Measured::Stack(s) if s.nginx_cache)
    }

    /// What differs between two runs' measured systems, as `what: this vs other` (whether a
    /// stack was reused is no difference of the system).
    pub fn differences(&self, other: &Measured) -> Vec<String> {
        let facts = |m: &Measured| -> Vec<(&'static str, String)> {
            match m {
                Measured::Stack(s) => vec![
                    ("measured", "a stack".into()),
                    ("runtime", s.runtime.to_string()),
                    ("gateway version", s.gateway_version.clone()),
                    ("gateway code", code_of(s)),
                    ("gateway workers", s.gateway_workers.to_string()),
                    ("database", s.database.to_string()),
                    ("cache", s.cache.to_string()),
                    ("gateway settings", settings_of(s)),
                    ("bench servers", s.bench_servers.to_string()),
                    ("nginx cache", s.nginx_cache.to_string()),
                ],
                Measured::ExistingGateway(g) => vec![
                    ("measured", "an existing gateway".into()),
                    ("gateway", g.gateway_url.clone()),
                    (
                        "direct backend",
                        g.direct_url.clone().unwrap_or_else(|| "none".into()),
                    ),
                ],
                Measured::Target(t) => vec![
                    ("measured", "a single target".into()),
                    ("tool", t.tool.clone()),
                    ("target URL", t.url.clone()),
                ],
            }
        };
        let (mine, theirs) = (facts(self), facts(other));
        if mine[0] != theirs[0] {
            return vec![format!("measured: {} vs {}", mine[0].1, theirs[0].1)];
        }
        mine.iter()
            .zip(&theirs)
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, b)| format!("{}: {} vs {}", a.0, a.1, b.1))
            .collect()
    }

    /// One line saying exactly what was measured, for every view.
    pub fn describe(&self) -> String {
        match self {
            Measured::Stack(s) => format!(
                "the {} stack{}: {} bench servers; ContextForge {} ({}) with {} worker(s) on {}, \
                 cache {}{}; nginx cache {}",
                s.runtime,
                if s.reused { " (reused)" } else { "" },
                s.bench_servers,
                s.gateway_version,
                code_of(s),
                s.gateway_workers,
                match s.database {
                    contextforge::settings::Database::Sqlite => "SQLite",
                    contextforge::settings::Database::Postgres => "PostgreSQL",
                },
                s.cache,
                if s.gateway_settings.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", settings_of(s))
                },
                if s.nginx_cache { "on" } else { "off" }
            ),
            Measured::ExistingGateway(g) => format!(
                "an existing gateway at {} (not started by mcpbench), virtual server {}; {}",
                g.gateway_url,
                g.server_id,
                g.direct_url.as_deref().map_or_else(
                    || "no backend named for the direct tier".to_string(),
                    |d| format!("direct tier against {d}")
                )
            ),
            Measured::Target(t) => format!(
                "a single target, {} (cargo xtask {}): no tiers, no overhead",
                t.url, t.tool
            ),
        }
    }
}

/// The gateway's recorded settings as `NAME=value, ...` (CACHE_TYPE aside: said as the cache).
fn settings_of(stack: &StackInfo) -> String {
    stack
        .gateway_settings
        .iter()
        .filter(|(name, _)| name != "CACHE_TYPE")
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the gateway's code came from: "release" or "checkout PATH at REV[, with changes]".
fn code_of(stack: &StackInfo) -> String {
    let Some(source) = &stack.gateway_source else {
        return "release".into();
    };
    let revision = source.revision.as_deref().map_or_else(
        || "no git revision".to_string(),
        |r| format!("at {}", &r[..r.len().min(12)]),
    );
    let changes = if source.dirty {
        ", with uncommitted changes"
    } else {
        ""
    };
    format!("checkout {} {revision}{changes}", source.path)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackInfo {
    pub runtime: stack::Runtime,
    /// The stack was already up (reused) rather than started for this run.
    pub reused: bool,
    pub bench_servers: u32,
    pub gateway_version: String,
    /// The checkout the gateway was installed from (`--gateway-source`), not a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_source: Option<SourceRevision>,
    pub gateway_workers: u32,
    /// Where the gateway kept its data (runs recorded before it was chosen: SQLite).
    #[serde(default)]
    pub database: contextforge::settings::Database,
    /// What it cached in (runs recorded before it was chosen: its database).
    #[serde(default)]
    pub cache: contextforge::settings::Cache,
    /// Its other settings that shape performance (pools, log level), as it was started with
    /// them; empty for a stack recorded before they were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_settings: Vec<(String, String)>,
    /// nginx caches list/admin pages: numbers through nginx are then not the gateway's.
    pub nginx_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierRun {
    pub tier: Tier,
    /// The endpoint the workload ran against (no credentials in it).
    pub target: String,
    pub outcome: TierOutcome,
}

/// What became of a tier: exactly one of ran, skipped or failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TierOutcome {
    /// The workload ran against a target that answered throughout.
    Ran { results: Box<RunResults> },
    /// Not run: its component is not part of the stack, or the run was stopped before it.
    Skipped { reason: String },
    /// Its target failed — unreachable, refused at discovery, down mid-run, or a service the
    /// tier goes through died. What it measured until then is kept for diagnosis, but it is no
    /// baseline for anything: no overhead, no threshold, and the run is an ERROR.
    Failed {
        reason: String,
        results: Option<Box<RunResults>>,
    },
}

impl TierRun {
    /// The tier's results when it ran: what overhead and thresholds are judged on.
    pub fn ran(&self) -> Option<&RunResults> {
        match &self.outcome {
            TierOutcome::Ran { results } => Some(results),
            _ => None,
        }
    }

    /// Whatever it measured, a failed tier's partial results included (for the tables).
    pub fn measured(&self) -> Option<&RunResults> {
        match &self.outcome {
            TierOutcome::Ran { results } => Some(results),
            TierOutcome::Failed { results, .. } => results.as_deref(),
            TierOutcome::Skipped { .. } => None,
        }
    }

    /// `skipped: …` or `FAILED: …` for a tier that did not run to the end; None when it ran.
    pub fn not_run(&self) -> Option<String> {
        self.outcome.not_run()
    }
}

impl TierOutcome {
    /// `skipped: …` or `FAILED: …`; None when the tier ran.
    pub fn not_run(&self) -> Option<String> {
        match self {
            TierOutcome::Ran { .. } => None,
            TierOutcome::Skipped { reason } => Some(format!("skipped: {reason}")),
            TierOutcome::Failed { reason, .. } => Some(format!("FAILED: {reason}")),
        }
    }
}

/// One operation of one tier against the same operation on the `direct` tier. `Aggregated` is
/// the row for all operations together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverheadRow {
    pub tier: Tier,
    pub operation: String,
    pub requests: u64,
    pub rps: f64,
    pub direct_rps: f64,
    /// Throughput relative to direct (rps / direct_rps; None when direct had none).
    pub rps_ratio: Option<f64>,
    pub error_rate: f64,
    pub direct_error_rate: f64,
    /// The latency the tier added; None when either side had no successful request (a failed
    /// request's latency is no latency to compare).
    pub latency: Option<AddedLatency>,
    /// Path time (latency from the send minus the backend's own time, request by request), the
    /// tier's against direct's; None when either side's replies carried no backend time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<AddedLatency>,
}

/// Latency percentiles of successful requests, the tier's and direct's, and what the tier
/// added (tier − direct).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedLatency {
    pub p50_ms: f64,
    pub direct_p50_ms: f64,
    pub added_p50_ms: f64,
    pub p95_ms: f64,
    pub direct_p95_ms: f64,
    pub added_p95_ms: f64,
    pub p99_ms: f64,
    pub direct_p99_ms: f64,
    pub added_p99_ms: f64,
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
    /// Stopped by a signal: the numbers cover the time until then (exit 128 + the signal).
    Interrupted,
    /// A tier's target failed, so the comparison is incomplete and cannot pass (exit 3).
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
    pub tier: Tier,
    pub rss_mib: f64,
}
