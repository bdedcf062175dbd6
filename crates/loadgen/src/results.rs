//! The results document: versioned JSON (schema in `docs/results-schema.md`) with the config,
//! seed, command line, environment fingerprint, per-operation statistics, the HDR histograms
//! serialised (so runs can be merged and re-reported), the per-second series and the saturation
//! verdict. Locust's CSVs of it are written by `locust.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::attribution::BackendSummary;
use crate::phases::{PhaseStats, PhasesSummary};
use crate::recorder::{ErrorTally, OpStats};

/// Bumped on any incompatible change to [`RunResults`].
pub const SCHEMA: &str = "mcpbench.loadgen.results/v2";
/// The name of the all-operations row (Locust's).
pub const AGGREGATED: &str = "Aggregated";

/// The workload model a run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadModel {
    /// Users that loop: iteration, wait (Locust, hey).
    Closed,
    /// Arrivals on a schedule, whatever the target does (wrk2, k6's arrival-rate executors).
    Open,
}

impl std::fmt::Display for LoadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoadModel::Closed => "closed",
            LoadModel::Open => "open",
        })
    }
}

/// The target stopped accepting connections before the end of the measured window: it is
/// down, and the run says so rather than reporting what it measured before as its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDown {
    /// Seconds into the measured window of its last successful response (0: none at all).
    pub last_success_secs: f64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub schema: String,
    pub tool: String,
    pub tool_version: String,
    /// RFC 3339 start and end of the measured part (after warm-up).
    pub started_at: String,
    pub finished_at: String,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// The signal that stopped the run early; its numbers cover the time until then.
    pub stopped_by: Option<cli::Signal>,
    pub command_line: Vec<String>,
    pub seed: u64,
    pub model: LoadModel,
    /// The plan and scenario as run (secrets redacted).
    pub config: serde_json::Value,
    pub environment: Environment,
    /// Every intended iteration accounted for, and whose lateness it was.
    pub schedule: crate::schedule::ScheduleReport,
    /// The target stopped accepting connections before the end (None: it answered throughout).
    pub target_down: Option<TargetDown>,
    pub operations: Vec<OperationResult>,
    /// All operations together.
    pub total: OperationResult,
    pub series: Vec<SeriesPoint>,
    pub warnings: Vec<String>,
    /// Pass/fail thresholds checked against this run (empty when none were given).
    #[serde(default)]
    pub thresholds: Vec<crate::threshold::ThresholdResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    pub os: String,
    pub ulimit_nofile: u64,
    pub tool_version: String,
    pub git_revision: Option<String>,
    pub hostname: String,
}

impl Environment {
    /// Reads the fingerprint of this machine (and the git revision of the working directory).
    pub fn capture() -> Self {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let git_revision = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        Environment {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: read("/proc/sys/kernel/osrelease"),
            os: std::env::consts::OS.to_string(),
            ulimit_nofile: crate::limits::nofile_soft_limit(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision,
            hostname: read("/proc/sys/kernel/hostname"),
        }
    }

    /// What differs between two fingerprints in ways that move performance numbers.
    pub fn differences(&self, other: &Environment) -> Vec<String> {
        let mut out = Vec::new();
        if self.cpu_model != other.cpu_model {
            out.push(format!(
                "CPU model: {} vs {}",
                self.cpu_model, other.cpu_model
            ));
        }
        if self.cores != other.cores {
            out.push(format!("cores: {} vs {}", self.cores, other.cores));
        }
        if self.kernel != other.kernel {
            out.push(format!("kernel: {} vs {}", self.kernel, other.kernel));
        }
        if self.ulimit_nofile != other.ulimit_nofile {
            out.push(format!(
                "ulimit -n: {} vs {}",
                self.ulimit_nofile, other.ulimit_nofile
            ));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationResult {
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    /// failures / requests (0 when there were none).
    pub error_rate: f64,
    /// Requests per second over the measured duration.
    pub rps: f64,
    pub bytes: u64,
    /// Successful requests' latency from the intended send time: what a user of an open system
    /// waits.
    pub latency: LatencySummary,
    /// Successful requests' latency from the actual send: what closed-loop tools (hey, Locust)
    /// report.
    pub uncorrected: LatencySummary,
    /// Successful requests, from the send to the response head.
    pub ttfb: LatencySummary,
    /// Failed requests' latency from the intended send time, kept apart so failures never pull
    /// the success percentiles down.
    pub failed_latency: LatencySummary,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, ErrorTally>,
    pub histograms: EncodedHistograms,
    /// Backend and path time from the replies' stamps; absent when no reply carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendSummary>,
    /// Successful requests' phases (hey's Details: DNS+dialup, DNS, write, wait, read);
    /// absent when none was traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<PhasesSummary>,
}

/// Percentiles in milliseconds (µs precision), from an HDR histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub stdev_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1000.0,
            stdev_ms: h.stdev() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// HDR histograms in the V2 binary format, base64-encoded (readable by HdrHistogram libraries).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EncodedHistograms {
    pub corrected: String,
    pub uncorrected: String,
    pub ttfb: String,
    pub failed: String,
}

pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut bytes)
        .expect("serialising to memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram is not HDR V2: {e:?}"))
}

