//! Regression budgets for `compare-baseline`: how much worse than the baseline each metric may
//! get before it counts as a regression.
//!
//! Syntax, one `--budget` each: `rps=-10%` (requests/s may fall 10%), `p95=+15%`, `p99=+20%`,
//! `p50=+10%` (latency may rise by that share of the baseline's), `p95=+2ms` (or by that many
//! milliseconds: sub-millisecond latencies move more than 15% on noise alone),
//! `error_rate=+0.5pt` (the error rate may rise by half a percentage point: 0.1% → 0.6%),
//! `METRIC=off` (not judged). The sign may be left out; a sign pointing the harmless way is
//! refused rather than guessed at.

use std::fmt;

use loadgen::OperationResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetMetric {
    Rps,
    P50,
    P95,
    P99,
    ErrorRate,
}

impl BudgetMetric {
    pub const ALL: [BudgetMetric; 5] = [
        BudgetMetric::Rps,
        BudgetMetric::P50,
        BudgetMetric::P95,
        BudgetMetric::P99,
        BudgetMetric::ErrorRate,
    ];

    /// As written in `--budget`.
    pub fn name(self) -> &'static str {
        match self {
            BudgetMetric::Rps => "rps",
            BudgetMetric::P50 => "p50",
            BudgetMetric::P95 => "p95",
            BudgetMetric::P99 => "p99",
            BudgetMetric::ErrorRate => "error_rate",
        }
    }

    /// As a table column.
    pub fn column(self) -> &'static str {
        match self {
            BudgetMetric::Rps => "req/s",
            BudgetMetric::P50 => "p50 ms",
            BudgetMetric::P95 => "p95 ms",
            BudgetMetric::P99 => "p99 ms",
            BudgetMetric::ErrorRate => "error rate",
        }
    }

    /// Throughput regresses by falling; latency and errors by rising.
    pub fn worse_when_lower(self) -> bool {
        self == BudgetMetric::Rps
    }

    /// Requests each run needs before this metric is judged: a percentile wants at least five
    /// requests above it (p95: 100, p99: 500); throughput, a counting error of √n/n within the
    /// default 10% (100); the error rate, one failure moving it by 0.5 point at most (200).
    /// Fewer, and a change is noise, not evidence.
    pub fn min_requests(self) -> u64 {
        match self {
            BudgetMetric::Rps => 100,
            BudgetMetric::P50 => 10,
            BudgetMetric::P95 => 100,
            BudgetMetric::P99 => 500,
            BudgetMetric::ErrorRate => 200,
        }
    }

    /// What the metric is computed over: successful requests for latency, all for the rest.
    pub fn samples(self, op: &OperationResult) -> u64 {
        match self {
            BudgetMetric::P50 | BudgetMetric::P95 | BudgetMetric::P99 => op.latency.count,
            BudgetMetric::Rps | BudgetMetric::ErrorRate => op.requests,
        }
    }

    /// The measured value (corrected latency of successful requests in ms, error rate as a
    /// fraction).
    pub fn value(self, op: &OperationResult) -> f64 {
        match self {
            BudgetMetric::Rps => op.rps,
            BudgetMetric::P50 => op.latency.p50_ms,
            BudgetMetric::P95 => op.latency.p95_ms,
            BudgetMetric::P99 => op.latency.p99_ms,
            BudgetMetric::ErrorRate => op.error_rate,
        }
    }

    /// The unit of an absolute budget: none for throughput (only relative).
    pub fn absolute_unit(self) -> Option<&'static str> {
        match self {
            BudgetMetric::Rps => None,
            BudgetMetric::P50 | BudgetMetric::P95 | BudgetMetric::P99 => Some("ms"),
            BudgetMetric::ErrorRate => Some("pt"),
        }
    }

    /// current − baseline in the absolute budget's unit (ms, or percentage points).
    pub fn absolute_change(self, baseline: f64, current: f64) -> f64 {
        match self {
            BudgetMetric::ErrorRate => (current - baseline) * 100.0,
            _ => current - baseline,
        }
    }

    /// The units `--budget` takes for this metric, for error messages.
    fn units(self) -> &'static str {
        match self {
            BudgetMetric::Rps => "a percentage, e.g. rps=-10%",
            BudgetMetric::P50 | BudgetMetric::P95 | BudgetMetric::P99 => {
                "a percentage or milliseconds, e.g. p95=+15% or p95=+2ms"
            }
            BudgetMetric::ErrorRate => "percentage points, e.g. error_rate=+0.5pt (0.1% → 0.6%)",
        }
    }

    fn default_limit(self) -> Limit {
        match self {
            BudgetMetric::Rps => Limit::Relative(10.0),
            BudgetMetric::P50 => Limit::Off,
            BudgetMetric::P95 => Limit::Relative(15.0),
            BudgetMetric::P99 => Limit::Relative(20.0),
            BudgetMetric::ErrorRate => Limit::Absolute(0.5),
        }
    }
}

/// How far a metric may move the bad way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// Percent of the baseline's value (10.0 = 10%).
    Relative(f64),
    /// In the metric's own unit: milliseconds of latency (2.0 = 2 ms slower), percentage
    /// points of error rate (0.5 = from 0.1% to 0.6%).
    Absolute(f64),
    Off,
}

/// The limit of every metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Budgets {
    limits: Vec<(BudgetMetric, Limit)>,
}

impl Default for Budgets {
    /// requests/s −10%, p95 +15%, p99 +20%, error rate +0.5 points; p50 not judged.
    fn default() -> Self {
        Budgets {
            limits: BudgetMetric::ALL
                .iter()
                .map(|m| (*m, m.default_limit()))
                .collect(),
        }
    }
}

const SYNTAX: &str = "write rps=-N%, p50|p95|p99=+N% or +Nms, error_rate=+Npt, or METRIC=off";

