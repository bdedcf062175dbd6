//! Locust's CSV set of a run, as `locust --csv PREFIX` writes it (Locust 2.x, `locust/stats.py`
//! `StatsCSV`): `PREFIX_stats.csv`, `PREFIX_stats_history.csv` (full history: every operation
//! and `Aggregated`, one row each per second), `PREFIX_failures.csv` and `PREFIX_exceptions.csv`,
//! with Locust's exact columns, so scripts that read Locust's files read ours.
//!
//! Where the figures differ from Locust's, on purpose: times are the corrected latency of
//! successful requests in ms, unrounded (Locust: rounded response times of every request); a
//! history row's rates and percentiles are of that second (Locust: a ~10 s sliding window). What
//! we do not know is written as Locust writes the unknown: `N/A` for percentiles, an empty cell
//! for a failure's first and last seen, and no rows in `_exceptions.csv` (the engine runs no user
//! code that could raise: every failure is a request's, in `_failures.csv`).

use std::fmt::Write as _;
use std::path::Path;

use crate::results::{
    decode_histogram, OperationResult, RunResults, SeriesOp, SeriesPoint, AGGREGATED,
};

/// The prefix `cargo xtask load` writes its CSVs under: the name ContextForge's `make load-test`
/// gives Locust (`--csv reports/locust`), which `make load-test-summary` reads.
pub const LOAD_PREFIX: &str = "locust";

/// Locust's percentiles (`PERCENTILES_TO_REPORT`) and their column names.
pub const PERCENTILES: [f64; 11] = [
    0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];
const PERCENTILE_COLUMNS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

/// `_stats.csv`'s columns (`requests_csv_columns`).
pub fn stats_columns() -> Vec<&'static str> {
    let mut columns = vec![
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Average Content Size",
        "Requests/s",
        "Failures/s",
    ];
    columns.extend(PERCENTILE_COLUMNS);
    columns
}

/// `_stats_history.csv`'s 24 columns (`stats_history_csv_columns`).
pub fn history_columns() -> Vec<&'static str> {
    let mut columns = vec![
        "Timestamp",
        "User Count",
        "Type",
        "Name",
        "Requests/s",
        "Failures/s",
    ];
    columns.extend(PERCENTILE_COLUMNS);
    columns.extend([
        "Total Request Count",
        "Total Failure Count",
        "Total Median Response Time",
        "Total Average Response Time",
        "Total Min Response Time",
        "Total Max Response Time",
        "Total Average Content Size",
    ]);
    columns
}

/// `_failures.csv`'s columns (`failures_columns`; First Seen and Last Seen since Locust 2.44).
pub const FAILURES_COLUMNS: [&str; 6] = [
    "Method",
    "Name",
    "Error",
    "Occurrences",
    "First Seen",
    "Last Seen",
];
/// `_exceptions.csv`'s columns (`exceptions_columns`).
pub const EXCEPTIONS_COLUMNS: [&str; 4] = ["Count", "Message", "Traceback", "Nodes"];

/// The four file names of `prefix`, as `--csv PREFIX` names them.
pub fn file_names(prefix: &str) -> [String; 4] {
    ["stats", "stats_history", "failures", "exceptions"].map(|kind| format!("{prefix}_{kind}.csv"))
}

impl RunResults {
    /// Writes the four files of [`file_names`] into `dir`.
    pub fn write_locust_csvs(&self, dir: &Path, prefix: &str) -> std::io::Result<()> {
        let [stats, history, failures, exceptions] = file_names(prefix);
        std::fs::write(dir.join(stats), self.locust_stats_csv())?;
        std::fs::write(dir.join(history), self.locust_history_csv())?;
        std::fs::write(dir.join(failures), self.locust_failures_csv())?;
        std::fs::write(dir.join(exceptions), header(&EXCEPTIONS_COLUMNS))?;
        Ok(())
    }

