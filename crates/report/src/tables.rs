//! The run's tables whose columns the terminal and Markdown views share: tiers, overhead
//! against direct, and thresholds.

use loadgen::threshold::ThresholdResult;

use crate::document::{OverheadRow, OverheadRun};
use crate::format;
use cli::{Align, Table};

/// One row per tier; a skipped tier says why in place of its numbers.
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
        ("generator", Left),
    ]);
    for tier in &run.tiers {
        let mut cells = vec![tier.name.clone(), tier.target.clone()];
        match (tier.ran(), &tier.skipped) {
            (Some(r), _) => {
                let (t, l) = (&r.total, &r.total.latency);
                cells.extend([
                    t.requests.to_string(),
                    format::rps(t.rps),
                    format::percent(t.error_rate),
                    format::ms(l.p50_ms),
                    format::ms(l.p95_ms),
                    format::ms(l.p99_ms),
                    format::ms(l.max_ms),
                    if r.saturation.saturated {
                        "SATURATED".into()
                    } else {
                        "kept up".into()
                    },
                ]);
            }
            (None, reason) => {
                cells.extend(std::iter::repeat_n(String::new(), 7));
                cells.push(format!(
                    "skipped: {}",
                    reason.as_deref().unwrap_or("no results")
                ));
            }
        }
        table.push(cells);
    }
    table
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
        table.push(vec![
            r.tier.clone(),
            r.operation.clone(),
            format::rps(r.rps),
            format::ratio(r.rps_ratio),
            format::ms(r.p50_ms),
            format::signed_ms(r.added_p50_ms),
            format::ms(r.p95_ms),
            format::signed_ms(r.added_p95_ms),
            format::ms(r.p99_ms),
            format::signed_ms(r.added_p99_ms),
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
            format::threshold_value(&t.expression, t.actual),
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
        assert!(nginx.ends_with("skipped: nginx is not on PATH (apt-get install nginx-light)"));
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
                "100.0",
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
