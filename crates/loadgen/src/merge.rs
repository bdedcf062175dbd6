//! Several runs of one plan against one target (the rounds of a repeated run) as one run: the
//! histograms merged operation by operation, so the merged percentiles are those of every
//! request of every round — not an average of percentiles — and the books, series, warnings
//! and the worst schedule verdict carried over.

use std::collections::BTreeMap;

use crate::recorder::OpStats;
use crate::results::{OperationResult, RunResults};
use crate::schedule::{Accounting, Lateness, ScheduleReport, ScheduleVerdict};

impl RunResults {
    /// The rounds (in the order they ran) as one run. Errors only on a results file whose
    /// histograms do not decode.
    pub fn merge_rounds(rounds: &[RunResults]) -> Result<RunResults, String> {
        let (first, last) = match (rounds.first(), rounds.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err("no rounds to merge".into()),
        };
        if rounds.len() == 1 {
            return Ok(first.clone());
        }
        let duration: f64 = rounds.iter().map(|r| r.duration_secs).sum();
        let mut names: Vec<&str> = Vec::new();
        let mut stats: BTreeMap<&str, OpStats> = BTreeMap::new();
        let mut total = OpStats::default();
        for round in rounds {
            for op in &round.operations {
                if !names.contains(&op.name.as_str()) {
                    names.push(&op.name);
                }
                stats.entry(&op.name).or_default().merge(&op.to_stats()?);
            }
            total.merge(&round.total.to_stats()?);
        }
        Ok(RunResults {
            finished_at: last.finished_at.clone(),
            duration_secs: duration,
            stopped_by: rounds.iter().find_map(|r| r.stopped_by),
            schedule: merged_schedule(rounds),
            target_down: rounds.iter().find_map(|r| r.target_down.clone()),
            operations: names
                .iter()
                .map(|name| OperationResult::from_stats(name, &stats[name], duration))
                .collect(),
            total: OperationResult::from_stats(&first.total.name, &total, duration),
            series: merged_series(rounds),
            warnings: merged_warnings(rounds),
            thresholds: Vec::new(),
            ..first.clone()
        })
    }
}

fn merged_schedule(rounds: &[RunResults]) -> ScheduleReport {
    let mut accounting = Accounting::default();
    let mut lateness = Lateness::default();
    for s in rounds.iter().map(|r| &r.schedule) {
        let (a, d, l) = (&s.accounting, &s.accounting.dropped, &s.lateness);
        accounting.intended += a.intended;
        accounting.recorded += a.recorded;
        accounting.dropped.backlog_full += d.backlog_full;
        accounting.dropped.window_closed += d.window_closed;
        accounting.dropped.aborted_in_flight += d.aborted_in_flight;
        lateness.generator_late += l.generator_late;
        lateness.queued_starts += l.queued_starts;
        lateness.max_start_lag_ms = lateness.max_start_lag_ms.max(l.max_start_lag_ms);
        lateness.max_queue_wait_ms = lateness.max_queue_wait_ms.max(l.max_queue_wait_ms);
        lateness.generator_cpu_utilisation = lateness
            .generator_cpu_utilisation
            .max(l.generator_cpu_utilisation);
    }
    ScheduleReport {
        accounting,
        lateness,
        verdict: worst_verdict(rounds),
    }
}

/// A round whose generator saturated makes the whole saturated; else one the target stalled
/// in makes it stalled; each reason says its round.
fn worst_verdict(rounds: &[RunResults]) -> ScheduleVerdict {
    let numbered = || {
        rounds
            .iter()
            .enumerate()
            .map(|(i, r)| (i + 1, &r.schedule.verdict))
    };
    let saturated: Vec<String> = numbered()
        .flat_map(|(i, v)| match v {
            ScheduleVerdict::GeneratorSaturated { reasons } => {
                reasons.iter().map(|r| format!("round {i}: {r}")).collect()
            }
            _ => Vec::new(),
        })
        .collect();
    if !saturated.is_empty() {
        return ScheduleVerdict::GeneratorSaturated { reasons: saturated };
    }
    let stalled: Vec<String> = numbered()
        .filter_map(|(i, v)| match v {
            ScheduleVerdict::TargetStalled { reason } => Some(format!("round {i}: {reason}")),
            _ => None,
        })
        .collect();
    if stalled.is_empty() {
        ScheduleVerdict::Kept
    } else {
        ScheduleVerdict::TargetStalled {
            reason: stalled.join("; "),
        }
    }
}

/// Each round's seconds after the previous rounds', each second's operations in the merged
/// order (a round that lacked an operation has zeros for it).
fn merged_series(rounds: &[RunResults]) -> Vec<crate::results::SeriesPoint> {
    let mut order: Vec<&str> = Vec::new();
    for op in rounds.iter().flat_map(|r| &r.operations) {
        if !order.contains(&op.name.as_str()) {
            order.push(&op.name);
        }
    }
    let mut offset = 0.0;
    let mut out = Vec::new();
    for round in rounds {
        for point in &round.series {
            let mut p = point.clone();
            p.t += offset;
            p.ops = order
                .iter()
                .map(|name| {
                    round
                        .operations
                        .iter()
                        .position(|o| o.name == *name)
                        .and_then(|i| point.ops.get(i).cloned())
                        .unwrap_or_default()
                })
                .collect();
            out.push(p);
        }
        offset += round.duration_secs;
    }
    out
}

fn merged_warnings(rounds: &[RunResults]) -> Vec<String> {
    rounds
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.warnings
                .iter()
                .map(move |w| format!("round {}: {w}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Sample;
    use std::time::Duration;

    fn round(latencies_ms: std::ops::RangeInclusive<u64>, verdict: ScheduleVerdict) -> RunResults {
        let mut s = OpStats::default();
        for ms in latencies_ms {
            s.record(&Sample {
                corrected: Duration::from_millis(ms),
                uncorrected: Duration::from_millis(ms),
                ttfb: None,
                status: Some(200),
                bytes: 1,
                error: None,
                backend: None,
                trace: None,
            });
        }
        let op = OperationResult::from_stats("tools/call", &s, 10.0);
        let mut r = RunResults {
            duration_secs: 10.0,
            operations: vec![op.clone()],
            total: OperationResult {
                name: crate::AGGREGATED.into(),
                ..op
            },
            warnings: vec!["w".into()],
            ..crate::results::fixtures::empty()
        };
        r.schedule.accounting.intended = r.total.requests;
        r.schedule.accounting.recorded = r.total.requests;
        r.schedule.verdict = verdict;
        r
    }

    #[test]
    fn merged_percentiles_are_of_every_request_and_the_books_still_balance() {
        let rounds = [
            round(1..=100, ScheduleVerdict::Kept),
            round(
                101..=200,
                ScheduleVerdict::TargetStalled { reason: "x".into() },
            ),
        ];
        let merged = RunResults::merge_rounds(&rounds).unwrap();
        assert_eq!(merged.total.requests, 200);
        assert_eq!(merged.duration_secs, 20.0);
        assert_eq!(merged.total.rps, 10.0);
        // The median of 1..=200 ms, not the mean of the two rounds' medians (50.5 and 150.5).
        assert!((merged.operations[0].latency.p50_ms - 100.0).abs() < 0.1);
        assert!(merged.schedule.accounting.balances());
        assert_eq!(
            merged.schedule.verdict,
            ScheduleVerdict::TargetStalled {
                reason: "round 2: x".into()
            }
        );
        assert_eq!(merged.warnings, ["round 1: w", "round 2: w"]);
    }
}
