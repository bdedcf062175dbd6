//! What a run does: the workload model (closed users or open arrivals), its stages, its limits,
//! and the parsers for the human spellings (`90s`, `1m30s`, `between(1s,3s)`, `1000/s`).
//! A plan is validated before any traffic; every error names the value that is wrong.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("invalid duration '{0}': use a number with a unit, e.g. 500ms, 30s, 2m, 1h30m")]
    Duration(String),
    #[error("invalid rate '{0}': use requests per second, e.g. 250 or 250/s or 15000/m")]
    Rate(String),
    #[error("invalid wait '{0}': use none, constant(DUR), between(DUR,DUR), constant_throughput(N) or constant_pacing(DUR)")]
    Wait(String),
    #[error("invalid stage '{0}': use TARGET:DURATION, e.g. 100:30s")]
    Stage(String),
    #[error("{0}")]
    Invalid(String),
}

/// How each user waits between iterations of a closed model (Locust's wait_time).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wait {
    None,
    Constant {
        secs: f64,
    },
    Between {
        min_secs: f64,
        max_secs: f64,
    },
    /// At most this many iterations per second per user (wait = 1/x minus the iteration's time).
    ConstantThroughput {
        per_sec: f64,
    },
    /// One iteration every `secs` per user, whatever the iteration took.
    ConstantPacing {
        secs: f64,
    },
}

