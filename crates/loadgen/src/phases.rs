//! Where a request's time went, in hey's terms (Go's `httptrace`): DNS lookup, DNS + dial-up
//! (the connection's setup, TLS and the HTTP/2 handshake included; zero on a reused
//! connection), writing the request, waiting for the first response byte, reading the rest.
//! Measured per request by the client; kept as fixed-size sums and extremes per operation
//! (merged across the recorder's shards), never as per-request data.
//!
//! Over HTTP/2 hyper's connection task writes the request frames, so the write cannot be told
//! from the wait: `write` is None there and the wait runs from the send to the response head.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One request's phases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    /// The DNS lookup: zero for an IP literal (none is made) and on a reused connection.
    pub dns: Duration,
    /// DNS + connect (+ TLS, + the HTTP/2 handshake): zero on a reused connection.
    pub dialup: Duration,
    /// Writing the request; None over HTTP/2.
    pub write: Option<Duration>,
    /// Request written → first response byte (HTTP/2: send → response head).
    pub wait: Duration,
    /// First response byte → end of the body.
    pub read: Duration,
}

/// One phase over many requests: count, sum, fastest, slowest (nanoseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseStat {
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl PhaseStat {
    fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.min_ns = if self.count == 0 {
            ns
        } else {
            self.min_ns.min(ns)
        };
        self.max_ns = self.max_ns.max(ns);
        self.sum_ns += u128::from(ns);
        self.count += 1;
    }

    fn merge(&mut self, other: &PhaseStat) {
        if other.count == 0 {
            return;
        }
        self.min_ns = if self.count == 0 {
            other.min_ns
        } else {
            self.min_ns.min(other.min_ns)
        };
        self.max_ns = self.max_ns.max(other.max_ns);
        self.sum_ns += other.sum_ns;
        self.count += other.count;
    }

    fn summary(&self) -> Option<PhaseSummary> {
        let ms = |ns: f64| ns / 1e6;
        (self.count > 0).then(|| PhaseSummary {
            count: self.count,
            total_ms: ms(self.sum_ns as f64),
            mean_ms: ms(self.sum_ns as f64 / self.count as f64),
            min_ms: ms(self.min_ns as f64),
            max_ms: ms(self.max_ns as f64),
        })
    }

    fn from_summary(s: &PhaseSummary) -> PhaseStat {
        let ns = |ms: f64| (ms * 1e6).round().max(0.0);
        PhaseStat {
            count: s.count,
            sum_ns: ns(s.total_ms) as u128,
            min_ns: ns(s.min_ms) as u64,
            max_ns: ns(s.max_ms) as u64,
        }
    }
}

/// The five phases over many requests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseStats {
    dns: PhaseStat,
    dialup: PhaseStat,
    write: PhaseStat,
    wait: PhaseStat,
    read: PhaseStat,
}

impl PhaseStats {
    pub fn record(&mut self, p: &Phases) {
        self.dns.record(p.dns);
        self.dialup.record(p.dialup);
        if let Some(w) = p.write {
            self.write.record(w);
        }
        self.wait.record(p.wait);
        self.read.record(p.read);
    }

    pub fn merge(&mut self, other: &PhaseStats) {
        self.dns.merge(&other.dns);
        self.dialup.merge(&other.dialup);
        self.write.merge(&other.write);
        self.wait.merge(&other.wait);
        self.read.merge(&other.read);
    }

    /// None when no request was traced.
    pub fn summary(&self) -> Option<PhasesSummary> {
        Some(PhasesSummary {
            dns_dialup: self.dialup.summary()?,
            dns_lookup: self.dns.summary()?,
            request_write: self.write.summary(),
            response_wait: self.wait.summary()?,
            response_read: self.read.summary()?,
        })
    }

    pub fn from_summary(s: &PhasesSummary) -> PhaseStats {
        PhaseStats {
            dns: PhaseStat::from_summary(&s.dns_lookup),
            dialup: PhaseStat::from_summary(&s.dns_dialup),
            write: s
                .request_write
                .as_ref()
                .map_or_else(PhaseStat::default, PhaseStat::from_summary),
            wait: PhaseStat::from_summary(&s.response_wait),
            read: PhaseStat::from_summary(&s.response_read),
        }
    }
}

/// One phase in the results document (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub count: u64,
    /// The sum over every request (what the mean is of, kept so runs merge exactly).
    pub total_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

/// hey's "Details" in the results document: successful requests' phases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhasesSummary {
    pub dns_dialup: PhaseSummary,
    pub dns_lookup: PhaseSummary,
    /// Absent over HTTP/2: the write is inside `response_wait`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_write: Option<PhaseSummary>,
    pub response_wait: PhaseSummary,
    pub response_read: PhaseSummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn sums_and_extremes_merge_and_survive_the_document() {
        let mut a = PhaseStats::default();
        let mut b = PhaseStats::default();
        assert_eq!(a.summary(), None, "nothing traced: no details");
        let traced = |dial, wait| Phases {
            dns: Duration::ZERO,
            dialup: ms(dial),
            write: Some(ms(1)),
            wait: ms(wait),
            read: ms(3),
        };
        a.record(&traced(4, 2));
        a.record(&traced(0, 6));
        b.record(&traced(0, 1));
        a.merge(&b);
        let s = a.summary().unwrap();
        assert_eq!(s.dns_dialup.count, 3);
        assert_eq!(
            (
                s.response_wait.min_ms,
                s.response_wait.mean_ms,
                s.response_wait.max_ms
            ),
            (1.0, 3.0, 6.0)
        );
        assert_eq!(s.dns_dialup.max_ms, 4.0);
        assert_eq!(PhaseStats::from_summary(&s), a);
    }

    #[test]
    fn http2_has_no_write_phase() {
        let mut s = PhaseStats::default();
        s.record(&Phases {
            write: None,
            ..Phases::default()
        });
        let summary = s.summary().unwrap();
        assert_eq!(summary.request_write, None);
        assert_eq!(summary.response_wait.count, 1);
    }
}
