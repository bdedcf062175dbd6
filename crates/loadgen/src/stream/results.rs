//! What a stream run measured: the running tally the connection tasks write into, the
//! per-second series, and the results document (`results.json` of a stream run).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{Shared, StreamPlan, StreamTransport};
use crate::threshold::{Metric, Threshold};
use crate::{encode_histogram, new_histogram, LatencySummary};

/// The schema of a stream run's `results.json`.
pub const STREAM_SCHEMA: &str = "mcpbench.stream-results/1";

/// What became of every intended message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Messages {
    /// The sum of every field below.
    pub intended: u64,
    pub answered: u64,
    /// Answered wrongly or refused, by reason.
    pub failed: BTreeMap<String, u64>,
    pub timed_out: u64,
    /// In flight when its connection went.
    pub lost: u64,
    /// Intended while its connection was down (between a drop and the reconnect).
    pub missed_disconnected: u64,
    /// In flight when a stop signal came.
    pub aborted: u64,
    /// Due before the window closed but never sent: the connection was still waiting on earlier
    /// replies when it closed.
    pub unsent_at_end: u64,
}

impl Messages {
    fn total(&self) -> u64 {
        self.answered
            + self.failed.values().sum::<u64>()
            + self.timed_out
            + self.lost
            + self.missed_disconnected
            + self.aborted
            + self.unsent_at_end
    }
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamPoint {
    /// Seconds since the start, at the end of this interval.
    pub second: u64,
    /// Connections open at the end of the second.
    pub held: i64,
    pub connects: u64,
    pub answered: u64,
    /// Failed, timed out, lost or missed.
    pub unanswered: u64,
    pub drops: u64,
    pub reconnects: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The running tally; `interval_*` are reset each second.
pub(super) struct Tally {
    pub(super) messages: Messages,
    connect: Histogram<u64>,
    round_trip: Histogram<u64>,
    connect_failures: BTreeMap<String, u64>,
    drops: BTreeMap<String, u64>,
    reconnects: u64,
    peak_held: i64,
    interval: StreamPoint,
    interval_round_trip: Histogram<u64>,
    unanswered_before: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            messages: Messages::default(),
            connect: new_histogram(),
            round_trip: new_histogram(),
            connect_failures: BTreeMap::new(),
            drops: BTreeMap::new(),
            reconnects: 0,
            peak_held: 0,
            interval: StreamPoint::default(),
            interval_round_trip: new_histogram(),
            unanswered_before: 0,
        }
    }
}

/// Reasons are kept as short classes: an error's text can carry addresses and ids that would
/// make every occurrence its own key.
fn reason_class(why: &str) -> String {
    let lower = why.to_ascii_lowercase();
    let classes = [
        ("refused", "connection refused"),
        ("reset", "connection reset"),
        ("no usable connection", "connect timed out"),
        ("http 4", "HTTP 4xx"),
        ("http 5", "HTTP 5xx"),
        ("ended", "stream ended"),
        ("closed", "closed by the server"),
        ("handshake", "handshake failed"),
    ];
    classes
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map_or("other", |(_, class)| class)
        .to_string()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Tally {
    pub(super) fn connected(&mut self, took: Duration, reconnect: bool, missed: u64) {
        let _ = self.connect.record(micros(took));
        self.interval.connects += 1;
        if reconnect {
            self.reconnects += 1;
            self.interval.reconnects += 1;
        }
        self.messages.missed_disconnected += missed;
    }

    pub(super) fn connect_failed(&mut self, why: &str) {
        *self.connect_failures.entry(reason_class(why)).or_default() += 1;
    }

    pub(super) fn dropped(&mut self, why: &str) {
        *self.drops.entry(reason_class(why)).or_default() += 1;
        self.interval.drops += 1;
    }

    pub(super) fn answered(&mut self, since_intended: Duration) {
        self.messages.answered += 1;
        self.interval.answered += 1;
        let _ = self.round_trip.record(micros(since_intended));
        let _ = self.interval_round_trip.record(micros(since_intended));
    }

    pub(super) fn failed(&mut self, why: &str) {
        *self.messages.failed.entry(why.to_string()).or_default() += 1;
    }

    pub(super) fn failed_with(&mut self, why: &str) {
        self.failed(&reason_class(why));
    }

    /// The second that just ended, and a fresh one begun.
    fn take_point(&mut self, second: u64, held: i64) -> StreamPoint {
        self.peak_held = self.peak_held.max(held);
        let unanswered = self.messages.total() - self.messages.answered;
        let mut point = std::mem::take(&mut self.interval);
        point.second = second;
        point.held = held;
        point.unanswered = unanswered - self.unanswered_before;
        self.unanswered_before = unanswered;
        if !self.interval_round_trip.is_empty() {
            point.p50_ms = self.interval_round_trip.value_at_quantile(0.5) as f64 / 1000.0;
            point.p99_ms = self.interval_round_trip.value_at_quantile(0.99) as f64 / 1000.0;
        }
        self.interval_round_trip.reset();
        point
    }
}

/// Once a second: the point of the second that ended, into the tally's series.
pub(super) async fn sample_each_second(shared: Arc<Shared>, start: Instant) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let point = last_point(&shared, start);
        shared.series.lock().expect("series lock").push(point);
    }
}