    /// `_stats.csv`: one row per operation, then `Aggregated` (its Type empty, as Locust's).
    pub fn locust_stats_csv(&self) -> String {
        let mut out = header(&stats_columns());
        let rows = self
            .operations
            .iter()
            .map(|o| (method_of(&o.name), o.name.as_str(), o))
            .chain([("", AGGREGATED, &self.total)]);
        for (method, name, op) in rows {
            let per_sec = |n: u64| {
                if self.duration_secs > 0.0 {
                    n as f64 / self.duration_secs
                } else {
                    0.0
                }
            };
            let _ = write!(
                out,
                "{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.1},{:.3},{:.3}",
                csv(method),
                csv(name),
                op.requests,
                op.failures,
                op.latency.p50_ms,
                op.latency.mean_ms,
                op.latency.min_ms,
                op.latency.max_ms,
                content_size(op),
                op.rps,
                per_sec(op.failures),
            );
            out.push_str(&percentile_cells(&run_percentiles(op)));
            out.push('\n');
        }
        out
    }

    /// `_stats_history.csv`: per second, a row per operation and one `Aggregated`.
    pub fn locust_history_csv(&self) -> String {
        let mut out = header(&history_columns());
        let start = chrono::DateTime::parse_from_rfc3339(&self.started_at)
            .map(|t| t.timestamp())
            .unwrap_or(0);
        let mut totals = vec![(0u64, 0u64); self.operations.len() + 1];
        for point in &self.series {
            let aggregated = point.total.clone().unwrap_or_else(|| summed(point));
            let rows = self
                .operations
                .iter()
                .map(|o| (method_of(&o.name), o.name.as_str()))
                .zip(&point.ops)
                .chain([(("", AGGREGATED), &aggregated)]);
            for (((method, name), second), total) in rows.zip(totals.iter_mut()) {
                total.0 += second.requests;
                total.1 += second.failures;
                history_row(&mut out, start, point, (method, name), second, *total);
            }
        }
        out
    }

    /// `_failures.csv`: one row per operation and error class, its samples as the Error.
    pub fn locust_failures_csv(&self) -> String {
        let mut out = header(&FAILURES_COLUMNS);
        for op in &self.operations {
            for (class, tally) in &op.errors {
                let error = if tally.samples.is_empty() {
                    class.clone()
                } else {
                    format!("{class}: {}", tally.samples.join(" | "))
                };
                let _ = writeln!(
                    out,
                    "{},{},{},{},,",
                    csv(method_of(&op.name)),
                    csv(&op.name),
                    csv(&error),
                    tally.count
                );
            }
        }
        out
    }
}

fn history_row(
    out: &mut String,
    start: i64,
    point: &SeriesPoint,
    (method, name): (&str, &str),
    second: &SeriesOp,
    (requests, failures): (u64, u64),
) {
    let _ = write!(
        out,
        "{},{},{},{},{:.6},{:.6}",
        start + point.t.round() as i64,
        point.active,
        csv(method),
        csv(name),
        second.requests as f64,
        second.failures as f64,
    );
    let locust = second.locust.as_ref();
    out.push_str(&percentile_cells(
        locust.map_or(&[][..], |l| l.percentiles_ms.as_slice()),
    ));
    let _ = write!(out, ",{requests},{failures}");
    match locust {
        Some(l) => {
            let _ = writeln!(
                out,
                ",{:.3},{:.3},{:.3},{:.3},{:.1}",
                l.total_median_ms,
                l.total_mean_ms,
                l.total_min_ms,
                l.total_max_ms,
                l.total_avg_content_bytes
            );
        }
        // A run recorded before these were kept.
        None => out.push_str(",N/A,N/A,N/A,N/A,N/A\n"),
    }
}

/// An older run's second without its `Aggregated` entry: the counts summed (its percentiles
/// cannot be combined from the operations', so they stay unknown).
fn summed(point: &SeriesPoint) -> SeriesOp {
    SeriesOp {
        requests: point.ops.iter().map(|o| o.requests).sum(),
        failures: point.ops.iter().map(|o| o.failures).sum(),
        ..SeriesOp::default()
    }
}

