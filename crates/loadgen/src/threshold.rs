//! Pass/fail thresholds in the k6 manner: `p95<300ms`, `p(99)<=1s`, `error_rate<0.5%`,
//! `rps>1000`, scoped to an operation with `p95{op=tools/call}<300ms` and, in a tiered run, to a
//! tier with `p95{tier=gateway,op=tools/call}<300ms`. A threshold that names an
//! unknown metric, scope or operation is a configuration error before any traffic — never a
//! silent pass (k6#1526).
//!
//! Latency metrics are judged on successful requests (k6's `expected_response:true`); with
//! none, there is nothing to judge and the threshold fails. Unscoped, `error_rate` counts the
//! arrivals dropped for a target that could not keep up as failed requests, and `dropped`
//! counts them alone.

use serde::{Deserialize, Serialize};

use crate::results::{OperationResult, RunResults};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    Percentile(u32), // in tenths: p99.9 → 999
    Max,
    Min,
    Mean,
    ErrorRate,
    Rps,
    Requests,
    Failures,
    /// Intended iterations that never ran (unscoped only).
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub expression: String,
    pub metric: Metric,
    /// The operation it applies to; None: all operations together.
    pub operation: Option<String>,
    /// The tier of a tiered run it applies to (`direct`, `gateway`, `nginx`, `rest`); None: the
    /// run's default tiers. A plain run has no tiers and refuses this scope.
    pub tier: Option<String>,
    pub comparison: Comparison,
    /// In the metric's unit: milliseconds for latency, a fraction for error_rate, per second for rps.
    pub limit: f64,
}

/// A threshold checked against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub expression: String,
    /// The tier it was checked on, in a tiered run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The measured value; None for a latency metric without a successful request (which
    /// fails: nothing can be judged).
    pub actual: Option<f64>,
    pub limit: f64,
    pub passed: bool,
}

impl Threshold {
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let err = |why: &str| format!("invalid threshold '{text}': {why}");
        let s = text.trim();
        if s.contains('{') && !s.contains('}') {
            return Err(err("unclosed '{'"));
        }
        // The comparison comes after the scope, whose `op=` must not be taken for one.
        let after_scope = s.find('}').map_or(0, |i| i + 1);
        let op_at = s[after_scope..]
            .find(['<', '>', '='])
            .map(|i| i + after_scope)
            .ok_or_else(|| err("no comparison (use <, <=, >, >= or ==)"))?;
        let (left, right) = s.split_at(op_at);
        let (comparison, value) = [
            ("<=", Comparison::LessOrEqual),
            (">=", Comparison::GreaterOrEqual),
            ("==", Comparison::Equal),
            ("<", Comparison::Less),
            (">", Comparison::Greater),
        ]
        .iter()
        .find_map(|(sym, c)| right.strip_prefix(sym).map(|rest| (*c, rest.trim())))
        .ok_or_else(|| err("no comparison"))?;
        let (name, operation, tier) = match left.split_once('{') {
            Some((name, scope)) => {
                let scope = scope
                    .trim()
                    .strip_suffix('}')
                    .ok_or_else(|| err("unclosed '{'"))?;
                let mut operation = None;
                let mut tier = None;
                for pair in scope.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match pair.split_once('=') {
                        Some(("op", value)) if !value.trim().is_empty() => {
                            operation = Some(value.trim().to_string())
                        }
                        Some(("tier", value)) if !value.trim().is_empty() => {
                            tier = Some(value.trim().to_string())
                        }
                        Some((key, _)) => {
                            return Err(err(&format!(
                                "unknown scope key '{}' (known: op, tier)",
                                key.trim()
                            )))
                        }
                        None => return Err(err(&format!("scope '{pair}' is not key=value"))),
                    }
                }
                (name.trim(), operation, tier)
            }
            None => (left.trim(), None, None),
        };
        let metric = parse_metric(name).ok_or_else(|| {
            err(&format!("unknown metric '{name}' (known: p50, p90, p95, p99, p99.9, p(N), min, mean, max, error_rate, rps, requests, failures, dropped)"))
        })?;
        let limit = parse_value(metric, value).map_err(|why| err(&why))?;
        Ok(Threshold {
            expression: s.to_string(),
            metric,
            operation,
            tier,
            comparison,
            limit,
        })
    }

    /// The thresholds of a plain run (`load`, `hey`): no tier scope (a plain run has no
    /// tiers), and every operation scope one of `scenario`'s or the aggregate.
    pub fn parse_for_plain_run(
        texts: &[String],
        scenario: &crate::Scenario,
    ) -> Result<Vec<Threshold>, String> {
        let mut operations = scenario.operation_names();
        operations.push(crate::AGGREGATED.into());
        texts
            .iter()
            .map(|t| {
                let t = Threshold::parse(t)?;
                if t.tier.is_some() {
                    return Err(format!(
                        "threshold '{}' names a tier, and a plain run has none (tiers belong to load-test)",
                        t.expression
                    ));
                }
                t.check_operation(&operations)?;
                Ok(t)
            })
            .collect()
    }

    /// Checks that the scope names an operation the run will have.
    pub fn check_operation(&self, operations: &[String]) -> Result<(), String> {
        match &self.operation {
            Some(op) if !operations.iter().any(|o| o == op) => Err(format!(
                "threshold '{}' names operation '{op}', which this run does not have (it has: {})",
                self.expression,
                operations.join(", ")
            )),
            _ => Ok(()),
        }
    }

    pub fn evaluate(&self, results: &RunResults) -> ThresholdResult {
        self.judge(self.actual(results))
    }

    /// The threshold checked against a measured value (None: nothing to judge, which fails).
    pub fn judge(&self, actual: Option<f64>) -> ThresholdResult {
        let passed = actual.is_some_and(|actual| match self.comparison {
            Comparison::Less => actual < self.limit,
            Comparison::LessOrEqual => actual <= self.limit,
            Comparison::Greater => actual > self.limit,
            Comparison::GreaterOrEqual => actual >= self.limit,
            Comparison::Equal => (actual - self.limit).abs() < 1e-9,
        });
        ThresholdResult {
            expression: self.expression.clone(),
            tier: self.tier.clone(),
            actual,
            limit: self.limit,
            passed,
        }
    }

    /// The metric's value on the scoped operation (or all of them).
    fn actual(&self, results: &RunResults) -> Option<f64> {
        let op: &OperationResult = self
            .operation
            .as_ref()
            .and_then(|name| results.operations.iter().find(|o| &o.name == name))
            .unwrap_or(&results.total);
        // Arrivals that never ran count against the run as a whole, not one operation.
        let dropped = match self.operation {
            None => results.schedule.accounting.dropped.total(),
            Some(_) => 0,
        };
        let l = &op.latency;
        let latency = |v: f64| (l.count > 0).then_some(v);
        match self.metric {
            Metric::Percentile(500) => latency(l.p50_ms),
            Metric::Percentile(900) => latency(l.p90_ms),
            Metric::Percentile(950) => latency(l.p95_ms),
            Metric::Percentile(990) => latency(l.p99_ms),
            Metric::Percentile(999) => latency(l.p999_ms),
            Metric::Percentile(tenths) => {
                crate::results::decode_histogram(&op.histograms.corrected)
                    .ok()
                    .filter(|h| !h.is_empty())
                    .map(|h| h.value_at_quantile(f64::from(tenths) / 1000.0) as f64 / 1000.0)
            }
            Metric::Max => latency(l.max_ms),
            Metric::Min => latency(l.min_ms),
            Metric::Mean => latency(l.mean_ms),
            Metric::ErrorRate => Some(match op.requests + dropped {
                0 => 0.0,
                all => (op.failures + dropped) as f64 / all as f64,
            }),
            Metric::Rps => Some(op.rps),
            Metric::Requests => Some(op.requests as f64),
            Metric::Failures => Some(op.failures as f64),
            Metric::Dropped => Some(dropped as f64),
        }
    }
}

