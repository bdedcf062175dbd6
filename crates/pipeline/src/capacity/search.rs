//! The search for the highest arrival rate that keeps the SLO, as a state machine apart from
//! the engine: it names the next rate to offer, hears how the step went, and ends with an
//! answer. Ramp ×2 from the start rate while steps keep the SLO (halve instead when the start
//! rate already breaks it), bisect between the last good and the first bad rate until their gap
//! is below the resolution, then run the best rate again `repeats` times: every one must keep
//! the SLO, else the candidate steps down by the resolution (a bounded number of times). A step
//! the generator could not keep is run once more (on a shared machine the OS preempting the
//! generator for a moment looks the same); kept twice in a row, it ends the search: its numbers
//! say nothing about the target. Every phase is bounded, so the number of steps is.

use report::capacity::{Answer, Phase};

/// The lowest rate the search offers (arrivals per second).
pub const FLOOR_RATE: f64 = 1.0;
/// Confirmation failures the candidate steps down for before the search gives up.
pub const MOST_STEP_DOWNS: u32 = 5;

/// How a judged step went, as the search needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Kept,
    Broke,
    /// The generator could not keep its schedule.
    GeneratorLimited,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub start: f64,
    pub max: f64,
    pub repeats: u32,
    /// Bisection ends when `bad / good - 1` is below this.
    pub resolution: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Ramping {
        rate: f64,
    },
    Descending {
        rate: f64,
        bad: f64,
    },
    Bisecting {
        good: f64,
        bad: f64,
    },
    Confirming {
        rate: f64,
        kept: u32,
        step_downs: u32,
    },
    Done(Answer),
}

#[derive(Debug, Clone)]
pub struct Search {
    bounds: Bounds,
    state: State,
    /// The highest rate any step kept the SLO at (what a generator limit leaves as the answer).
    best_kept: Option<f64>,
    /// The last step was the generator's limit: the same rate runs once more.
    generator_limited_once: bool,
}

impl Search {
    pub fn new(bounds: Bounds) -> Search {
        Search {
            bounds,
            state: State::Ramping {
                rate: bounds.start.min(bounds.max),
            },
            best_kept: None,
            generator_limited_once: false,
        }
    }

    /// The next step to run, or None once there is an answer.
    pub fn next(&self) -> Option<(Phase, f64)> {
        match self.state {
            State::Ramping { rate } => Some((Phase::Ramp, rate)),
            State::Descending { rate, .. } => Some((Phase::Descend, rate)),
            State::Bisecting { good, bad } => Some((Phase::Bisect, (good + bad) / 2.0)),
            State::Confirming { rate, .. } => Some((Phase::Confirm, rate)),
            State::Done(_) => None,
        }
    }

    pub fn answer(&self) -> Option<&Answer> {
        match &self.state {
            State::Done(answer) => Some(answer),
            _ => None,
        }
    }

    /// How the step `next` named went.
    pub fn record(&mut self, judgement: Judgement) {
        let Some((_, rate)) = self.next() else { return };
        if judgement == Judgement::Kept {
            self.best_kept = Some(self.best_kept.map_or(rate, |b| b.max(rate)));
        }
        if judgement == Judgement::GeneratorLimited {
            if !std::mem::replace(&mut self.generator_limited_once, true) {
                return;
            }
            let kept = self.best_kept.filter(|k| *k < rate);
            self.state = State::Done(Answer::GeneratorLimited { kept, at: rate });
            return;
        }
        self.generator_limited_once = false;
        let kept = judgement == Judgement::Kept;
        self.state = match self.state.clone() {
            State::Ramping { rate } => self.after_ramp(rate, kept),
            State::Descending { rate, bad } => self.after_descent(rate, bad, kept),
            State::Bisecting { good, bad } => {
                let mid = (good + bad) / 2.0;
                if kept {
                    self.narrowed(mid, bad)
                } else {
                    self.narrowed(good, mid)
                }
            }
            State::Confirming {
                rate,
                kept: done,
                step_downs,
            } => self.after_confirmation(rate, done, step_downs, kept),
            done @ State::Done(_) => done,
        };
    }

