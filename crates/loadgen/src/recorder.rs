//! Where every measured request lands: HDR histograms (1 µs – 60 s, 3 significant digits) per
//! operation, for latency from the intended send time (corrected), from the actual send
//! (uncorrected) and to the response head (TTFB), plus counts, status codes and classified errors.
//! Failed requests never enter those three: a refused connection answers in microseconds and
//! would pull the percentiles down. Their latency has a histogram of its own.
//!
//! Memory is fixed per operation, never per request: a one-hour soak costs what a minute does.
//! Writers are sharded by worker thread, so recording takes an uncontended lock; the collector
//! visits each shard once a second for the time series.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::attribution::{Attributed, Attribution};
use crate::phases::{PhaseStats, Phases};

pub const LOWEST_US: u64 = 1;
pub const HIGHEST_US: u64 = 60_000_000;
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Error samples kept per operation and class (counts are exact; samples are for reading).
pub const SAMPLES_PER_CLASS: usize = 5;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS).expect("valid HDR bounds")
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No connection, or it broke mid-request.
    Connect,
    /// No complete response within the request timeout.
    Timeout,
    /// An HTTP status the step did not expect.
    HttpStatus,
    /// A JSON-RPC `error` object, whatever the HTTP status.
    Jsonrpc,
    /// An MCP tool result with `isError: true`.
    ToolError,
    /// A body check of the step failed (or the body was not the JSON-RPC it should be).
    Check,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 6] = [
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::HttpStatus,
        ErrorClass::Jsonrpc,
        ErrorClass::ToolError,
        ErrorClass::Check,
    ];
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::HttpStatus => "http_status",
            ErrorClass::Jsonrpc => "jsonrpc",
            ErrorClass::ToolError => "tool_error",
            ErrorClass::Check => "check",
        }
    }
}

/// One finished request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// From the intended send time to the end of the response.
    pub corrected: Duration,
    /// From the actual send to the end of the response.
    pub uncorrected: Duration,
    /// From the actual send to the response head, when one arrived.
    pub ttfb: Option<Duration>,
    pub status: Option<u16>,
    pub bytes: u64,
    pub error: Option<(ErrorClass, String)>,
    /// What the backend said about this request, when it said anything.
    pub backend: Option<Attributed>,
    /// When it was sent and where its time went, when a response came back.
    pub trace: Option<Trace>,
}

/// A request that got a response: its send and its phases (hey's per-request data).
#[derive(Debug, Clone, Copy)]
pub struct Trace {
    pub sent: Instant,
    pub phases: Phases,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorTally {
    pub count: u64,
    pub samples: Vec<String>,
}

/// Everything measured for one operation.
#[derive(Debug, Clone)]
pub struct OpStats {
    /// Successful requests only, from the intended send time.
    pub corrected: Histogram<u64>,
    /// Successful requests only, from the actual send.
    pub uncorrected: Histogram<u64>,
    /// Successful requests only.
    pub ttfb: Histogram<u64>,
    /// Failed requests, from the intended send time.
    pub failed: Histogram<u64>,
    pub requests: u64,
    pub failures: u64,
    pub bytes: u64,
    pub status_codes: BTreeMap<u16, u64>,
    pub errors: BTreeMap<ErrorClass, ErrorTally>,
    /// Successful requests whose reply carried the backend's stamp.
    pub attribution: Attribution,
    /// Successful requests' phases (hey's Details).
    pub phases: PhaseStats,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            corrected: new_histogram(),
            uncorrected: new_histogram(),
            ttfb: new_histogram(),
            failed: new_histogram(),
            requests: 0,
            failures: 0,
            bytes: 0,
            status_codes: BTreeMap::new(),
            errors: BTreeMap::new(),
            attribution: Attribution::default(),
            phases: PhaseStats::default(),
        }
    }
}

pub(crate) fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(LOWEST_US, HIGHEST_US)
}

impl OpStats {
    pub fn record(&mut self, s: &Sample) {
        self.requests += 1;
        self.bytes += s.bytes;
        if let Some(code) = s.status {
            *self.status_codes.entry(code).or_default() += 1;
        }
        // Values beyond 60 s are clamped to the top of the range, never dropped.
        if s.error.is_none() {
            self.corrected.saturating_record(micros(s.corrected));
            self.uncorrected.saturating_record(micros(s.uncorrected));
            if let Some(t) = s.ttfb {
                self.ttfb.saturating_record(micros(t));
            }
            if let Some(seen) = &s.backend {
                self.attribution.record(s.uncorrected, seen);
            }
            if let Some(trace) = &s.trace {
                self.phases.record(&trace.phases);
            }
        }
        if let Some((class, message)) = &s.error {
            self.failed.saturating_record(micros(s.corrected));
            self.failures += 1;
            let tally = self.errors.entry(*class).or_default();
            tally.count += 1;
            if tally.samples.len() < SAMPLES_PER_CLASS && !tally.samples.contains(message) {
                tally.samples.push(message.clone());
            }
        }
    }

