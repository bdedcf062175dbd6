//! A run steered while it goes (the web UI's): its load target changed — users for the closed
//! model, arrivals per second for the open one — its window ended early (the run then drains as
//! if the window had elapsed: nothing is lost), and a view of it handed out once a second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::recorder::{ErrorTally, OpStats};
use crate::results::{SeriesPoint, AGGREGATED};
use crate::schedule::ScheduleVerdict;

/// The handle a steered run and its steerer share. Cloning shares it.
#[derive(Clone)]
pub struct Live {
    steering: Arc<Steering>,
    feed: Arc<dyn Fn(LiveTick) + Send + Sync>,
}

/// What the steerer asked for.
pub(crate) struct Steering {
    /// The load target's f64 bits; NaN while the plan's own applies.
    target: AtomicU64,
    /// Asked to end: every run steered by this handle from now on ends at once.
    ended: AtomicBool,
    end: tokio::sync::Notify,
}

impl Live {
    /// A handle whose run calls `feed` once a second with its view.
    pub fn new(feed: impl Fn(LiveTick) + Send + Sync + 'static) -> Live {
        Live {
            steering: Arc::new(Steering {
                target: AtomicU64::new(f64::NAN.to_bits()),
                ended: AtomicBool::new(false),
                end: tokio::sync::Notify::new(),
            }),
            feed: Arc::new(feed),
        }
    }

    /// From now on the run holds `target` users (closed model) or arrivals per second (open
    /// model) instead of the plan's.
    pub fn set_target(&self, target: f64) {
        self.steering
            .target
            .store(target.max(0.0).to_bits(), Ordering::Relaxed);
    }

    /// Ends the measured window now; the run drains and returns its results. A run started
    /// with this handle afterwards ends at once (a caller running several checks
    /// [`Live::has_ended`] first).
    pub fn end_now(&self) {
        self.steering.ended.store(true, Ordering::Relaxed);
        self.steering.end.notify_waiters();
    }

    pub fn has_ended(&self) -> bool {
        self.steering.ended.load(Ordering::Relaxed)
    }

    pub(crate) fn steering(&self) -> Arc<Steering> {
        self.steering.clone()
    }

    pub(crate) fn tell(&self, tick: LiveTick) {
        (self.feed)(tick);
    }
}

impl Steering {
    /// The steered target, when one was set.
    pub(crate) fn target(&self) -> Option<f64> {
        Some(f64::from_bits(self.target.load(Ordering::Relaxed))).filter(|t| !t.is_nan())
    }

    pub(crate) async fn ended(&self) {
        let notified = self.end.notified();
        if !self.ended.load(Ordering::Relaxed) {
            notified.await;
        }
    }
}

/// One second of a live run: the second itself and the measured window so far.
#[derive(Debug, Clone, Serialize)]
pub struct LiveTick {
    /// The last second (per operation, in the order of `operations`).
    pub point: SeriesPoint,
    /// Every operation since the window opened, then the aggregate ([`AGGREGATED`]).
    pub operations: Vec<LiveOperation>,
    /// Users (closed model) or iterations in flight (open model) now.
    pub active: u64,
    /// Measured iterations dropped so far (the schedule's backlog full).
    pub dropped: u64,
    /// Whose lateness it is so far: the target's (stalled) or the generator's (saturated).
    pub verdict: ScheduleVerdict,
}

/// An operation's figures since the window opened (Locust's statistics table).
#[derive(Debug, Clone, Serialize)]
pub struct LiveOperation {
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Failures by class, with scrubbed samples.
    pub errors: BTreeMap<&'static str, ErrorTally>,
}

impl LiveOperation {
    fn of(name: &str, s: &OpStats, secs: f64) -> LiveOperation {
        let ms = |q: f64| s.corrected.value_at_quantile(q) as f64 / 1000.0;
        let empty = s.corrected.is_empty();
        LiveOperation {
            name: name.to_string(),
            requests: s.requests,
            failures: s.failures,
            rps: if secs > 0.0 {
                s.requests as f64 / secs
            } else {
                0.0
            },
            p50_ms: if empty { 0.0 } else { ms(0.5) },
            p95_ms: if empty { 0.0 } else { ms(0.95) },
            p99_ms: if empty { 0.0 } else { ms(0.99) },
            max_ms: if empty {
                0.0
            } else {
                s.corrected.max() as f64 / 1000.0
            },
            errors: s
                .errors
                .iter()
                .map(|(k, v)| (k.name(), v.clone()))
                .collect(),
        }
    }

    /// Each operation's figures over `secs` measured seconds, then their aggregate.
    pub(crate) fn table(names: &[String], totals: &[OpStats], secs: f64) -> Vec<LiveOperation> {
        let mut all = OpStats::default();
        let mut rows: Vec<LiveOperation> = names
            .iter()
            .zip(totals)
            .map(|(name, stats)| {
                all.merge(stats);
                LiveOperation::of(name, stats, secs)
            })
            .collect();
        rows.push(LiveOperation::of(AGGREGATED, &all, secs));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_plans_until_steered_and_never_negative() {
        let live = Live::new(|_| {});
        assert_eq!(live.steering().target(), None);
        live.set_target(12.0);
        assert_eq!(live.steering().target(), Some(12.0));
        live.set_target(-3.0);
        assert_eq!(live.steering().target(), Some(0.0));
    }

    #[tokio::test]
    async fn an_end_asked_before_anyone_waits_is_kept() {
        let live = Live::new(|_| {});
        assert!(!live.has_ended());
        live.end_now();
        assert!(live.has_ended());
        for _ in 0..2 {
            tokio::time::timeout(std::time::Duration::from_secs(1), live.steering().ended())
                .await
                .expect("the end asked earlier is seen by every later run");
        }
    }
}