impl OperationResult {
    pub fn from_stats(name: &str, s: &OpStats, duration_secs: f64) -> Self {
        OperationResult {
            name: name.to_string(),
            requests: s.requests,
            failures: s.failures,
            error_rate: if s.requests == 0 {
                0.0
            } else {
                s.failures as f64 / s.requests as f64
            },
            rps: if duration_secs > 0.0 {
                s.requests as f64 / duration_secs
            } else {
                0.0
            },
            bytes: s.bytes,
            latency: LatencySummary::from_histogram(&s.corrected),
            uncorrected: LatencySummary::from_histogram(&s.uncorrected),
            ttfb: LatencySummary::from_histogram(&s.ttfb),
            failed_latency: LatencySummary::from_histogram(&s.failed),
            status_codes: s
                .status_codes
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            errors: s
                .errors
                .iter()
                .map(|(k, v)| (k.name().to_string(), v.clone()))
                .collect(),
            histograms: EncodedHistograms {
                corrected: encode_histogram(&s.corrected),
                uncorrected: encode_histogram(&s.uncorrected),
                ttfb: encode_histogram(&s.ttfb),
                failed: encode_histogram(&s.failed),
            },
            backend: BackendSummary::of(&s.attribution),
            phases: s.phases.summary(),
        }
    }

    /// Back to live statistics (histograms decoded), e.g. to merge runs and report them again.
    pub fn to_stats(&self) -> Result<OpStats, String> {
        let mut s = OpStats {
            corrected: decode_histogram(&self.histograms.corrected)?,
            uncorrected: decode_histogram(&self.histograms.uncorrected)?,
            ttfb: decode_histogram(&self.histograms.ttfb)?,
            failed: decode_histogram(&self.histograms.failed)?,
            requests: self.requests,
            failures: self.failures,
            bytes: self.bytes,
            attribution: match &self.backend {
                Some(b) => b.to_attribution()?,
                None => Default::default(),
            },
            phases: self
                .phases
                .as_ref()
                .map_or_else(PhaseStats::default, PhaseStats::from_summary),
            ..OpStats::default()
        };
        for (code, n) in &self.status_codes {
            s.status_codes.insert(
                code.parse()
                    .map_err(|_| format!("bad status code {code}"))?,
                *n,
            );
        }
        for (class, tally) in &self.errors {
            let class = serde_json::from_value(serde_json::Value::String(class.clone()))
                .map_err(|_| format!("unknown error class {class}"))?;
            s.errors.insert(class, tally.clone());
        }
        Ok(s)
    }
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Seconds since the start of the measured part (end of this interval).
    pub t: f64,
    /// Users (closed) or arrival rate (open) the plan asked for.
    pub target: f64,
    /// Users running, or iterations in flight (open).
    pub active: u64,
    /// Intended iterations dropped in this second (open model: backlog full).
    pub dropped: u64,
    /// Per operation, in the order of `operations`.
    pub ops: Vec<SeriesOp>,
    /// All operations together (Locust's `Aggregated` history row); absent in runs recorded
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<SeriesOp>,
}

/// One operation's second; the percentiles are over its successful requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesOp {
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// What Locust's `_stats_history.csv` adds (absent in runs recorded before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locust: Option<LocustSecond>,
}

/// One second of an operation as Locust's history row has it: this second's successful requests
/// at every percentile Locust reports, and the operation's totals since the window opened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocustSecond {
    /// At Locust's percentiles (50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100%) of this
    /// second's successful requests; empty when none succeeded in it.
    pub percentiles_ms: Vec<f64>,
    /// Successful requests since the window opened: median, mean, min and max.
    pub total_median_ms: f64,
    pub total_mean_ms: f64,
    pub total_min_ms: f64,
    pub total_max_ms: f64,
    /// Response body bytes per request since the window opened.
    pub total_avg_content_bytes: f64,
}

