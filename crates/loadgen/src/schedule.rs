//! Where every intended iteration went, and whose fault lateness was.
//!
//! The [`Ledger`] is shared by the executors while a run goes on; at the end it becomes the
//! [`ScheduleReport`] of the results. Its invariant: every iteration intended inside the
//! measured window is either recorded (its requests are in the results, as successes or
//! failures) or dropped, by reason — `intended == recorded + dropped.total()` in every run.
//!
//! Lateness has two owners. An arrival that waited because every in-flight user was stuck on
//! the target is the *target's* latency (it is charged from its intended time, and judged by
//! thresholds): the verdict is [`ScheduleVerdict::TargetStalled`]. An iteration that started
//! late although a user was free, or that the schedule itself emitted late, is the
//! *generator's*: [`ScheduleVerdict::GeneratorSaturated`], and its numbers are not trustworthy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// An iteration that starts this long after its intended time is late.
pub const LATE_START: Duration = Duration::from_millis(10);
/// More than this share of generator-late iterations means the generator fell behind; more than
/// this share of arrivals waiting for a free user means the target stalled.
pub const LATE_SHARE: f64 = 0.01;
/// Fewer generator-late iterations than this are no saturation, whatever their share: on a shared
/// machine the OS preempts the generator now and then for a few milliseconds, which in a short,
/// slow run (55 iterations, say) is one or two late starts — a sustained inability to keep the
/// schedule shows in many.
pub const MIN_LATE_STARTS: u64 = 5;

/// Counters the executors share (relaxed atomics: they are read once the run is over).
#[derive(Debug, Default)]
pub struct Ledger {
    intended: AtomicU64,
    recorded: AtomicU64,
    backlog_full: AtomicU64,
    /// Measured iterations that started (recorded ones and those aborted in flight).
    started: AtomicU64,
    generator_late: AtomicU64,
    queued: AtomicU64,
    max_lag_us: AtomicU64,
    max_queue_wait_us: AtomicU64,
    /// Iterations in flight, or users running (for the progress line and the series).
    pub active: AtomicU64,
}

/// How an iteration's start related to its intended time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A user was free: any lag is the generator's.
    Free,
    /// Every user was busy when it arrived: it waited in the backlog, the target's doing.
    Queued,
}

impl Ledger {
    /// A measured iteration the schedule intends (open model: emitted; closed: begun).
    pub fn intend(&self) {
        self.intended.fetch_add(1, Ordering::Relaxed);
    }

    /// A measured arrival dropped because every user was busy and the backlog full.
    pub fn drop_backlog_full(&self) {
        self.intend();
        self.backlog_full.fetch_add(1, Ordering::Relaxed);
    }

    /// A measured iteration starts now; `emitted_late` when the schedule itself was behind.
    pub fn start(&self, intended: Instant, start: Start, emitted_late: bool) {
        self.started.fetch_add(1, Ordering::Relaxed);
        let lag = Instant::now().saturating_duration_since(intended);
        let lag_us = lag.as_micros() as u64;
        self.max_lag_us.fetch_max(lag_us, Ordering::Relaxed);
        match start {
            Start::Queued => {
                self.queued.fetch_add(1, Ordering::Relaxed);
                self.max_queue_wait_us.fetch_max(lag_us, Ordering::Relaxed);
                if emitted_late {
                    self.generator_late.fetch_add(1, Ordering::Relaxed);
                }
            }
            Start::Free if emitted_late || lag > LATE_START => {
                self.generator_late.fetch_add(1, Ordering::Relaxed);
            }
            Start::Free => {}
        }
    }

