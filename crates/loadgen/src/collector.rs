//! The run's clock: once a second it turns the recorder's interval into a series point and a
//! progress line, and it decides how the measured window ended — its duration elapsed, the
//! executor finished (request budget spent), or a stop signal arrived.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::context::RunContext;
use crate::live::{Live, LiveOperation, LiveTick};
use crate::plan::Plan;
use crate::progress::{Progress, Snapshot};
use crate::recorder::{IntervalStats, OpStats};
use crate::results::{LocustSecond, SeriesOp, SeriesPoint};

/// How the measured window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The duration (or the stages) elapsed.
    WindowElapsed,
    /// The executor finished on its own: the request budget was spent.
    ExecutorFinished,
    /// A stop signal.
    Stopped(cli::Signal),
    /// The steerer ended the window early (the run drains as if it had elapsed).
    Steered,
}

/// Ticks until the window ends; returns the series so far and how it ended.
pub async fn collect(
    ctx: &RunContext,
    plan: &Plan,
    start: Instant,
    executor: &mut tokio::task::JoinHandle<()>,
    stop: impl Future<Output = cli::Signal>,
    progress: &mut Progress,
    live: Option<&Live>,
) -> (Vec<SeriesPoint>, Ended) {
    let mut series = Vec::new();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(start + Duration::from_secs(1)),
        Duration::from_secs(1),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let mut dropped_before = 0;
    let ended = loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                let interval = ctx.recorder.take_interval();
                let warming_up = now < ctx.window.measured_from;
                if !warming_up {
                    let since = now - ctx.window.measured_from;
                    let dropped = ctx.ledger.dropped();
                    series.push(point(plan, since, ctx, dropped - dropped_before, &interval));
                    dropped_before = dropped;
                    if let Some(live) = live {
                        live.tell(live_tick(ctx, plan, since, series.last().expect("just pushed")));
                    }
                }
                progress.update(&snapshot(ctx, plan, start, &series, warming_up));
                if ctx.window.end.is_some_and(|e| now >= e) {
                    break Ended::WindowElapsed;
                }
            }
            result = &mut *executor => {
                result.expect("executor task");
                break Ended::ExecutorFinished;
            }
            signal = &mut stop => break Ended::Stopped(signal),
            () = ctx.end_requested() => break Ended::Steered,
        }
    };
    (series, ended)
}

/// What a steerer sees of the second just ended and of the window so far.
fn live_tick(ctx: &RunContext, plan: &Plan, since: Duration, point: &SeriesPoint) -> LiveTick {
    let open = matches!(plan.model, crate::plan::Model::Open { .. });
    let report = ctx.ledger.report(open, 0.0);
    LiveTick {
        point: point.clone(),
        operations: LiveOperation::table(
            ctx.recorder.ops(),
            &ctx.recorder.totals(),
            since.as_secs_f64(),
        ),
        active: ctx.ledger.active.load(Ordering::Relaxed),
        dropped: ctx.ledger.dropped(),
        verdict: report.verdict,
    }
}

fn snapshot(
    ctx: &RunContext,
    plan: &Plan,
    start: Instant,
    series: &[SeriesPoint],
    warming_up: bool,
) -> Snapshot {
    let now = Instant::now();
    let totals = series
        .iter()
        .flat_map(|p| &p.ops)
        .fold((0, 0), |a, o| (a.0 + o.requests, a.1 + o.failures));
    let last = series.last().filter(|_| !warming_up);
    Snapshot {
        elapsed: if warming_up {
            now - start
        } else {
            now.saturating_duration_since(ctx.window.measured_from)
        },
        total: if warming_up {
            Some(plan.warmup)
        } else {
            plan.measured_duration()
        },
        warming_up,
        requests: totals.0,
        failures: totals.1,
        rps: last.map_or(0.0, |p| {
            p.ops.iter().map(|o| o.requests).sum::<u64>() as f64
        }),
        p95_ms: last.map_or(0.0, |p| p.ops.iter().map(|o| o.p95_ms).fold(0.0, f64::max)),
        active: ctx.ledger.active.load(Ordering::Relaxed),
        dropped: ctx.ledger.dropped(),
    }
}

