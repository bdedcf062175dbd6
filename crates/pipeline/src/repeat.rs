//! `--repeat N`: the planned tiers run N times, interleaved (direct, gateway, nginx, direct,
//! gateway, …), so a shared machine's slow drifts fall on every tier alike; then each tier is
//! reported once, every round's requests merged, with each figure's round-to-round interval
//! ([`report::Repeats`]).

use report::{Repeats, TierOutcome, TierRun};

/// The rounds' tiers, each once: a tier that ran in every round ran, its results merged; else
/// the first round's outcome in which it did not (failed — its partial results kept — or
/// skipped) stands for it, so a tier that failed once is no baseline. One round is itself.
pub fn merged(mut rounds: Vec<Vec<TierRun>>) -> Result<(Vec<TierRun>, Option<Repeats>), String> {
    if rounds.len() < 2 {
        return Ok((rounds.pop().unwrap_or_default(), None));
    }
    let repeats = report::repeats(&rounds);
    let mut merged = Vec::new();
    for first in &rounds[0] {
        let same_tier = || {
            rounds
                .iter()
                .filter_map(|round| round.iter().find(|t| t.tier == first.tier))
        };
        let outcome = match same_tier().find(|t| t.ran().is_none()) {
            Some(not_run) => not_run.outcome.clone(),
            None => {
                let results: Vec<loadgen::RunResults> =
                    same_tier().filter_map(|t| t.ran().cloned()).collect();
                TierOutcome::Ran {
                    results: Box::new(loadgen::RunResults::merge_rounds(&results)?),
                }
            }
        };
        merged.push(TierRun {
            tier: first.tier,
            target: first.target.clone(),
            outcome,
        });
    }
    Ok((merged, Some(repeats)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::fixture;
    use report::Tier;

    fn round(gateway: TierOutcome) -> Vec<TierRun> {
        let direct = fixture::results(vec![fixture::op("tools/call", 1..=100, 0, 10.0)], 10.0);
        vec![
            fixture::tier(Tier::Direct, direct),
            TierRun {
                tier: Tier::Gateway,
                target: "g".into(),
                outcome: gateway,
            },
        ]
    }

    fn ran() -> TierOutcome {
        let results = fixture::results(vec![fixture::op("tools/call", 101..=200, 0, 10.0)], 10.0);
        TierOutcome::Ran {
            results: Box::new(results),
        }
    }

    #[test]
    fn tiers_that_ran_every_round_are_merged_and_one_failure_fails_the_tier() {
        let (tiers, repeats) = merged(vec![round(ran()), round(ran())]).unwrap();
        assert_eq!(tiers[1].ran().unwrap().total.requests, 200);
        assert_eq!(repeats.unwrap().rounds, 2);
        let failed = TierOutcome::Failed {
            reason: "gateway down".into(),
            results: None,
        };
        let (tiers, _) = merged(vec![round(ran()), round(failed.clone())]).unwrap();
        assert_eq!(tiers[1].outcome, failed);
        assert_eq!(tiers[0].ran().unwrap().total.requests, 200);
        let (one, none) = merged(vec![round(ran())]).unwrap();
        assert!(none.is_none() && one[1].ran().unwrap().total.requests == 100);
    }
}
