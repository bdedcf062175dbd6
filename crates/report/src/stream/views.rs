//! A stream run in words, tables and one chart: each tier's connections and messages, the
//! gateway's cost against direct, the thresholds (`report.md`, `report.html`), and a JUnit
//! test case per tier and per threshold (`junit.xml`).

use std::fmt::Write as _;

use cli::{markdown_cell, Align, Table};
use loadgen::stream::{transport_name, StreamResults};
use serde::Serialize;

use super::{StreamRun, StreamTierOutcome, StreamTierRun};
use crate::charts::tier_color;
use crate::document::Tier;
use crate::format;
use crate::html::TableView;
use crate::junit::{Case, Outcome};
use crate::svg::{Line, LineChart, Stroke, XScale, YScale};

/// One row per tier: connections held, connect time, messages, round trip, drops.
pub fn tiers_table(run: &StreamRun) -> Table {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("tier", Left),
        ("held", Right),
        ("connect p50 ms", Right),
        ("connect p99 ms", Right),
        ("answered", Right),
        ("intended", Right),
        ("unanswered", Right),
        ("round trip p50 ms", Right),
        ("p95 ms", Right),
        ("p99 ms", Right),
        ("drops", Right),
        ("reconnects", Right),
        ("status", Left),
    ]);
    for tier in &run.tiers {
        let mut cells = vec![tier.tier.to_string()];
        match tier.measured() {
            Some(r) => cells.extend(figures(r)),
            None => cells.extend(vec!["-".to_string(); 11]),
        }
        cells.push(status(tier));
        table.push(cells);
    }
    table
}

fn figures(r: &StreamResults) -> Vec<String> {
    vec![
        format!("{}/{}", r.peak_held, r.connections),
        format::ms(r.connect.p50_ms),
        format::ms(r.connect.p99_ms),
        r.messages.answered.to_string(),
        r.messages.intended.to_string(),
        r.unanswered().to_string(),
        format::ms(r.round_trip.p50_ms),
        format::ms(r.round_trip.p95_ms),
        format::ms(r.round_trip.p99_ms),
        r.drops.values().sum::<u64>().to_string(),
        r.reconnects.to_string(),
    ]
}

fn status(tier: &StreamTierRun) -> String {
    match &tier.outcome {
        StreamTierOutcome::Ran { .. } => tier.unstable().map_or("ran".into(), |why| why),
        StreamTierOutcome::Skipped { reason } => format!("skipped: {reason}"),
        StreamTierOutcome::Failed { reason, .. } => format!("FAILED: {reason}"),
    }
}

/// What each judged tier adds to direct's connect time and round trip, where both ran.
pub fn overhead(run: &StreamRun) -> Table {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("tier", Left),
        ("connect p50 +ms", Right),
        ("connect p99 +ms", Right),
        ("round trip p50 +ms", Right),
        ("round trip p99 +ms", Right),
    ]);
    let Some(direct) = run.tiers.iter().find(|t| t.tier == Tier::Direct) else {
        return table;
    };
    let Some(direct) = direct.ran() else {
        return table;
    };
    for tier in run.tiers.iter().filter(|t| t.judged()) {
        if let Some(r) = tier.ran() {
            table.push(vec![
                tier.tier.to_string(),
                format::signed_ms(r.connect.p50_ms - direct.connect.p50_ms),
                format::signed_ms(r.connect.p99_ms - direct.connect.p99_ms),
                format::signed_ms(r.round_trip.p50_ms - direct.round_trip.p50_ms),
                format::signed_ms(r.round_trip.p99_ms - direct.round_trip.p99_ms),
            ]);
        }
    }
    table
}

fn plan_line(run: &StreamRun) -> String {
    let p = &run.plan;
    format!(
        "{} {} connections per tier for {:.0} s, {} message(s)/s on each; SLA class {}",
        p.connections,
        transport_name(p.transport),
        p.duration_secs,
        p.message_rate,
        p.sla_class
    )
}

pub fn markdown(run: &StreamRun) -> String {
    let mut md = format!(
        "# mcpbench stream run `{}`: {}\n\nProfile `{}`: {}.\n\nMeasured: {}\n\n",
        run.run_id,
        run.verdict.status.label(),
        run.plan.name,
        plan_line(run),
        markdown_cell(&run.measured.describe())
    );
    for reason in &run.verdict.reasons {
        let _ = writeln!(md, "- {}", markdown_cell(reason));
    }
    for note in &run.notes {
        let _ = writeln!(md, "> {}", markdown_cell(note));
    }
    let overhead = overhead(run);
    let _ = write!(md, "\n## Tiers\n\n{}", tiers_table(run).markdown());
    if !overhead.rows().is_empty() {
        let _ = write!(md, "\n## Added by the gateway\n\n{}", overhead.markdown());
    }
    if !run.thresholds.is_empty() {
        let _ = write!(
            md,
            "\n## Thresholds\n\n{}",
            crate::tables::thresholds(&run.thresholds).markdown()
        );
    }
    md.push_str(&crate::markdown::sampled(
        &run.usage_summary,
        run.sockets.as_ref(),
    ));
    md
}

