//! The capacity search in words and tables: every step of a tier (one table for the terminal
//! and Markdown), and the tier's answer in one line.

use std::fmt::Write as _;

use cli::{markdown_cell, Align, Table};

use super::{rate, Answer, CapacityRun, Figures, TierCapacity};
use crate::format;

/// Every step of a tier, in the order run.
pub fn steps_table(tier: &TierCapacity) -> Table {
    let mut table = Table::new(&[
        ("step", Align::Right),
        ("phase", Align::Left),
        ("offered", Align::Right),
        ("achieved", Align::Right),
        ("p50 ms", Align::Right),
        ("p95 ms", Align::Right),
        ("p99 ms", Align::Right),
        ("errors", Align::Right),
        ("SLO", Align::Left),
    ]);
    for (i, step) in tier.steps.iter().enumerate() {
        let mut cells = vec![
            (i + 1).to_string(),
            step.phase.name().to_string(),
            rate(step.offered_rate),
        ];
        cells.extend(figure_cells(step.figures.as_ref()));
        cells.push(step.verdict.cell());
        table.push(cells);
    }
    table
}

fn figure_cells(figures: Option<&Figures>) -> Vec<String> {
    let Some(f) = figures else {
        return vec!["-".into(); 5];
    };
    let latency = |v: Option<f64>| v.map_or_else(|| "-".into(), format::ms_short);
    vec![
        rate(f.achieved_rate),
        latency(f.p50_ms),
        latency(f.p95_ms),
        latency(f.p99_ms),
        format::percent(f.error_rate),
    ]
}

/// `gateway: sustainable 740/s under p95<200ms,… (confirmed ×2)`, or what else the search found.
pub fn answer_line(run: &CapacityRun, tier: &TierCapacity) -> String {
    let slo = run.slo_text();
    let said = match &tier.answer {
        Answer::Sustainable { rate: r, confirmed } => {
            format!("sustainable {} under {slo} (confirmed ×{confirmed})", rate(*r))
        }
        Answer::MaxRateKept { rate: r, confirmed } => format!(
            "at least {}: --max-rate kept {slo} (confirmed ×{confirmed}); raise --max-rate to find the knee",
            rate(*r)
        ),
        Answer::GeneratorLimited { kept: Some(kept), at } => format!(
            "at least {}: the generator was the limit at {} (it could not keep the schedule), not the target",
            rate(*kept),
            rate(*at)
        ),
        Answer::GeneratorLimited { kept: None, at } => format!(
            "unknown: the generator was the limit at {} (it could not keep the schedule) before any rate was judged",
            rate(*at)
        ),
        Answer::NoneSustained { lowest } => format!(
            "no sustainable rate: {slo} broke even at {}, the lowest tried",
            rate(*lowest)
        ),
        Answer::Skipped { reason } => format!("skipped: {reason}"),
        Answer::Failed { reason } => format!("FAILED: {reason}"),
        Answer::Stopped { signal } => match best_kept(tier) {
            Some(r) => format!(
                "stopped by {signal} before an answer (the highest rate that kept {slo}: {})",
                rate(r)
            ),
            None => format!("stopped by {signal} before an answer"),
        },
    };
    format!("{}: {said}", tier.tier)
}

/// The highest rate any step kept the SLO at.
fn best_kept(tier: &TierCapacity) -> Option<f64> {
    tier.steps
        .iter()
        .filter(|s| s.verdict == super::StepVerdict::Kept)
        .map(|s| s.offered_rate)
        .reduce(f64::max)
}

/// What the terminal shows at the end: each tier's steps, then the answers.
pub fn terminal(run: &CapacityRun) -> String {
    let mut out = String::new();
    for tier in &run.tiers {
        let _ = writeln!(out, "\n── capacity of {}: {}", tier.tier, tier.target);
        if !tier.steps.is_empty() {
            out.push_str(&steps_table(tier).text());
        }
    }
    out.push('\n');
    for tier in &run.tiers {
        let _ = writeln!(out, "{}", answer_line(run, tier));
    }
    out
}

/// `capacity.md`: the answers, then each tier's steps.
pub fn markdown(run: &CapacityRun) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## mcpbench capacity under `{}` (exit {})\n",
        markdown_cell(&run.slo_text()),
        run.exit().code()
    );
    let _ = writeln!(
        md,
        "Run `{}` · {} · Measured: {}\n",
        markdown_cell(&run.run_id),
        markdown_cell(&run.started_at),
        markdown_cell(&run.measured.describe())
    );
    for tier in &run.tiers {
        let _ = writeln!(md, "- **{}**", markdown_cell(&answer_line(run, tier)));
    }
    for tier in &run.tiers {
        let _ = writeln!(
            md,
            "\n### {} ({})\n",
            tier.tier,
            markdown_cell(&tier.target)
        );
        md.push_str(&steps_table(tier).markdown());
    }
    for warning in &run.warnings {
        let _ = writeln!(md, "\n> **Warning:** {}", markdown_cell(warning));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::tests::run;

    #[test]
    fn each_tier_has_its_steps_and_one_answer_line() {
        let run = run();
        let text = terminal(&run);
        assert!(
            text.contains(
                "gateway: sustainable 300/s under p95<200ms,error_rate<0.1% (confirmed ×1)"
            ),
            "{text}"
        );
        assert!(
            text.contains("direct: at least 50.0/s: the generator was the limit at 100/s"),
            "{text}"
        );
        assert!(text.contains("broke p95<200ms: 950.00 ms"), "{text}");
        assert!(text.contains("generator limit (not judged)"), "{text}");
        let md = markdown(&run);
        assert!(
            md.contains("| 3 | bisect | 300/s | 300/s | 45.0 | 90.0 | 135 | 0.00% | kept |"),
            "{md}"
        );
        assert!(md.contains("(exit 4)"), "{md}");
    }
}
