//! What a reader must not miss, worded once for every view: banners (nginx caching, a
//! saturated or interrupted run) and the warnings of the run and of each tier.

use serde::Serialize;

use crate::document::{OverheadRun, VerdictStatus};

#[derive(Serialize)]
pub struct Banner {
    /// `cache`, `saturated` or `interrupted` (the HTML styles by it).
    pub kind: &'static str,
    pub text: &'static str,
}

pub fn banners(run: &OverheadRun) -> Vec<Banner> {
    let mut out = Vec::new();
    if run.stack.nginx_cache {
        out.push(Banner {
            kind: "cache",
            text: "nginx caching was on (--nginx-cache): list and admin pages through nginx were served from its cache, so the nginx tier's numbers are not the gateway's.",
        });
    }
    match run.verdict.status {
        VerdictStatus::Saturated => out.push(Banner {
            kind: "saturated",
            text: "The load generator saturated: it could not keep its schedule, so these latencies understate the truth. Repeat with fewer users or more generator CPU.",
        }),
        VerdictStatus::Interrupted => out.push(Banner {
            kind: "interrupted",
            text: "The run was stopped by a signal: the numbers cover only the time until then.",
        }),
        VerdictStatus::Error => out.push(Banner {
            kind: "error",
            text: "ERROR: a tier's target failed (unreachable, or down during the tier): its numbers are no baseline for anything, and the run cannot pass.",
        }),
        VerdictStatus::Pass | VerdictStatus::Fail => {}
    }
    out
}

/// The run's warnings, then each tier's own, prefixed with the tier.
pub fn warnings(run: &OverheadRun) -> Vec<String> {
    let tier_warnings = run
        .tiers
        .iter()
        .filter_map(|t| t.measured().map(|r| (t, r)))
        .flat_map(|(t, r)| r.warnings.iter().map(move |w| format!("{}: {w}", t.tier)));
    run.warnings.iter().cloned().chain(tier_warnings).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn tier_warnings_follow_the_runs_with_their_tier() {
        let mut run = fixture::run();
        run.warnings.push("stack reused".into());
        let crate::document::TierOutcome::Ran { results } = &mut run.tiers[1].outcome else {
            panic!()
        };
        results.warnings.push("3 tools skipped".into());
        assert_eq!(warnings(&run), ["stack reused", "gateway: 3 tools skipped"]);
        assert!(banners(&run).is_empty());
        run.stack.nginx_cache = true;
        assert_eq!(banners(&run)[0].kind, "cache");
    }
}
