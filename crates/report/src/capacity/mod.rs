//! The capacity document (`capacity.json`, schema [`CAPACITY_SCHEMA`]): per tier, every step of
//! the search for the highest arrival rate that keeps an SLO — offered and achieved rate,
//! latency, errors, and whether the step kept the SLO, which clause it broke, or whether the
//! generator was the limit — and the tier's answer. Every view (`views`, `html`) is computed
//! from it alone.

mod html;
mod views;

use std::path::Path;

use loadgen::threshold::Threshold;
use serde::{Deserialize, Serialize};

use crate::document::{Measured, Tier};

pub use views::{answer_line, steps_table, terminal};

/// Bumped on any incompatible change to [`CapacityRun`].
pub const CAPACITY_SCHEMA: &str = "mcpbench.capacity/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityRun {
    pub schema: String,
    /// `capacity-YYYYMMDD-HHMMSS`: also the directory name under `reports/`.
    pub run_id: String,
    pub tool_version: String,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: String,
    pub command_line: Vec<String>,
    pub measured: CapacityTarget,
    pub environment: loadgen::Environment,
    /// The clauses every step is judged by (all must hold).
    pub slo: Vec<Threshold>,
    pub settings: SearchSettings,
    /// In run order; a tier that did not run is present with its reason.
    pub tiers: Vec<TierCapacity>,
    /// The signal that stopped the search early.
    pub stopped_by: Option<cli::Signal>,
    pub warnings: Vec<String>,
}

/// What the search measured: the stack or an existing gateway (as `load-test` records them), or
/// one MCP endpoint by URL (`--url`), with nothing started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityTarget {
    System(Measured),
    Endpoint { url: String },
}

impl CapacityTarget {
    pub fn describe(&self) -> String {
        match self {
            CapacityTarget::System(measured) => measured.describe(),
            CapacityTarget::Endpoint { url } => {
                format!("the MCP endpoint {url} (nothing started)")
            }
        }
    }
}

/// How the search was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSettings {
    /// Arrivals per second of the first step.
    pub start_rate: f64,
    /// The highest rate offered.
    pub max_rate: f64,
    /// Measured seconds of each step, after its warm-up.
    pub step_secs: f64,
    pub warmup_secs: f64,
    /// Times the best rate is run again, each of which must keep the SLO.
    pub repeats: u32,
    /// Bisection stops when the gap between the last good and the first bad rate is below this
    /// share of the good one.
    pub resolution: f64,
    /// A step whose successful share of the offered arrivals is below this breaks the SLO.
    pub min_achieved_share: f64,
    pub seed: u64,
    /// The MCP user classes and their weights, e.g. `MCPToolCallerUser:5`.
    pub mcp_classes: Vec<String>,
}

/// One tier's search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierCapacity {
    pub tier: Tier,
    /// The URL its steps addressed ("-" when it had none).
    pub target: String,
    pub steps: Vec<Step>,
    pub answer: Answer,
}

/// Why the search offered a step's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Doubling from the start rate while the SLO holds.
    Ramp,
    /// Halving, when the start rate already broke the SLO.
    Descend,
    /// Between the last good and the first bad rate.
    Bisect,
    /// The best rate again, which must keep the SLO every time.
    Confirm,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Ramp => "ramp",
            Phase::Descend => "descend",
            Phase::Bisect => "bisect",
            Phase::Confirm => "confirm",
        }
    }
}

/// One step: a rate offered for a bounded time, what it achieved, and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub phase: Phase,
    /// Arrivals per second the schedule offered.
    pub offered_rate: f64,
    /// What it measured; None when nothing was (refused before any traffic).
    pub figures: Option<Figures>,
    pub verdict: StepVerdict,
}

/// A step's numbers: latency of successful requests from the intended send time (corrected),
/// the SLO's error rate (dropped arrivals count as failed), and the accounting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub duration_secs: f64,
    pub intended: u64,
    pub recorded: u64,
    pub dropped: u64,
    /// Arrivals per second served, scaled by the share of their requests that succeeded.
    pub achieved_rate: f64,
    pub requests: u64,
    /// None: no successful request.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate: f64,
}

