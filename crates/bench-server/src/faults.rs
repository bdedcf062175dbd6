//! Fault injection, so the tools that measure servers can themselves be measured: added latency
//! with jitter, injected errors, whole-server stalls (a GC pause seen from the outside), and a
//! concurrency limit (a server with N workers: N / latency is its capacity, the rest queue).
//!
//! The dice are a counter hashed with a seed, not a shared RNG: the same seed gives the same
//! sequence of faults, and no lock sits on the request path (the concurrency limit's slots
//! exist only when asked for).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, ErrorKind};

/// An injected failure for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InjectedError {
    /// Answer with a JSON-RPC error object (HTTP 200).
    JsonRpc,
    /// Answer a tools/call with an `isError: true` result.
    ToolResult,
}

#[derive(Debug)]
pub struct Faults {
    latency_ms: u64,
    jitter_ms: u64,
    error_rate: f64,
    error_kind: ErrorKind,
    stall: Option<(u64, Duration)>,
    /// `--concurrency`: a request holds one of these slots for its latency (FIFO: tokio's
    /// semaphore is fair, so the queue is a server's queue).
    slots: Option<tokio::sync::Semaphore>,
    seed: u64,
    /// Requests seen, process-wide: drives the stall schedule and the dice.
    requests: AtomicU64,
    /// Nanoseconds since `epoch` until which every request waits.
    stalled_until: AtomicU64,
    epoch: Instant,
}

impl Faults {
    pub fn new(config: &Config) -> Self {
        Faults {
            latency_ms: config.latency_ms,
            jitter_ms: config.jitter_ms,
            error_rate: config.error_rate,
            error_kind: config.error_kind,
            stall: config
                .stall_every
                .zip(config.stall_ms)
                .map(|(every, ms)| (every, Duration::from_millis(ms))),
            slots: config
                .concurrency
                .map(|n| tokio::sync::Semaphore::new(n as usize)),
            seed: config.fault_seed,
            requests: AtomicU64::new(0),
            stalled_until: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Counts one incoming request, starts a stall when its turn comes, waits out any stall
    /// in progress and, under `--concurrency`, waits for a free slot and spends its latency
    /// holding it. Returns the request's sequence number for [`Faults::plan`].
    pub async fn admit(&self) -> u64 {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some((every, length)) = self.stall {
            if n.is_multiple_of(every) {
                let until = self.nanos_since_epoch() + length.as_nanos() as u64;
                self.stalled_until.fetch_max(until, Ordering::Relaxed);
            }
            let until = self.stalled_until.load(Ordering::Relaxed);
            let now = self.nanos_since_epoch();
            if until > now {
                tokio::time::sleep(Duration::from_nanos(until - now)).await;
            }
        }
        if let Some(slots) = &self.slots {
            let _slot = slots.acquire().await.expect("the slots are never closed");
            let latency = self.latency(n);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
        }
        n
    }

    /// Request `n`'s added latency: `--latency-ms`, uniform ± `--jitter-ms`, never negative.
    fn latency(&self, n: u64) -> Duration {
        let dice = self.dice(n);
        let ms = if self.jitter_ms == 0 {
            self.latency_ms
        } else {
            let span = 2 * self.jitter_ms + 1;
            (self.latency_ms + (dice >> 32) % span).saturating_sub(self.jitter_ms)
        };
        Duration::from_millis(ms)
    }

    fn dice(&self, n: u64) -> u64 {
        splitmix64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The faults for request `n`: the latency still to add (none under `--concurrency`, where
    /// [`Faults::admit`] spent it in a slot) and whether (and how) it fails. `can_fail` is false
    /// for the handshake and listings, so clients can always get started.
    pub fn plan(&self, n: u64, can_fail: bool) -> (Duration, Option<InjectedError>) {
        let dice = self.dice(n);
        let latency = match self.slots {
            Some(_) => Duration::ZERO,
            None => self.latency(n),
        };
        let fails = can_fail && unit_interval(splitmix64(dice)) < self.error_rate;
        let error = fails.then_some(match self.error_kind {
            ErrorKind::Jsonrpc => InjectedError::JsonRpc,
            ErrorKind::Tool => InjectedError::ToolResult,
            ErrorKind::Mixed if dice & 1 == 0 => InjectedError::JsonRpc,
            ErrorKind::Mixed => InjectedError::ToolResult,
        });
        (latency, error)
    }

    fn nanos_since_epoch(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unit_interval(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn faults(args: &[&str]) -> Faults {
        Faults::new(&Config::parse_from(
            std::iter::once("t").chain(args.iter().copied()),
        ))
    }

    #[test]
    fn error_rate_is_met_over_many_requests_and_repeats_with_the_seed() {
        let f = faults(&["--error-rate", "0.2", "--fault-seed", "7"]);
        let count = |f: &Faults| {
            (1..=100_000)
                .filter(|&n| f.plan(n, true).1.is_some())
                .count()
        };
        let failures = count(&f);
        assert!((19_000..=21_000).contains(&failures), "{failures}");
        assert_eq!(
            failures,
            count(&faults(&["--error-rate", "0.2", "--fault-seed", "7"]))
        );
        assert!((1..=1000).all(|n| f.plan(n, false).1.is_none()));
    }

    #[test]
    fn mixed_errors_take_both_forms() {
        let f = faults(&["--error-rate", "1"]);
        let kinds: std::collections::HashSet<_> =
            (1..=100).filter_map(|n| f.plan(n, true).1).collect();
        assert_eq!(kinds.len(), 2);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let f = faults(&["--latency-ms", "10", "--jitter-ms", "4"]);
        let lat: Vec<u64> = (1..=10_000)
            .map(|n| f.plan(n, true).0.as_millis() as u64)
            .collect();
        assert_eq!(*lat.iter().min().unwrap(), 6);
        assert_eq!(*lat.iter().max().unwrap(), 14);
    }

    #[tokio::test(start_paused = true)]
    async fn a_concurrency_limit_queues_requests_beyond_it_for_their_latency() {
        let f = std::sync::Arc::new(faults(&["--latency-ms", "20", "--concurrency", "2"]));
        let t0 = tokio::time::Instant::now();
        let done: Vec<_> = (0..5)
            .map(|_| {
                let f = f.clone();
                tokio::spawn(async move {
                    let n = f.admit().await;
                    assert_eq!(f.plan(n, true).0, Duration::ZERO, "spent in the slot");
                    t0.elapsed()
                })
            })
            .collect();
        let mut ends = Vec::new();
        for d in done {
            ends.push(d.await.unwrap().as_millis());
        }
        ends.sort_unstable();
        // Two slots of 20 ms: 2 done at 20 ms, 2 at 40 ms, the fifth at 60 ms (100/s).
        assert_eq!(ends, [20, 20, 40, 40, 60]);
        let unlimited = faults(&["--latency-ms", "20"]);
        assert_eq!(unlimited.plan(1, true).0, Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn every_nth_request_stalls_those_that_follow() {
        let f = faults(&["--stall-every", "3", "--stall-ms", "200"]);
        let t0 = tokio::time::Instant::now();
        f.admit().await;
        f.admit().await;
        assert!(t0.elapsed() < Duration::from_millis(1));
        f.admit().await;
        assert!(t0.elapsed() >= Duration::from_millis(200));
    }
}