    /// A measured iteration finished: every request it sent is in the results.
    pub fn record(&self) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
    }

    /// Arrivals dropped so far because the backlog was full (the progress line, the series).
    pub fn dropped(&self) -> u64 {
        self.backlog_full.load(Ordering::Relaxed)
    }

    /// The report, once no executor runs any more. An intended iteration that neither started
    /// nor was dropped for a full backlog was still waiting when the run stopped (or the drain
    /// ended); one that started but was never recorded was aborted in flight (a signal stopped
    /// the run before it finished).
    pub fn report(&self, open_model: bool, generator_cpu_utilisation: f64) -> ScheduleReport {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (intended, started, recorded) = (
            load(&self.intended),
            load(&self.started),
            load(&self.recorded),
        );
        let backlog_full = load(&self.backlog_full);
        let dropped = Dropped {
            backlog_full,
            window_closed: intended.saturating_sub(backlog_full + started),
            aborted_in_flight: started.saturating_sub(recorded),
        };
        let accounting = Accounting {
            intended,
            recorded,
            dropped,
        };
        let lateness = Lateness {
            generator_late: load(&self.generator_late),
            queued_starts: load(&self.queued),
            max_start_lag_ms: load(&self.max_lag_us) as f64 / 1000.0,
            max_queue_wait_ms: load(&self.max_queue_wait_us) as f64 / 1000.0,
            generator_cpu_utilisation,
        };
        let verdict = ScheduleVerdict::judge(open_model, &accounting, &lateness);
        ScheduleReport {
            accounting,
            lateness,
            verdict,
        }
    }
}

/// Every intended iteration, accounted for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accounting {
    /// Iterations the schedule intended inside the measured window (open model: arrivals;
    /// closed model: iterations users began).
    pub intended: u64,
    /// Iterations that ran: every request they sent is in the results, success or failure.
    pub recorded: u64,
    pub dropped: Dropped,
}

impl Accounting {
    /// `intended == recorded + dropped`: nothing vanished.
    pub fn balances(&self) -> bool {
        self.intended == self.recorded + self.dropped.total()
    }
}

/// Intended iterations that never ran, by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    /// Every in-flight user busy and the backlog full (open model): the target could not keep up.
    pub backlog_full: u64,
    /// Waiting in the backlog when the run was stopped, or when the drain after the window
    /// ended (it waits up to the request timeout).
    pub window_closed: u64,
    /// In flight when the run was stopped by a signal and not finished within the grace period.
    pub aborted_in_flight: u64,
}

impl Dropped {
    pub fn total(&self) -> u64 {
        self.backlog_full + self.window_closed + self.aborted_in_flight
    }
}

/// How late iterations started, and whose doing it was.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lateness {
    /// Iterations the generator started late: emitted late by the schedule, or started more
    /// than 10 ms after their intended time although a user was free.
    pub generator_late: u64,
    /// Arrivals that waited for a free user because every one was busy with the target; their
    /// latency counts from their intended time.
    pub queued_starts: u64,
    /// The largest gap between an iteration's intended and actual start, in ms.
    pub max_start_lag_ms: f64,
    /// The longest an arrival waited for a free user, in ms.
    pub max_queue_wait_ms: f64,
    /// The generator's CPU time over its wall time and worker threads (1.0 = all busy).
    pub generator_cpu_utilisation: f64,
}

/// Which side fell behind, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleVerdict {
    /// The generator kept its schedule and the target kept up with it.
    Kept,
    /// The target stalled or reached its capacity: arrivals waited for (or were dropped for want
    /// of) a free user. That is the target's latency and errors, judged by thresholds.
    TargetStalled { reason: String },
    /// The generator itself fell behind its schedule: latencies understate the truth and no
    /// threshold is judged.
    GeneratorSaturated { reasons: Vec<String> },
}

