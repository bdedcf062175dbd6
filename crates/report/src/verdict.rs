//! The verdict of a tiered run and its exit code: 130 interrupted, else 3 when a tier's target
//! failed, else 4 when any tier's generator saturated, else 1 when a threshold failed, else 0.
//!
//! Saturation outranks failed thresholds: a saturated generator understates latency, so a
//! threshold judged on its numbers means nothing either way — the run must be repeated with more
//! generator headroom before pass or fail is known. An interruption outranks both, as it does
//! for `cargo xtask load` (`loadgen::load_cli::outcome_code`): the user stopped the run.

use loadgen::load_cli::exit_code;
use loadgen::threshold::ThresholdResult;

use crate::document::{TierRun, Verdict, VerdictStatus};
use crate::format;

/// `interrupted` is the pipeline's own Ctrl-C; a tier whose results say it was interrupted
/// counts too. The reasons say why, one line each: the interruption, saturated tiers, failed
/// thresholds, then skipped tiers (informational: a skipped tier does not change the status).
pub fn verdict(tiers: &[TierRun], thresholds: &[ThresholdResult], interrupted: bool) -> Verdict {
    let mut reasons = Vec::new();
    let interrupted_tiers: Vec<&str> = tiers
        .iter()
        .filter(|t| t.ran().is_some_and(|r| r.interrupted))
        .map(|t| t.name.as_str())
        .collect();
    let interrupted = interrupted || !interrupted_tiers.is_empty();
    if interrupted {
        reasons.push(match interrupted_tiers.as_slice() {
            [] => "interrupted (Ctrl-C): the numbers cover the time until then".to_string(),
            names => format!(
                "interrupted (Ctrl-C) during {}: the numbers cover the time until then",
                names.join(", ")
            ),
        });
    }
    let broken: Vec<&str> = tiers
        .iter()
        .filter(|t| t.failed)
        .map(|t| t.name.as_str())
        .collect();
    if !broken.is_empty() {
        reasons.push(format!(
            "tier {} failed: the comparison is incomplete",
            broken.join(", ")
        ));
    }
    let mut saturated = false;
    for tier in tiers {
        if let Some(results) = tier.ran().filter(|r| r.saturation.saturated) {
            saturated = true;
            reasons.push(format!(
                "tier {} saturated the generator, its latencies are not trustworthy: {}",
                tier.name,
                results.saturation.reasons.join("; ")
            ));
        }
    }
    let mut failed = false;
    for result in thresholds.iter().filter(|t| !t.passed) {
        failed = true;
        reasons.push(format!(
            "threshold failed: {}",
            format::threshold_line(result)
        ));
    }
    for tier in tiers {
        if let Some(why) = &tier.skipped {
            reasons.push(format!("tier {} skipped: {why}", tier.name));
        }
    }
    let (status, code) = if interrupted {
        (VerdictStatus::Interrupted, exit_code::INTERRUPTED)
    } else if !broken.is_empty() {
        (VerdictStatus::Error, exit_code::INFRASTRUCTURE)
    } else if saturated {
        (VerdictStatus::Saturated, exit_code::SATURATED)
    } else if failed {
        (VerdictStatus::Fail, exit_code::THRESHOLD_FAILED)
    } else {
        (VerdictStatus::Pass, exit_code::OK)
    };
    Verdict {
        status,
        exit_code: i32::from(code),
        reasons,
    }
}

impl VerdictStatus {
    /// The word shown in every report: PASS, FAIL, SATURATED, INTERRUPTED.
    pub fn label(self) -> &'static str {
        match self {
            VerdictStatus::Pass => "PASS",
            VerdictStatus::Fail => "FAIL",
            VerdictStatus::Saturated => "SATURATED",
            VerdictStatus::Interrupted => "INTERRUPTED",
            VerdictStatus::Error => "ERROR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    fn tiers() -> Vec<TierRun> {
        let run = || fixture::results(vec![fixture::op("tools/call", 1..=100, 0, 10.0)], 10.0);
        vec![
            fixture::tier("direct", run()),
            fixture::tier("gateway", run()),
            fixture::skipped("nginx", "nginx is not on PATH"),
        ]
    }

    fn saturate(tiers: &mut [TierRun], name: &str) {
        let tier = tiers.iter_mut().find(|t| t.name == name).unwrap();
        let saturation = &mut tier.results.as_mut().unwrap().saturation;
        saturation.saturated = true;
        saturation.reasons = vec!["12% of iterations started late".into()];
    }

    #[test]
    fn passing_thresholds_pass_and_skipped_tiers_are_reported_not_judged() {
        let thresholds = [fixture::threshold(
            "p95<300ms",
            Some("gateway"),
            1.0,
            300.0,
            true,
        )];
        let v = verdict(&tiers(), &thresholds, false);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Pass, 0));
        assert_eq!(v.reasons, ["tier nginx skipped: nginx is not on PATH"]);
    }

    #[test]
    fn a_failed_threshold_exits_1_with_actual_and_limit() {
        let thresholds = [
            fixture::threshold("p95<300ms", Some("gateway"), 412.3, 300.0, false),
            fixture::threshold("rps>10", None, 20.0, 10.0, true),
        ];
        let v = verdict(&tiers(), &thresholds, false);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Fail, 1));
        assert_eq!(
            v.reasons[0],
            "threshold failed: p95<300ms on gateway: 412.30 ms (limit 300.00 ms)"
        );
    }

    #[test]
    fn saturation_outranks_failed_thresholds_and_interruption_outranks_both() {
        let mut tiers = tiers();
        saturate(&mut tiers, "gateway");
        let failed = [fixture::threshold("p95<1ms", None, 2.0, 1.0, false)];
        let v = verdict(&tiers, &failed, false);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Saturated, 4));
        assert!(
            v.reasons[0].starts_with("tier gateway saturated"),
            "{:?}",
            v.reasons
        );
        assert!(v.reasons[0].ends_with("12% of iterations started late"));
        assert!(v.reasons[1].starts_with("threshold failed"));

        let v = verdict(&tiers, &failed, true);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Interrupted, 130));
        assert_eq!(v.reasons.len(), 4, "{:?}", v.reasons);
    }

    #[test]
    fn a_failed_tier_is_an_error_that_outranks_saturation_and_thresholds() {
        let mut tiers = tiers();
        saturate(&mut tiers, "direct");
        tiers.push(TierRun {
            failed: true,
            ..fixture::skipped("rest", "failed: connect refused")
        });
        let passed = [fixture::threshold("p95<1s", None, 2.0, 1000.0, true)];
        let v = verdict(&tiers, &passed, false);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Error, 3));
        assert_eq!(
            v.reasons[0],
            "tier rest failed: the comparison is incomplete"
        );
        assert_eq!(VerdictStatus::Error.label(), "ERROR");
    }

    #[test]
    fn a_tier_interrupted_inside_the_engine_interrupts_the_run() {
        let mut tiers = tiers();
        tiers[1].results.as_mut().unwrap().interrupted = true;
        let v = verdict(&tiers, &[], false);
        assert_eq!(v.exit_code, 130);
        assert!(v.reasons[0].contains("during gateway"));
    }
}
