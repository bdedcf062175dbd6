//! What the terminal shows when a tiered run ends: a short summary per tier, the overhead
//! table against direct, where the time went, the thresholds, and the verdict with its reasons last, where the eye
//! lands.

use std::fmt::Write as _;

use crate::document::OverheadRun;
use crate::tables::ATTRIBUTION_TITLE;
use crate::{notices, tables};

/// One aligned row per tier (skipped tiers with their reason).
pub fn tier_summary(run: &OverheadRun) -> String {
    tables::tiers(run).text()
}

/// The overhead of each tier against direct, per operation and aggregated.
pub fn overhead_table(run: &OverheadRun) -> String {
    if run.overhead.is_empty() {
        "no overhead to show: the direct tier or every compared tier did not run\n".into()
    } else {
        tables::overhead(&run.overhead).text()
    }
}

/// Everything above, then the banners, warnings and the verdict.
pub fn end_of_run(run: &OverheadRun) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nMeasured: {}", run.measured.describe());
    let _ = writeln!(
        out,
        "Tiers ({}; user-class weights: {})",
        run.profile.description, run.profile.class_weights
    );
    out.push_str(&tier_summary(run));
    out.push_str("\nOverhead against direct (corrected latency, ms; + is added by the tier)\n");
    out.push_str(&overhead_table(run));
    if let Some(repeats) = &run.repeats {
        let _ = writeln!(out, "\n{}", repeats.title());
        out.push_str(&repeats.table().text());
    }
    let _ = writeln!(out, "\n{ATTRIBUTION_TITLE} (ms)");
    out.push_str(&tables::attribution(run).text());
    if !run.thresholds.is_empty() {
        out.push_str("\nThresholds\n");
        out.push_str(&tables::thresholds(&run.thresholds).text());
    }
    out.push('\n');
    for banner in notices::banners(run) {
        let _ = writeln!(out, "WARNING: {}", banner.text);
    }
    for warning in notices::warnings(run) {
        let _ = writeln!(out, "warning: {warning}");
    }
    let _ = writeln!(out, "{}", notices::headline(run));
    let _ = writeln!(
        out,
        "{} (exit {})",
        run.verdict.status.label(),
        run.verdict.exit_code
    );
    for reason in &run.verdict.reasons {
        let _ = writeln!(out, "  {reason}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn the_run_ends_with_the_overhead_table_and_the_verdict() {
        let text = end_of_run(&fixture::run());
        let overhead_at = text.find("Overhead against direct").unwrap();
        let verdict_at = text.find("FAIL (exit 1)").unwrap();
        assert!(text.find("Tiers").unwrap() < overhead_at && overhead_at < verdict_at);
        assert!(text.contains("  tier nginx skipped: MCPBENCH_NGINX is empty"));
        assert!(text.lines().all(|l| l == l.trim_end()), "trailing spaces");
    }

    #[test]
    fn without_direct_the_overhead_table_says_why_it_is_empty() {
        let mut run = fixture::run();
        run.overhead.clear();
        assert!(overhead_table(&run).starts_with("no overhead to show"));
    }
}