/// The series so far with the (partial) second in progress closed off.
pub(super) fn last_point(shared: &Shared, start: Instant) -> StreamPoint {
    let held = shared.held.load(Ordering::Relaxed);
    let second = start.elapsed().as_secs_f64().round() as u64;
    shared
        .tally
        .lock()
        .expect("tally lock")
        .take_point(second, held)
}

/// A stream run's results document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamResults {
    pub schema: String,
    pub transport: StreamTransport,
    /// The URL without user info or query (they may carry credentials).
    pub url: String,
    pub connections: u32,
    pub message_rate: f64,
    pub message: String,
    pub duration_secs: f64,
    pub timeout_secs: f64,
    pub elapsed_secs: f64,
    /// Time to a usable connection: TCP connect and, for SSE, the stream's `endpoint` event;
    /// for WebSocket, the opening handshake.
    pub connect: LatencySummary,
    pub connect_histogram: String,
    pub connect_failures: BTreeMap<String, u64>,
    /// From each message's intended send time to its reply.
    pub round_trip: LatencySummary,
    pub round_trip_histogram: String,
    pub messages: Messages,
    /// Live connections that went away before the end, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Connections opened again after a drop.
    pub reconnects: u64,
    pub peak_held: i64,
    pub series: Vec<StreamPoint>,
    pub stopped_by: Option<cli::Signal>,
}