/// The run's successful requests at Locust's percentiles; empty when none succeeded.
fn run_percentiles(op: &OperationResult) -> Vec<f64> {
    match decode_histogram(&op.histograms.corrected) {
        Ok(h) if !h.is_empty() => PERCENTILES
            .iter()
            .map(|&p| h.value_at_quantile(p) as f64 / 1000.0)
            .collect(),
        _ => Vec::new(),
    }
}

/// `,v,v,…` for the 11 percentiles, or `,N/A,…` (Locust's unknown) when there are none.
fn percentile_cells(values: &[f64]) -> String {
    if values.len() == PERCENTILES.len() {
        values.iter().map(|v| format!(",{v:.3}")).collect()
    } else {
        ",N/A".repeat(PERCENTILES.len())
    }
}

fn content_size(op: &OperationResult) -> f64 {
    if op.requests == 0 {
        0.0
    } else {
        op.bytes as f64 / op.requests as f64
    }
}

fn header(columns: &[&str]) -> String {
    let mut line = columns.join(",");
    line.push('\n');
    line
}

/// Locust's "Type" column: the HTTP method for `GET /path` names, else the protocol.
fn method_of(name: &str) -> &str {
    match name.split_once(' ') {
        Some((m, _)) if m.chars().all(|c| c.is_ascii_uppercase()) => m,
        _ => "MCP",
    }
}

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{ErrorTally, OpStats};
    use crate::results::{fixtures, LocustSecond};

    #[test]
    fn history_has_locusts_24_columns_and_an_aggregated_row_each_second() {
        assert_eq!(history_columns().len(), 24);
        let mut op = OperationResult::from_stats("tools/call", &OpStats::default(), 10.0);
        op.errors.insert(
            "http_status".into(),
            ErrorTally {
                count: 3,
                samples: vec!["HTTP 500, \"boom\"".into()],
            },
        );
        let second = SeriesOp {
            requests: 10,
            failures: 1,
            locust: Some(LocustSecond {
                percentiles_ms: vec![1.0; 11],
                ..LocustSecond::default()
            }),
            ..SeriesOp::default()
        };
        let run = RunResults {
            operations: vec![op],
            series: vec![
                SeriesPoint {
                    t: 1.0,
                    target: 1.0,
                    active: 2,
                    dropped: 0,
                    ops: vec![second.clone()],
                    total: Some(second),
                },
                SeriesPoint {
                    t: 2.0,
                    target: 1.0,
                    active: 2,
                    dropped: 0,
                    ops: vec![SeriesOp::default()],
                    total: None,
                },
            ],
            ..fixtures::empty()
        };
        let history = run.locust_history_csv();
        let lines: Vec<&str> = history.lines().collect();
        assert_eq!(lines.len(), 1 + 2 * 2, "{history}");
        for line in &lines {
            assert_eq!(line.split(',').count(), 24, "{line}");
        }
        assert!(
            lines[2].contains(",Aggregated,10.000000,1.000000,1.000,"),
            "{}",
            lines[2]
        );
        assert!(
            lines[4].contains(",Aggregated,0.000000,0.000000,N/A,"),
            "{}",
            lines[4]
        );
        assert!(
            lines[4].ends_with(",10,1,N/A,N/A,N/A,N/A,N/A"),
            "{}",
            lines[4]
        );
        let failures = run.locust_failures_csv();
        assert_eq!(
            failures,
            "Method,Name,Error,Occurrences,First Seen,Last Seen\n\
             MCP,tools/call,\"http_status: HTTP 500, \"\"boom\"\"\",3,,\n"
        );
        assert_eq!(
            file_names("gateway")[1],
            "gateway_stats_history.csv",
            "as --csv gateway names them"
        );
    }
}
