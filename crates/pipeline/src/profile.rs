//! Load-test profiles: the Makefile's presets (light, heavy, stress, sustained) plus spike and
//! soak, custom profiles from TOML, overrides by flag and by the Makefile's `LOADTEST_*`
//! variables, and the seed's SLA table as default thresholds.

use std::time::Duration;

use loadgen::{parse_duration, parse_rate, parse_stages, Arrival, Era, Model, Plan, Stage, Wait};
use serde::Deserialize;

/// Which column of the seed's SLA table a profile is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaClass {
    Baseline,
    Load,
    Stress,
}

impl SlaClass {
    pub fn name(self) -> &'static str {
        match self {
            SlaClass::Baseline => "baseline",
            SlaClass::Load => "load",
            SlaClass::Stress => "stress",
        }
    }

    /// The seed's "Performance SLAs" table: p50, p95, p99, error rate, and throughput.
    pub fn latency_thresholds(self) -> [&'static str; 4] {
        match self {
            SlaClass::Baseline => ["p50<100ms", "p95<200ms", "p99<300ms", "error_rate<0.1%"],
            SlaClass::Load => ["p50<150ms", "p95<300ms", "p99<500ms", "error_rate<0.5%"],
            SlaClass::Stress => ["p50<300ms", "p95<500ms", "p99<1000ms", "error_rate<1%"],
        }
    }

    /// Requests per second the SLA asks for.
    pub fn throughput(self) -> f64 {
        match self {
            SlaClass::Baseline => 1000.0,
            SlaClass::Load => 4000.0,
            SlaClass::Stress => 10000.0,
        }
    }
}

/// The workload shape of a profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// Locust's model: users started at a rate, each looping with its class's wait.
    Users {
        users: u32,
        spawn_rate: f64,
        duration: Duration,
    },
    /// Arrivals per second following k6-style stages (the first stage starts from `rate`).
    Arrivals {
        rate: f64,
        stages: Vec<Stage>,
        max_in_flight: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub sla: SlaClass,
    pub load: Load,
    pub warmup: Duration,
    pub seed: u64,
    /// Locust class picker for the MCP tiers (`MCPToolCallerUser,MCPAgentUser:3`); None: all.
    pub mcp_classes: Option<String>,
    /// For the REST tier; None: all; Some("") with `rest = false` in TOML: no REST tier.
    pub rest_classes: Option<String>,
    pub rest: bool,
    /// Extra thresholds (k6 expressions with optional `{tier=…,op=…}` scopes).
    pub thresholds: Vec<String>,
    /// Check the SLA table's thresholds for `sla` too.
    pub sla_thresholds: bool,
    /// Seconds between samples of the gateway's resident memory.
    pub rss_sample_secs: f64,
    /// The protocol eras the MCP tiers run in (each tier once per era, the stateless era's
    /// skipped with its reason where the target does not speak it).
    pub eras: Vec<Era>,
}

/// `session`, `stateless`, `both`, or a comma-separated list of eras.
pub fn parse_eras(text: &str) -> Result<Vec<Era>, String> {
    if text.trim() == "both" {
        return Ok(Era::ALL.to_vec());
    }
    let mut eras: Vec<Era> = Vec::new();
    for era in text.split(',').filter(|e| !e.trim().is_empty()) {
        let era = era.parse().map_err(|e: String| format!("{e}, or both"))?;
        if !eras.contains(&era) {
            eras.push(era);
        }
    }
    if eras.is_empty() {
        return Err("no protocol era selected".into());
    }
    eras.sort();
    Ok(eras)
}

/// Names of the built-in profiles, in the README's order.
pub const BUILT_IN: &[&str] = &["light", "heavy", "stress", "sustained", "spike", "soak"];