impl StreamResults {
    pub(super) fn assemble(
        plan: &StreamPlan,
        shared: &Shared,
        last: StreamPoint,
        elapsed: Duration,
        stopped_by: Option<cli::Signal>,
    ) -> StreamResults {
        let mut series = std::mem::take(&mut *shared.series.lock().expect("series lock"));
        if last.second > series.last().map_or(0, |p| p.second) {
            series.push(last);
        }
        let tally = shared.tally.lock().expect("tally lock");
        let mut messages = tally.messages.clone();
        messages.intended = messages.total();
        let mut url = plan.url.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        StreamResults {
            schema: STREAM_SCHEMA.into(),
            transport: plan.transport,
            url: url.to_string(),
            connections: plan.connections,
            message_rate: plan.message_rate,
            message: plan.message.label(),
            duration_secs: plan.duration.as_secs_f64(),
            timeout_secs: plan.timeout.as_secs_f64(),
            elapsed_secs: elapsed.as_secs_f64(),
            connect: LatencySummary::from_histogram(&tally.connect),
            connect_histogram: encode_histogram(&tally.connect),
            connect_failures: tally.connect_failures.clone(),
            round_trip: LatencySummary::from_histogram(&tally.round_trip),
            round_trip_histogram: encode_histogram(&tally.round_trip),
            messages,
            drops: tally.drops.clone(),
            reconnects: tally.reconnects,
            peak_held: tally
                .peak_held
                .max(series.iter().map(|p| p.held).max().unwrap_or(0)),
            series,
            stopped_by,
        }
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let m = &self.messages;
        let failed: u64 = m.failed.values().sum();
        let mut out = format!(
            "{} x{} on {} for {:.1}s, {} each every {:.3}s\n",
            super::transport_name(self.transport),
            self.connections,
            self.url,
            self.elapsed_secs,
            self.message,
            1.0 / self.message_rate
        );
        out += &format!(
            "connect:    {} ok, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; failed {:?}\n",
            self.connect.count,
            self.connect.p50_ms,
            self.connect.p99_ms,
            self.connect.max_ms,
            self.connect_failures
        );
        out += &format!(
            "held:       peak {} of {}; drops {:?}; reconnects {}\n",
            self.peak_held, self.connections, self.drops, self.reconnects
        );
        out += &format!(
            "messages:   {} intended, {} answered, {failed} failed {:?}, {} timed out, {} lost, {} missed while down, {} aborted, {} unsent at the end\n",
            m.intended, m.answered, m.failed, m.timed_out, m.lost, m.missed_disconnected, m.aborted, m.unsent_at_end
        );
        out += &format!(
            "round trip: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (from the intended send time)\n",
            self.round_trip.p50_ms, self.round_trip.p90_ms, self.round_trip.p99_ms, self.round_trip.max_ms
        );
        out
    }

    /// Messages intended but not answered, whatever became of them.
    pub fn unanswered(&self) -> u64 {
        self.messages.intended - self.messages.answered
    }

    /// A threshold's metric on this run: latencies are the answered messages' round trips,
    /// `error_rate` every intended message not answered, `dropped` those never sent (missed
    /// while down or unsent at the end). An operation scope must name the run's message.
    pub fn threshold_value(&self, threshold: &Threshold) -> Result<Option<f64>, String> {
        if let Some(op) = threshold
            .operation
            .as_ref()
            .filter(|op| **op != self.message)
        {
            return Err(format!(
                "threshold '{}' names operation '{op}'; this stream run sends only {}",
                threshold.expression, self.message
            ));
        }
        let m = &self.messages;
        let l = &self.round_trip;
        let latency = |v: f64| (l.count > 0).then_some(v);
        Ok(match threshold.metric {
            Metric::Percentile(tenths) => crate::decode_histogram(&self.round_trip_histogram)
                .ok()
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(f64::from(tenths) / 1000.0) as f64 / 1000.0),
            Metric::Max => latency(l.max_ms),
            Metric::Min => latency(l.min_ms),
            Metric::Mean => latency(l.mean_ms),
            Metric::ErrorRate => {
                (m.intended > 0).then(|| self.unanswered() as f64 / m.intended as f64)
            }
            Metric::Rps => (self.elapsed_secs > 0.0).then(|| m.answered as f64 / self.elapsed_secs),
            Metric::Requests => Some(m.intended as f64),
            Metric::Failures => Some(self.unanswered() as f64),
            Metric::Dropped => Some((m.missed_disconnected + m.unsent_at_end) as f64),
        })
    }

    pub fn write_to_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("results.json"), json + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_second_counts_what_went_unanswered_in_it_once() {
        let mut t = Tally::default();
        t.answered(Duration::from_millis(3));
        t.failed("tool error");
        t.messages.timed_out += 1;
        let first = t.take_point(1, 5);
        assert_eq!((first.answered, first.unanswered, first.held), (1, 2, 5));
        assert!(first.p50_ms >= 2.9 && first.p50_ms <= 3.1);
        t.messages.missed_disconnected += 4;
        t.dropped("the event stream ended");
        let second = t.take_point(2, 4);
        assert_eq!(
            (second.answered, second.unanswered, second.drops),
            (0, 4, 1)
        );
        assert_eq!(t.drops.get("stream ended"), Some(&1));
        assert_eq!(t.messages.total(), 7);
    }
}