    fn after_ramp(&self, rate: f64, kept: bool) -> State {
        match (kept, self.best_kept) {
            (true, _) if rate >= self.bounds.max => self.confirming(rate, 0),
            (true, _) => State::Ramping {
                rate: (rate * 2.0).min(self.bounds.max),
            },
            (false, Some(good)) => self.narrowed(good, rate),
            (false, None) => self.descend_below(rate),
        }
    }

    fn after_descent(&self, rate: f64, bad: f64, kept: bool) -> State {
        if kept {
            self.narrowed(rate, bad)
        } else {
            self.descend_below(rate)
        }
    }

    /// Halve below a rate that broke, down to the floor.
    fn descend_below(&self, bad: f64) -> State {
        if bad <= FLOOR_RATE {
            return State::Done(Answer::NoneSustained { lowest: bad });
        }
        State::Descending {
            rate: (bad / 2.0).max(FLOOR_RATE),
            bad,
        }
    }

    /// Bisect on, or confirm the good rate once the gap is within the resolution.
    fn narrowed(&self, good: f64, bad: f64) -> State {
        if bad / good - 1.0 < self.bounds.resolution {
            self.confirming(good, 0)
        } else {
            State::Bisecting { good, bad }
        }
    }

    fn confirming(&self, rate: f64, step_downs: u32) -> State {
        if self.bounds.repeats == 0 {
            return State::Done(self.sustained(rate, 0));
        }
        State::Confirming {
            rate,
            kept: 0,
            step_downs,
        }
    }

    fn after_confirmation(&self, rate: f64, done: u32, step_downs: u32, kept: bool) -> State {
        if kept && done + 1 >= self.bounds.repeats {
            return State::Done(self.sustained(rate, done + 1));
        }
        if kept {
            return State::Confirming {
                rate,
                kept: done + 1,
                step_downs,
            };
        }
        let lower = rate * (1.0 - self.bounds.resolution);
        if step_downs >= MOST_STEP_DOWNS || lower < FLOOR_RATE {
            return State::Done(Answer::NoneSustained { lowest: rate });
        }
        self.confirming(lower, step_downs + 1)
    }

    fn sustained(&self, rate: f64, confirmed: u32) -> Answer {
        if rate >= self.bounds.max {
            Answer::MaxRateKept { rate, confirmed }
        } else {
            Answer::Sustainable { rate, confirmed }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            start: 50.0,
            max: 100_000.0,
            repeats: 2,
            resolution: 0.1,
        }
    }

    /// Runs a search against a target judged by `step` (a fake step runner); returns the
    /// steps offered and the answer.
    fn search(
        bounds: Bounds,
        mut step: impl FnMut(f64) -> Judgement,
    ) -> (Vec<(Phase, f64)>, Answer) {
        let mut search = Search::new(bounds);
        let mut steps = Vec::new();
        while let Some((phase, rate)) = search.next() {
            steps.push((phase, rate));
            assert!(steps.len() < 100, "unbounded: {steps:?}");
            search.record(step(rate));
        }
        (steps, search.answer().unwrap().clone())
    }

    /// A target with a sharp knee: every rate up to `capacity` keeps the SLO.
    fn knee(capacity: f64) -> impl FnMut(f64) -> Judgement {
        move |rate| {
            if rate <= capacity {
                Judgement::Kept
            } else {
                Judgement::Broke
            }
        }
    }

    #[test]
    fn ramp_then_bisection_finds_the_knee_within_the_resolution_and_confirms_it() {
        for capacity in [60.0, 333.0, 740.0, 5000.0, 77_777.0] {
            let (steps, answer) = search(bounds(), knee(capacity));
            let Answer::Sustainable { rate, confirmed } = answer else {
                panic!("{capacity}: {answer:?}")
            };
            assert_eq!(confirmed, 2);
            assert!(
                rate <= capacity && rate > capacity * 0.9 - 1e-9,
                "{capacity}: {rate} {steps:?}"
            );
            let confirms: Vec<_> = steps.iter().filter(|s| s.0 == Phase::Confirm).collect();
            assert_eq!(confirms.len(), 2);
            assert!(confirms.iter().all(|s| s.1 == rate));
            // Ramp steps double; bisection stays between a kept and a broken rate.
            assert_eq!(steps[0], (Phase::Ramp, 50.0));
            assert!(steps.len() <= 12 + 6 + 2, "{steps:?}");
        }
    }