    pub fn merge(&mut self, other: &OpStats) {
        self.corrected
            .add(&other.corrected)
            .expect("same HDR bounds");
        self.uncorrected
            .add(&other.uncorrected)
            .expect("same HDR bounds");
        self.ttfb.add(&other.ttfb).expect("same HDR bounds");
        self.failed.add(&other.failed).expect("same HDR bounds");
        self.attribution.merge(&other.attribution);
        self.phases.merge(&other.phases);
        self.requests += other.requests;
        self.failures += other.failures;
        self.bytes += other.bytes;
        for (code, n) in &other.status_codes {
            *self.status_codes.entry(*code).or_default() += n;
        }
        for (class, tally) in &other.errors {
            let mine = self.errors.entry(*class).or_default();
            mine.count += tally.count;
            for s in &tally.samples {
                if mine.samples.len() < SAMPLES_PER_CLASS && !mine.samples.contains(s) {
                    mine.samples.push(s.clone());
                }
            }
        }
    }
}

/// One second's worth of one operation, for the time series.
#[derive(Debug, Clone)]
pub struct IntervalStats {
    /// Successful requests, from the intended send time.
    pub latency: Histogram<u64>,
    pub requests: u64,
    pub failures: u64,
}

impl Default for IntervalStats {
    fn default() -> Self {
        IntervalStats {
            latency: new_histogram(),
            requests: 0,
            failures: 0,
        }
    }
}

struct Shard {
    total: Vec<OpStats>,
    interval: Vec<IntervalStats>,
    contact: Contact,
}

/// When the target last answered, and when a connection to it last failed: a target that
/// stopped accepting connections before the end of a run is down, not slow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Contact {
    pub last_success: Option<Instant>,
    pub last_connect_failure: Option<Instant>,
}

impl Contact {
    fn merge(&mut self, other: Contact) {
        self.last_success = self.last_success.max(other.last_success);
        self.last_connect_failure = self.last_connect_failure.max(other.last_connect_failure);
    }
}

pub struct Recorder {
    ops: Vec<String>,
    shards: Vec<Mutex<Shard>>,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static THREAD_INDEX: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

impl Recorder {
    /// `ops` are the operation names; `shards` is usually the number of worker threads.
    pub fn new(ops: Vec<String>, shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| {
                Mutex::new(Shard {
                    total: ops.iter().map(|_| OpStats::default()).collect(),
                    interval: ops.iter().map(|_| IntervalStats::default()).collect(),
                    contact: Contact::default(),
                })
            })
            .collect();
        Recorder { ops, shards }
    }

    pub fn ops(&self) -> &[String] {
        &self.ops
    }

    pub fn op_index(&self, name: &str) -> Option<usize> {
        self.ops.iter().position(|o| o == name)
    }

    pub fn record(&self, op: usize, sample: &Sample) {
        let shard = THREAD_INDEX.with(|i| *i) % self.shards.len();
        let mut shard = self.shards[shard].lock().expect("recorder shard");
        shard.total[op].record(sample);
        match &sample.error {
            None => shard.contact.last_success = Some(Instant::now()),
            Some((ErrorClass::Connect, _)) => {
                shard.contact.last_connect_failure = Some(Instant::now())
            }
            Some(_) => {}
        }
        let interval = &mut shard.interval[op];
        interval.requests += 1;
        if sample.error.is_some() {
            interval.failures += 1;
        } else {
            interval.latency.saturating_record(micros(sample.corrected));
        }
    }

    /// When the target last answered and a connection to it last failed, over every shard.
    pub fn contact(&self) -> Contact {
        let mut merged = Contact::default();
        for shard in &self.shards {
            merged.merge(shard.lock().expect("recorder shard").contact);
        }
        merged
    }

    /// Takes (and resets) the per-operation stats of the interval since the last call.
    pub fn take_interval(&self) -> Vec<IntervalStats> {
        let mut merged: Vec<IntervalStats> =
            self.ops.iter().map(|_| IntervalStats::default()).collect();
        for shard in &self.shards {
            let mut shard = shard.lock().expect("recorder shard");
            for (m, s) in merged.iter_mut().zip(shard.interval.iter_mut()) {
                m.latency.add(&s.latency).expect("same HDR bounds");
                m.requests += s.requests;
                m.failures += s.failures;
                s.latency.reset();
                s.requests = 0;
                s.failures = 0;
            }
        }
        merged
    }

