//! The verdict of a tiered run and its exit status: stopped by a signal (128 + its number),
//! else 3 when a tier failed (ERROR: its target was unreachable or died), else 4 when any tier's
//! generator saturated, else 1 when a threshold failed, else 0.
//!
//! A failed tier outranks everything but a signal: a gateway that died cannot pass, whatever
//! the thresholds say, and `--no-sla` (no thresholds at all) does not change that. Saturation
//! outranks failed thresholds: a saturated generator understates latency, so a threshold judged
//! on its numbers means nothing either way — the run must be repeated with more generator
//! headroom. A signal outranks all, as it does for `cargo xtask load`
//! (`loadgen`'s `command::outcome`): the user stopped the run.

use cli::{Exit, Signal};
use loadgen::threshold::ThresholdResult;

use crate::document::{TierOutcome, TierRun, Verdict, VerdictStatus};
use crate::format;

/// `stopped_by` is the signal that stopped the pipeline; a tier whose results say a signal
/// stopped it counts too. The reasons say why, one line each: the signal, failed tiers,
/// saturated tiers, failed thresholds, then skipped tiers (informational).
pub fn verdict(
    tiers: &[TierRun],
    thresholds: &[ThresholdResult],
    stopped_by: Option<Signal>,
) -> Verdict {
    let mut reasons = Vec::new();
    let stopped_tiers: Vec<&TierRun> = tiers
        .iter()
        .filter(|t| t.measured().is_some_and(|r| r.stopped_by.is_some()))
        .collect();
    let signal = stopped_by.or_else(|| {
        stopped_tiers
            .iter()
            .find_map(|t| t.measured().and_then(|r| r.stopped_by))
    });
    if let Some(signal) = signal {
        let during = stopped_tiers
            .iter()
            .map(|t| t.tier.name())
            .collect::<Vec<_>>();
        reasons.push(if during.is_empty() {
            format!("stopped by {signal}: the numbers cover the time until then")
        } else {
            format!(
                "stopped by {signal} during {}: the numbers cover the time until then",
                during.join(", ")
            )
        });
    }
    let mut failed_tier = false;
    for tier in tiers {
        if let TierOutcome::Failed { reason, .. } = &tier.outcome {
            failed_tier = true;
            reasons.push(format!("tier {} FAILED: {reason}", tier.tier));
        }
    }
    let mut saturated = false;
    for tier in tiers {
        if tier.ran().is_some_and(|r| r.schedule.generator_saturated()) {
            saturated = true;
            reasons.push(format!(
                "tier {} saturated the generator, its latencies are not trustworthy",
                tier.tier
            ));
        }
    }
    let mut threshold_failed = false;
    for result in thresholds.iter().filter(|t| !t.passed) {
        threshold_failed = true;
        reasons.push(format!(
            "threshold failed: {}",
            format::threshold_line(result)
        ));
    }
    for tier in tiers {
        if let TierOutcome::Skipped { reason } = &tier.outcome {
            reasons.push(format!("tier {} skipped: {reason}", tier.tier));
        }
    }
    decide(
        Judged {
            signal,
            failed_tier,
            saturated,
            failed: threshold_failed,
        },
        reasons,
    )
}

/// What a verdict is decided on, highest rank first.
pub(crate) struct Judged {
    pub signal: Option<Signal>,
    pub failed_tier: bool,
    pub saturated: bool,
    /// A threshold (or, in a stream run, a connection check) failed.
    pub failed: bool,
}

/// The verdict by the module's ranking: signal, failed tier, saturation, failed check.
pub(crate) fn decide(judged: Judged, reasons: Vec<String>) -> Verdict {
    let (status, exit) = match judged.signal {
        Some(signal) => (VerdictStatus::Interrupted, Exit::Stopped(signal)),
        None if judged.failed_tier => (VerdictStatus::Error, Exit::Infrastructure),
        None if judged.saturated => (VerdictStatus::Saturated, Exit::Saturated),
        None if judged.failed => (VerdictStatus::Fail, Exit::Failed),
        None => (VerdictStatus::Pass, Exit::Ok),
    };
    Verdict {
        status,
        exit_code: i32::from(exit.code()),
        reasons,
    }
}

