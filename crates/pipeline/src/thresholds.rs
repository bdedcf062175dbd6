//! The thresholds of an overhead run: the SLA column of the profile, the profile's own and the
//! flags', each parsed and scoped to its tiers (and operations) before the stack is touched, then
//! judged on each tier that ran to the end.

use contextforge::workloads::{self, ClassKind, ClassPick};
use loadgen::threshold::{Threshold, ThresholdResult};
use loadgen::AGGREGATED;
use report::{Tier, TierRun};

use crate::profile::Profile;

/// A threshold and the tiers it is checked on.
#[derive(Debug, Clone)]
pub struct ScopedThreshold {
    pub threshold: Threshold,
    pub tiers: Vec<Tier>,
}

/// Every threshold of the run, scoped and checked against the tiers selected and the
/// operations their workloads report. Notes (an SLA that cannot be checked) go to `notes`.
pub fn scoped(
    profile: &Profile,
    flags: &[String],
    selected: &[Tier],
    picks: &ClassPicks,
    notes: &mut Vec<String>,
) -> Result<Vec<ScopedThreshold>, String> {
    let mut texts: Vec<String> = Vec::new();
    if profile.sla_thresholds {
        texts.extend(
            profile
                .sla
                .latency_thresholds()
                .iter()
                .map(|s| s.to_string()),
        );
        match profile.throughput_threshold() {
            Ok(t) => texts.push(t),
            Err(why) => notes.push(why),
        }
    }
    texts.extend(profile.thresholds.iter().cloned());
    texts.extend(flags.iter().cloned());
    texts
        .iter()
        .map(|text| {
            let threshold = Threshold::parse(text)?;
            let tiers = tiers_of(&threshold, text, selected)?;
            for tier in &tiers {
                check_operation(&threshold, *tier, picks)?;
            }
            Ok(ScopedThreshold { threshold, tiers })
        })
        .collect()
}

/// The tiers a threshold applies to: the one its `tier=` names, or by default the MCP workload
/// through the gateway (direct is the reference the others are measured against; see
/// [`unscoped_tiers`]).
fn tiers_of(threshold: &Threshold, text: &str, selected: &[Tier]) -> Result<Vec<Tier>, String> {
    match &threshold.tier {
        Some(name) => {
            let tier: Tier = name.parse().map_err(|_| {
                let known: Vec<&str> = Tier::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "threshold '{text}' names tier '{name}' (known: {})",
                    known.join(", ")
                )
            })?;
            if !selected.contains(&tier) {
                return Err(format!(
                    "threshold '{text}' names tier '{tier}', which this run does not include"
                ));
            }
            Ok(vec![tier])
        }
        None => Ok(unscoped_tiers(selected)),
    }
}

/// The tiers an unscoped threshold (and a stress ramp's breaking point) is judged on: the MCP
/// workload through the gateway; a run without it (rest-baseline, mcp-servers-baseline) is judged
/// on what it runs.
pub fn unscoped_tiers(selected: &[Tier]) -> Vec<Tier> {
    let judged: Vec<Tier> = Tier::JUDGED_BY_DEFAULT
        .into_iter()
        .filter(|t| selected.contains(t))
        .collect();
    if judged.is_empty() {
        selected.to_vec()
    } else {
        judged
    }
}

/// The class picks of the run: the MCP workload's, and the REST tier's when it runs.
#[derive(Debug, Clone)]
pub struct ClassPicks {
    pub mcp: Vec<ClassPick>,
    pub rest: Option<Vec<ClassPick>>,
    /// The table the picks' default weights came from (`--class-weights`).
    pub weights: workloads::WeightTable,
}

fn check_operation(threshold: &Threshold, tier: Tier, picks: &ClassPicks) -> Result<(), String> {
    if threshold.operation.is_none() {
        return Ok(());
    }
    let mut names = match (tier, &picks.rest) {
        (Tier::Rest, Some(rest)) => workloads::operation_names(ClassKind::Rest, rest)?,
        (Tier::Rest, None) => return Ok(()),
        _ => workloads::operation_names(ClassKind::Mcp, &picks.mcp)?,
    };
    names.push(AGGREGATED.into());
    threshold
        .check_operation(&names)
        .map_err(|e| format!("{e} (tier {tier})"))
}