/// One second of the series: requests, failures and success percentiles per operation, and
/// all of them together; with what Locust's history adds (every percentile of the second, the
/// totals since the window opened).
pub fn point(
    plan: &Plan,
    t: Duration,
    ctx: &RunContext,
    dropped: u64,
    interval: &[IntervalStats],
) -> SeriesPoint {
    let totals = ctx.recorder.totals();
    let mut all_second = crate::recorder::new_histogram();
    let mut all_totals = OpStats::default();
    for (i, total) in interval.iter().zip(&totals) {
        all_second.add(&i.latency).expect("same HDR bounds");
        all_totals.merge(total);
    }
    let all = IntervalStats {
        latency: all_second,
        requests: interval.iter().map(|i| i.requests).sum(),
        failures: interval.iter().map(|i| i.failures).sum(),
    };
    SeriesPoint {
        t: t.as_secs_f64(),
        target: ctx.target_at(plan, t),
        active: ctx.ledger.active.load(Ordering::Relaxed),
        dropped,
        ops: interval
            .iter()
            .zip(&totals)
            .map(|(i, total)| second(i, total))
            .collect(),
        total: Some(second(&all, &all_totals)),
    }
}

fn second(interval: &IntervalStats, total: &OpStats) -> SeriesOp {
    let h = &interval.latency;
    let ms = |us: u64| us as f64 / 1000.0;
    let at = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            ms(h.value_at_quantile(q))
        }
    };
    let run = &total.corrected;
    SeriesOp {
        requests: interval.requests,
        failures: interval.failures,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
        locust: Some(LocustSecond {
            percentiles_ms: if h.is_empty() {
                Vec::new()
            } else {
                crate::locust::PERCENTILES.iter().map(|&q| at(q)).collect()
            },
            total_median_ms: if run.is_empty() {
                0.0
            } else {
                ms(run.value_at_quantile(0.5))
            },
            total_mean_ms: run.mean() / 1000.0,
            total_min_ms: if run.is_empty() { 0.0 } else { ms(run.min()) },
            total_max_ms: if run.is_empty() { 0.0 } else { ms(run.max()) },
            total_avg_content_bytes: if total.requests == 0 {
                0.0
            } else {
                total.bytes as f64 / total.requests as f64
            },
        }),
    }
}

/// Appends the run's last, partial interval (the drain's completions among it). One that ends
/// within half a second of the last point is folded into it — counts added, percentiles the
/// larger of the two — so the series keeps increasing times and no rate is computed over a
/// sliver of a second.
pub fn append_tail(series: &mut Vec<SeriesPoint>, tail: SeriesPoint) {
    match series.last_mut() {
        Some(last) if tail.t < last.t + 0.5 => {
            last.dropped += tail.dropped;
            let last_total = last.total.iter_mut();
            let pairs = last.ops.iter_mut().zip(&tail.ops);
            for (op, extra) in pairs.chain(last_total.zip(&tail.total)) {
                fold(op, extra);
            }
        }
        _ => series.push(tail),
    }
}

/// A tail's second folded into the last: counts added, percentiles the larger, totals the
/// tail's (they are later).
fn fold(op: &mut SeriesOp, extra: &SeriesOp) {
    op.requests += extra.requests;
    op.failures += extra.failures;
    op.p50_ms = op.p50_ms.max(extra.p50_ms);
    op.p95_ms = op.p95_ms.max(extra.p95_ms);
    op.p99_ms = op.p99_ms.max(extra.p99_ms);
    op.max_ms = op.max_ms.max(extra.max_ms);
    if let (Some(mine), Some(theirs)) = (&mut op.locust, &extra.locust) {
        let percentiles = std::mem::take(&mut mine.percentiles_ms);
        *mine = theirs.clone();
        if percentiles.len() == theirs.percentiles_ms.len() {
            mine.percentiles_ms = percentiles
                .iter()
                .zip(&theirs.percentiles_ms)
                .map(|(a, b)| a.max(*b))
                .collect();
        } else if theirs.percentiles_ms.is_empty() {
            mine.percentiles_ms = percentiles;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, requests: u64, p99_ms: f64) -> SeriesPoint {
        SeriesPoint {
            t,
            target: 1.0,
            active: 1,
            dropped: 0,
            ops: vec![SeriesOp {
                requests,
                failures: 0,
                p50_ms: 1.0,
                p95_ms: 2.0,
                p99_ms,
                max_ms: p99_ms,
                locust: None,
            }],
            total: None,
        }
    }

    #[test]
    fn a_sliver_of_a_tail_folds_into_the_last_second_and_times_keep_increasing() {
        let mut series = vec![point(29.0, 10, 5.0), point(30.002, 12, 5.0)];
        append_tail(&mut series, point(30.0, 9, 8.0));
        assert_eq!(series.len(), 2);
        assert_eq!(series[1].ops[0].requests, 21);
        assert_eq!(series[1].ops[0].p99_ms, 8.0);
        // A real partial second (a stop 0.7 s after the last tick) stays a point of its own.
        append_tail(&mut series, point(30.7, 4, 1.0));
        assert_eq!(series.len(), 3);
        assert!(series.windows(2).all(|w| w[0].t < w[1].t));
    }
}
