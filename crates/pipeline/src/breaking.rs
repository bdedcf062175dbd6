//! Where a stress ramp broke its SLA: the first second, held for [`SUSTAINED`] seconds in a row,
//! in which a tier's errors or p95 went past the SLA column's limits or arrivals were dropped
//! (the target no longer kept up) — and the arrival rate the ramp offered then.

use loadgen::threshold::ThresholdResult;
use loadgen::SeriesPoint;

use crate::profile::SlaClass;

/// Seconds in a row a breach must last to be the breaking point (one slow second is noise).
pub const SUSTAINED: usize = 3;

/// The breaking point of one tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Break {
    /// Seconds into the measured window.
    pub at_secs: f64,
    /// The arrival rate offered in that second.
    pub rate: f64,
    pub why: String,
}

/// Why `point` breaks `sla`, if it does. The p95 is the slowest operation's.
fn breach(point: &SeriesPoint, sla: SlaClass) -> Option<String> {
    let requests: u64 = point.ops.iter().map(|o| o.requests).sum();
    let failures: u64 = point.ops.iter().map(|o| o.failures).sum();
    let p95 = point
        .ops
        .iter()
        .filter(|o| o.requests > o.failures)
        .map(|o| o.p95_ms)
        .fold(0.0, f64::max);
    let (p95_limit, error_limit) = (sla.p95_limit_ms(), sla.error_rate_limit());
    // Whole numbers of requests: the ratio is exact enough for a limit of a fraction of 1%.
    #[allow(clippy::cast_precision_loss)]
    let error_rate = if requests == 0 {
        0.0
    } else {
        failures as f64 / requests as f64
    };
    if point.dropped > 0 {
        Some(format!(
            "{} arrivals dropped (the target no longer kept up)",
            point.dropped
        ))
    } else if error_rate >= error_limit {
        Some(format!(
            "error rate {:.2}% ≥ {:.2}%",
            error_rate * 100.0,
            error_limit * 100.0
        ))
    } else if p95 >= p95_limit {
        Some(format!("p95 {p95:.0} ms ≥ {p95_limit:.0} ms"))
    } else {
        None
    }
}

/// The first sustained breach of `sla` in a tier's per-second series; None if it held.
pub fn breaking_point(series: &[SeriesPoint], sla: SlaClass) -> Option<Break> {
    (0..series.len()).find_map(|start| {
        let window = series.get(start..start + SUSTAINED)?;
        let reasons: Vec<String> = window.iter().map_while(|p| breach(p, sla)).collect();
        (reasons.len() == SUSTAINED).then(|| Break {
            at_secs: series[start].t,
            rate: series[start].target,
            why: reasons[0].clone(),
        })
    })
}

/// The breaking point of a tier that ran (its per-second series) as a judged result (`passed`
/// when the SLA held to the ramp's `peak`), and the sentence saying where it broke.
pub fn judged(
    tier: report::Tier,
    series: &[SeriesPoint],
    sla: SlaClass,
    peak: f64,
) -> (ThresholdResult, String) {
    let found = breaking_point(series, sla);
    let said = match &found {
        Some(b) => format!(
            "stress ramp, tier {tier}: the {} SLA broke at {:.0}/s ({:.0} s in: {})",
            sla.name(),
            b.rate,
            b.at_secs,
            b.why
        ),
        None => format!(
            "stress ramp, tier {tier}: the {} SLA held up to the ramp's peak, {peak:.0}/s",
            sla.name()
        ),
    };
    let result = ThresholdResult {
        expression: format!("sla_held_to_rate>={peak}"),
        tier: Some(tier.to_string()),
        actual: Some(found.as_ref().map_or(peak, |b| b.rate)),
        limit: peak,
        passed: found.is_none(),
    };
    (result, said)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::SeriesOp;

    fn second(t: f64, target: f64, p95_ms: f64, failures: u64, dropped: u64) -> SeriesPoint {
        SeriesPoint {
            t,
            target,
            active: 1,
            dropped,
            ops: vec![SeriesOp {
                requests: 100,
                failures,
                p95_ms,
                ..SeriesOp::default()
            }],
            total: None,
        }
    }

    #[test]
    fn the_break_is_the_first_second_of_a_sustained_breach() {
        let mut series: Vec<SeriesPoint> = (1..=10)
            .map(|t| second(f64::from(t), f64::from(t) * 100.0, 50.0, 0, 0))
            .collect();
        // One slow second is noise; three in a row from t = 6 are the break.
        series[2].ops[0].p95_ms = 900.0;
        for p in &mut series[5..8] {
            p.ops[0].p95_ms = 600.0;
        }
        let b = breaking_point(&series, SlaClass::Stress).unwrap();
        assert_eq!((b.at_secs, b.rate), (6.0, 600.0));
        assert!(b.why.contains("p95 600 ms ≥ 500 ms"), "{}", b.why);
        let (result, said) = judged(report::Tier::Gateway, &series, SlaClass::Stress, 1000.0);
        assert!(!result.passed);
        assert_eq!(result.actual, Some(600.0));
        assert!(said.contains("broke at 600/s"), "{said}");

        let errors: Vec<SeriesPoint> = (1..=4)
            .map(|t| second(f64::from(t), 50.0, 10.0, 2, 0))
            .collect();
        let b = breaking_point(&errors, SlaClass::Stress).unwrap();
        assert!(b.why.contains("error rate 2.00%"), "{}", b.why);
        let drops: Vec<SeriesPoint> = (1..=3)
            .map(|t| second(f64::from(t), 50.0, 10.0, 0, 4))
            .collect();
        assert!(breaking_point(&drops, SlaClass::Stress).is_some());

        let held: Vec<SeriesPoint> = (1..=5)
            .map(|t| second(f64::from(t), 50.0, 10.0, 0, 0))
            .collect();
        let (result, said) = judged(report::Tier::Rest, &held, SlaClass::Stress, 200.0);
        assert!(result.passed && result.actual == Some(200.0));
        assert!(said.contains("held up to the ramp's peak, 200/s"), "{said}");
    }
}