/// Each threshold on each of its tiers that ran to the end; a tier that did not (skipped,
/// failed) is not judged, and says so in `notes` (a failed tier makes the run an ERROR anyway).
pub fn judge(
    thresholds: &[ScopedThreshold],
    tiers: &[TierRun],
    notes: &mut Vec<String>,
) -> Vec<ThresholdResult> {
    let mut results = Vec::new();
    for scoped in thresholds {
        for tier in &scoped.tiers {
            match tiers
                .iter()
                .find(|t| t.tier == *tier)
                .and_then(TierRun::ran)
            {
                Some(run) => {
                    let mut result = scoped.threshold.evaluate(run);
                    result.tier = Some(tier.to_string());
                    results.push(result);
                }
                None => notes.push(format!(
                    "threshold '{}' not checked on tier {tier}: the tier did not run to the end",
                    scoped.threshold.expression
                )),
            }
        }
    }
    results
}

/// A stress ramp's breaking point on each tier the SLA judges that ran to the end, as judged
/// results; where each broke (or that it held) goes to `notes`. Nothing for other profiles.
pub fn judge_breaking_points(
    profile: &Profile,
    selected: &[Tier],
    tiers: &[TierRun],
    notes: &mut Vec<String>,
) -> Vec<ThresholdResult> {
    let (crate::profile::Goal::FindBreakingPoint, Some(peak)) = (profile.goal, profile.peak_rate())
    else {
        return vec![];
    };
    let mut results = Vec::new();
    for tier in unscoped_tiers(selected) {
        let Some(run) = tiers.iter().find(|t| t.tier == tier).and_then(TierRun::ran) else {
            continue;
        };
        let (result, said) = crate::breaking::judged(tier, &run.series, profile.sla, peak);
        notes.push(said);
        results.push(result);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks() -> ClassPicks {
        ClassPicks {
            mcp: crate::tiers::picks(None, ClassKind::Mcp, workloads::WeightTable::Locustfile)
                .unwrap(),
            rest: Some(
                crate::tiers::picks(
                    Some("HealthCheckUser"),
                    ClassKind::Rest,
                    workloads::WeightTable::Locustfile,
                )
                .unwrap(),
            ),
            weights: workloads::WeightTable::Locustfile,
        }
    }

    fn light() -> Profile {
        Profile::built_in("light").unwrap()
    }

    #[test]
    fn sla_thresholds_apply_to_the_gateway_tiers_and_scopes_are_checked() {
        let mut notes = vec![];
        let all = scoped(
            &light(),
            &["p99{tier=rest}<2s".into()],
            &Tier::ALL,
            &picks(),
            &mut notes,
        )
        .unwrap();
        // light is judged by the baseline column: p50, p95, p99, error rate; plus ours.
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].threshold.expression, "p50<100ms");
        assert_eq!(all[0].tiers, Tier::JUDGED_BY_DEFAULT);
        assert_eq!(all[4].tiers, vec![Tier::Rest]);
        assert!(notes[0].contains("throughput SLA"), "{notes:?}");

        let refused = |flag: &str, selected: &[Tier]| {
            scoped(&light(), &[flag.into()], selected, &picks(), &mut vec![]).unwrap_err()
        };
        let e = refused("p95{tier=nginx}<1s", &[Tier::Direct, Tier::Gateway]);
        assert!(e.contains("does not include"), "{e}");
        let e = refused("p95{tier=edge}<1s", &[Tier::Gateway]);
        assert!(e.contains("names tier 'edge' (known: direct"), "{e}");
        let e = refused("p95<fast", &[Tier::Gateway]);
        assert!(e.contains("invalid threshold"), "{e}");
        let e = refused("p95{op=tools/cal}<1s", &[Tier::Gateway]);
        assert!(e.contains("tools/cal") && e.contains("tier gateway"), "{e}");
        let e = refused("p95{tier=rest,op=tools/call}<1s", &Tier::ALL);
        assert!(e.contains("tier rest"), "{e}");
    }
}