impl Wait {
    /// The interval between intended iteration starts, for the pacing waits.
    pub fn pacing(&self) -> Option<Duration> {
        match *self {
            Wait::ConstantThroughput { per_sec } => Some(Duration::from_secs_f64(1.0 / per_sec)),
            Wait::ConstantPacing { secs } => Some(Duration::from_secs_f64(secs)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Evenly spaced arrivals.
    Constant,
    /// Exponentially distributed gaps (a Poisson process), from the run's seed.
    Poisson,
}

/// One stage: ramp linearly from the previous target to `target` over `duration` (k6's stages).
/// A step is a zero-length stage followed by a hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub target: f64,
    #[serde(with = "secs")]
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Model {
    /// Users that each loop: iteration, wait. `stages` targets are user counts.
    Closed {
        users: u32,
        /// Users started per second (Locust's spawn rate); 0 starts them all at once.
        spawn_rate: f64,
        wait: Wait,
    },
    /// Iterations started on a schedule whatever the target does. `stages` targets are rates.
    Open {
        rate: f64,
        arrival: Arrival,
        /// Iterations in flight at once (virtual users, each with its own connection).
        max_in_flight: u32,
        /// Arrivals that may wait for a free user. They start late and their latency counts
        /// from the intended time (as wrk2 does); beyond the backlog they are dropped.
        max_backlog: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub model: Model,
    /// Empty: hold the model's users or rate for the whole duration.
    pub stages: Vec<Stage>,
    /// Wall-clock limit of the measured part (after warm-up). None with stages: their sum.
    #[serde(with = "opt_secs")]
    pub duration: Option<Duration>,
    /// Stop after this many requests (measured ones; warm-up requests do not count).
    pub max_requests: Option<u64>,
    /// Run this long first and discard what it measured.
    #[serde(with = "secs")]
    pub warmup: Duration,
    /// Seed of every random choice (arrivals, waits, templates, tool picks).
    pub seed: u64,
}

/// The longest run the engine accepts: every load loop is bounded in time.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

impl Plan {
    pub fn validate(&self) -> Result<(), PlanError> {
        let invalid = |m: String| Err(PlanError::Invalid(m));
        match &self.model {
            Model::Closed {
                users,
                spawn_rate,
                wait,
            } => {
                if *users == 0 && self.stages.is_empty() {
                    return invalid("users must be at least 1".into());
                }
                if !spawn_rate.is_finite() || *spawn_rate < 0.0 {
                    return invalid(format!("spawn rate {spawn_rate} must be zero or positive"));
                }
                match *wait {
                    Wait::Between { min_secs, max_secs } if min_secs > max_secs => {
                        return invalid(format!("between({min_secs}s,{max_secs}s): the minimum is larger than the maximum"))
                    }
                    Wait::ConstantThroughput { per_sec } if per_sec <= 0.0 || !per_sec.is_finite() => {
                        return invalid(format!("constant_throughput({per_sec}) must be positive"))
                    }
                    Wait::ConstantPacing { secs } if secs <= 0.0 => {
                        return invalid(format!("constant_pacing({secs}s) must be positive"))
                    }
                    _ => {}
                }
            }
            Model::Open {
                rate,
                max_in_flight,
                ..
            } => {
                if (!rate.is_finite() || *rate <= 0.0) && self.stages.is_empty() {
                    return invalid(format!("arrival rate {rate} must be positive"));
                }
                if *max_in_flight == 0 {
                    return invalid("max in-flight iterations must be at least 1".into());
                }
            }
        }
        if self
            .stages
            .iter()
            .any(|s| !s.target.is_finite() || s.target < 0.0)
        {
            return invalid("stage targets must be zero or positive".into());
        }
        if self.duration.is_none() && self.stages.is_empty() && self.max_requests.is_none() {
            return invalid(
                "give a duration, stages or a request count: every run must end".into(),
            );
        }
        if self.measured_duration().is_some_and(|d| d > MAX_DURATION) || self.warmup > MAX_DURATION
        {
            return invalid(format!(
                "runs are limited to {} hours",
                MAX_DURATION.as_secs() / 3600
            ));
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return invalid("the duration must be longer than zero".into());
        }
        if self.max_requests == Some(0) {
            return invalid("the request count must be at least 1".into());
        }
        Ok(())
    }

    /// The measured part's length: the duration, else the stages' sum, else unbounded (count).
    pub fn measured_duration(&self) -> Option<Duration> {
        self.duration.or_else(|| {
            (!self.stages.is_empty()).then(|| self.stages.iter().map(|s| s.duration).sum())
        })
    }

    /// The users (closed) or rate (open) wanted `t` after the start of the measured part;
    /// the warm-up holds the first target.
    pub fn target_at(&self, t: Duration) -> f64 {
        let base = match self.model {
            Model::Closed { users, .. } => users as f64,
            Model::Open { rate, .. } => rate,
        };
        if self.stages.is_empty() {
            return base;
        }
        let mut from = base;
        let mut start = Duration::ZERO;
        for stage in &self.stages {
            let end = start + stage.duration;
            if t < end {
                let f = (t - start).as_secs_f64() / stage.duration.as_secs_f64();
                return from + (stage.target - from) * f;
            }
            from = stage.target;
            start = end;
        }
        from
    }
}

/// `250ms`, `30s`, `2m`, `1h30m`, `1.5s`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, PlanError> {
    let err = || PlanError::Duration(text.to_string());
    let s = text.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs))
            .ok_or_else(err);
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let number: f64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > MAX_DURATION.as_secs_f64() * 10.0 {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(total))
}

/// `250`, `250/s`, `15000/m`, `36000/h`: requests per second.
pub fn parse_rate(text: &str) -> Result<f64, PlanError> {
    let err = || PlanError::Rate(text.to_string());
    let (number, per) = match text.trim().split_once('/') {
        Some((n, unit)) => (n, unit),
        None => (text.trim(), "s"),
    };
    let n: f64 = number.trim().parse().map_err(|_| err())?;
    let scale = match per.trim() {
        "s" | "sec" => 1.0,
        "m" | "min" => 1.0 / 60.0,
        "h" => 1.0 / 3600.0,
        _ => return Err(err()),
    };
    (n.is_finite() && n > 0.0)
        .then_some(n * scale)
        .ok_or_else(err)
}

/// Locust's wait_time spellings: `none`, `constant(1s)`, `between(1s,3s)`,
/// `constant_throughput(2)`, `constant_pacing(500ms)`.
pub fn parse_wait(text: &str) -> Result<Wait, PlanError> {
    let err = || PlanError::Wait(text.to_string());
    let s = text.trim();
    if s == "none" {
        return Ok(Wait::None);
    }
    let (name, args) = s.split_once('(').ok_or_else(err)?;
    let args = args.strip_suffix(')').ok_or_else(err)?;
    let dur = |a: &str| {
        parse_duration(a)
            .map(|d| d.as_secs_f64())
            .map_err(|_| err())
    };
    match (
        name.trim(),
        args.split(',')
            .map(str::trim)
            .collect::<Vec<_>>()
            .as_slice(),
    ) {
        ("constant", [d]) => Ok(Wait::Constant { secs: dur(d)? }),
        ("between", [a, b]) => Ok(Wait::Between {
            min_secs: dur(a)?,
            max_secs: dur(b)?,
        }),
        ("constant_throughput", [n]) => Ok(Wait::ConstantThroughput {
            per_sec: n
                .parse()
                .ok()
                .filter(|v: &f64| *v > 0.0 && v.is_finite())
                .ok_or_else(err)?,
        }),
        ("constant_pacing", [d]) => Ok(Wait::ConstantPacing { secs: dur(d)? }),
        _ => Err(err()),
    }
}

/// `TARGET:DURATION[,TARGET:DURATION…]`, e.g. `1000:10s,10000:0s,10000:30s,1000:10s`.
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, PlanError> {
    text.split(',')
        .map(|part| {
            let err = || PlanError::Stage(part.trim().to_string());
            let (target, duration) = part.trim().split_once(':').ok_or_else(err)?;
            let target = parse_rate(target).or_else(|_| {
                // A zero target (ramp down to nothing) is a valid stage but not a valid rate.
                target
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|t| *t == 0.0)
                    .ok_or_else(err)
            })?;
            Ok(Stage {
                target,
                duration: parse_duration(duration).map_err(|_| err())?,
            })
        })
        .collect()
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

mod opt_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_spelling() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        for bad in ["", "abc", "10x", "-5s", "s10"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_and_waits() {
        assert_eq!(parse_rate("15000/m").unwrap(), 250.0);
        assert_eq!(parse_rate("250").unwrap(), 250.0);
        assert!(
            parse_rate("0").is_err() && parse_rate("fast").is_err() && parse_rate("5/d").is_err()
        );
        assert_eq!(
            parse_wait("between(1s, 3s)").unwrap(),
            Wait::Between {
                min_secs: 1.0,
                max_secs: 3.0
            }
        );
        assert_eq!(
            parse_wait("constant_throughput(2)").unwrap(),
            Wait::ConstantThroughput { per_sec: 2.0 }
        );
        assert!(parse_wait("between(1s)").is_err() && parse_wait("sometimes").is_err());
    }

    #[test]
    fn stages_ramp_linearly_and_steps_jump() {
        let plan = Plan {
            model: Model::Open {
                rate: 1000.0,
                arrival: Arrival::Constant,
                max_in_flight: 100,
                max_backlog: 0,
            },
            stages: parse_stages("1000:10s,10000:0s,10000:10s,1000:10s").unwrap(),
            duration: None,
            max_requests: None,
            warmup: Duration::ZERO,
            seed: 1,
        };
        plan.validate().unwrap();
        assert_eq!(plan.measured_duration(), Some(Duration::from_secs(30)));
        assert_eq!(plan.target_at(Duration::from_secs(5)), 1000.0);
        assert_eq!(plan.target_at(Duration::from_secs(15)), 10000.0);
        assert_eq!(plan.target_at(Duration::from_secs(25)), 5500.0);
        assert_eq!(plan.target_at(Duration::from_secs(99)), 1000.0);
    }

    #[test]
    fn a_plan_without_an_end_is_refused() {
        let plan = Plan {
            model: Model::Closed {
                users: 1,
                spawn_rate: 0.0,
                wait: Wait::None,
            },
            stages: vec![],
            duration: None,
            max_requests: None,
            warmup: Duration::ZERO,
            seed: 1,
        };
        assert!(plan.validate().is_err());
        let zero = Plan {
            duration: Some(Duration::ZERO),
            ..plan
        };
        assert!(zero
            .validate()
            .unwrap_err()
            .to_string()
            .contains("longer than zero"));
    }
}