impl Profile {
    /// A built-in profile by name.
    pub fn built_in(name: &str) -> Option<Profile> {
        let users = |users, spawn_rate, secs| Load::Users {
            users,
            spawn_rate,
            duration: Duration::from_secs(secs),
        };
        let (sla, load, rss_sample_secs) = match name {
            "light" => (SlaClass::Baseline, users(10, 2.0, 30), 5.0),
            "heavy" => (SlaClass::Load, users(200, 20.0, 120), 5.0),
            "stress" => (SlaClass::Stress, users(500, 50.0, 60), 5.0),
            "sustained" => (SlaClass::Load, users(25, 5.0, 300), 5.0),
            // 1k/s, a jump to 10k/s held for 20 s, back to 1k/s.
            "spike" => (
                SlaClass::Stress,
                Load::Arrivals {
                    rate: 1000.0,
                    stages: parse_stages("1000:20s,10000:5s,10000:20s,1000:5s,1000:20s")
                        .expect("built-in stages parse"),
                    max_in_flight: 500,
                },
                5.0,
            ),
            // Long and steady, with the gateway's memory sampled to show a leak.
            "soak" => (SlaClass::Load, users(50, 5.0, 3600), 10.0),
            _ => return None,
        };
        Some(Profile {
            name: name.to_string(),
            sla,
            load,
            warmup: Duration::from_secs(5),
            seed: 1,
            mcp_classes: None,
            rest_classes: None,
            rest: true,
            thresholds: vec![],
            sla_thresholds: true,
            rss_sample_secs,
            eras: vec![Era::Session],
        })
    }

