//! `report.md`: the run for `$GITHUB_STEP_SUMMARY` — verdict, banners, tier, overhead and
//! threshold tables, tiers that did not run to the end (skipped or failed) and warnings.

use std::fmt::Write as _;

use crate::document::OverheadRun;
use crate::notices;
use crate::tables;
use cli::markdown_cell;

pub fn render_markdown(run: &OverheadRun) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "**{}**\n", markdown_cell(&notices::headline(run)));
    let _ = writeln!(
        md,
        "## mcpbench {}: **{}** (exit {})\n",
        markdown_cell(&run.profile.name),
        run.verdict.status.label(),
        run.verdict.exit_code
    );
    let _ = writeln!(
        md,
        "Run `{}` · {} · {}\n",
        markdown_cell(&run.run_id),
        markdown_cell(&run.profile.description),
        markdown_cell(&run.started_at)
    );
    let _ = writeln!(
        md,
        "Measured: {}\n",
        markdown_cell(&run.measured.describe())
    );
    for reason in &run.verdict.reasons {
        let _ = writeln!(md, "- {}", markdown_cell(reason));
    }
    if !run.verdict.reasons.is_empty() {
        md.push('\n');
    }
    for banner in notices::banners(run) {
        let _ = writeln!(md, "> **Warning:** {}\n", banner.text);
    }
    md.push_str("### Tiers\n\n");
    md.push_str(&tables::tiers(run).markdown());
    if !matches!(run.measured, crate::document::Measured::Target(_)) {
        md.push_str(
            "\n### Overhead against direct (corrected latency of successful requests; + is added by the tier)\n\n",
        );
        if run.overhead.is_empty() {
            md.push_str("No overhead: the direct tier or every compared tier did not run.\n");
        } else {
            md.push_str(&tables::overhead(&run.overhead).markdown());
        }
    }
    if let Some(repeats) = &run.repeats {
        let _ = write!(md, "\n### {}\n\n", repeats.title());
        md.push_str(&repeats.table().markdown());
    }
    let _ = write!(md, "\n### {} (ms)\n\n", tables::ATTRIBUTION_TITLE);
    md.push_str(&tables::attribution(run).markdown());
    md.push_str(&sampled(&run.usage_summary, run.sockets.as_ref()));
    md.push_str(&crate::profile::markdown(run));
    md.push_str("\n### Thresholds\n\n");
    if run.thresholds.is_empty() {
        md.push_str("No thresholds were checked.\n");
    } else {
        md.push_str(&tables::thresholds(&run.thresholds).markdown());
    }
    let not_run: Vec<_> = run
        .tiers
        .iter()
        .filter_map(|t| Some((t, t.not_run()?)))
        .collect();
    if !not_run.is_empty() {
        md.push_str("\n### Tiers that did not run to the end\n\n");
        for (tier, why) in not_run {
            let _ = writeln!(md, "- **{}**: {}", tier.tier, markdown_cell(&why));
        }
    }
    let warnings = notices::warnings(run);
    if !warnings.is_empty() {
        md.push_str("\n### Warnings\n\n");
        for w in warnings {
            let _ = writeln!(md, "- {}", markdown_cell(&w));
        }
    }
    md
}

/// What was sampled through the run: CPU and memory per service, the host's TCP sockets.
pub(crate) fn sampled(
    usage_summary: &[crate::UsageSummary],
    sockets: Option<&crate::HostSockets>,
) -> String {
    let mut md = String::new();
    if !usage_summary.is_empty() {
        md.push_str("\n### CPU and memory per service (CPU: % of one core)\n\n");
        md.push_str(&crate::usage::table(usage_summary).markdown());
    }
    if let (Some(limits), Some(table)) = (
        crate::sockets::limits_line(sockets),
        crate::sockets::table(sockets),
    ) {
        let _ = write!(md, "\n### TCP sockets on the host (ss -s; {limits})\n\n");
        md.push_str(&table.markdown());
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn the_summary_leads_with_the_verdict_and_lists_skipped_tiers() {
        let mut run = fixture::run();
        run.warnings.push("a | b".into());
        let md = render_markdown(&run);
        assert!(
            md.starts_with(
                "**The gateway adds +1.00 ms at p50, +1.00 ms at p95, +1.00 ms at p99, at 1.00× \
                 direct's throughput.**\n\n## mcpbench light: **FAIL** (exit 1)\n"
            ),
            "{md}"
        );
        assert!(
            md.contains("- threshold failed: error_rate&lt;0.1% on gateway: 0.50% (limit 0.10%)")
        );
        assert!(md.contains("| gateway | tools/call | 100.5 | 1.00× | 1.50 | +1.00 |"));
        assert!(md.contains("| PASS | gateway | p95&lt;300ms | 1.95 ms | 300.00 ms |"));
        assert!(md.contains(
            "- **nginx**: skipped: MCPBENCH_NGINX is empty: the stack runs without nginx"
        ));
        assert!(md.contains("- a \\| b"));
    }

    #[test]
    fn a_failed_tier_makes_the_summary_an_error_with_its_reason() {
        let mut run = fixture::run();
        run.tiers[1] = fixture::failed(
            crate::document::Tier::Gateway,
            "the gateway died during the tier",
            None,
        );
        run.overhead = crate::overhead_rows(&run.tiers);
        run.verdict = crate::verdict(&run.tiers, &[], None);
        let md = render_markdown(&run);
        assert!(
            md.starts_with(
                "**No gateway overhead measured: the direct or the gateway tier did not \
                 complete a successful request.**\n\n## mcpbench light: **ERROR** (exit 3)\n"
            ),
            "{md}"
        );
        assert!(md.contains("- **gateway**: FAILED: the gateway died during the tier"));
    }
}
