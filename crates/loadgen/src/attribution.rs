//! Where a request's time went, from what the backend said about it (its stamp,
//! [`bench_server::stamp`]): the backend's handler time, and the *path time* — the client's
//! latency from the send minus the handler time of the same request — each in its own HDR
//! histogram. Paired request by request, machine noise that slows the backend and the client
//! alike cancels out of the path time, which a difference of two runs' percentiles cannot do.
//!
//! Also from the stamps: replies from another start of a server than the one this session's
//! first reply from that server came from (a restart, another replica: *rebound*), and how many
//! tools/calls each server handled against the replies that reached us (its counter's span over
//! the window against the stamped replies seen: above 1, the backend did work nobody received).

use std::collections::BTreeMap;
use std::time::Duration;

use bench_server::stamp::Stamp;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::recorder::{micros, new_histogram};
use crate::results::{decode_histogram, encode_histogram, LatencySummary};

/// A successful request's stamp, judged against its session.
#[derive(Debug, Clone)]
pub struct Attributed {
    pub stamp: Stamp,
    pub rebound: bool,
}

/// One server's tools/call counter as seen in the replies of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSpan {
    pub first: u64,
    pub last: u64,
    pub replies: u64,
}

impl CallSpan {
    fn merge(&mut self, other: &CallSpan) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.replies += other.replies;
    }

    /// The calls the server handled from the first reply seen to the last.
    fn handled(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// What the stamps of one operation's successful requests add up to.
#[derive(Debug, Clone)]
pub struct Attribution {
    /// The backend handler's time.
    pub backend: Histogram<u64>,
    /// The client's latency from the send minus the handler's time, request by request.
    pub path: Histogram<u64>,
    pub rebound: u64,
    /// By server and process start (the stamp's `by`).
    pub calls: BTreeMap<String, CallSpan>,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution {
            backend: new_histogram(),
            path: new_histogram(),
            rebound: 0,
            calls: BTreeMap::new(),
        }
    }
}

impl Attribution {
    /// A successful request that took `latency` from its send.
    pub fn record(&mut self, latency: Duration, seen: &Attributed) {
        let handler = seen.stamp.handler();
        self.backend.saturating_record(micros(handler));
        self.path
            .saturating_record(micros(latency.saturating_sub(handler)));
        self.rebound += u64::from(seen.rebound);
        if let Some(call) = seen.stamp.call {
            let span = CallSpan {
                first: call,
                last: call,
                replies: 1,
            };
            match self.calls.get_mut(&seen.stamp.by) {
                Some(known) => known.merge(&span),
                None => {
                    self.calls.insert(seen.stamp.by.clone(), span);
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Attribution) {
        self.backend.add(&other.backend).expect("same HDR bounds");
        self.path.add(&other.path).expect("same HDR bounds");
        self.rebound += other.rebound;
        for (by, span) in &other.calls {
            self.calls
                .entry(by.clone())
                .and_modify(|s| s.merge(span))
                .or_insert(*span);
        }
    }
}

/// An operation's attribution in the results document; absent when no successful reply carried
/// the backend's time (a listing the gateway served from its own catalog, a backend that does
/// not say), so nothing is guessed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendSummary {
    /// Successful requests whose reply carried the backend's time (of `latency.count`).
    pub stamped: u64,
    /// The backend handler's time.
    pub backend: LatencySummary,
    /// Client latency from the send minus the handler's time, request by request.
    pub path: LatencySummary,
    /// Replies from another start of a server than the session's first reply from it.
    pub rebound: u64,
    /// tools/calls the backends handled per stamped reply received (1: no duplicated work);
    /// None without tools/call stamps.
    pub backend_calls_per_reply: Option<f64>,
    pub calls: BTreeMap<String, CallSpan>,
    /// `backend` and `path`, HDR V2 base64.
    pub histograms: [String; 2],
}

impl BackendSummary {
    pub fn of(a: &Attribution) -> Option<Self> {
        if a.backend.is_empty() {
            return None;
        }
        let replies: u64 = a.calls.values().map(|s| s.replies).sum();
        let handled: u64 = a.calls.values().map(CallSpan::handled).sum();
        Some(BackendSummary {
            stamped: a.backend.len(),
            backend: LatencySummary::from_histogram(&a.backend),
            path: LatencySummary::from_histogram(&a.path),
            rebound: a.rebound,
            backend_calls_per_reply: (replies > 0).then(|| handled as f64 / replies as f64),
            calls: a.calls.clone(),
            histograms: [encode_histogram(&a.backend), encode_histogram(&a.path)],
        })
    }

    pub fn to_attribution(&self) -> Result<Attribution, String> {
        Ok(Attribution {
            backend: decode_histogram(&self.histograms[0])?,
            path: decode_histogram(&self.histograms[1])?,
            rebound: self.rebound,
            calls: self.calls.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(by: &str, handler_ms: u64, call: Option<u64>, rebound: bool) -> Attributed {
        Attributed {
            stamp: Stamp {
                by: by.into(),
                handler_us: handler_ms * 1000,
                call,
            },
            rebound,
        }
    }

    #[test]
    fn path_time_is_latency_minus_the_same_requests_handler_time() {
        let mut a = Attribution::default();
        for (latency, handler) in [(12, 10), (25, 20), (7, 5)] {
            a.record(
                Duration::from_millis(latency),
                &seen("0@1", handler, None, false),
            );
        }
        let s = BackendSummary::of(&a).unwrap();
        assert_eq!(s.stamped, 3);
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.001;
        assert!(
            near(s.path.min_ms, 2.0) && near(s.path.max_ms, 5.0),
            "{:?}",
            s.path
        );
        assert!(near(s.backend.max_ms, 20.0), "{:?}", s.backend);
        assert_eq!(s.backend_calls_per_reply, None);
        let back = s.to_attribution().unwrap();
        assert_eq!(back.path, a.path);
    }

    #[test]
    fn counter_spans_tell_duplicated_work_and_rebinds_are_counted() {
        let mut a = Attribution::default();
        let mut b = Attribution::default();
        // Server 0 handled calls 10..=19 but only 5 replies reached us; server 1 every one.
        for call in [10, 12, 14] {
            a.record(Duration::from_millis(2), &seen("0@1", 1, Some(call), false));
        }
        for call in [16, 19] {
            b.record(Duration::from_millis(2), &seen("0@1", 1, Some(call), true));
        }
        for call in 1..=5 {
            b.record(Duration::from_millis(2), &seen("1@1", 1, Some(call), false));
        }
        a.merge(&b);
        let s = BackendSummary::of(&a).unwrap();
        assert_eq!(s.rebound, 2);
        assert_eq!(
            s.calls["0@1"],
            CallSpan {
                first: 10,
                last: 19,
                replies: 5
            }
        );
        assert_eq!(s.backend_calls_per_reply, Some(15.0 / 10.0));
    }

    #[test]
    fn nothing_stamped_is_no_summary() {
        assert_eq!(BackendSummary::of(&Attribution::default()), None);
    }
}
