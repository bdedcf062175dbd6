//! The end of a run on the terminal: per operation the successful requests' latency (corrected,
//! with the uncorrected p99 beside it so a gap shows at a glance), the failures by class with
//! samples, where every intended iteration went, whose lateness it was, and the thresholds.

use std::fmt::Write as _;

use cli::{Align, Table};

use crate::{RunResults, ScheduleVerdict};

/// The whole summary.
pub fn summary(r: &RunResults) -> String {
    let mut s = String::from("\n");
    s.push_str(&operations_table(r).text());
    for op in &r.operations {
        for (class, tally) in &op.errors {
            let _ = writeln!(
                s,
                "  {} {class} ×{}: {}",
                op.name,
                tally.count,
                tally.samples.join(" | ")
            );
        }
    }
    s.push('\n');
    s.push_str(&schedule_lines(r));
    s.push_str(&threshold_lines(r));
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

fn operations_table(r: &RunResults) -> Table {
    let right = |title| (title, Align::Right);
    let mut table = Table::new(&[
        ("operation", Align::Left),
        right("requests"),
        right("fails"),
        right("err %"),
        right("req/s"),
        right("p50 ms"),
        right("p95 ms"),
        right("p99 ms"),
        right("p99.9 ms"),
        right("max ms"),
        right("p99 uncorr."),
    ]);
    for op in r.operations.iter().chain([&r.total]) {
        let l = &op.latency;
        let ms = |v: f64| {
            if l.count == 0 {
                "-".to_string()
            } else {
                format!("{v:.2}")
            }
        };
        table.push(vec![
            op.name.clone(),
            op.requests.to_string(),
            op.failures.to_string(),
            format!("{:.2}", op.error_rate * 100.0),
            format!("{:.1}", op.rps),
            ms(l.p50_ms),
            ms(l.p95_ms),
            ms(l.p99_ms),
            ms(l.p999_ms),
            ms(l.max_ms),
            ms(op.uncorrected.p99_ms),
        ]);
    }
    table
}

/// Each threshold's verdict, one line each.
pub fn threshold_lines(r: &RunResults) -> String {
    let mut s = String::new();
    for t in &r.thresholds {
        let verdict = if t.passed { "PASS" } else { "FAIL" };
        let actual = t.actual.map_or("no successful request".to_string(), |a| {
            format!("actual {a:.3}")
        });
        let _ = writeln!(s, "{verdict} {}  ({actual})", t.expression);
    }
    s
}

/// The accounting, the lateness, and the verdicts on the schedule and the target.
pub fn schedule_lines(r: &RunResults) -> String {
    let mut s = String::new();
    let (a, l) = (&r.schedule.accounting, &r.schedule.lateness);
    let _ = writeln!(
        s,
        "{} model, {:.1}s measured, seed {}: intended {} = recorded {} + dropped {} (backlog full {}, window closed {}, aborted in flight {})",
        r.model,
        r.duration_secs,
        r.seed,
        a.intended,
        a.recorded,
        a.dropped.total(),
        a.dropped.backlog_full,
        a.dropped.window_closed,
        a.dropped.aborted_in_flight
    );
    let _ = writeln!(
        s,
        "generator late {}, queued for a free user {} (max wait {:.0} ms), generator CPU {:.0}%; latency percentiles are of successful requests",
        l.generator_late,
        l.queued_starts,
        l.max_queue_wait_ms,
        l.generator_cpu_utilisation * 100.0
    );
    match &r.schedule.verdict {
        ScheduleVerdict::Kept => {}
        ScheduleVerdict::TargetStalled { reason } => {
            let _ = writeln!(s, "TARGET STALLED / AT CAPACITY — {reason}");
        }
        ScheduleVerdict::GeneratorSaturated { reasons } => {
            let _ = writeln!(
                s,
                "SATURATED — the generator fell behind, these latencies understate the truth and no threshold is judged: {}",
                reasons.join("; ")
            );
        }
    }
    if let Some(down) = &r.target_down {
        let _ = writeln!(s, "TARGET DOWN — {}", down.reason);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures;

    #[test]
    fn the_summary_accounts_for_every_intended_iteration_and_names_a_stall() {
        let mut r = fixtures::empty();
        r.schedule.accounting.intended = 10;
        r.schedule.accounting.recorded = 7;
        r.schedule.accounting.dropped.backlog_full = 3;
        r.schedule.verdict = ScheduleVerdict::TargetStalled {
            reason: "3 dropped".into(),
        };
        let text = summary(&r);
        assert!(
            text.contains("intended 10 = recorded 7 + dropped 3 (backlog full 3"),
            "{text}"
        );
        assert!(
            text.contains("TARGET STALLED / AT CAPACITY — 3 dropped"),
            "{text}"
        );
        assert!(!text.contains("SATURATED"), "{text}");
        // No successful request: no latency to show, rather than zeros.
        assert!(
            text.lines()
                .any(|l| l.starts_with(crate::AGGREGATED) && l.ends_with('-')),
            "{text}"
        );
    }
}