/// What a step says about the target at its rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepVerdict {
    /// Every clause of the SLO held and the target served what was offered.
    Kept,
    /// These clauses broke, each with its measured value (`p95<200ms: 412.30 ms`), or the
    /// target served far less than was offered.
    Broke { clauses: Vec<String> },
    /// The generator could not keep the schedule: its numbers say nothing about the target.
    GeneratorLimited { reasons: Vec<String> },
    /// A signal stopped it: not judged.
    Stopped { signal: cli::Signal },
    /// The target was unreachable, refused at discovery, went down, or a service it passes
    /// through stopped answering.
    Failed { reason: String },
}

impl StepVerdict {
    /// One cell: `kept`, the broken clauses, `generator limit`, `stopped by …`, `FAILED: …`.
    pub fn cell(&self) -> String {
        match self {
            StepVerdict::Kept => "kept".into(),
            StepVerdict::Broke { clauses } => format!("broke {}", clauses.join("; ")),
            StepVerdict::GeneratorLimited { .. } => "generator limit (not judged)".into(),
            StepVerdict::Stopped { signal } => format!("stopped by {signal}"),
            StepVerdict::Failed { reason } => format!("FAILED: {reason}"),
        }
    }
}

/// A tier's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// The highest rate that kept the SLO, run `confirmed` more times keeping it each time.
    Sustainable { rate: f64, confirmed: u32 },
    /// `--max-rate` kept the SLO (confirmed too): the capacity is at least that.
    MaxRateKept { rate: f64, confirmed: u32 },
    /// The generator could not keep the schedule at `at` before any rate broke the SLO: the
    /// capacity is at least `kept` (None: no rate was judged).
    GeneratorLimited { kept: Option<f64>, at: f64 },
    /// No rate kept the SLO; `lowest` is the lowest tried.
    NoneSustained { lowest: f64 },
    /// The tier could not run (its component is not there, or its target does not speak the
    /// era).
    Skipped { reason: String },
    /// The target failed during the search.
    Failed { reason: String },
    /// A signal stopped the search first.
    Stopped { signal: cli::Signal },
}

impl CapacityRun {
    /// The exit status: a signal, then a failed tier (3), then a generator limit (4: no capacity
    /// was found, only a lower bound), then a tier that sustained no rate (1), else 0.
    pub fn exit(&self) -> cli::Exit {
        use cli::Exit;
        if let Some(signal) = self.stopped_by {
            return Exit::Stopped(signal);
        }
        let any = |f: fn(&Answer) -> bool| self.tiers.iter().any(|t| f(&t.answer));
        if any(|a| matches!(a, Answer::Failed { .. })) {
            Exit::Infrastructure
        } else if any(|a| matches!(a, Answer::GeneratorLimited { .. })) {
            Exit::Saturated
        } else if any(|a| matches!(a, Answer::NoneSustained { .. })) {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }

    /// The SLO as written on the command line: `p95<200ms,error_rate<0.1%`.
    pub fn slo_text(&self) -> String {
        self.slo
            .iter()
            .map(|t| t.expression.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the capacity document serialises")
    }

    /// Reads a `capacity.json` of this schema.
    pub fn from_json(text: &str) -> Result<CapacityRun, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(CAPACITY_SCHEMA) => serde_json::from_value(value)
                .map_err(|e| format!("does not match {CAPACITY_SCHEMA}: {e}")),
            other => Err(format!(
                "schema {} is not {CAPACITY_SCHEMA}",
                other.unwrap_or("(none)")
            )),
        }
    }

    /// Writes `capacity.json`, `capacity.md` and `capacity.html` into `dir` (created).
    pub fn write_to_dir(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let html = html::render(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("capacity.json"), self.to_json())?;
        std::fs::write(dir.join("capacity.md"), views::markdown(self))?;
        std::fs::write(dir.join("capacity.html"), html)?;
        Ok(())
    }
}

