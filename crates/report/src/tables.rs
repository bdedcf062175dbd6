//! The run's tables whose columns the terminal and Markdown views share: tiers, overhead
//! against direct, and thresholds.

use loadgen::threshold::ThresholdResult;

use crate::document::{AddedLatency, OverheadRow, OverheadRun};
use crate::format;
use cli::{Align, Table};

/// One row per tier; a tier that did not run to the end says why after its numbers (a failed
/// tier shows what it measured until then).
pub fn tiers(run: &OverheadRun) -> Table {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("tier", Left),
        ("target", Left),
        ("requests", Right),
        ("req/s", Right),
        ("errors", Right),
        ("p50 ms", Right),
        ("p95 ms", Right),
        ("p99 ms", Right),
        ("max ms", Right),
        ("schedule", Left),
    ]);
    for tier in &run.tiers {
        let mut cells = vec![tier.tier.to_string(), tier.target.clone()];
        match tier.measured() {
            Some(r) => {
                let (t, l) = (&r.total, &r.total.latency);
                cells.extend([
                    t.requests.to_string(),
                    format::rps(t.rps),
                    format::percent(t.error_rate),
                    format::ms(l.p50_ms),
                    format::ms(l.p95_ms),
                    format::ms(l.p99_ms),
                    format::ms(l.max_ms),
                ]);
            }
            None => cells.extend(std::iter::repeat_n(String::new(), 7)),
        }
        cells.push(match (tier.not_run(), tier.measured()) {
            (Some(why), _) => why,
            (None, Some(r)) => schedule_word(r).into(),
            (None, None) => String::new(),
        });
        table.push(cells);
    }
    table
}

/// The schedule's verdict in a word or two.
fn schedule_word(r: &loadgen::RunResults) -> &'static str {
    match r.schedule.verdict {
        loadgen::ScheduleVerdict::Kept => "kept up",
        loadgen::ScheduleVerdict::TargetStalled { .. } => "TARGET STALLED",
        loadgen::ScheduleVerdict::GeneratorSaturated { .. } => "SATURATED",
    }
}

/// Each compared operation: the tier's value, what it added over direct, throughput ratio.
pub fn overhead(rows: &[OverheadRow]) -> Table {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("tier", Left),
        ("operation", Left),
        ("req/s", Right),
        ("vs direct", Right),
        ("p50 ms", Right),
        ("+p50", Right),
        ("p95 ms", Right),
        ("+p95", Right),
        ("p99 ms", Right),
        ("+p99", Right),
        ("errors", Right),
    ]);
    for r in rows {
        let l = r.latency.as_ref();
        let value =
            |pick: fn(&AddedLatency) -> f64| l.map_or("-".to_string(), |l| format::ms(pick(l)));
        let added = |pick: fn(&AddedLatency) -> f64| format::added_ms(l.map(pick));
        table.push(vec![
            r.tier.to_string(),
            r.operation.clone(),
            format::rps(r.rps),
            format::ratio(r.rps_ratio),
            value(|l| l.p50_ms),
            added(|l| l.added_p50_ms),
            value(|l| l.p95_ms),
            added(|l| l.added_p95_ms),
            value(|l| l.p99_ms),
            added(|l| l.added_p99_ms),
            format::percent(r.error_rate),
        ]);
    }
    table
}

pub fn thresholds(results: &[ThresholdResult]) -> Table {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("result", Left),
        ("tier", Left),
        ("threshold", Left),
        ("actual", Right),
        ("limit", Right),
    ]);
    for t in results {
        table.push(vec![
            if t.passed { "PASS" } else { "FAIL" }.into(),
            t.tier.clone().unwrap_or_else(|| "all".into()),
            t.expression.clone(),
            format::threshold_actual(t),
            format::threshold_value(&t.expression, t.limit),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn a_skipped_tier_shows_its_reason_in_the_tier_table() {
        let text = tiers(&fixture::run()).text();
        let nginx = text.lines().find(|l| l.starts_with("nginx")).unwrap();
        assert!(nginx.ends_with("skipped: MCPBENCH_NGINX is empty: the stack runs without nginx"));
        assert_eq!(text.lines().count(), 5);
    }

    #[test]
    fn overhead_rows_show_value_added_and_ratio() {
        let run = fixture::run();
        let text = overhead(&run.overhead).text();
        let call = text.lines().nth(1).unwrap();
        let cells: Vec<&str> = call.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "gateway",
                "tools/call",
                "100.5",
                "1.00×",
                "1.50",
                "+1.00",
                "1.95",
                "+1.00",
                "1.99",
                "+1.00",
                "0.50%"
            ]
        );
    }
}