impl Budgets {
    /// The defaults with each `--budget` applied in order.
    pub fn from_flags(flags: &[String]) -> Result<Budgets, String> {
        let mut budgets = Budgets::default();
        for flag in flags {
            let (metric, limit) = parse(flag)?;
            for (m, l) in &mut budgets.limits {
                if *m == metric {
                    *l = limit;
                }
            }
        }
        Ok(budgets)
    }

    pub fn limit(&self, metric: BudgetMetric) -> Limit {
        self.limits
            .iter()
            .find(|(m, _)| *m == metric)
            .map_or(Limit::Off, |(_, l)| *l)
    }

    /// The judged metrics and their limits, in table order.
    pub fn judged(&self) -> impl Iterator<Item = (BudgetMetric, Limit)> + '_ {
        self.limits
            .iter()
            .copied()
            .filter(|(_, l)| *l != Limit::Off)
    }
}

/// One `--budget`, e.g. `p95=+10%`.
fn parse(text: &str) -> Result<(BudgetMetric, Limit), String> {
    let err = |why: String| format!("invalid budget '{text}': {why}");
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| err(format!("no '=' ({SYNTAX})")))?;
    let metric = BudgetMetric::ALL
        .into_iter()
        .find(|m| m.name() == name.trim())
        .ok_or_else(|| {
            err(format!(
                "unknown metric '{}' (known: rps, p50, p95, p99, error_rate)",
                name.trim()
            ))
        })?;
    let value = value.trim();
    if value == "off" {
        return Ok((metric, Limit::Off));
    }
    let (sign, unsigned) = match value.as_bytes().first() {
        Some(b'+') => (Some('+'), &value[1..]),
        Some(b'-') => (Some('-'), &value[1..]),
        _ => (None, value),
    };
    let harmful = if metric.worse_when_lower() { '-' } else { '+' };
    if sign.is_some_and(|s| s != harmful) {
        let direction = if metric.worse_when_lower() {
            "falls"
        } else {
            "rises"
        };
        return Err(err(format!(
            "{} regresses when it {direction}; write {}={harmful}{unsigned}",
            metric.name(),
            metric.name()
        )));
    }
    let number = |digits: &str| {
        digits
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| err(format!("'{digits}' is not a number ({SYNTAX})")))
    };
    let relative = unsigned.strip_suffix('%');
    let absolute = metric
        .absolute_unit()
        .and_then(|unit| unsigned.strip_suffix(unit));
    match (metric, relative, absolute) {
        // A relative error-rate budget would let 0.1% → 0.11% regress; points say what is meant.
        (BudgetMetric::ErrorRate, Some(_), _) | (_, None, None) => {
            Err(err(format!("{} takes {}", metric.name(), metric.units())))
        }
        (_, _, Some(amount)) => Ok((metric, Limit::Absolute(number(amount)?))),
        (_, Some(percent), None) => Ok((metric, Limit::Relative(number(percent)?))),
    }
}

impl fmt::Display for Budgets {
    /// `rps −10%, p95 +15%, p99 +20%, error_rate +0.5pt`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .judged()
            .map(|(m, l)| format!("{} {}", m.name(), limit_text(m, l)))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// A limit with the sign of the harmful direction: "-10%", "+15%", "+2ms", "+0.5pt", "off".
pub fn limit_text(metric: BudgetMetric, limit: Limit) -> String {
    let sign = if metric.worse_when_lower() { '-' } else { '+' };
    match limit {
        Limit::Relative(percent) => format!("{sign}{percent}%"),
        Limit::Absolute(amount) => {
            format!(
                "{sign}{amount}{}",
                metric.absolute_unit().unwrap_or_default()
            )
        }
        Limit::Off => "off".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(flags: &[&str]) -> Result<Budgets, String> {
        Budgets::from_flags(&flags.iter().map(|f| f.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn defaults_are_the_issues_and_flags_override_them() {
        assert_eq!(
            Budgets::default().to_string(),
            "rps -10%, p95 +15%, p99 +20%, error_rate +0.5pt"
        );
        let b = budgets(&[
            "rps=-5%",
            "p95=10%",
            "error_rate=+1pt",
            "p99=+2.5ms",
            "p50=+25%",
        ])
        .unwrap();
        assert_eq!(b.limit(BudgetMetric::Rps), Limit::Relative(5.0));
        assert_eq!(b.limit(BudgetMetric::P95), Limit::Relative(10.0));
        assert_eq!(b.limit(BudgetMetric::P99), Limit::Absolute(2.5));
        assert_eq!(b.limit(BudgetMetric::ErrorRate), Limit::Absolute(1.0));
        assert_eq!(
            b.to_string(),
            "rps -5%, p50 +25%, p95 +10%, p99 +2.5ms, error_rate +1pt"
        );
        let off = budgets(&["p99=off"]).unwrap();
        assert_eq!(off.limit(BudgetMetric::P99), Limit::Off);
    }

    #[test]
    fn malformed_budgets_say_what_to_write() {
        for (flag, why) in [
            ("rps", "no '='"),
            ("p90=+5%", "unknown metric 'p90'"),
            ("rps=+5%", "write rps=-5%"),
            ("p95=-5%", "write p95=+5%"),
            ("error_rate=+1%", "error_rate takes percentage points"),
            ("p95=+5pt", "p95 takes a percentage or milliseconds"),
            ("rps=-5ms", "rps takes a percentage"),
            ("p95=+5", "p95 takes a percentage or milliseconds"),
            ("p95=+x%", "'x' is not a number"),
        ] {
            let e = budgets(&[flag]).unwrap_err();
            assert!(e.starts_with(&format!("invalid budget '{flag}'")), "{e}");
            assert!(e.contains(why), "{flag}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
