//! What each tier adds over calling the MCP server directly: per operation and in aggregate,
//! the tier's corrected latency percentiles minus direct's, and its throughput relative to
//! direct's.

use loadgen::{OperationResult, RunResults};

use crate::document::{OverheadRow, TierRun};

/// The tier every other MCP tier is measured against.
pub const DIRECT: &str = "direct";
/// The REST/admin classes: a different workload, so never compared with direct.
pub const REST: &str = "rest";
/// The name of the all-operations row, as in Locust's CSVs.
pub const AGGREGATED: &str = "Aggregated";

/// One row per operation that both the tier and `direct` ran (in the tier's order), then the
/// `Aggregated` row, for every tier other than `direct` and `rest` that ran. Empty when `direct`
/// did not run: there is nothing to measure overhead against.
pub fn overhead_rows(tiers: &[TierRun]) -> Vec<OverheadRow> {
    let Some(direct) = tiers
        .iter()
        .find(|t| t.name == DIRECT)
        .and_then(TierRun::ran)
    else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for tier in tiers.iter().filter(|t| t.name != DIRECT && t.name != REST) {
        let Some(results) = tier.ran() else { continue };
        for op in &results.operations {
            if let Some(direct_op) = direct.operations.iter().find(|d| d.name == op.name) {
                rows.push(row(&tier.name, &op.name, op, direct_op));
            }
        }
        rows.push(row(&tier.name, AGGREGATED, &results.total, &direct.total));
    }
    rows
}

fn row(tier: &str, operation: &str, op: &OperationResult, direct: &OperationResult) -> OverheadRow {
    let (l, d) = (&op.latency, &direct.latency);
    OverheadRow {
        tier: tier.to_string(),
        operation: operation.to_string(),
        requests: op.requests,
        rps: op.rps,
        direct_rps: direct.rps,
        p50_ms: l.p50_ms,
        direct_p50_ms: d.p50_ms,
        p95_ms: l.p95_ms,
        direct_p95_ms: d.p95_ms,
        p99_ms: l.p99_ms,
        direct_p99_ms: d.p99_ms,
        error_rate: op.error_rate,
        direct_error_rate: direct.error_rate,
        added_p50_ms: l.p50_ms - d.p50_ms,
        added_p95_ms: l.p95_ms - d.p95_ms,
        added_p99_ms: l.p99_ms - d.p99_ms,
        rps_ratio: (direct.rps > 0.0).then(|| op.rps / direct.rps),
    }
}

impl TierRun {
    /// The tier's results when it ran (not skipped).
    pub fn ran(&self) -> Option<&RunResults> {
        match self.skipped {
            Some(_) => None,
            None => self.results.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn added_latency_is_tier_minus_direct_on_corrected_percentiles() {
        // 1..=1000 µs on direct, 1 ms more on the gateway: below 2048 µs HDR is exact.
        let direct = fixture::results(vec![fixture::op("tools/call", 1..=1000, 0, 10.0)], 10.0);
        let gateway = fixture::results(
            vec![
                fixture::op("tools/call", 1001..=2000, 5, 10.0),
                // Not on direct: no overhead row of its own, but part of Aggregated.
                fixture::op("tools/list", 1..=10, 0, 10.0),
            ],
            10.0,
        );
        let rows = overhead_rows(&[
            fixture::tier(DIRECT, direct),
            fixture::tier("gateway", gateway),
        ]);
        assert_eq!(
            rows.iter()
                .map(|r| (r.tier.as_str(), r.operation.as_str()))
                .collect::<Vec<_>>(),
            [("gateway", "tools/call"), ("gateway", AGGREGATED)]
        );
        let call = &rows[0];
        assert_eq!((call.p50_ms, call.direct_p50_ms), (1.5, 0.5));
        assert_eq!(call.added_p50_ms, 1.0);
        assert_eq!(call.added_p95_ms, 1.0);
        assert_eq!(call.added_p99_ms, 1.0);
        assert_eq!(
            (call.rps, call.direct_rps, call.rps_ratio),
            (100.0, 100.0, Some(1.0))
        );
        assert_eq!(call.error_rate, 0.005);
        let aggregated = &rows[1];
        assert_eq!((aggregated.requests, aggregated.rps), (1010, 101.0));
        assert_eq!(aggregated.rps_ratio, Some(1.01));
    }

    #[test]
    fn skipped_rest_and_direct_tiers_get_no_rows_and_no_direct_means_none() {
        let run = || fixture::results(vec![fixture::op("ping", 1..=100, 0, 10.0)], 10.0);
        let tiers = [
            fixture::tier(DIRECT, run()),
            fixture::skipped("nginx", "nginx is not on PATH"),
            fixture::tier(REST, run()),
        ];
        assert!(overhead_rows(&tiers).is_empty());
        let without_direct = [
            fixture::skipped(DIRECT, "bench-server failed"),
            fixture::tier("gateway", run()),
        ];
        assert!(overhead_rows(&without_direct).is_empty());
    }

    #[test]
    fn a_direct_tier_with_no_throughput_has_no_ratio() {
        let idle = fixture::results(vec![fixture::op("ping", [], 0, 10.0)], 10.0);
        let busy = fixture::results(vec![fixture::op("ping", 1..=100, 0, 10.0)], 10.0);
        let rows = overhead_rows(&[fixture::tier(DIRECT, idle), fixture::tier("nginx", busy)]);
        assert_eq!(rows[0].rps_ratio, None);
    }
}