impl VerdictStatus {
    /// The word shown in every report: PASS, FAIL, SATURATED, INTERRUPTED, ERROR.
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
    use crate::document::Tier;
    use crate::fixture;

    fn tiers() -> Vec<TierRun> {
        let run = || fixture::results(vec![fixture::op("tools/call", 1..=100, 0, 10.0)], 10.0);
        vec![
            fixture::tier(Tier::Direct, run()),
            fixture::tier(Tier::Gateway, run()),
            fixture::skipped(Tier::Nginx, "nginx is not on PATH"),
        ]
    }

    fn saturate(tiers: &mut [TierRun], tier: Tier) {
        let t = tiers.iter_mut().find(|t| t.tier == tier).unwrap();
        let TierOutcome::Ran { results } = &mut t.outcome else {
            panic!("{tier} did not run")
        };
        results.schedule.verdict = loadgen::ScheduleVerdict::GeneratorSaturated {
            reasons: vec!["12% of iterations started late".into()],
        };
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
        let v = verdict(&tiers(), &thresholds, None);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Pass, 0));
        assert_eq!(v.reasons, ["tier nginx skipped: nginx is not on PATH"]);
    }

    #[test]
    fn a_failed_threshold_exits_1_with_actual_and_limit() {
        let thresholds = [
            fixture::threshold("p95<300ms", Some("gateway"), 412.3, 300.0, false),
            fixture::threshold("rps>10", None, 20.0, 10.0, true),
        ];
        let v = verdict(&tiers(), &thresholds, None);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Fail, 1));
        assert_eq!(
            v.reasons[0],
            "threshold failed: p95<300ms on gateway: 412.30 ms (limit 300.00 ms)"
        );
    }

    #[test]
    fn saturation_outranks_failed_thresholds_and_a_signal_outranks_both() {
        let mut tiers = tiers();
        saturate(&mut tiers, Tier::Gateway);
        let failed = [fixture::threshold("p95<1ms", None, 2.0, 1.0, false)];
        let v = verdict(&tiers, &failed, None);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Saturated, 4));
        assert!(
            v.reasons[0].starts_with("tier gateway saturated"),
            "{:?}",
            v.reasons
        );
        assert!(v.reasons[1].starts_with("threshold failed"));

        let v = verdict(&tiers, &failed, Some(Signal::Interrupt));
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Interrupted, 130));
        assert_eq!(v.reasons.len(), 4, "{:?}", v.reasons);
        let v = verdict(&tiers, &failed, Some(Signal::Terminate));
        assert_eq!(v.exit_code, 143);
    }

    #[test]
    fn a_failed_tier_is_an_error_that_outranks_saturation_and_thresholds() {
        let mut tiers = tiers();
        saturate(&mut tiers, Tier::Direct);
        tiers.push(fixture::failed(Tier::Rest, "connect refused", None));
        let passed = [fixture::threshold("p95<1s", None, 2.0, 1000.0, true)];
        let v = verdict(&tiers, &passed, None);
        assert_eq!((v.status, v.exit_code), (VerdictStatus::Error, 3));
        assert_eq!(v.reasons[0], "tier rest FAILED: connect refused");
        assert_eq!(VerdictStatus::Error.label(), "ERROR");
        // No thresholds at all (--no-sla) does not make it pass.
        assert_eq!(verdict(&tiers, &[], None).status, VerdictStatus::Error);
    }

    #[test]
    fn a_tier_stopped_inside_the_engine_stops_the_run_with_its_signal() {
        let mut tiers = tiers();
        let TierOutcome::Ran { results } = &mut tiers[1].outcome else {
            panic!()
        };
        results.stopped_by = Some(Signal::Hangup);
        let v = verdict(&tiers, &[], None);
        assert_eq!(v.exit_code, 129);
        assert!(v.reasons[0].contains("during gateway"), "{:?}", v.reasons);
    }
}
