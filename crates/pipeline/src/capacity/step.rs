//! One step of a capacity search: the tier's workload offered at one arrival rate (the open
//! model, Poisson arrivals as the arrival-rate profiles use) for a bounded time, run through
//! `tiers::run_one` (the services it passes through checked before and after, like a tier of
//! `load-test`), then judged: the generator's schedule first (a step it could not keep is not
//! the target's), then every clause of the SLO, then whether the target served what was offered.

use std::time::Duration;

use loadgen::threshold::{Metric, Threshold};
use loadgen::{Arrival, HttpOptions, Model, Plan, ProgressMode, RunResults, RunSpec, Scenario};
use report::capacity::{rate as spell_rate, Figures, Phase, Step, StepVerdict};
use report::{Tier, TierOutcome};

use crate::targets::Health;

/// A step whose successful share of the arrivals it offered is below this broke the SLO: the
/// target refused or stalled, whatever its latency says.
pub const MIN_ACHIEVED_SHARE: f64 = 0.9;
/// In-flight users per step: one second of arrivals, at least this many.
const LEAST_IN_FLIGHT: u32 = 50;
/// And at most this many (the engine's `load` takes the same range).
const MOST_IN_FLIGHT: u64 = 10_000;
/// No request waits less than this before it times out.
const LEAST_TIMEOUT: Duration = Duration::from_secs(10);

/// What every step of a search shares.
pub struct StepSettings<'a> {
    pub slo: &'a [Threshold],
    pub step: Duration,
    pub warmup: Duration,
    pub seed: u64,
    pub progress: ProgressMode,
    pub command_line: &'a [String],
    /// Whose certificates the tier's target may present.
    pub trust: &'a loadgen::Trust,
}

/// How a step ended.
pub enum StepRun {
    Measured(Step),
    /// The tier's target does not speak its era (asked before any load).
    Skipped(String),
}

/// In-flight users for `rate`: a second of arrivals, within the engine's range and what this
/// process's descriptors allow.
pub fn in_flight(rate: f64) -> u32 {
    let (nofile, _) = crate::host::nofile_limits();
    let most = MOST_IN_FLIGHT.min(nofile.saturating_sub(crate::host::DESCRIPTOR_MARGIN));
    let most = u32::try_from(most).unwrap_or(u32::MAX).max(LEAST_IN_FLIGHT);
    (rate.ceil() as u32).clamp(LEAST_IN_FLIGHT, most)
}

/// Requests slower than twice the SLO's largest latency limit (and at least 10 s) time out:
/// they broke the SLO either way, and the step's drain stays short.
fn timeout(slo: &[Threshold]) -> Duration {
    let largest_ms = slo
        .iter()
        .filter(|t| matches!(t.metric, Metric::Percentile(_) | Metric::Max | Metric::Mean))
        .map(|t| t.limit)
        .fold(0.0, f64::max);
    LEAST_TIMEOUT.max(Duration::from_secs_f64(2.0 * largest_ms / 1000.0))
}

fn spec(tier: Tier, scenario: Scenario, rate: f64, settings: &StepSettings<'_>) -> RunSpec {
    let in_flight = in_flight(rate);
    RunSpec {
        plan: Plan {
            model: Model::Open {
                rate,
                arrival: Arrival::Poisson,
                max_in_flight: in_flight,
                max_backlog: in_flight,
            },
            stages: vec![],
            duration: Some(settings.step),
            max_requests: None,
            warmup: settings.warmup,
            seed: settings.seed,
        },
        scenario,
        http: HttpOptions {
            timeout: timeout(settings.slo),
            trust: settings.trust.clone(),
            ..HttpOptions::default()
        },
        command_line: settings.command_line.to_vec(),
        progress: settings.progress,
        label: format!("{tier} @ {}", spell_rate(rate)),
        live: None,
        request_log: None,
    }
}

/// Runs one step. An `Err` is a bug in the plan (the engine refused its configuration).
pub async fn run(
    tier: Tier,
    scenario: Scenario,
    (phase, rate): (Phase, f64),
    settings: &StepSettings<'_>,
    health: &Health,
    stop: &cli::signal::StopReceiver,
) -> Result<StepRun, String> {
    let spec = spec(tier, scenario, rate, settings);
    let outcome = crate::tiers::run_one(tier, spec, health, stop).await?;
    let (figures, verdict) = match outcome {
        TierOutcome::Skipped { reason } => return Ok(StepRun::Skipped(reason)),
        TierOutcome::Failed { reason, results } => {
            (results.map(|r| figures(&r)), StepVerdict::Failed { reason })
        }
        TierOutcome::Ran { results } => (Some(figures(&results)), judge(&results, settings.slo)),
    };
    Ok(StepRun::Measured(Step {
        phase,
        offered_rate: rate,
        figures,
        verdict,
    }))
}

/// The step's numbers (latency of successful requests, corrected; the SLO's error rate).
fn figures(r: &RunResults) -> Figures {
    let accounting = &r.schedule.accounting;
    let dropped = accounting.dropped.total();
    let total = &r.total;
    let latency = |v: f64| (total.latency.count > 0).then_some(v);
    let duration = r.duration_secs.max(1e-9);
    Figures {
        duration_secs: r.duration_secs,
        intended: accounting.intended,
        recorded: accounting.recorded,
        dropped,
        achieved_rate: accounting.recorded as f64 / duration * (1.0 - total.error_rate),
        requests: total.requests,
        p50_ms: latency(total.latency.p50_ms),
        p95_ms: latency(total.latency.p95_ms),
        p99_ms: latency(total.latency.p99_ms),
        error_rate: match total.requests + dropped {
            0 => 0.0,
            all => (total.failures + dropped) as f64 / all as f64,
        },
    }
}

/// The verdict of a step that ran to its end (or was stopped).
fn judge(results: &RunResults, slo: &[Threshold]) -> StepVerdict {
    if let Some(signal) = results.stopped_by {
        return StepVerdict::Stopped { signal };
    }
    if let loadgen::ScheduleVerdict::GeneratorSaturated { reasons } = &results.schedule.verdict {
        return StepVerdict::GeneratorLimited {
            reasons: reasons.clone(),
        };
    }
    let mut broken: Vec<String> = slo
        .iter()
        .map(|clause| clause.evaluate(results))
        .filter(|result| !result.passed)
        .map(|result| {
            format!(
                "{}: {}",
                result.expression,
                report::format::threshold_actual(&result)
            )
        })
        .collect();
    let f = figures(results);
    let offered = f.intended as f64 / f.duration_secs.max(1e-9);
    if f.intended > 0 && f.achieved_rate < MIN_ACHIEVED_SHARE * offered {
        broken.push(format!(
            "served {} of {} offered",
            spell_rate(f.achieved_rate),
            spell_rate(offered)
        ));
    }
    if broken.is_empty() {
        StepVerdict::Kept
    } else {
        StepVerdict::Broke { clauses: broken }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_a_second_of_arrivals_within_bounds_and_timeouts_follow_the_slo() {
        assert_eq!(in_flight(3.0), LEAST_IN_FLIGHT);
        assert!(in_flight(400.0) == 400 || in_flight(400.0) == in_flight(1e9));
        assert!(u64::from(in_flight(1e9)) <= MOST_IN_FLIGHT);
        let slo = |text: &str| vec![Threshold::parse(text).unwrap()];
        assert_eq!(timeout(&slo("error_rate<1%")), LEAST_TIMEOUT);
        assert_eq!(timeout(&slo("p99<30s")), Duration::from_secs(60));
    }
}
