//! The report's charts, computed from the run document: throughput and latency over time per
//! tier, the latency percentile spectrum per tier, the overhead bars and the gateway's memory.

use loadgen::RunResults;

use loadgen::AGGREGATED;

use crate::document::{OverheadRun, Tier, TierRun};
use crate::svg::{BarChart, Line, LineChart, Stroke, XScale, YScale, MAX_NINES};

/// p50, p95, p99: greys darkening with the tail, so no percentile is mistaken for a tier (the
/// tiers own the colours, in every chart).
pub const PERCENTILE_COLORS: [&str; 3] = ["#a3adb8", "#66727f", "#1f2933"];
/// Points per decade of the percentile axis.
const SPECTRUM_STEPS_PER_NINE: u32 = 20;

/// A stable colour per tier, so a tier looks the same in every chart.
pub fn tier_color(tier: Tier) -> &'static str {
    match tier {
        Tier::Direct => "#2b7bb9",
        Tier::Gateway => "#d9822b",
        Tier::Nginx => "#3a9e5f",
        Tier::NginxTls => "#1b6e6e",
        // The stateless era: the same place, lighter.
        Tier::DirectStateless => "#86b9e0",
        Tier::GatewayStateless => "#efb47c",
        Tier::NginxStateless => "#8ccfa4",
        Tier::Rest => "#8e5ea2",
        Tier::Target => "#2b7bb9",
    }
}

/// Every tier that measured something (a failed tier's partial run shows where it broke).
fn measured(run: &OverheadRun) -> impl Iterator<Item = (&TierRun, &RunResults)> {
    run.tiers
        .iter()
        .filter_map(|t| t.measured().map(|r| (t, r)))
}

/// Requests per second over the run, all operations of a tier together.
pub fn throughput(run: &OverheadRun) -> String {
    let lines = measured(run)
        .map(|(tier, results)| {
            let mut previous = 0.0;
            let points = results
                .series
                .iter()
                .map(|p| {
                    let requests: u64 = p.ops.iter().map(|o| o.requests).sum();
                    // Intervals are about a second; the last one may be shorter.
                    let seconds = (p.t - previous).max(1e-3);
                    previous = p.t;
                    (p.t, requests as f64 / seconds)
                })
                .collect();
            Line {
                label: tier.tier.to_string(),
                color: tier_color(tier.tier),
                stroke: Stroke::Solid,
                points,
            }
        })
        .collect();
    LineChart {
        id: "chart-throughput".into(),
        title: "Throughput per tier".into(),
        x_label: "seconds since the measured start".into(),
        y_label: "requests/s".into(),
        x_scale: XScale::Linear,
        y_scale: YScale::Linear,
        lines,
        markers: vec![],
    }
    .render()
}

/// p50/p95/p99 over time of a tier's busiest operation. Per-second percentiles of different
/// operations cannot be combined without their histograms (the series keeps only the
/// percentiles), so the chart shows one operation and says which.
pub fn latency_over_time(tier: &TierRun, results: &RunResults) -> String {
    let busiest = results
        .operations
        .iter()
        .enumerate()
        .max_by_key(|(_, op)| op.requests);
    let (lines, title) = match busiest {
        Some((index, op)) => {
            let share = if results.total.requests > 0 {
                op.requests as f64 / results.total.requests as f64 * 100.0
            } else {
                0.0
            };
            let percentile = |label: &str, color, pick: fn(&loadgen::SeriesOp) -> f64| Line {
                label: label.into(),
                color,
                stroke: Stroke::Solid,
                // A second without a successful request has no latency: a gap, not a line
                // across it.
                points: results
                    .series
                    .iter()
                    .map(|p| {
                        let latency = p
                            .ops
                            .get(index)
                            .filter(|o| o.requests > o.failures)
                            .map_or(f64::NAN, pick);
                        (p.t, latency)
                    })
                    .collect(),
            };
            (
                vec![
                    percentile("p50", PERCENTILE_COLORS[0], |o| o.p50_ms),
                    percentile("p95", PERCENTILE_COLORS[1], |o| o.p95_ms),
                    percentile("p99", PERCENTILE_COLORS[2], |o| o.p99_ms),
                ],
                format!(
                    "{}: latency over time — {} ({share:.0}% of requests)",
                    tier.tier, op.name
                ),
            )
        }
        None => (Vec::new(), format!("{}: latency over time", tier.tier)),
    };
    LineChart {
        id: format!("chart-latency-{}", tier.tier),
        title,
        x_label: "seconds since the measured start".into(),
        y_label: "ms (corrected)".into(),
        x_scale: XScale::Linear,
        y_scale: YScale::Linear,
        lines,
        markers: vec![],
    }
    .render()
}

/// Latency at each percentile from 0% to 99.999%, read from each tier's corrected histogram
/// of all operations, on HdrHistogram's axis (each decade of nines the same width).
pub fn spectrum(run: &OverheadRun) -> String {
    let lines = measured(run)
        .map(|(tier, results)| Line {
            label: tier.tier.to_string(),
            color: tier_color(tier.tier),
            stroke: Stroke::Solid,
            points: spectrum_points(&results.total.histograms.corrected),
        })
        .collect();
    LineChart {
        id: "chart-spectrum".into(),
        title: "Latency by percentile (corrected, all operations)".into(),
        x_label: "percentile".into(),
        y_label: "ms (log scale)".into(),
        x_scale: XScale::Nines,
        y_scale: YScale::Log,
        lines,
        markers: vec![],
    }
    .render()
}