fn parse_metric(name: &str) -> Option<Metric> {
    let percentile = |digits: &str| -> Option<Metric> {
        let v: f64 = digits.parse().ok()?;
        let tenths = (v * 10.0).round();
        // Tenths of a percent at most: p99.9 yes, p99.95 no.
        (v > 0.0 && v < 100.0 && (v * 10.0 - tenths).abs() < 1e-9)
            .then_some(Metric::Percentile(tenths as u32))
    };
    match name {
        "max" => Some(Metric::Max),
        "min" => Some(Metric::Min),
        "mean" | "avg" => Some(Metric::Mean),
        "error_rate" => Some(Metric::ErrorRate),
        "rps" => Some(Metric::Rps),
        "requests" => Some(Metric::Requests),
        "failures" => Some(Metric::Failures),
        "dropped" => Some(Metric::Dropped),
        n => n
            .strip_prefix("p(")
            .and_then(|r| r.strip_suffix(')'))
            .or_else(|| n.strip_prefix('p'))
            .and_then(percentile),
    }
}

fn parse_value(metric: Metric, text: &str) -> Result<f64, String> {
    let number = |t: &str| {
        t.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    match metric {
        Metric::Percentile(_) | Metric::Max | Metric::Min | Metric::Mean => {
            let (digits, scale) = if let Some(v) = text.strip_suffix("ms") {
                (v, 1.0)
            } else if let Some(v) = text.strip_suffix("us") {
                (v, 0.001)
            } else if let Some(v) = text.strip_suffix('s') {
                (v, 1000.0)
            } else {
                return Err(format!("'{text}' needs a unit: ms, s or us"));
            };
            number(digits)
                .map(|v| v * scale)
                .ok_or_else(|| format!("'{text}' is not a duration"))
        }
        Metric::ErrorRate => match text.strip_suffix('%') {
            Some(v) => number(v)
                .map(|v| v / 100.0)
                .ok_or_else(|| format!("'{text}' is not a percentage")),
            None => number(text)
                .filter(|v| *v <= 1.0)
                .ok_or_else(|| format!("'{text}' is not a fraction from 0 to 1 (or use %)")),
        },
        Metric::Rps | Metric::Requests | Metric::Failures | Metric::Dropped => {
            number(text.trim_end_matches("/s")).ok_or_else(|| format!("'{text}' is not a number"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse_with_units_scopes_and_k6_spellings() {
        let t = Threshold::parse("p95{op=tools/call}<300ms").unwrap();
        assert_eq!(
            (t.metric, t.operation.as_deref(), t.comparison, t.limit),
            (
                Metric::Percentile(950),
                Some("tools/call"),
                Comparison::Less,
                300.0
            )
        );
        let t = Threshold::parse("p99{tier=gateway, op=tools/call}<1s").unwrap();
        assert_eq!(
            (t.tier.as_deref(), t.operation.as_deref(), t.limit),
            (Some("gateway"), Some("tools/call"), 1000.0)
        );
        assert_eq!(Threshold::parse("p(99.9)<=1.5s").unwrap().limit, 1500.0);
        assert_eq!(
            Threshold::parse("p(99.9)<=1.5s").unwrap().metric,
            Metric::Percentile(999)
        );
        assert_eq!(Threshold::parse("error_rate<0.5%").unwrap().limit, 0.005);
        assert_eq!(Threshold::parse("error_rate < 0.01").unwrap().limit, 0.01);
        assert_eq!(
            Threshold::parse("rps>1000").unwrap().comparison,
            Comparison::Greater
        );
    }

    #[test]
    fn malformed_thresholds_are_refused_with_the_reason() {
        for (text, why) in [
            ("p96.55<1ms", "unknown metric"),
            ("latency<1ms", "unknown metric"),
            ("p95<300", "needs a unit"),
            ("p95 300ms", "no comparison"),
            ("error_rate<2", "fraction"),
            ("p95{host=a}<1ms", "unknown scope key 'host'"),
            ("p95{op=x<1ms", "unclosed"),
            ("rps>lots", "not a number"),
        ] {
            let e = Threshold::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn an_operation_the_run_does_not_have_is_refused() {
        let t = Threshold::parse("p95{op=tools/cal}<1s").unwrap();
        assert!(t
            .check_operation(&["tools/call".into()])
            .unwrap_err()
            .contains("tools/cal"));
    }

    #[test]
    fn evaluation_reads_the_scoped_operation_or_the_total() {
        let mut stats = crate::recorder::OpStats::default();
        for ms in 1..=100u64 {
            stats.record(&crate::recorder::Sample {
                corrected: std::time::Duration::from_millis(ms),
                uncorrected: std::time::Duration::from_millis(ms),
                ttfb: None,
                status: Some(200),
                bytes: 0,
                error: (ms > 98).then(|| (crate::recorder::ErrorClass::Jsonrpc, "x".to_string())),
                backend: None,
                trace: None,
            });
        }
        let op = OperationResult::from_stats("tools/call", &stats, 10.0);
        let results = RunResults {
            operations: vec![op.clone()],
            total: OperationResult {
                name: crate::AGGREGATED.into(),
                ..op
            },
            ..crate::results::fixtures::empty()
        };
        let check = |t: &str| Threshold::parse(t).unwrap().evaluate(&results);
        // The latency of the 98 successful requests (1..=98 ms); the 2 failures stay out.
        assert!(check("p95{op=tools/call}<96ms").passed);
        assert!(!check("p95<94ms").passed);
        assert!(check("max<99ms").passed);
        // HDR reports the top of the value's bucket: 96 ms reads as 96.0xx ms.
        assert!(check("p(97)<97ms").passed && !check("p(97)<=95ms").passed);
        assert!(check("error_rate<=2%").passed && !check("error_rate<2%").passed);
        assert!(check("rps>=10").passed);
        assert_eq!(check("failures==2").actual, Some(2.0));
    }

    #[test]
    fn no_successful_request_fails_latency_and_dropped_arrivals_count_as_errors() {
        let mut stats = crate::recorder::OpStats::default();
        for _ in 0..10 {
            stats.record(&crate::recorder::Sample {
                corrected: std::time::Duration::from_micros(40),
                uncorrected: std::time::Duration::from_micros(40),
                ttfb: None,
                status: None,
                bytes: 0,
                error: Some((crate::recorder::ErrorClass::Connect, "refused".into())),
                backend: None,
                trace: None,
            });
        }
        let op = OperationResult::from_stats("tools/call", &stats, 10.0);
        let mut results = RunResults {
            operations: vec![op.clone()],
            total: op,
            ..crate::results::fixtures::empty()
        };
        results.schedule.accounting.dropped.backlog_full = 30;
        let check = |t: &str| Threshold::parse(t).unwrap().evaluate(&results);
        let p50 = check("p50<100ms");
        assert_eq!((p50.actual, p50.passed), (None, false));
        assert!(!check("max<1s").passed);
        assert_eq!(check("error_rate<=100%").actual, Some(1.0));
        assert_eq!(check("dropped==30").actual, Some(30.0));
        // Scoped to the operation, drops belong to no operation.
        assert_eq!(check("error_rate{op=tools/call}<=100%").actual, Some(1.0));
        assert_eq!(check("dropped{op=tools/call}==0").actual, Some(0.0));
    }
}