/// A rate as the views spell it: whole above 100/s, one decimal below.
pub fn rate(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}/s")
    } else {
        format!("{value:.1}/s")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn step(phase: Phase, rate: f64, p95: f64, verdict: StepVerdict) -> Step {
        Step {
            phase,
            offered_rate: rate,
            figures: Some(Figures {
                duration_secs: 10.0,
                intended: (rate * 10.0) as u64,
                recorded: (rate * 10.0) as u64,
                dropped: 0,
                achieved_rate: rate,
                requests: (rate * 10.0) as u64,
                p50_ms: Some(p95 / 2.0),
                p95_ms: Some(p95),
                p99_ms: Some(p95 * 1.5),
                error_rate: 0.0,
            }),
            verdict,
        }
    }

    /// A gateway search that found 300/s and a direct one the generator limited.
    pub fn run() -> CapacityRun {
        let kept = || StepVerdict::Kept;
        let broke = || StepVerdict::Broke {
            clauses: vec!["p95<200ms: 950.00 ms".into()],
        };
        CapacityRun {
            schema: CAPACITY_SCHEMA.into(),
            run_id: "capacity-20261203-101500".into(),
            tool_version: "0.1.0".into(),
            started_at: "2026-12-03T10:15:00Z".into(),
            finished_at: "2026-12-03T10:18:00Z".into(),
            command_line: vec!["cargo xtask capacity".into()],
            measured: CapacityTarget::Endpoint {
                url: "http://127.0.0.1:9000/mcp".into(),
            },
            environment: loadgen::Environment::default(),
            slo: vec![
                Threshold::parse("p95<200ms").unwrap(),
                Threshold::parse("error_rate<0.1%").unwrap(),
            ],
            settings: SearchSettings {
                start_rate: 50.0,
                max_rate: 100_000.0,
                step_secs: 10.0,
                warmup_secs: 2.0,
                repeats: 2,
                resolution: 0.1,
                min_achieved_share: 0.9,
                seed: 1,
                mcp_classes: vec!["MCPToolCallerUser:5".into()],
            },
            tiers: vec![
                TierCapacity {
                    tier: Tier::Direct,
                    target: "http://127.0.0.1:9000/mcp".into(),
                    steps: vec![
                        step(Phase::Ramp, 50.0, 1.0, kept()),
                        step(
                            Phase::Ramp,
                            100.0,
                            1.0,
                            StepVerdict::GeneratorLimited {
                                reasons: vec!["late".into()],
                            },
                        ),
                    ],
                    answer: Answer::GeneratorLimited {
                        kept: Some(50.0),
                        at: 100.0,
                    },
                },
                TierCapacity {
                    tier: Tier::Gateway,
                    target: "http://127.0.0.1:4444/servers/x/mcp".into(),
                    steps: vec![
                        step(Phase::Ramp, 200.0, 40.0, kept()),
                        step(Phase::Ramp, 400.0, 950.0, broke()),
                        step(Phase::Bisect, 300.0, 90.0, kept()),
                        step(Phase::Confirm, 300.0, 95.0, kept()),
                    ],
                    answer: Answer::Sustainable {
                        rate: 300.0,
                        confirmed: 1,
                    },
                },
            ],
            stopped_by: None,
            warnings: vec![],
        }
    }

    #[test]
    fn the_document_reads_back_and_the_exit_ranks_the_answers() {
        let run = run();
        assert_eq!(CapacityRun::from_json(&run.to_json()).unwrap(), run);
        assert_eq!(run.exit(), cli::Exit::Saturated);
        let mut failed = run.clone();
        failed.tiers[1].answer = Answer::Failed {
            reason: "down".into(),
        };
        assert_eq!(failed.exit(), cli::Exit::Infrastructure);
        let mut none = run.clone();
        none.tiers[0].answer = Answer::NoneSustained { lowest: 1.0 };
        assert_eq!(none.exit(), cli::Exit::Failed);
        none.tiers[0].answer = Answer::MaxRateKept {
            rate: 1.0,
            confirmed: 2,
        };
        assert_eq!(none.exit(), cli::Exit::Ok);
        none.stopped_by = Some(cli::Signal::Interrupt);
        assert_eq!(none.exit(), cli::Exit::Stopped(cli::Signal::Interrupt));
        assert!(
            CapacityRun::from_json("{\"schema\":\"mcpbench.overhead/v3\"}")
                .unwrap_err()
                .contains("is not mcpbench.capacity/v1")
        );
    }
}
