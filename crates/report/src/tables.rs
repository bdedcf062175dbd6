//! The run's tables whose columns the terminal, Markdown and HTML views share: tiers, overhead
//! against direct, where the time went, and thresholds.

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
        ("+p50 path", Right),
        ("+p95 path", Right),
        ("errors", Right),
    ]);
    for r in rows {
        let path = |pick: fn(&AddedLatency) -> f64| format::added_ms(r.path.as_ref().map(pick));
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
            path(|l| l.added_p50_ms),
            path(|l| l.added_p95_ms),
            format::percent(r.error_rate),
        ]);
    }
    table
}

/// The attribution table's heading, in every view.
pub const ATTRIBUTION_TITLE: &str =
    "Where the time goes (the backend's own time from each reply; path = sent→reply − backend)";

/// Where each tier's time went, per operation and in aggregate, from the backend's stamps:
/// latency from the send, the backend handler's time and the path time (their difference,
/// request by request); rebinds and backend calls per reply. An operation whose replies carried
/// no backend time says so instead of a guess.
pub fn attribution(run: &OverheadRun) -> Table {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("tier", Left),
        ("operation", Left),
        ("stamped", Right),
        ("sent p50", Right),
        ("sent p95", Right),
        ("backend p50", Right),
        ("backend p95", Right),
        ("backend p99", Right),
        ("path p50", Right),
        ("path p95", Right),
        ("path p99", Right),
        ("rebound", Right),
        ("calls/reply", Right),
    ]);
    for tier in &run.tiers {
        let Some(results) = tier.measured() else {
            continue;
        };
        for op in results.operations.iter().chain([&results.total]) {
            if op.requests > 0 {
                table.push(attribution_cells(tier.tier.to_string(), op));
            }
        }
    }
    table
}

fn attribution_cells(tier: String, op: &loadgen::OperationResult) -> Vec<String> {
    let mut cells = vec![tier, op.name.clone()];
    let Some(b) = &op.backend else {
        cells.push("none".into());
        cells.extend([&op.uncorrected.p50_ms, &op.uncorrected.p95_ms].map(|v| format::ms(*v)));
        cells.push("no backend time in the replies".into());
        cells.extend(std::iter::repeat_n(String::new(), 7));
        return cells;
    };
    let share = b.stamped as f64 / op.uncorrected.count.max(1) as f64;
    cells.push(format::percent(share));
    cells.extend(
        [
            op.uncorrected.p50_ms,
            op.uncorrected.p95_ms,
            b.backend.p50_ms,
            b.backend.p95_ms,
            b.backend.p99_ms,
            b.path.p50_ms,
            b.path.p95_ms,
            b.path.p99_ms,
        ]
        .map(format::ms),
    );
    cells.push(b.rebound.to_string());
    cells.push(
        b.backend_calls_per_reply
            .map_or("-".into(), |r| format!("{r:.2}")),
    );
    cells
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
                "+1.00",
                "+1.00",
                "0.50%"
            ]
        );
    }

    #[test]
    fn attribution_shows_backend_and_path_time_or_says_there_was_none() {
        let text = attribution(&fixture::run()).text();
        let gateway = text.lines().find(|l| l.starts_with("gateway")).unwrap();
        let cells: Vec<&str> = gateway.split_whitespace().collect();
        // 1001..=2000 µs sent→reply, the backend 1 µs of each: path = latency − 1 µs.
        assert_eq!(
            cells,
            [
                "gateway",
                "tools/call",
                "100.00%",
                "1.50",
                "1.95",
                "0.00",
                "0.00",
                "0.00",
                "1.50",
                "1.95",
                "1.99",
                "0",
                "1.00"
            ]
        );
        let rest = text.lines().find(|l| l.starts_with("rest")).unwrap();
        assert!(
            rest.contains("none") && rest.contains("no backend time in the replies"),
            "{rest}"
        );
    }
}
