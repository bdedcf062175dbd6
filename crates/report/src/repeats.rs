//! A repeated run (`load-test --repeat N`): the tiers ran in interleaved rounds (direct,
//! gateway, nginx, direct, gateway, …), so slow drifts of a shared machine fall on every tier
//! alike. Each figure — a tier's own metrics and what it adds over direct — is taken round by
//! round and given a 95% confidence interval (Student's t over the rounds), which
//! `compare-baseline` uses to tell a regression from run-to-run noise.

use serde::{Deserialize, Serialize};

use cli::{Align, Table};
use loadgen::AGGREGATED;

use crate::budget::BudgetMetric;
use crate::document::{AddedLatency, OverheadRow, Tier, TierRun};
use crate::format;

/// The rounds of a repeated run and every figure's value in each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repeats {
    pub rounds: u32,
    pub figures: Vec<RoundFigure>,
}

/// One figure of one tier and operation, round by round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundFigure {
    pub tier: Tier,
    pub operation: String,
    pub figure: Figure,
    /// One value per round that measured it.
    pub values: Vec<f64>,
    /// None with fewer than two values.
    pub interval: Option<Interval>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// The tier's own metric, as `compare-baseline` judges it.
    Own(BudgetMetric),
    /// Corrected latency added over direct at a percentile.
    AddedP50,
    AddedP95,
    AddedP99,
    /// Path time added over direct's (paired per request).
    PathAddedP50,
    PathAddedP95,
    /// Throughput relative to direct's.
    RpsRatio,
}

impl Figure {
    fn name(self) -> String {
        match self {
            Figure::Own(metric) => metric.column().to_string(),
            Figure::AddedP50 => "+p50 ms".into(),
            Figure::AddedP95 => "+p95 ms".into(),
            Figure::AddedP99 => "+p99 ms".into(),
            Figure::PathAddedP50 => "+p50 path ms".into(),
            Figure::PathAddedP95 => "+p95 path ms".into(),
            Figure::RpsRatio => "vs direct".into(),
        }
    }

    fn of_overhead(row: &OverheadRow) -> Vec<(Figure, f64)> {
        let mut out = Vec::new();
        let added = |l: &AddedLatency| [l.added_p50_ms, l.added_p95_ms, l.added_p99_ms];
        if let Some(l) = &row.latency {
            out.extend(
                [Figure::AddedP50, Figure::AddedP95, Figure::AddedP99]
                    .into_iter()
                    .zip(added(l)),
            );
        }
        if let Some(p) = &row.path {
            out.extend([
                (Figure::PathAddedP50, p.added_p50_ms),
                (Figure::PathAddedP95, p.added_p95_ms),
            ]);
        }
        if let Some(ratio) = row.rps_ratio {
            out.push((Figure::RpsRatio, ratio));
        }
        out
    }
}

/// A mean and the half-width of its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub mean: f64,
    pub half_width: f64,
}

impl Interval {
    /// Student's t interval of the mean; None with fewer than two values.
    pub fn of(values: &[f64]) -> Option<Interval> {
        let n = values.len();
        if n < 2 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Some(Interval {
            mean,
            half_width: t_975(n - 1) * (variance / n as f64).sqrt(),
        })
    }
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom (two-sided 95%).
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    TABLE.get(df.saturating_sub(1)).copied().unwrap_or(1.960)
}

/// Every figure of every round: each tier's own metrics per operation (from `ran` tiers), and
/// what each tier added over its round's direct.
pub fn repeats(rounds: &[Vec<TierRun>]) -> Repeats {
    let mut figures: Vec<RoundFigure> = Vec::new();
    let mut add = |tier: Tier, operation: &str, figure: Figure, value: f64| match figures
        .iter_mut()
        .find(|f| f.tier == tier && f.operation == operation && f.figure == figure)
    {
        Some(f) => f.values.push(value),
        None => figures.push(RoundFigure {
            tier,
            operation: operation.to_string(),
            figure,
            values: vec![value],
            interval: None,
        }),
    };
    for round in rounds {
        for tier in round {
            let Some(results) = tier.ran() else { continue };
            for op in results.operations.iter().chain([&results.total]) {
                for metric in BudgetMetric::ALL {
                    add(tier.tier, &op.name, Figure::Own(metric), metric.value(op));
                }
            }
        }
        for row in crate::overhead_rows(round) {
            for (figure, value) in Figure::of_overhead(&row) {
                add(row.tier, &row.operation, figure, value);
            }
        }
    }
    for f in &mut figures {
        f.interval = Interval::of(&f.values);
    }
    Repeats {
        rounds: rounds.len() as u32,
        figures,
    }
}