pub(super) fn junit(run: &StreamRun) -> String {
    let tier_cases = run
        .tiers
        .iter()
        .map(|tier| Case {
            class: "mcpbench.stream-tiers".into(),
            name: tier.tier.to_string(),
            outcome: match (&tier.outcome, tier.unstable()) {
                (StreamTierOutcome::Failed { reason, .. }, _) => {
                    Outcome::Failed(format!("ERROR: {reason}"))
                }
                (StreamTierOutcome::Skipped { reason }, _) => Outcome::Skipped(reason.clone()),
                (StreamTierOutcome::Ran { .. }, Some(why)) => Outcome::Failed(why),
                (StreamTierOutcome::Ran { .. }, None) => Outcome::Passed,
            },
        })
        .collect();
    crate::junit::document(
        &run.run_id,
        &[
            ("thresholds", crate::junit::threshold_cases(&run.thresholds)),
            ("tiers", tier_cases),
        ],
    )
}

const TEMPLATE: &str = include_str!("../../templates/stream.html.tera");
/// Registered under an `.html` name so tera's autoescaping applies.
const TEMPLATE_NAME: &str = "stream.html";

#[derive(Serialize)]
struct View<'a> {
    run: &'a StreamRun,
    verdict: &'static str,
    plan: String,
    measured: String,
    tiers: TableView,
    overhead: Option<TableView>,
    thresholds: Option<TableView>,
    held: String,
    round_trip: String,
    /// The charts and tables of what was sampled through the run, where something was.
    sampled: Vec<String>,
    usage: Option<TableView>,
    sockets: Option<(String, TableView)>,
}

pub(super) fn html(run: &StreamRun) -> Result<String, String> {
    let overhead = overhead(run);
    let view = View {
        run,
        verdict: run.verdict.status.label(),
        plan: plan_line(run),
        measured: run.measured.describe(),
        tiers: tiers_table(run).into(),
        overhead: (!overhead.rows().is_empty()).then(|| overhead.into()),
        thresholds: (!run.thresholds.is_empty())
            .then(|| crate::tables::thresholds(&run.thresholds).into()),
        held: series_chart(run, "held", "Connections held", "connections", |p| {
            p.held as f64
        }),
        round_trip: series_chart(run, "round-trip", "Round trip p99 each second", "ms", |p| {
            if p.answered > 0 {
                p.p99_ms
            } else {
                f64::NAN
            }
        }),
        sampled: [
            crate::usage::cpu_chart(&run.service_usage),
            crate::usage::rss_chart(&run.service_usage),
            crate::sockets::chart(run.sockets.as_ref()),
        ]
        .into_iter()
        .flatten()
        .collect(),
        usage: (!run.usage_summary.is_empty())
            .then(|| crate::usage::table(&run.usage_summary).into()),
        sockets: crate::sockets::limits_line(run.sockets.as_ref())
            .zip(crate::sockets::table(run.sockets.as_ref()).map(TableView::from)),
    };
    let mut tera = tera::Tera::default();
    let add = |tera: &mut tera::Tera, name, text| {
        tera.add_raw_template(name, text)
            .map_err(|e| crate::html::error_chain(&e))
    };
    add(
        &mut tera,
        "table.html",
        include_str!("../../templates/table.html.tera"),
    )?;
    add(&mut tera, TEMPLATE_NAME, TEMPLATE)?;
    let context = tera::Context::from_serialize(view).map_err(|e| crate::html::error_chain(&e))?;
    tera.render(TEMPLATE_NAME, &context)
        .map_err(|e| crate::html::error_chain(&e))
}

/// One line per tier that measured something, over the seconds of its window.
fn series_chart(
    run: &StreamRun,
    id: &str,
    title: &str,
    unit: &str,
    value: impl Fn(&loadgen::stream::StreamPoint) -> f64,
) -> String {
    let lines = run
        .tiers
        .iter()
        .filter_map(|t| t.measured().map(|r| (t.tier, r)))
        .map(|(tier, r)| Line {
            label: tier.to_string(),
            color: tier_color(tier),
            stroke: Stroke::Solid,
            points: r
                .series
                .iter()
                .map(|p| (p.second as f64, value(p)))
                .collect(),
        })
        .collect();
    LineChart {
        id: id.into(),
        title: title.into(),
        x_label: "seconds into the tier".into(),
        y_label: unit.into(),
        x_scale: XScale::Linear,
        y_scale: YScale::Linear,
        lines,
        markers: vec![],
    }
    .render()
}