    /// The run's totals per operation so far.
    pub fn totals(&self) -> Vec<OpStats> {
        let mut merged: Vec<OpStats> = self.ops.iter().map(|_| OpStats::default()).collect();
        for shard in &self.shards {
            let shard = shard.lock().expect("recorder shard");
            for (m, s) in merged.iter_mut().zip(&shard.total) {
                m.merge(s);
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, error: Option<ErrorClass>) -> Sample {
        Sample {
            corrected: Duration::from_millis(ms),
            uncorrected: Duration::from_millis(ms),
            ttfb: None,
            status: Some(200),
            bytes: 10,
            error: error.map(|c| (c, format!("{} failure", c.name()))),
            backend: None,
            trace: None,
        }
    }

    #[test]
    fn percentiles_match_an_exact_computation_within_hdr_precision() {
        // A known distribution: 1..=100_000 µs, uniformly, recorded across threads.
        let rec = std::sync::Arc::new(Recorder::new(vec!["op".into()], 4));
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let rec = rec.clone();
                s.spawn(move || {
                    for v in (1..=100_000u64).filter(|v| v % 4 == t) {
                        rec.record(
                            0,
                            &Sample {
                                corrected: Duration::from_micros(v),
                                ..sample(0, None)
                            },
                        );
                    }
                });
            }
        });
        let totals = rec.totals();
        let h = &totals[0].corrected;
        assert_eq!(h.len(), 100_000);
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let exact = (q * 100_000.0_f64).ceil();
            let got = h.value_at_quantile(q) as f64;
            // 3 significant digits: relative error at most 1 part in 1000 (one sub-bucket).
            assert!(
                (got - exact).abs() / exact <= 0.001,
                "q={q}: got {got}, exact {exact}"
            );
        }
        assert_eq!(h.max(), h.highest_equivalent(100_000));
    }

    #[test]
    fn failures_are_counted_by_class_with_bounded_samples() {
        let rec = Recorder::new(vec!["a".into(), "b".into()], 1);
        for _ in 0..10 {
            rec.record(1, &sample(5, Some(ErrorClass::Jsonrpc)));
        }
        rec.record(1, &sample(5, Some(ErrorClass::ToolError)));
        rec.record(1, &sample(5, None));
        let t = &rec.totals()[1];
        assert_eq!((t.requests, t.failures), (12, 11));
        assert_eq!(t.errors[&ErrorClass::Jsonrpc].count, 10);
        assert_eq!(
            t.errors[&ErrorClass::Jsonrpc].samples.len(),
            1,
            "identical messages are kept once"
        );
        assert_eq!(t.errors[&ErrorClass::ToolError].count, 1);
        assert_eq!(rec.totals()[0].requests, 0);
    }

    #[test]
    fn failures_stay_out_of_success_latency() {
        let rec = Recorder::new(vec!["a".into()], 1);
        rec.record(0, &sample(100, None));
        rec.record(0, &sample(1, Some(ErrorClass::Connect)));
        let t = &rec.totals()[0];
        assert_eq!((t.corrected.len(), t.failed.len()), (1, 1));
        assert!(t.corrected.min() >= 99_900, "{}", t.corrected.min());
        assert!(rec.contact().last_connect_failure >= rec.contact().last_success);
        let interval = &rec.take_interval()[0];
        assert_eq!(
            (interval.requests, interval.failures, interval.latency.len()),
            (2, 1, 1)
        );
    }

    #[test]
    fn intervals_reset_after_each_take() {
        let rec = Recorder::new(vec!["a".into()], 2);
        rec.record(0, &sample(3, None));
        assert_eq!(rec.take_interval()[0].requests, 1);
        assert_eq!(rec.take_interval()[0].requests, 0);
        assert_eq!(rec.totals()[0].requests, 1);
    }

    #[test]
    fn a_minute_long_latency_is_clamped_not_lost() {
        let rec = Recorder::new(vec!["a".into()], 1);
        rec.record(0, &sample(120_000, None));
        rec.record(0, &sample(120_000, Some(ErrorClass::Timeout)));
        assert_eq!(rec.totals()[0].corrected.len(), 1);
        assert_eq!(rec.totals()[0].failed.len(), 1);
    }
}
