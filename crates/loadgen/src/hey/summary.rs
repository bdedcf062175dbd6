//! hey's summary layout (times in seconds, hey's Details block of request phases included),
//! plus what hey cannot see: JSON-RPC failures inside
//! HTTP 200, the error classes with samples, and where every intended request went. Latency is
//! that of successful responses.

use std::fmt::Write as _;

use crate::{OperationResult, PhaseSummary, RunResults};

pub fn summary(r: &RunResults) -> String {
    let op = &r.total;
    let mut s = overview(r, op);
    s.push_str(&histogram(op));
    s.push_str(&distribution(op));
    s.push_str(&details(op));
    s.push_str(&status_codes(op));
    s.push_str(&failures(op));
    s.push('\n');
    s.push_str(&crate::summary::schedule_lines(r));
    s.push_str(&crate::summary::threshold_lines(r));
    for w in &r.warnings {
        let _ = writeln!(s, "\nWarning: {w}");
    }
    s
}

fn overview(r: &RunResults, op: &OperationResult) -> String {
    let secs = |ms: f64| ms / 1000.0;
    let mut s = String::new();
    let _ = writeln!(s, "\nSummary:");
    let _ = writeln!(s, "  Total:\t{:.4} secs", r.duration_secs);
    let _ = writeln!(s, "  Slowest:\t{:.4} secs", secs(op.uncorrected.max_ms));
    let _ = writeln!(s, "  Fastest:\t{:.4} secs", secs(op.uncorrected.min_ms));
    let _ = writeln!(s, "  Average:\t{:.4} secs", secs(op.uncorrected.mean_ms));
    let _ = writeln!(s, "  Requests/sec:\t{:.4}", op.rps);
    let _ = writeln!(s, "  ");
    let _ = writeln!(s, "  Total data:\t{} bytes", op.bytes);
    let _ = writeln!(
        s,
        "  Size/request:\t{} bytes",
        op.bytes.checked_div(op.requests).unwrap_or(0)
    );
    s
}

fn histogram(op: &OperationResult) -> String {
    let mut s = String::from("\nResponse time histogram:\n");
    let Some(h) = crate::decode_histogram(&op.histograms.uncorrected)
        .ok()
        .filter(|h| !h.is_empty())
    else {
        return s;
    };
    let (lo, hi) = (h.min() as f64, h.max() as f64);
    let buckets = 10;
    let width = ((hi - lo) / buckets as f64).max(1.0);
    let mut counts = vec![0u64; buckets + 1];
    for v in h.iter_recorded() {
        let i = (((v.value_iterated_to() as f64 - lo) / width).floor() as usize).min(buckets);
        counts[i] += v.count_at_value();
    }
    let peak = *counts.iter().max().unwrap_or(&1).max(&1);
    for (i, c) in counts.iter().enumerate() {
        let mark = (40 * c / peak) as usize;
        let _ = writeln!(
            s,
            "  {:.3} [{c}]\t|{}",
            (lo + width * i as f64) / 1e6,
            "■".repeat(mark)
        );
    }
    s
}

fn distribution(op: &OperationResult) -> String {
    let mut s = String::from("\nLatency distribution:\n");
    if let Some(h) = crate::decode_histogram(&op.histograms.uncorrected)
        .ok()
        .filter(|h| !h.is_empty())
    {
        for p in [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9] {
            let _ = writeln!(
                s,
                "  {p}% in {:.4} secs",
                h.value_at_quantile(p / 100.0) as f64 / 1e6
            );
        }
    }
    s
}

/// hey's "Details": each phase's average, fastest and slowest over the successful requests.
fn details(op: &OperationResult) -> String {
    let mut s = String::from("\nDetails (average, fastest, slowest):\n");
    let Some(p) = &op.phases else {
        s.push_str("  (no successful request)\n");
        return s;
    };
    let secs = |ms: f64| ms / 1000.0;
    let mut line = |name: &str, phase: Option<&PhaseSummary>| {
        let _ = match phase {
            Some(v) => writeln!(
                s,
                "  {name}:\t{:.4} secs, {:.4} secs, {:.4} secs",
                secs(v.mean_ms),
                secs(v.min_ms),
                secs(v.max_ms)
            ),
            None => writeln!(s, "  {name}:\tn/a (HTTP/2: the write is inside resp wait)"),
        };
    };
    line("DNS+dialup", Some(&p.dns_dialup));
    line("DNS-lookup", Some(&p.dns_lookup));
    line("req write", p.request_write.as_ref());
    line("resp wait", Some(&p.response_wait));
    line("resp read", Some(&p.response_read));
    s
}

fn status_codes(op: &OperationResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\nStatus code distribution:");
    for (code, n) in &op.status_codes {
        let _ = writeln!(s, "  [{code}]\t{n} responses");
    }
    s
}

fn failures(op: &OperationResult) -> String {
    let non_2xx: u64 = op
        .status_codes
        .iter()
        .filter(|(c, _)| !c.starts_with('2'))
        .map(|(_, n)| n)
        .sum();
    let jsonrpc = op.errors.get("jsonrpc").map_or(0, |t| t.count)
        + op.errors.get("tool_error").map_or(0, |t| t.count);
    let mut s = String::new();
    let _ = writeln!(s, "\nFailures:");
    let _ = writeln!(s, "  Non-2xx responses:\t{non_2xx}");
    let _ = writeln!(s, "  JSON-RPC errors in 2xx:\t{jsonrpc}");
    let _ = writeln!(
        s,
        "  Failed requests:\t{} of {} ({:.2}%)",
        op.failures,
        op.requests,
        op.error_rate * 100.0
    );
    if !op.errors.is_empty() {
        let _ = writeln!(s, "\nError distribution:");
        for (class, tally) in &op.errors {
            let _ = writeln!(
                s,
                "  [{}]\t{class}: {}",
                tally.count,
                tally.samples.first().map(String::as_str).unwrap_or("")
            );
        }
    }
    s
}
