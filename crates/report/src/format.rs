//! How numbers read in every report: milliseconds, rates, percentages and threshold values with
//! their units — one spelling, so the HTML, Markdown, JUnit and terminal views agree.

use loadgen::threshold::{Metric, Threshold};

/// Milliseconds to two decimals (HDR's 3 significant digits make more meaningless).
pub fn ms(value: f64) -> String {
    format!("{value:.2}")
}

/// Milliseconds to three significant digits at most, for narrow tables ("2071", "29.8", "0.79").
pub fn ms_short(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

/// A latency difference, always signed so "faster" and "slower" cannot be mistaken.
pub fn signed_ms(value: f64) -> String {
    format!("{value:+.2}")
}

pub fn rps(value: f64) -> String {
    format!("{value:.1}")
}

/// A fraction (0.005) as a percentage ("0.50%").
pub fn percent(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// Throughput relative to direct ("0.83×"), or "n/a" when direct had none to compare with.
pub fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}×"))
}

/// A threshold's actual or limit value in its metric's unit: "412.30 ms", "0.70%", "980.0/s".
pub fn threshold_value(expression: &str, value: f64) -> String {
    match Threshold::parse(expression).map(|t| t.metric) {
        Ok(Metric::Percentile(_) | Metric::Max | Metric::Min | Metric::Mean) => {
            format!("{} ms", ms(value))
        }
        Ok(Metric::ErrorRate) => percent(value),
        Ok(Metric::Rps) => format!("{}/s", rps(value)),
        Ok(Metric::Requests | Metric::Failures | Metric::Dropped) => format!("{value:.0}"),
        // Results read from an older file may carry an expression this version cannot parse;
        // the number is still worth showing.
        Err(_) => format!("{value}"),
    }
}

/// A threshold's measured value, or why there is none.
pub fn threshold_actual(result: &loadgen::threshold::ThresholdResult) -> String {
    match result.actual {
        Some(actual) => threshold_value(&result.expression, actual),
        None => "no successful request".to_string(),
    }
}

/// An added latency, or "n/a" when either side had no successful request to compare.
pub fn added_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), signed_ms)
}

/// One line for a threshold result: "p95<300ms on gateway: 412.30 ms (limit 300.00 ms)".
pub fn threshold_line(result: &loadgen::threshold::ThresholdResult) -> String {
    let scope = result
        .tier
        .as_deref()
        .map_or_else(String::new, |t| format!(" on {t}"));
    format!(
        "{}{scope}: {} (limit {})",
        result.expression,
        threshold_actual(result),
        threshold_value(&result.expression, result.limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_values_carry_their_metric_unit() {
        assert_eq!(threshold_value("p95<300ms", 412.3), "412.30 ms");
        assert_eq!(threshold_value("error_rate<0.5%", 0.007), "0.70%");
        assert_eq!(threshold_value("rps>1000", 980.0), "980.0/s");
        assert_eq!(threshold_value("failures==0", 3.0), "3");
        assert_eq!(signed_ms(-1.0), "-1.00");
        assert_eq!(ratio(None), "n/a");
    }
}
