//! `capacity.html`: one self-contained page (tera, autoescaped) — the answers, one chart of p95
//! and p99 against the offered rate for every tier (the hockey stick) with the SLO's latency
//! limits drawn across it, and each tier's steps. No script, font or network asset.

use loadgen::threshold::{Metric, Threshold};
use serde::Serialize;

use super::{answer_line, CapacityRun, Step, StepVerdict, TierCapacity};
use crate::charts::{tier_color, PERCENTILE_COLORS};
use crate::svg::{Line, LineChart, Stroke, XScale, YScale};

const TEMPLATE: &str = include_str!("../../templates/capacity.html.tera");
/// Registered under an `.html` name so tera's autoescaping applies.
const TEMPLATE_NAME: &str = "capacity.html";

#[derive(Serialize)]
struct View<'a> {
    run_id: &'a str,
    started_at: &'a str,
    finished_at: &'a str,
    tool_version: &'a str,
    command_line: String,
    measured: String,
    slo: String,
    exit_code: u8,
    answers: Vec<String>,
    chart: String,
    tiers: Vec<TierView>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct TierView {
    name: &'static str,
    target: String,
    /// The step table's header and rows, as the terminal shows them.
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

pub fn render(run: &CapacityRun) -> Result<String, String> {
    let mut tera = tera::Tera::default();
    tera.add_raw_template(TEMPLATE_NAME, TEMPLATE)
        .map_err(|e| e.to_string())?;
    let view = View {
        run_id: &run.run_id,
        started_at: &run.started_at,
        finished_at: &run.finished_at,
        tool_version: &run.tool_version,
        command_line: run.command_line.join(" "),
        measured: run.measured.describe(),
        slo: run.slo_text(),
        exit_code: run.exit().code(),
        answers: run.tiers.iter().map(|t| answer_line(run, t)).collect(),
        chart: hockey_stick(run),
        tiers: run.tiers.iter().map(tier_view).collect(),
        warnings: &run.warnings,
    };
    let context = tera::Context::from_serialize(view).map_err(|e| e.to_string())?;
    tera.render(TEMPLATE_NAME, &context)
        .map_err(|e| format!("{e:?}"))
}

fn tier_view(tier: &TierCapacity) -> TierView {
    let table = super::steps_table(tier);
    TierView {
        name: tier.tier.name(),
        target: tier.target.clone(),
        columns: table.columns().map(|(title, _)| title).collect(),
        rows: table.rows().to_vec(),
    }
}

/// The steps whose latency says something about the target (judged: kept or broke), by rate.
fn judged(tier: &TierCapacity) -> Vec<&Step> {
    let mut steps: Vec<&Step> = tier
        .steps
        .iter()
        .filter(|s| matches!(s.verdict, StepVerdict::Kept | StepVerdict::Broke { .. }))
        .collect();
    steps.sort_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate));
    steps
}

/// p95 (solid) and p99 (dashed) against the offered rate, per tier, and the SLO's latency
/// limits as dashed grey lines across the rates tried.
pub fn hockey_stick(run: &CapacityRun) -> String {
    let mut lines = Vec::new();
    for tier in &run.tiers {
        let steps = judged(tier);
        let points = |pick: fn(&super::Figures) -> Option<f64>| {
            steps
                .iter()
                .filter_map(|s| Some((s.offered_rate, pick(s.figures.as_ref()?)?)))
                .collect::<Vec<_>>()
        };
        for (name, stroke, pick) in [
            (
                "p95",
                Stroke::Solid,
                (|f| f.p95_ms) as fn(&super::Figures) -> Option<f64>,
            ),
            ("p99", Stroke::Dashed, |f| f.p99_ms),
        ] {
            lines.push(Line {
                label: format!("{} {name}", tier.tier),
                color: tier_color(tier.tier),
                stroke,
                points: points(pick),
            });
        }
    }
    lines.retain(|l| !l.points.is_empty());
    let rates = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (lo, hi) = rates.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
        (lo.min(r), hi.max(r))
    });
    if lo.is_finite() {
        lines.extend(slo_lines(&run.slo, lo, hi));
    }
    LineChart {
        id: "chart-capacity".into(),
        title: format!("Latency against offered load (SLO {})", run.slo_text()),
        x_label: "offered arrivals/s".into(),
        y_label: "ms (corrected, log scale)".into(),
        x_scale: XScale::Linear,
        y_scale: YScale::Log,
        lines,
        markers: Vec::new(),
    }
    .render()
}

/// Each unscoped latency clause of the SLO as a horizontal line from `lo` to `hi`.
fn slo_lines(slo: &[Threshold], lo: f64, hi: f64) -> Vec<Line> {
    slo.iter()
        .filter(|t| t.operation.is_none())
        .filter(|t| matches!(t.metric, Metric::Percentile(_) | Metric::Max | Metric::Mean))
        .enumerate()
        .map(|(i, t)| Line {
            label: format!("SLO {}", t.expression),
            color: PERCENTILE_COLORS[i.min(PERCENTILE_COLORS.len() - 1)],
            stroke: Stroke::Dashed,
            points: vec![(lo, t.limit), (hi, t.limit)],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::tests::run;

    #[test]
    fn the_page_has_one_chart_with_every_judged_tier_and_the_slo_line() {
        let run = run();
        let chart = hockey_stick(&run);
        // gateway p95 and p99 (3 judged rates each), direct p95 and p99 (one judged rate: a
        // dot each), and the SLO's one latency clause.
        assert_eq!(chart.matches("class=\"line\"").count(), 3, "{chart}");
        assert_eq!(chart.matches("class=\"point\"").count(), 2, "{chart}");
        assert!(
            chart.contains("data-series=\"SLO p95&lt;200ms\""),
            "{chart}"
        );
        assert!(chart.contains("stroke-dasharray"), "{chart}");
        let page = render(&run).unwrap();
        assert_eq!(page.matches("<svg").count(), 1);
        assert!(!page.contains("<script"));
        assert!(
            page.contains("gateway: sustainable 300&#x2F;s under p95&lt;200ms"),
            "{page}"
        );
        assert!(page.contains("id=\"steps-gateway\""), "{page}");
    }
}