    #[test]
    fn a_start_rate_that_breaks_descends_and_a_target_that_never_keeps_has_no_answer() {
        let (steps, answer) = search(bounds(), knee(7.0));
        assert_eq!(
            &steps[..3],
            [
                (Phase::Ramp, 50.0),
                (Phase::Descend, 25.0),
                (Phase::Descend, 12.5)
            ]
        );
        let Answer::Sustainable { rate, .. } = answer else {
            panic!("{answer:?}")
        };
        assert!(rate <= 7.0 && rate > 6.3, "{rate}");
        let (steps, answer) = search(bounds(), |_| Judgement::Broke);
        assert_eq!(answer, Answer::NoneSustained { lowest: 1.0 });
        assert_eq!(steps.last(), Some(&(Phase::Descend, 1.0)));
    }

    #[test]
    fn a_failed_confirmation_steps_down_and_the_bound_ends_it() {
        // Keeps up to 400/s, except that 400/s and above fail when run a second time.
        let mut seen = std::collections::HashMap::<u64, u32>::new();
        let (steps, answer) = search(bounds(), |rate| {
            let n = seen.entry(rate.to_bits()).or_default();
            *n += 1;
            match (rate <= 400.0, rate >= 380.0 && *n > 1) {
                (true, false) => Judgement::Kept,
                _ => Judgement::Broke,
            }
        });
        let Answer::Sustainable { rate, confirmed: 2 } = answer else {
            panic!("{answer:?} {steps:?}")
        };
        assert!(rate < 380.0 && rate > 300.0, "{rate} {steps:?}");
        // Kept once, never again: five step-downs, then no answer.
        let mut first = true;
        let (steps, answer) = search(bounds(), |_| {
            if std::mem::take(&mut first) {
                Judgement::Kept
            } else {
                Judgement::Broke
            }
        });
        assert!(matches!(answer, Answer::NoneSustained { .. }), "{answer:?}");
        let confirms = steps.iter().filter(|s| s.0 == Phase::Confirm).count();
        assert_eq!(confirms, 1 + MOST_STEP_DOWNS as usize, "{steps:?}");
    }

    #[test]
    fn the_generator_limit_ends_the_search_with_a_lower_bound_only() {
        let (steps, answer) = search(bounds(), |rate| {
            if rate < 1600.0 {
                Judgement::Kept
            } else {
                Judgement::GeneratorLimited
            }
        });
        assert_eq!(
            answer,
            Answer::GeneratorLimited {
                kept: Some(800.0),
                at: 1600.0
            }
        );
        // 50 … 800, then 1600 twice.
        assert_eq!(steps.len(), 7);
        assert_eq!(steps[5], steps[6]);
        let (_, answer) = search(bounds(), |_| Judgement::GeneratorLimited);
        assert_eq!(
            answer,
            Answer::GeneratorLimited {
                kept: None,
                at: 50.0
            }
        );
        // Once is a hiccup: the same rate again, and the search goes on.
        let mut hiccup = true;
        let (steps, answer) = search(bounds(), |rate| {
            if rate == 100.0 && std::mem::take(&mut hiccup) {
                Judgement::GeneratorLimited
            } else {
                knee(300.0)(rate)
            }
        });
        assert_eq!(&steps[1..3], [(Phase::Ramp, 100.0), (Phase::Ramp, 100.0)]);
        assert!(matches!(answer, Answer::Sustainable { .. }), "{answer:?}");
    }

    #[test]
    fn the_max_rate_bounds_the_ramp_and_no_repeats_skips_confirmation() {
        let capped = Bounds {
            max: 300.0,
            repeats: 0,
            ..bounds()
        };
        let (steps, answer) = search(capped, knee(1e9));
        assert_eq!(
            steps,
            [
                (Phase::Ramp, 50.0),
                (Phase::Ramp, 100.0),
                (Phase::Ramp, 200.0),
                (Phase::Ramp, 300.0)
            ]
        );
        assert_eq!(
            answer,
            Answer::MaxRateKept {
                rate: 300.0,
                confirmed: 0
            }
        );
    }
}
