//! A streaming plan run on every tier (`load-test --profile sse|websocket`): each tier's
//! `loadgen::stream::StreamResults`, the thresholds judged on them, the connection checks and
//! the verdict — the document of `results.json` (schema [`STREAM_RUN_SCHEMA`]) and its views
//! (`report.md`, `report.html`, `junit.xml`; `views`).
//!
//! The judged tiers are the gateway's (gateway, nginx): there every connection must be held
//! at once and none dropped — a stream plan is first a connection-stability test — and the
//! thresholds hold. The direct tier is the reference the gateway's cost is read against.

mod views;

use std::path::Path;

use cli::Signal;
use loadgen::stream::{StreamResults, StreamTransport};
use loadgen::threshold::ThresholdResult;
use serde::{Deserialize, Serialize};

use crate::document::{Measured, Tier, Verdict};
use crate::verdict::{decide, Judged};
use crate::{HostSockets, ServiceUsage, UsageSummary};

pub use views::{markdown, overhead};

/// The schema of a stream run's `results.json`.
pub const STREAM_RUN_SCHEMA: &str = "mcpbench.stream-run/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamRun {
    pub schema: String,
    pub run_id: String,
    pub tool_version: String,
    pub started_at: String,
    pub finished_at: String,
    /// As typed, secrets redacted.
    pub command_line: Vec<String>,
    pub plan: StreamPlanInfo,
    pub measured: Measured,
    pub tiers: Vec<StreamTierRun>,
    pub thresholds: Vec<ThresholdResult>,
    /// What the run found worth saying (the message it sends, a tier it cannot address).
    pub notes: Vec<String>,
    /// Every service of the stack through every tier (none on an existing gateway).
    #[serde(default)]
    pub service_usage: Vec<ServiceUsage>,
    #[serde(default)]
    pub usage_summary: Vec<UsageSummary>,
    /// The host's TCP sockets through every tier; None when they could not be read.
    #[serde(default)]
    pub sockets: Option<HostSockets>,
    pub verdict: Verdict,
}

/// The plan as run (after `--connections`, `--message-rate`, `--duration`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamPlanInfo {
    pub name: String,
    pub transport: StreamTransport,
    pub connections: u32,
    /// Messages per second on each connection.
    pub message_rate: f64,
    pub duration_secs: f64,
    pub sla_class: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamTierRun {
    pub tier: Tier,
    /// The stream's URL, without credentials.
    pub target: String,
    pub outcome: StreamTierOutcome,
}

/// What became of a tier, as for request tiers: a failed tier keeps what it measured for
/// diagnosis but is no baseline and cannot pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamTierOutcome {
    Ran {
        results: Box<StreamResults>,
    },
    Skipped {
        reason: String,
    },
    Failed {
        reason: String,
        results: Option<Box<StreamResults>>,
    },
}

impl StreamTierRun {
    /// The results of a tier that ran to its end against a target that stayed up.
    pub fn ran(&self) -> Option<&StreamResults> {
        match &self.outcome {
            StreamTierOutcome::Ran { results } => Some(results),
            _ => None,
        }
    }

    /// Whatever the tier measured, failed or not.
    pub fn measured(&self) -> Option<&StreamResults> {
        match &self.outcome {
            StreamTierOutcome::Ran { results }
            | StreamTierOutcome::Failed {
                results: Some(results),
                ..
            } => Some(results),
            _ => None,
        }
    }

    /// Whether the connection checks and unscoped thresholds apply (the gateway's tiers).
    pub fn judged(&self) -> bool {
        self.tier.place() != Tier::Direct
    }

    /// Why its connections were not stable: some never held at once, or some dropped.
    pub fn unstable(&self) -> Option<String> {
        let r = self.ran().filter(|_| self.judged())?;
        let drops: u64 = r.drops.values().sum();
        match (r.peak_held < i64::from(r.connections), drops) {
            (true, _) => Some(format!(
                "tier {} held at most {} of its {} connections at once",
                self.tier, r.peak_held, r.connections
            )),
            (false, 0) => None,
            (false, n) => Some(format!(
                "tier {} lost {n} live connection(s) ({:?})",
                self.tier, r.drops
            )),
        }
    }
}

/// The verdict, ranked as a request run's (`crate::verdict`): a signal, then a failed tier
/// (ERROR, exit 3), then an unstable tier or a failed threshold (FAIL, exit 1).
pub fn stream_verdict(
    tiers: &[StreamTierRun],
    thresholds: &[ThresholdResult],
    stopped_by: Option<Signal>,
) -> Verdict {
    let signal = stopped_by.or_else(|| tiers.iter().find_map(|t| t.measured()?.stopped_by));
    let mut reasons: Vec<String> = signal
        .map(|s| format!("stopped by {s}: the numbers cover the time until then"))
        .into_iter()
        .collect();
    let mut failed_tier = false;
    for tier in tiers {
        if let StreamTierOutcome::Failed { reason, .. } = &tier.outcome {
            failed_tier = true;
            reasons.push(format!("tier {} FAILED: {reason}", tier.tier));
        }
    }
    let unstable: Vec<String> = tiers.iter().filter_map(StreamTierRun::unstable).collect();
    let failed = !unstable.is_empty() || thresholds.iter().any(|t| !t.passed);
    reasons.extend(unstable);
    for result in thresholds.iter().filter(|t| !t.passed) {
        reasons.push(format!(
            "threshold failed: {}",
            crate::format::threshold_line(result)
        ));
    }
    for tier in tiers {
        if let StreamTierOutcome::Skipped { reason } = &tier.outcome {
            reasons.push(format!("tier {} skipped: {reason}", tier.tier));
        }
    }
    decide(
        Judged {
            signal,
            failed_tier,
            saturated: false,
            failed,
        },
        reasons,
    )
}

impl StreamRun {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the stream run document serialises")
    }

    /// The stream run saved at `path`; None when the file is not one (or cannot be read: the
    /// caller's own reading says why).
    pub fn read(path: &Path) -> Option<Result<StreamRun, String>> {
        let text = std::fs::read_to_string(path).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        (value.get("schema")? == STREAM_RUN_SCHEMA).then(|| {
            serde_json::from_value(value).map_err(|e| {
                format!(
                    "{}: does not match {STREAM_RUN_SCHEMA}: {e}",
                    path.display()
                )
            })
        })
    }

    /// Writes `results.json`, `report.md`, `report.html` and `junit.xml` into `dir` (created).
    pub fn write_to_dir(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let html = views::html(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("results.json"), self.to_json() + "\n")?;
        std::fs::write(dir.join("report.md"), markdown(self))?;
        std::fs::write(dir.join("report.html"), html)?;
        std::fs::write(dir.join("junit.xml"), views::junit(self))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
