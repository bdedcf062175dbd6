//! What each tier adds over calling the MCP server directly: per operation and in aggregate,
//! the tier's corrected latency percentiles minus direct's, its throughput relative to
//! direct's, and — where the replies carried the backend's time — its path time (paired per
//! request, so noise that slows the backend too cancels) against direct's.

use loadgen::{LatencySummary, OperationResult, AGGREGATED};

use crate::document::{AddedLatency, OverheadRow, Tier, TierRun};

/// One row per operation that both the tier and its era's `direct` ran (in the tier's order; an
/// operation the tier sent no request of has no row: there is nothing to compare), then the
/// `Aggregated` row, for every tier measured against direct that ran. None for a tier whose
/// era's `direct` did not run: there is nothing to measure overhead against. A failed tier gets
/// no rows.
pub fn overhead_rows(tiers: &[TierRun]) -> Vec<OverheadRow> {
    let mut rows = Vec::new();
    for tier in tiers.iter() {
        let Some(baseline) = tier.tier.baseline() else {
            continue;
        };
        let Some(direct) = tiers
            .iter()
            .find(|t| t.tier == baseline)
            .and_then(TierRun::ran)
        else {
            continue;
        };
        let Some(results) = tier.ran() else { continue };
        for op in results.operations.iter().filter(|op| op.requests > 0) {
            if let Some(direct_op) = direct.operations.iter().find(|d| d.name == op.name) {
                rows.push(row(tier.tier, &op.name, op, direct_op));
            }
        }
        rows.push(row(tier.tier, AGGREGATED, &results.total, &direct.total));
    }
    rows
}

fn row(tier: Tier, operation: &str, op: &OperationResult, direct: &OperationResult) -> OverheadRow {
    let path = match (&op.backend, &direct.backend) {
        (Some(b), Some(d)) => added(&b.path, &d.path),
        _ => None,
    };
    OverheadRow {
        tier,
        operation: operation.to_string(),
        requests: op.requests,
        rps: op.rps,
        direct_rps: direct.rps,
        rps_ratio: (direct.rps > 0.0).then(|| op.rps / direct.rps),
        error_rate: op.error_rate,
        direct_error_rate: direct.error_rate,
        latency: added(&op.latency, &direct.latency),
        path,
    }
}

/// `l` against `d`; None when either has no request.
fn added(l: &LatencySummary, d: &LatencySummary) -> Option<AddedLatency> {
    (l.count > 0 && d.count > 0).then_some(AddedLatency {
        p50_ms: l.p50_ms,
        direct_p50_ms: d.p50_ms,
        added_p50_ms: l.p50_ms - d.p50_ms,
        p95_ms: l.p95_ms,
        direct_p95_ms: d.p95_ms,
        added_p95_ms: l.p95_ms - d.p95_ms,
        p99_ms: l.p99_ms,
        direct_p99_ms: d.p99_ms,
        added_p99_ms: l.p99_ms - d.p99_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn added_latency_is_tier_minus_direct_on_successful_requests() {
        // 1..=1000 µs on direct, 1 ms more on the gateway: below 2048 µs HDR is exact. The
        // gateway's 5 failures answered in 1 µs and must not pull its percentiles down.
        let direct = fixture::results(
            vec![
                fixture::op("tools/call", 1..=1000, 0, 10.0),
                fixture::op("ping", 1..=10, 0, 10.0),
            ],
            10.0,
        );
        let gateway = fixture::results(
            vec![
                fixture::op("tools/call", 1001..=2000, 5, 10.0),
                // Not on direct: no overhead row of its own, but part of Aggregated.
                fixture::op("tools/list", 1..=10, 0, 10.0),
                // Not sent on this tier at all: no row (nothing to compare).
                fixture::op("ping", std::iter::empty(), 0, 10.0),
            ],
            10.0,
        );
        let rows = overhead_rows(&[
            fixture::tier(Tier::Direct, direct),
            fixture::tier(Tier::Gateway, gateway),
        ]);
        assert_eq!(
            rows.iter()
                .map(|r| (r.tier, r.operation.as_str()))
                .collect::<Vec<_>>(),
            [(Tier::Gateway, "tools/call"), (Tier::Gateway, AGGREGATED)]
        );
        let call = &rows[0];
        let added = call.latency.as_ref().unwrap();
        assert_eq!((added.p50_ms, added.direct_p50_ms), (1.5, 0.5));
        assert_eq!(added.added_p50_ms, 1.0);
        assert_eq!(added.added_p95_ms, 1.0);
        assert_eq!(added.added_p99_ms, 1.0);
        assert_eq!(
            (call.rps, call.direct_rps, call.rps_ratio),
            (100.5, 100.0, Some(1.005))
        );
        assert_eq!(call.error_rate, 5.0 / 1005.0);
        let aggregated = &rows[1];
        assert_eq!((aggregated.requests, aggregated.rps), (1015, 101.5));
        assert_eq!(aggregated.rps_ratio, Some(101.5 / 101.0));
    }

    #[test]
    fn skipped_failed_rest_and_direct_tiers_get_no_rows_and_no_direct_means_none() {
        let run = || fixture::results(vec![fixture::op("ping", 1..=100, 0, 10.0)], 10.0);
        let tiers = [
            fixture::tier(Tier::Direct, run()),
            fixture::skipped(Tier::Nginx, "nginx is not on PATH"),
            fixture::failed(
                Tier::Gateway,
                "the gateway died during the tier",
                Some(run()),
            ),
            fixture::tier(Tier::Rest, run()),
        ];
        assert!(overhead_rows(&tiers).is_empty());
        let without_direct = [
            fixture::skipped(Tier::Direct, "bench-server failed"),
            fixture::tier(Tier::Gateway, run()),
        ];
        assert!(overhead_rows(&without_direct).is_empty());
    }

    #[test]
    fn no_throughput_on_direct_has_no_ratio_and_no_success_has_no_latency() {
        let idle = fixture::results(vec![fixture::op("ping", [], 0, 10.0)], 10.0);
        let busy = fixture::results(vec![fixture::op("ping", 1..=100, 0, 10.0)], 10.0);
        let rows = overhead_rows(&[
            fixture::tier(Tier::Direct, idle),
            fixture::tier(Tier::Nginx, busy),
        ]);
        assert_eq!(rows[0].rps_ratio, None);
        assert_eq!(rows[0].latency, None, "direct had nothing to compare with");
        let direct = fixture::results(vec![fixture::op("ping", 1..=100, 0, 10.0)], 10.0);
        let failing = fixture::results(vec![fixture::op("ping", [], 50, 10.0)], 10.0);
        let rows = overhead_rows(&[
            fixture::tier(Tier::Direct, direct),
            fixture::tier(Tier::Gateway, failing),
        ]);
        assert_eq!(rows[0].latency, None, "no negative overhead from failures");
        assert_eq!(rows[0].error_rate, 1.0);
    }
}