impl Repeats {
    /// The interval of `figure` for `tier` and `operation`, when the rounds gave one.
    pub fn interval(&self, tier: Tier, operation: &str, figure: Figure) -> Option<Interval> {
        self.figures
            .iter()
            .find(|f| f.tier == tier && f.operation == operation && f.figure == figure)
            .and_then(|f| f.interval)
    }

    /// The heading of [`Repeats::table`] in every view.
    pub fn title(&self) -> String {
        format!(
            "Over {} interleaved rounds (each round: every tier once; 95% confidence intervals)",
            self.rounds
        )
    }

    /// What the tier added over direct (every compared operation), and each tier's own
    /// aggregate figures: round by round, then mean ± half-width.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&[
            ("tier", Align::Left),
            ("operation", Align::Left),
            ("figure", Align::Left),
            ("rounds", Align::Right),
            ("mean ± 95% CI", Align::Right),
        ]);
        let shown = self.figures.iter().filter(|f| match f.figure {
            Figure::Own(_) => f.operation == AGGREGATED,
            _ => true,
        });
        for f in shown {
            let value = |v: f64| match f.figure {
                Figure::Own(BudgetMetric::Rps) => format::rps(v),
                Figure::Own(BudgetMetric::ErrorRate) => format::percent(v),
                Figure::RpsRatio => format!("{v:.2}×"),
                _ => format::ms(v),
            };
            let rounds: Vec<String> = f.values.iter().map(|v| value(*v)).collect();
            let interval = f.interval.map_or("-".into(), |i| {
                format!("{} ± {}", value(i.mean), value(i.half_width))
            });
            table.push(vec![
                f.tier.to_string(),
                f.operation.clone(),
                f.figure.name(),
                rounds.join(" "),
                interval,
            ]);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn the_interval_is_students_t_over_the_rounds() {
        let i = Interval::of(&[10.0, 12.0, 14.0]).unwrap();
        assert_eq!(i.mean, 12.0);
        // s = 2, n = 3: 4.303 × 2 / √3.
        assert!((i.half_width - 4.303 * 2.0 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(Interval::of(&[5.0]), None);
        assert_eq!(Interval::of(&[5.0, 5.0]).unwrap().half_width, 0.0);
    }

    #[test]
    fn every_round_gives_each_tiers_figures_and_its_overhead_over_that_rounds_direct() {
        let round = |extra_us: u64| {
            vec![
                fixture::tier(
                    Tier::Direct,
                    fixture::results(vec![fixture::op("tools/call", 1..=1000, 0, 10.0)], 10.0),
                ),
                fixture::tier(
                    Tier::Gateway,
                    fixture::results(
                        vec![fixture::op(
                            "tools/call",
                            (1..=1000).map(|v| v + extra_us),
                            0,
                            10.0,
                        )],
                        10.0,
                    ),
                ),
            ]
        };
        let r = repeats(&[round(1000), round(1200), round(1400)]);
        assert_eq!(r.rounds, 3);
        let added = r
            .interval(Tier::Gateway, "tools/call", Figure::AddedP50)
            .unwrap();
        assert!((added.mean - 1.2).abs() < 0.01, "{added:?}");
        assert!(added.half_width > 0.0);
        let rps = r
            .interval(Tier::Direct, AGGREGATED, Figure::Own(BudgetMetric::Rps))
            .unwrap();
        assert_eq!((rps.mean, rps.half_width), (100.0, 0.0));
        let text = r.table().text();
        assert!(text.contains("+p50 ms") && text.contains("±"), "{text}");
    }
}