impl ScheduleVerdict {
    fn judge(open_model: bool, a: &Accounting, l: &Lateness) -> ScheduleVerdict {
        let started = (a.recorded + a.dropped.aborted_in_flight).max(1) as f64;
        let late_share = l.generator_late as f64 / started;
        if late_share > LATE_SHARE && l.generator_late >= MIN_LATE_STARTS {
            let mut reasons = vec![format!(
                "{:.1}% of iterations started more than {} ms late although a user was free: the generator could not keep its schedule",
                100.0 * late_share,
                LATE_START.as_millis()
            )];
            if l.generator_cpu_utilisation > 0.9 {
                reasons.push(format!(
                    "the generator used {:.0}% of its worker threads",
                    100.0 * l.generator_cpu_utilisation
                ));
            }
            return ScheduleVerdict::GeneratorSaturated { reasons };
        }
        let queued_share = l.queued_starts as f64 / started;
        let dropped = a.dropped.backlog_full + a.dropped.window_closed;
        if open_model && (dropped > 0 || queued_share > LATE_SHARE) {
            return ScheduleVerdict::TargetStalled {
                reason: format!(
                    "the target stalled or reached its capacity: {} of {} arrivals waited for a free in-flight user (up to {:.0} ms) and {} were dropped ({} backlog full, {} still queued at the end); their wait is the target's latency",
                    l.queued_starts, a.intended, l.max_queue_wait_ms, dropped,
                    a.dropped.backlog_full, a.dropped.window_closed
                ),
            };
        }
        ScheduleVerdict::Kept
    }
}

/// The schedule's side of a run: the accounting, the lateness and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleReport {
    pub accounting: Accounting,
    pub lateness: Lateness,
    pub verdict: ScheduleVerdict,
}

impl ScheduleReport {
    pub fn generator_saturated(&self) -> bool {
        matches!(self.verdict, ScheduleVerdict::GeneratorSaturated { .. })
    }
}

impl Default for ScheduleReport {
    fn default() -> Self {
        ScheduleReport {
            accounting: Accounting::default(),
            lateness: Lateness::default(),
            verdict: ScheduleVerdict::Kept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_started_but_never_recorded_are_aborted_and_the_books_balance() {
        let ledger = Ledger::default();
        let t = Instant::now();
        for _ in 0..10 {
            ledger.intend();
        }
        ledger.drop_backlog_full();
        for _ in 0..7 {
            ledger.start(t, Start::Free, false);
        }
        for _ in 0..6 {
            ledger.record();
        }
        let r = ledger.report(true, 0.1);
        assert_eq!(r.accounting.intended, 11);
        assert_eq!(r.accounting.recorded, 6);
        assert_eq!(
            r.accounting.dropped,
            Dropped {
                backlog_full: 1,
                window_closed: 3,
                aborted_in_flight: 1
            }
        );
        assert!(r.accounting.balances());
    }

    #[test]
    fn waiting_for_a_busy_target_is_a_stall_and_starting_late_while_free_is_saturation() {
        let ledger = Ledger::default();
        let long_ago = Instant::now() - Duration::from_millis(500);
        for _ in 0..100 {
            ledger.intend();
            ledger.start(long_ago, Start::Queued, false);
            ledger.record();
        }
        let r = ledger.report(true, 0.03);
        assert!(
            matches!(r.verdict, ScheduleVerdict::TargetStalled { .. }),
            "{r:?}"
        );
        assert!(!r.generator_saturated());
        assert!(r.lateness.max_queue_wait_ms >= 500.0);

        let ledger = Ledger::default();
        for _ in 0..100 {
            ledger.intend();
            ledger.start(long_ago, Start::Free, false);
            ledger.record();
        }
        assert!(ledger.report(true, 0.95).generator_saturated());
        // Two late starts among 55 (3.6%) are the OS's preemption, not saturation.
        let ledger = Ledger::default();
        for i in 0..55 {
            ledger.intend();
            let intended = if i < 2 { long_ago } else { Instant::now() };
            ledger.start(intended, Start::Free, false);
            ledger.record();
        }
        let r = ledger.report(true, 0.03);
        assert_eq!(r.lateness.generator_late, 2);
        assert!(!r.generator_saturated(), "{r:?}");
        // A closed model queues nothing; on time it is kept.
        let ledger = Ledger::default();
        ledger.intend();
        ledger.start(Instant::now(), Start::Free, false);
        ledger.record();
        assert_eq!(ledger.report(false, 0.5).verdict, ScheduleVerdict::Kept);
    }
}