impl RunResults {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialise")
    }

    pub fn from_json(text: &str) -> Result<RunResults, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {
                serde_json::from_value(value).map_err(|e| format!("does not match {SCHEMA}: {e}"))
            }
            Some(other) => Err(format!("schema {other} is not {SCHEMA}")),
            None => Err("no \"schema\" field: not an mcpbench results file".into()),
        }
    }

    /// Writes `results.json` and Locust's CSV set (`locust_stats.csv`, `locust_stats_history.csv`,
    /// `locust_failures.csv`, `locust_exceptions.csv`: `locust --csv locust`) into `dir`.
    pub fn write_to_dir(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("results.json"), self.to_json())?;
        self.write_locust_csvs(dir, crate::locust::LOAD_PREFIX)
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Known results for this crate's tests (the report crate keeps its own, richer runs).
    use super::*;

    /// A run with no operations, to be filled in by a test.
    pub fn empty() -> RunResults {
        let none = OperationResult::from_stats(AGGREGATED, &OpStats::default(), 0.0);
        RunResults {
            schema: SCHEMA.into(),
            tool: "mcpbench".into(),
            tool_version: "0".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:10Z".into(),
            duration_secs: 10.0,
            warmup_secs: 0.0,
            stopped_by: None,
            command_line: vec![],
            seed: 1,
            model: LoadModel::Closed,
            config: serde_json::Value::Null,
            environment: Environment::default(),
            schedule: Default::default(),
            target_down: None,
            operations: vec![],
            total: none,
            series: vec![],
            warnings: vec![],
            thresholds: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{ErrorClass, Sample};
    use std::time::Duration;

    fn stats() -> OpStats {
        let mut s = OpStats::default();
        for ms in 1..=100 {
            s.record(&Sample {
                corrected: Duration::from_millis(ms),
                uncorrected: Duration::from_millis(ms),
                ttfb: Some(Duration::from_millis(1)),
                status: Some(200),
                bytes: 100,
                error: (ms % 10 == 0).then(|| (ErrorClass::Jsonrpc, "code -32601".to_string())),
                backend: (ms % 3 == 0).then(|| crate::attribution::Attributed {
                    stamp: bench_server::stamp::Stamp {
                        by: "0@1".into(),
                        handler_us: ms * 500,
                        call: Some(ms),
                    },
                    rebound: false,
                }),
                trace: Some(crate::recorder::Trace {
                    sent: std::time::Instant::now(),
                    phases: crate::phases::Phases {
                        dialup: Duration::from_millis(ms % 2),
                        write: Some(Duration::from_micros(5)),
                        wait: Duration::from_millis(ms),
                        ..Default::default()
                    },
                }),
            });
        }
        s
    }

    #[test]
    fn histograms_round_trip_through_the_json_document() {
        let op = OperationResult::from_stats("tools/call", &stats(), 10.0);
        assert_eq!(op.rps, 10.0);
        assert_eq!(op.error_rate, 0.1);
        let back = op.to_stats().unwrap();
        assert_eq!(back.corrected, stats().corrected);
        assert_eq!(back.errors[&ErrorClass::Jsonrpc].count, 10);
        // 30 stamped replies, 27 of them successes (30, 60, 90 failed), handler half the latency.
        let backend = op.backend.as_ref().expect("stamped replies");
        assert_eq!(backend.stamped, 30);
        assert_eq!(back.attribution.path, stats().attribution.path);
        // hey's Details: the 90 successes' phases, back to the same sums and extremes.
        let phases = op.phases.expect("traced successes");
        assert_eq!(phases.response_wait.count, 90);
        assert_eq!(
            (phases.response_wait.min_ms, phases.response_wait.max_ms),
            (1.0, 99.0)
        );
        assert_eq!(back.phases, stats().phases);
        assert_eq!(backend.path.p50_ms, backend.backend.p50_ms);
        // Merged runs report the combined distribution.
        let mut merged = back.clone();
        merged.merge(&back);
        assert_eq!(
            OperationResult::from_stats("x", &merged, 20.0)
                .latency
                .p50_ms,
            op.latency.p50_ms
        );
    }

    #[test]
    fn locust_csv_has_one_row_per_operation_plus_aggregated() {
        let op = OperationResult::from_stats("tools/call", &stats(), 10.0);
        let results = RunResults {
            operations: vec![op.clone()],
            total: OperationResult {
                name: AGGREGATED.into(),
                ..op
            },
            ..fixtures::empty()
        };
        let csv = results.locust_stats_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            // The median of the 90 successful requests (every tenth one failed).
            lines[1].starts_with("MCP,tools/call,100,10,49.0"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with(",Aggregated,100,10"), "{}", lines[2]);
        assert_eq!(RunResults::from_json(&results.to_json()).unwrap(), results);
        assert!(RunResults::from_json("{\"schema\":\"other/v9\"}")
            .unwrap_err()
            .contains("other/v9"));
    }
}
