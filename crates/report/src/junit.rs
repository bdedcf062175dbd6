//! `junit.xml`: a test case per threshold (named by tier and expression; a failure says actual
//! against limit) and a test case per tier (failed when its target failed, its generator
//! saturated or a signal stopped it; skipped with its reason when it did not run), for CI
//! test-report viewers.

use std::fmt::Write as _;

use loadgen::threshold::ThresholdResult;

use crate::document::{OverheadRun, TierOutcome, TierRun};
use crate::format;
use crate::xml::escape;

pub(crate) enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

pub(crate) struct Case {
    pub class: String,
    pub name: String,
    pub outcome: Outcome,
}

pub fn render_junit(run: &OverheadRun) -> String {
    let tier_cases: Vec<Case> = run.tiers.iter().map(tier_case).collect();
    document(
        &run.run_id,
        &[
            ("thresholds", threshold_cases(&run.thresholds)),
            ("tiers", tier_cases),
        ],
    )
}

/// A test case per threshold, named by its tier and expression.
pub(crate) fn threshold_cases(thresholds: &[ThresholdResult]) -> Vec<Case> {
    thresholds
        .iter()
        .map(|t| {
            let tier = t.tier.as_deref().unwrap_or("all");
            Case {
                class: format!("mcpbench.thresholds.{tier}"),
                name: format!("[{tier}] {}", t.expression),
                outcome: if t.passed {
                    Outcome::Passed
                } else {
                    Outcome::Failed(format!(
                        "{}: actual {}, limit {}",
                        t.expression,
                        format::threshold_actual(t),
                        format::threshold_value(&t.expression, t.limit)
                    ))
                },
            }
        })
        .collect()
}

/// The whole `junit.xml`: one test suite per (name, cases).
pub(crate) fn document(run_id: &str, suites: &[(&str, Vec<Case>)]) -> String {
    let all = suites.iter().flat_map(|(_, cases)| cases);
    let count = |f: fn(&Outcome) -> bool| all.clone().filter(|c| f(&c.outcome)).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"mcpbench {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        escape(run_id),
        all.clone().count(),
        count(|o| matches!(o, Outcome::Failed(_))),
        count(|o| matches!(o, Outcome::Skipped(_)))
    );
    for (name, cases) in suites {
        suite(&mut xml, name, cases);
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn tier_case(tier: &TierRun) -> Case {
    let outcome = match &tier.outcome {
        TierOutcome::Failed { reason, .. } => Outcome::Failed(format!("ERROR: {reason}")),
        TierOutcome::Skipped { reason } => Outcome::Skipped(reason.clone()),
        TierOutcome::Ran { results } => match (&results.schedule.verdict, results.stopped_by) {
            (_, Some(signal)) => {
                Outcome::Failed(format!("stopped by {signal} before the end of the tier"))
            }
            (loadgen::ScheduleVerdict::GeneratorSaturated { reasons }, None) => {
                Outcome::Failed(format!(
                    "the generator saturated, latencies are not trustworthy: {}",
                    reasons.join("; ")
                ))
            }
            _ => Outcome::Passed,
        },
    };
    Case {
        class: "mcpbench.tiers".into(),
        name: tier.tier.to_string(),
        outcome,
    }
}

fn suite(xml: &mut String, name: &str, cases: &[Case]) {
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped(_)))
        .count();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        cases.len()
    );
    for case in cases {
        let open = format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(&case.class),
            escape(&case.name)
        );
        match &case.outcome {
            Outcome::Passed => {
                let _ = writeln!(xml, "{open}/>");
            }
            Outcome::Failed(message) => {
                let _ = writeln!(
                    xml,
                    "{open}>\n      <failure message=\"{0}\">{0}</failure>\n    </testcase>",
                    escape(message)
                );
            }
            Outcome::Skipped(message) => {
                let _ = writeln!(
                    xml,
                    "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(message)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::xml::check_well_formed;

    #[test]
    fn one_case_per_threshold_and_per_tier_in_well_formed_xml() {
        let xml = render_junit(&fixture::run());
        let elements = check_well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert_eq!(elements.iter().filter(|e| *e == "testcase").count(), 2 + 4);
        assert!(xml.contains("tests=\"6\" failures=\"1\" skipped=\"1\""));
        assert!(xml.contains("name=\"[gateway] p95&lt;300ms\"/>"));
        assert!(xml.contains("<failure message=\"error_rate&lt;0.1%: actual 0.50%, limit 0.10%\">"));
        assert!(xml.contains(
            "<skipped message=\"MCPBENCH_NGINX is empty: the stack runs without nginx\"/>"
        ));
    }

    #[test]
    fn a_saturated_tier_is_a_failed_case() {
        let mut run = fixture::run();
        let TierOutcome::Ran { results } = &mut run.tiers[1].outcome else {
            panic!()
        };
        results.schedule.verdict = loadgen::ScheduleVerdict::GeneratorSaturated {
            reasons: vec!["dropped 40 arrivals & more".into()],
        };
        let xml = render_junit(&run);
        check_well_formed(&xml).unwrap();
        assert!(xml
            .contains("saturated, latencies are not trustworthy: dropped 40 arrivals &amp; more"));
        assert!(xml.contains("failures=\"2\""));
    }

    #[test]
    fn a_failed_tier_is_an_error_case_with_its_reason() {
        let mut run = fixture::run();
        run.tiers[1] = fixture::failed(
            crate::document::Tier::Gateway,
            "the gateway died during the tier",
            None,
        );
        let xml = render_junit(&run);
        check_well_formed(&xml).unwrap();
        assert!(xml.contains("<failure message=\"ERROR: the gateway died during the tier\">"));
    }
}