/// (nines, ms) pairs up to the resolution the sample count supports (1,000 requests resolve
/// 99.9%), then the maximum; empty when the histogram is unreadable or empty.
fn spectrum_points(encoded: &str) -> Vec<(f64, f64)> {
    let Ok(histogram) = loadgen::decode_histogram(encoded) else {
        return Vec::new();
    };
    if histogram.is_empty() {
        return Vec::new();
    }
    let resolved = (histogram.len() as f64).log10().min(MAX_NINES);
    let steps = (MAX_NINES as u32) * SPECTRUM_STEPS_PER_NINE;
    let mut points: Vec<(f64, f64)> = (0..=steps)
        .map(|i| f64::from(i) / f64::from(SPECTRUM_STEPS_PER_NINE))
        .take_while(|nines| *nines < resolved)
        .map(|nines| {
            let quantile = 1.0 - 10f64.powf(-nines);
            (nines, histogram.value_at_quantile(quantile) as f64 / 1000.0)
        })
        .collect();
    points.push((resolved, histogram.max() as f64 / 1000.0));
    points
}

/// Added p50/p95/p99 of each tier's Aggregated row over direct.
pub fn overhead_bars(run: &OverheadRun) -> String {
    let groups = run
        .overhead
        .iter()
        .filter(|r| r.operation == AGGREGATED)
        .filter_map(|r| {
            let l = r.latency.as_ref()?;
            Some((
                r.tier.to_string(),
                vec![l.added_p50_ms, l.added_p95_ms, l.added_p99_ms],
            ))
        })
        .collect();
    BarChart {
        id: "chart-overhead".into(),
        title: "Latency added over direct (all operations)".into(),
        y_label: "ms added".into(),
        series: ["p50", "p95", "p99"]
            .iter()
            .zip(PERCENTILE_COLORS)
            .map(|(l, c)| (l.to_string(), c))
            .collect(),
        groups,
    }
    .render()
}

/// The gateway's resident memory over the run; None when it was not sampled.
pub fn gateway_rss(run: &OverheadRun) -> Option<String> {
    if run.gateway_rss.is_empty() {
        return None;
    }
    let chart = LineChart {
        id: "chart-gateway-rss".into(),
        title: "Gateway resident memory".into(),
        x_label: "seconds since the first tier started".into(),
        y_label: "MiB".into(),
        x_scale: XScale::Linear,
        y_scale: YScale::Linear,
        lines: vec![Line {
            label: "gateway RSS".into(),
            color: tier_color(Tier::Gateway),
            stroke: Stroke::Solid,
            points: run.gateway_rss.iter().map(|s| (s.t, s.rss_mib)).collect(),
        }],
        markers: vec![],
    };
    Some(chart.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn the_spectrum_stops_where_the_sample_count_stops_resolving() {
        let op = fixture::op("x", 1..=1000, 0, 1.0);
        let points = spectrum_points(&op.histograms.corrected);
        // 1,000 samples resolve three nines (99.9%); the last point is the maximum, 1 ms.
        assert_eq!(points.last(), Some(&(3.0, 1.0)));
        assert_eq!(points[0], (0.0, 0.001));
        assert_eq!(points[20], (1.0, 0.9)); // p90 of 1..=1000 µs
        assert!(points.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(spectrum_points("not base64!").is_empty());
    }

    #[test]
    fn every_chart_of_a_run_has_its_id_and_something_drawn() {
        let run = fixture::run();
        assert!(throughput(&run).contains("id=\"chart-throughput\""));
        assert_eq!(throughput(&run).matches("class=\"line\"").count(), 3);
        assert_eq!(spectrum(&run).matches("class=\"line\"").count(), 3);
        assert_eq!(overhead_bars(&run).matches("class=\"bar\"").count(), 3);
        let (tier, results) = measured(&run).nth(1).unwrap();
        let latency = latency_over_time(tier, results);
        assert!(latency.contains("id=\"chart-latency-gateway\""));
        assert!(latency.contains("tools/call (100% of requests)"));
        assert_eq!(latency.matches("class=\"line\"").count(), 3);
        assert!(gateway_rss(&run).is_none());
    }

    #[test]
    fn a_second_without_successes_breaks_the_latency_lines() {
        let mut results = fixture::results(vec![fixture::op("tools/call", 1..=1000, 0, 1.0)], 10.0);
        let gap = &mut results.series[4].ops[0];
        gap.failures = gap.requests;
        let tier = fixture::tier(Tier::Gateway, results.clone());
        let latency = latency_over_time(&tier, &results);
        // Each percentile: seconds 1–4 and 6–10, two paths; none crosses second 5.
        assert_eq!(latency.matches("class=\"line\"").count(), 6, "{latency}");
    }

    #[test]
    fn a_colour_means_one_thing_in_every_chart() {
        let tiers = [
            Tier::Direct,
            Tier::Gateway,
            Tier::Nginx,
            Tier::NginxTls,
            Tier::Rest,
        ]
        .map(tier_color);
        assert!(
            PERCENTILE_COLORS.iter().all(|c| !tiers.contains(c)),
            "a percentile drawn in a tier's colour"
        );
    }
}