    /// A built-in name, or a path to a TOML profile.
    pub fn load(name_or_path: &str) -> Result<Profile, String> {
        if let Some(p) = Profile::built_in(name_or_path) {
            return Ok(p);
        }
        let path = std::path::Path::new(name_or_path);
        if !path.exists() {
            return Err(format!(
                "no profile '{name_or_path}': use one of {} or a TOML file",
                BUILT_IN.join(", ")
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read profile {}: {e}", path.display()))?;
        Profile::from_toml(&text).map_err(|e| format!("profile {}: {e}", path.display()))
    }

    /// A custom profile. Unknown keys are refused (a typo must not silently change a run).
    pub fn from_toml(text: &str) -> Result<Profile, String> {
        let file: ProfileFile = toml::from_str(text).map_err(|e| {
            e.to_string()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })?;
        let base = match &file.extends {
            Some(name) => Profile::built_in(name).ok_or_else(|| {
                format!(
                    "extends = '{name}': no such built-in profile (known: {})",
                    BUILT_IN.join(", ")
                )
            })?,
            None => Profile::built_in("light").expect("light exists"),
        };
        let mut p = Profile {
            name: file.name.clone(),
            sla: file.sla.unwrap_or(base.sla),
            ..base
        };
        let dur = |field: &str, v: &str| parse_duration(v).map_err(|e| format!("{field}: {e}"));
        if let Some(stages) = &file.rate_stages {
            let stages = parse_stages(stages).map_err(|e| format!("rate_stages: {e}"))?;
            p.load = Load::Arrivals {
                rate: stages.first().map_or(0.0, |s| s.target),
                stages,
                max_in_flight: file.max_in_flight.unwrap_or(500),
            };
            if file.users.is_some() || file.spawn_rate.is_some() {
                return Err("users/spawn_rate and rate_stages exclude each other".into());
            }
        } else if file.max_in_flight.is_some() && !matches!(p.load, Load::Arrivals { .. }) {
            return Err("max_in_flight needs rate_stages (an arrival-rate profile)".into());
        }
        p.apply_overrides(&Overrides {
            users: file.users,
            spawn_rate: file.spawn_rate,
            run_time: file
                .duration
                .as_deref()
                .map(|d| dur("duration", d))
                .transpose()?,
        })?;
        if let Some(w) = &file.warmup {
            p.warmup = dur("warmup", w)?;
        }
        if let Some(seed) = file.seed {
            p.seed = seed;
        }
        p.mcp_classes = file.mcp_classes.or(p.mcp_classes);
        p.rest_classes = file.rest_classes.or(p.rest_classes);
        p.rest = file.rest.unwrap_or(p.rest);
        p.thresholds = file.thresholds;
        p.sla_thresholds = file.sla_thresholds.unwrap_or(true);
        if let Some(secs) = file.rss_sample_secs {
            if !(secs.is_finite() && secs >= 1.0) {
                return Err(format!("rss_sample_secs = {secs}: use 1 or more"));
            }
            p.rss_sample_secs = secs;
        }
        if let Some(eras) = &file.eras {
            p.eras = parse_eras(&eras.join(",")).map_err(|e| format!("eras: {e}"))?;
        }
        if p.name.trim().is_empty() || p.name.contains(['/', '\\']) {
            return Err(format!(
                "name = '{}': a profile name must be non-empty, without slashes",
                p.name
            ));
        }
        Ok(p)
    }

    /// Flag and environment overrides (`--users`, `LOADTEST_USERS`, …).
    pub fn apply_overrides(&mut self, o: &Overrides) -> Result<(), String> {
        match &mut self.load {
            Load::Users {
                users,
                spawn_rate,
                duration,
            } => {
                if let Some(u) = o.users {
                    if u == 0 {
                        return Err("users must be at least 1".into());
                    }
                    *users = u;
                }
                if let Some(r) = o.spawn_rate {
                    if !(r.is_finite() && r >= 0.0) {
                        return Err(format!("spawn rate {r} must be zero or positive"));
                    }
                    *spawn_rate = r;
                }
                if let Some(d) = o.run_time {
                    if d.is_zero() {
                        return Err("run time must be longer than zero".into());
                    }
                    *duration = d;
                }
            }
            Load::Arrivals { .. } => {
                if o.users.is_some() || o.spawn_rate.is_some() || o.run_time.is_some() {
                    return Err(format!(
                        "profile '{}' is an arrival-rate profile: users, spawn rate and run time do not apply (write rate_stages in a TOML profile)",
                        self.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Measured seconds per tier.
    pub fn duration(&self) -> Duration {
        match &self.load {
            Load::Users { duration, .. } => *duration,
            Load::Arrivals { stages, .. } => stages.iter().map(|s| s.duration).sum(),
        }
    }

    /// The engine plan for one tier. Every tier gets the same plan and seed.
    pub fn plan(&self) -> Plan {
        let (model, stages, duration) = match &self.load {
            Load::Users {
                users,
                spawn_rate,
                duration,
            } => (
                Model::Closed {
                    users: *users,
                    spawn_rate: *spawn_rate,
                    // Each user class brings its own wait; this is for a class without one.
                    wait: Wait::None,
                },
                vec![],
                Some(*duration),
            ),
            Load::Arrivals {
                rate,
                stages,
                max_in_flight,
            } => (
                Model::Open {
                    rate: *rate,
                    arrival: Arrival::Poisson,
                    max_in_flight: *max_in_flight,
                    max_backlog: max_in_flight.saturating_mul(10),
                },
                stages.clone(),
                None,
            ),
        };
        Plan {
            model,
            stages,
            duration,
            max_requests: None,
            warmup: self.warmup,
            seed: self.seed,
        }
    }

    /// The workload model every tier runs.
    pub fn model(&self) -> loadgen::LoadModel {
        match self.load {
            Load::Users { .. } => loadgen::LoadModel::Closed,
            Load::Arrivals { .. } => loadgen::LoadModel::Open,
        }
    }

    /// Connections the run may hold at once per tier (users, or in-flight iterations).
    pub fn peak_users(&self) -> u64 {
        match &self.load {
            Load::Users { users, .. } => u64::from(*users),
            Load::Arrivals { max_in_flight, .. } => u64::from(*max_in_flight),
        }
    }

    pub fn describe(&self) -> String {
        match &self.load {
            Load::Users {
                users,
                spawn_rate,
                duration,
            } => format!(
                "{users} users, spawn {spawn_rate}/s, {} s per tier",
                duration.as_secs_f64()
            ),
            Load::Arrivals {
                rate,
                stages,
                max_in_flight,
            } => {
                let mut steps = vec![format!("{rate}/s")];
                steps.extend(
                    stages
                        .iter()
                        .map(|s| format!("{}/s over {} s", s.target, s.duration.as_secs_f64())),
                );
                format!(
                    "arrivals {} (≤{max_in_flight} in flight), {} s per tier",
                    steps.join(" → "),
                    self.duration().as_secs_f64()
                )
            }
        }
    }

    /// The SLA throughput threshold, when this profile can offer that much load; otherwise why
    /// not (a threshold that cannot pass whatever the gateway does says nothing about it).
    pub fn throughput_threshold(&self) -> Result<String, String> {
        let wanted = self.sla.throughput();
        match &self.load {
            Load::Users { .. } => Err(format!(
                "throughput SLA (≥{wanted}/s) not checked: in a users profile the offered rate is set by users and waits, not by the target"
            )),
            Load::Arrivals { .. } => {
                let secs = self.duration().as_secs_f64();
                let offered = mean_rate(&self.load);
                if offered + 1e-9 >= wanted {
                    Ok(format!("rps>={}", wanted * 0.99))
                } else {
                    Err(format!(
                        "throughput SLA (≥{wanted}/s) not checked: the profile offers {offered:.0}/s on average over {secs} s"
                    ))
                }
            }
        }
    }
}

/// The mean arrival rate of an arrival profile (stages ramp linearly).
fn mean_rate(load: &Load) -> f64 {
    let Load::Arrivals { rate, stages, .. } = load else {
        return 0.0;
    };
    let (mut from, mut area, mut secs) = (*rate, 0.0, 0.0);
    for s in stages {
        let d = s.duration.as_secs_f64();
        area += (from + s.target) / 2.0 * d;
        secs += d;
        from = s.target;
    }
    if secs > 0.0 {
        area / secs
    } else {
        *rate
    }
}

/// Overrides from flags or the Makefile's variables.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub users: Option<u32>,
    pub spawn_rate: Option<f64>,
    pub run_time: Option<Duration>,
}

impl Overrides {
    /// `LOADTEST_USERS`, `LOADTEST_SPAWN_RATE`, `LOADTEST_RUN_TIME` (flags win over them).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Overrides, String> {
        let read = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Ok(Overrides {
            users: read("LOADTEST_USERS")
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| format!("LOADTEST_USERS='{v}' is not a whole number"))
                })
                .transpose()?,
            spawn_rate: read("LOADTEST_SPAWN_RATE")
                .map(|v| parse_rate(&v).map_err(|e| format!("LOADTEST_SPAWN_RATE: {e}")))
                .transpose()?,
            run_time: read("LOADTEST_RUN_TIME")
                .map(|v| parse_duration(&v).map_err(|e| format!("LOADTEST_RUN_TIME: {e}")))
                .transpose()?,
        })
    }

    /// `self` where set, else `fallback`.
    pub fn or(self, fallback: Overrides) -> Overrides {
        Overrides {
            users: self.users.or(fallback.users),
            spawn_rate: self.spawn_rate.or(fallback.spawn_rate),
            run_time: self.run_time.or(fallback.run_time),
        }
    }
}

/// A custom profile file. Every key is optional except `name`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    /// A built-in profile to start from (default: light).
    extends: Option<String>,
    sla: Option<SlaClass>,
    users: Option<u32>,
    spawn_rate: Option<f64>,
    duration: Option<String>,
    rate_stages: Option<String>,
    max_in_flight: Option<u32>,
    warmup: Option<String>,
    seed: Option<u64>,
    mcp_classes: Option<String>,
    rest_classes: Option<String>,
    rest: Option<bool>,
    #[serde(default)]
    thresholds: Vec<String>,
    sla_thresholds: Option<bool>,
    rss_sample_secs: Option<f64>,
    eras: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_are_the_makefile_presets() {
        let shape = |name: &str| match Profile::built_in(name).unwrap().load {
            Load::Users {
                users,
                spawn_rate,
                duration,
            } => (users, spawn_rate, duration.as_secs()),
            Load::Arrivals { .. } => panic!("{name} is a users profile"),
        };
        assert_eq!(shape("light"), (10, 2.0, 30));
        assert_eq!(shape("heavy"), (200, 20.0, 120));
        assert_eq!(shape("stress"), (500, 50.0, 60));
        assert_eq!(shape("sustained"), (25, 5.0, 300));
        let spike = Profile::built_in("spike").unwrap();
        let peak = match &spike.load {
            Load::Arrivals { rate, stages, .. } => {
                assert_eq!(*rate, 1000.0);
                assert_eq!(stages.last().unwrap().target, 1000.0);
                stages.iter().map(|s| s.target).fold(0.0, f64::max)
            }
            Load::Users { .. } => panic!("spike is an arrival profile"),
        };
        assert_eq!(peak, 10000.0);
        assert_eq!(spike.duration().as_secs(), 70);
        for name in BUILT_IN {
            assert!(Profile::built_in(name).is_some(), "{name}");
        }
    }

    #[test]
    fn a_toml_profile_extends_a_preset_and_refuses_unknown_keys() {
        let p = Profile::from_toml(
            "name = \"ci\"\nextends = \"heavy\"\nusers = 5\nduration = \"10s\"\nwarmup = \"1s\"\nmcp_classes = \"MCPToolCallerUser\"\nthresholds = [\"p95{tier=gateway}<2s\"]\n",
        )
        .unwrap();
        assert_eq!(p.sla, SlaClass::Load);
        assert_eq!(
            p.load,
            Load::Users {
                users: 5,
                spawn_rate: 20.0,
                duration: Duration::from_secs(10)
            }
        );
        assert_eq!(p.warmup, Duration::from_secs(1));
        assert_eq!(p.thresholds, vec!["p95{tier=gateway}<2s"]);
        for (text, why) in [
            ("name = \"x\"\nuser = 5\n", "unknown field `user`"),
            ("name = \"x\"\nduration = \"ten\"\n", "duration"),
            ("name = \"x\"\nextends = \"medium\"\n", "no such built-in"),
            (
                "name = \"x\"\nrate_stages = \"100:5s\"\nusers = 3\n",
                "exclude",
            ),
            ("name = \"x\"\nsla = \"extreme\"\n", "unknown variant"),
            ("users = 3\n", "missing field `name`"),
            ("name = \"a/b\"\n", "without slashes"),
        ] {
            let e = Profile::from_toml(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn overrides_apply_to_users_profiles_and_env_values_are_checked() {
        let mut p = Profile::built_in("light").unwrap();
        let env = |k: &str| match k {
            "LOADTEST_USERS" => Some("3".to_string()),
            "LOADTEST_RUN_TIME" => Some("1m".to_string()),
            _ => None,
        };
        let flags = Overrides {
            users: Some(7),
            ..Overrides::default()
        };
        p.apply_overrides(&flags.or(Overrides::from_env(env).unwrap()))
            .unwrap();
        assert_eq!(
            p.load,
            Load::Users {
                users: 7,
                spawn_rate: 2.0,
                duration: Duration::from_secs(60)
            }
        );
        let bad = |k: &str| (k == "LOADTEST_USERS").then(|| "many".to_string());
        assert!(Overrides::from_env(bad)
            .unwrap_err()
            .contains("LOADTEST_USERS='many'"));
        let mut spike = Profile::built_in("spike").unwrap();
        assert!(spike
            .apply_overrides(&Overrides {
                users: Some(1),
                ..Overrides::default()
            })
            .unwrap_err()
            .contains("arrival-rate profile"));
    }

    #[test]
    fn the_throughput_sla_is_checked_only_when_the_profile_can_offer_it() {
        assert!(Profile::built_in("light")
            .unwrap()
            .throughput_threshold()
            .unwrap_err()
            .contains("users and waits"));
        // spike averages (20·1k + 5·5.5k + 20·10k + 5·5.5k + 20·1k) / 70 ≈ 4.2k/s < 10k/s.
        let e = Profile::built_in("spike")
            .unwrap()
            .throughput_threshold()
            .unwrap_err();
        assert!(e.contains("offers 4214/s"), "{e}");
        let flat =
            Profile::from_toml("name = \"f\"\nsla = \"baseline\"\nrate_stages = \"2000:10s\"\n")
                .unwrap();
        assert_eq!(flat.throughput_threshold().unwrap(), "rps>=990");
    }
}
