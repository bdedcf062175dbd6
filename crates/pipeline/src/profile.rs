//! Load-test profiles: the Makefile's presets (light, heavy, stress, sustained), the seed's JMeter
//! plans (rest-baseline, mcp-baseline, mcp-servers-baseline, load, stress-ramp, spike, soak,
//! admin-ui; sse and websocket as [`StreamPlan`]s), custom profiles from TOML, overrides by flag
//! and by the Makefile's `LOADTEST_*` variables, and the seed's SLA table as default thresholds.

use std::time::Duration;

use contextforge::settings::AdminUi;
use loadgen::stream::StreamTransport;
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

    /// The p95 limit of [`SlaClass::latency_thresholds`], in milliseconds.
    pub fn p95_limit_ms(self) -> f64 {
        match self {
            SlaClass::Baseline => 200.0,
            SlaClass::Load => 300.0,
            SlaClass::Stress => 500.0,
        }
    }

    /// The error-rate limit of [`SlaClass::latency_thresholds`], as a fraction.
    pub fn error_rate_limit(self) -> f64 {
        match self {
            SlaClass::Baseline => 0.001,
            SlaClass::Load => 0.005,
            SlaClass::Stress => 0.01,
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

/// What a profile's run is judged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The SLA column over the whole measured window.
    HoldSla,
    /// The SLA column over the whole window, and the first rate of the ramp at which it broke
    /// (`crate::breaking`): the seed's "progressive stress to breaking point".
    FindBreakingPoint,
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
        arrival: Arrival,
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
    /// The tiers the profile runs when `--tiers` is not given (`direct`, `rest`, …); None: every
    /// tier.
    pub tiers: Option<String>,
    /// The gateway's admin UI the profile needs (on for admin-ui).
    pub admin_ui: AdminUi,
    pub goal: Goal,
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

/// Names of the built-in profiles, in the README's order: the Makefile's presets, then the
/// seed's JMeter plans run on the engine (`stress` stays the Makefile's 500 users; the JMeter
/// stress plan is `stress-ramp`).
pub const BUILT_IN: &[&str] = &[
    "light",
    "heavy",
    "stress",
    "sustained",
    "rest-baseline",
    "mcp-baseline",
    "mcp-servers-baseline",
    "load",
    "stress-ramp",
    "spike",
    "soak",
    "admin-ui",
];

/// The in-flight bound of a JMeter plan: one second of its peak arrivals, 50 to 10,000 (as
/// `cargo xtask load` sizes it).
fn in_flight_for(peak: f64) -> u32 {
    // Bounded to 50..=10,000 first, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bound = peak.clamp(50.0, 10_000.0).ceil() as u32;
    bound
}

/// A JMeter plan's load: evenly paced arrivals (JMeter's throughput timers) starting at `rate`
/// and following `stages`.
fn paced(rate: f64, stages: &str) -> Load {
    let stages = parse_stages(stages).expect("built-in stages parse");
    let peak = stages.iter().map(|s| s.target).fold(rate, f64::max);
    Load::Arrivals {
        rate,
        stages,
        max_in_flight: in_flight_for(peak),
        arrival: Arrival::Constant,
    }
}

/// The shape, SLA column and tiers of a built-in profile; None for an unknown name.
struct BuiltIn {
    sla: SlaClass,
    load: Load,
    rss_sample_secs: f64,
    tiers: Option<&'static str>,
    rest_classes: Option<&'static str>,
    admin_ui: AdminUi,
    goal: Goal,
}

fn built_in_shape(name: &str) -> Option<BuiltIn> {
    let users = |users, spawn_rate, secs| Load::Users {
        users,
        spawn_rate,
        duration: Duration::from_secs(secs),
    };
    let shape = |sla, load| BuiltIn {
        sla,
        load,
        rss_sample_secs: 5.0,
        tiers: None,
        rest_classes: None,
        admin_ui: AdminUi::Off,
        goal: Goal::HoldSla,
    };
    let on = |tiers: &'static str, shape: BuiltIn| BuiltIn {
        tiers: Some(tiers),
        ..shape
    };
    Some(match name {
        "light" => shape(SlaClass::Baseline, users(10, 2.0, 30)),
        "heavy" => shape(SlaClass::Load, users(200, 20.0, 120)),
        "stress" => shape(SlaClass::Stress, users(500, 50.0, 60)),
        "sustained" => shape(SlaClass::Load, users(25, 5.0, 300)),
        // The seed's JMeter plans ("Available Test Plans": duration and target).
        "rest-baseline" => BuiltIn {
            rest_classes: Some("HealthCheckUser,ReadOnlyAPIUser"),
            ..on("rest", shape(SlaClass::Baseline, paced(1000.0, "1000:10m")))
        },
        // JMETER_SERVER_ID is the stack's virtual server (or --server-id).
        "mcp-baseline" => on(
            "gateway",
            shape(SlaClass::Baseline, paced(1000.0, "1000:15m")),
        ),
        // Straight at the bench servers, no gateway.
        "mcp-servers-baseline" => on(
            "direct",
            shape(SlaClass::Baseline, paced(2000.0, "2000:10m")),
        ),
        "load" => shape(SlaClass::Load, paced(4000.0, "4000:30m")),
        // 1k/s rising linearly to 10k/s over 30 min, judged by where the SLA breaks.
        "stress-ramp" => BuiltIn {
            goal: Goal::FindBreakingPoint,
            ..shape(SlaClass::Stress, paced(1000.0, "10000:30m"))
        },
        // 1k/s for 4 min, 10 s up to 10k/s held 100 s, 10 s down, 1k/s for 4 min: 10 min.
        "spike" => shape(
            SlaClass::Stress,
            paced(1000.0, "1000:4m,10000:10s,10000:100s,1000:10s,1000:4m"),
        ),
        // 2k/s for 24 h, the gateway's memory sampled to show a leak.
        "soak" => BuiltIn {
            rss_sample_secs: 10.0,
            ..shape(SlaClass::Load, paced(2000.0, "2000:24h"))
        },
        "admin-ui" => BuiltIn {
            rest_classes: Some("AdminUIUser"),
            admin_ui: AdminUi::On,
            ..on("rest", shape(SlaClass::Baseline, users(50, 10.0, 300)))
        },
        _ => return None,
    })
}

/// One of the seed's connection plans (`sse_streaming_baseline.jmx`,
/// `websocket_baseline.jmx`): N long-lived connections held for a duration on every tier, each
/// sending a message at a fixed rate, judged by an SLA column (`crate::streams` runs it).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPlan {
    pub name: &'static str,
    pub transport: StreamTransport,
    pub connections: u32,
    /// Messages per second on each connection.
    pub message_rate: f64,
    pub duration: Duration,
    pub sla: SlaClass,
}

/// The streaming plans, in the README's order.
pub const STREAM_PLANS: &[&str] = &["sse", "websocket"];

impl StreamPlan {
    /// The seed gives the connections and the 10 minutes; the message rates are ours: the SSE
    /// plan tests connection stability (a message every 10 s keeps each stream proven live),
    /// the WebSocket plan its performance (a message a second on each).
    pub fn built_in(name: &str) -> Option<StreamPlan> {
        let plan = |name, transport, connections, message_rate| StreamPlan {
            name,
            transport,
            connections,
            message_rate,
            duration: Duration::from_secs(600),
            sla: SlaClass::Baseline,
        };
        match name {
            "sse" => Some(plan("sse", StreamTransport::Sse, 1000, 0.1)),
            "websocket" => Some(plan("websocket", StreamTransport::WebSocket, 500, 1.0)),
            _ => None,
        }
    }
}

impl Profile {
    /// A built-in profile by name.
    pub fn built_in(name: &str) -> Option<Profile> {
        let shape = built_in_shape(name)?;
        Some(Profile {
            name: name.to_string(),
            sla: shape.sla,
            load: shape.load,
            warmup: Duration::from_secs(5),
            seed: 1,
            mcp_classes: None,
            rest_classes: shape.rest_classes.map(str::to_string),
            rest: true,
            thresholds: vec![],
            sla_thresholds: true,
            rss_sample_secs: shape.rss_sample_secs,
            eras: vec![Era::Session],
            tiers: shape.tiers.map(str::to_string),
            admin_ui: shape.admin_ui,
            goal: shape.goal,
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
                "no profile '{name_or_path}': use one of {}, {} or a TOML file",
                BUILT_IN.join(", "),
                STREAM_PLANS.join(", ")
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
                arrival: Arrival::Poisson,
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
            rate: None,
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
            Load::Arrivals { rate, stages, .. } => {
                if o.users.is_some() || o.spawn_rate.is_some() {
                    return Err(format!(
                        "profile '{}' is an arrival-rate profile: users and spawn rate do not apply (--rate and --duration scale it)",
                        self.name
                    ));
                }
                if let Some(new_rate) = o.rate {
                    if !(new_rate.is_finite() && new_rate > 0.0) {
                        return Err(format!("rate {new_rate} must be above zero"));
                    }
                    if *rate <= 0.0 {
                        return Err(format!(
                            "profile '{}' starts at 0/s: --rate has nothing to scale",
                            self.name
                        ));
                    }
                    // Every stage keeps its proportion to the starting rate.
                    let factor = new_rate / *rate;
                    *rate = new_rate;
                    for stage in stages.iter_mut() {
                        stage.target *= factor;
                    }
                }
                if let Some(d) = o.run_time {
                    if d.is_zero() {
                        return Err("run time must be longer than zero".into());
                    }
                    // Every stage keeps its share of the plan's time.
                    let total: Duration = stages.iter().map(|s| s.duration).sum();
                    if total.is_zero() {
                        return Err(format!(
                            "profile '{}' has no stage time to scale",
                            self.name
                        ));
                    }
                    let factor = d.as_secs_f64() / total.as_secs_f64();
                    for stage in stages.iter_mut() {
                        stage.duration = stage.duration.mul_f64(factor);
                    }
                }
            }
        }
        if o.rate.is_some() && matches!(self.load, Load::Users { .. }) {
            return Err(format!(
                "profile '{}' is a users profile: --rate applies to arrival-rate profiles",
                self.name
            ));
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
                arrival,
            } => (
                Model::Open {
                    rate: *rate,
                    arrival: *arrival,
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

    /// The highest arrival rate an arrival-rate profile offers; None for a users profile.
    pub fn peak_rate(&self) -> Option<f64> {
        match &self.load {
            Load::Users { .. } => None,
            Load::Arrivals { rate, stages, .. } => {
                Some(stages.iter().map(|s| s.target).fold(*rate, f64::max))
            }
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
                arrival,
            } => {
                let mut steps = vec![format!("{rate}/s")];
                steps.extend(
                    stages
                        .iter()
                        .map(|s| format!("{}/s over {} s", s.target, s.duration.as_secs_f64())),
                );
                let paced = match arrival {
                    Arrival::Constant => "evenly paced",
                    Arrival::Poisson => "Poisson",
                };
                format!(
                    "{paced} arrivals {} (≤{max_in_flight} in flight), {} s per tier",
                    steps.join(" → "),
                    self.duration().as_secs_f64()
                )
            }
        }
    }

    /// The throughput threshold, when this profile offers the rate it is judged at; otherwise
    /// why not (a threshold that cannot pass whatever the gateway does says nothing about it).
    /// A steady profile is judged at the rate it offers (the JMeter plans' target column, or
    /// what `--rate` made of it), a ramp at the SLA column's throughput when its mean reaches
    /// it; both at 99%.
    pub fn throughput_threshold(&self) -> Result<String, String> {
        let wanted = self.sla.throughput();
        match &self.load {
            Load::Users { .. } => Err(format!(
                "throughput SLA (≥{wanted}/s) not checked: in a users profile the offered rate is set by users and waits, not by the target"
            )),
            Load::Arrivals { rate, stages, .. } if stages.iter().all(|s| s.target == *rate) => {
                Ok(format!("rps>={}", rate * 0.99))
            }
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
    /// The starting arrival rate (arrival-rate profiles; every stage scales with it).
    pub rate: Option<f64>,
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
            rate: None,
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
            rate: self.rate.or(fallback.rate),
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
        assert_eq!(shape("admin-ui"), (50, 10.0, 300));
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
        assert_eq!(spike.duration().as_secs(), 600);
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
        // spike averages (240·1k + 10·5.5k + 100·10k + 10·5.5k + 240·1k) / 600 = 2,650/s.
        let e = Profile::built_in("spike")
            .unwrap()
            .throughput_threshold()
            .unwrap_err();
        assert!(e.contains("offers 2650/s"), "{e}");
        // A steady profile is judged at the rate it offers.
        let flat =
            Profile::from_toml("name = \"f\"\nsla = \"baseline\"\nrate_stages = \"2000:10s\"\n")
                .unwrap();
        assert_eq!(flat.throughput_threshold().unwrap(), "rps>=1980");
        let ramp = Profile::from_toml(
            "name = \"r\"\nsla = \"baseline\"\nrate_stages = \"1000:5s,2000:10s\"\n",
        )
        .unwrap();
        assert_eq!(ramp.throughput_threshold().unwrap(), "rps>=990");
    }

    /// The seed's "Available Test Plans" (duration, target) and its SLA table's columns.
    #[test]
    fn the_jmeter_plans_have_the_seeds_rates_durations_and_sla_columns() {
        use SlaClass::{Baseline, Load as LoadSla, Stress};
        for (name, start, peak, secs, sla, tiers) in [
            ("rest-baseline", 1000.0, 1000.0, 600, Baseline, Some("rest")),
            (
                "mcp-baseline",
                1000.0,
                1000.0,
                900,
                Baseline,
                Some("gateway"),
            ),
            (
                "mcp-servers-baseline",
                2000.0,
                2000.0,
                600,
                Baseline,
                Some("direct"),
            ),
            ("load", 4000.0, 4000.0, 1800, LoadSla, None),
            ("stress-ramp", 1000.0, 10000.0, 1800, Stress, None),
            ("spike", 1000.0, 10000.0, 600, Stress, None),
            ("soak", 2000.0, 2000.0, 86400, LoadSla, None),
        ] {
            let p = Profile::built_in(name).unwrap();
            let Load::Arrivals {
                rate,
                arrival,
                max_in_flight,
                ..
            } = &p.load
            else {
                panic!("{name} is an arrival-rate plan")
            };
            assert_eq!(*rate, start, "{name}");
            assert_eq!(*arrival, Arrival::Constant, "{name}: JMeter paces evenly");
            assert!(
                f64::from(*max_in_flight) >= f64::min(peak, 10_000.0),
                "{name}"
            );
            assert_eq!(p.peak_rate(), Some(peak), "{name}");
            assert_eq!(p.duration().as_secs(), secs, "{name}");
            assert_eq!(p.sla, sla, "{name}");
            assert_eq!(p.tiers.as_deref(), tiers, "{name}");
            let goal = if name == "stress-ramp" {
                Goal::FindBreakingPoint
            } else {
                Goal::HoldSla
            };
            assert_eq!(p.goal, goal, "{name}");
            assert!(BUILT_IN.contains(&name), "{name}");
        }
        // The steady plans are judged at their target; the baseline and load columns' throughput
        // rows are those targets.
        let judged = |name: &str| Profile::built_in(name).unwrap().throughput_threshold();
        assert_eq!(judged("rest-baseline").unwrap(), "rps>=990");
        assert_eq!(judged("mcp-servers-baseline").unwrap(), "rps>=1980");
        assert_eq!(judged("load").unwrap(), "rps>=3960");
        assert_eq!(SlaClass::Load.throughput(), 4000.0);
        assert!(judged("stress-ramp").is_err());
        let admin = Profile::built_in("admin-ui").unwrap();
        assert_eq!(admin.admin_ui, AdminUi::On);
        assert_eq!(
            (admin.tiers.as_deref(), admin.rest_classes.as_deref()),
            (Some("rest"), Some("AdminUIUser"))
        );
        assert_eq!(Profile::built_in("load").unwrap().admin_ui, AdminUi::Off);
        // The Makefile's stress keeps its meaning.
        assert!(matches!(
            Profile::built_in("stress").unwrap().load,
            Load::Users { users: 500, .. }
        ));
        // The numeric limits agree with the SLA table's text.
        for sla in [Baseline, LoadSla, Stress] {
            let [_, p95, _, errors] = sla.latency_thresholds();
            assert_eq!(p95, format!("p95<{}ms", sla.p95_limit_ms()));
            assert_eq!(
                errors,
                format!("error_rate<{}%", sla.error_rate_limit() * 100.0)
            );
        }
    }

    #[test]
    fn stream_plans_are_the_seeds_connection_plans() {
        for (name, transport, connections) in [
            ("sse", StreamTransport::Sse, 1000),
            ("websocket", StreamTransport::WebSocket, 500),
        ] {
            let plan = StreamPlan::built_in(name).unwrap();
            assert_eq!(
                (
                    plan.transport,
                    plan.connections,
                    plan.duration.as_secs(),
                    plan.sla
                ),
                (transport, connections, 600, SlaClass::Baseline)
            );
            assert!(plan.message_rate > 0.0);
            assert!(STREAM_PLANS.contains(&name));
            assert!(
                Profile::built_in(name).is_none(),
                "one kind of plan per name"
            );
        }
    }

    #[test]
    fn rate_and_duration_scale_an_arrival_plan_and_keep_its_shape() {
        let mut spike = Profile::built_in("spike").unwrap();
        spike
            .apply_overrides(&Overrides {
                rate: Some(20.0),
                run_time: Some(Duration::from_secs(6)),
                ..Overrides::default()
            })
            .unwrap();
        let Load::Arrivals { rate, stages, .. } = &spike.load else {
            panic!("arrivals")
        };
        assert_eq!(*rate, 20.0);
        let targets: Vec<f64> = stages.iter().map(|s| s.target).collect();
        assert_eq!(targets, [20.0, 200.0, 200.0, 20.0, 20.0]);
        assert!((spike.duration().as_secs_f64() - 6.0).abs() < 1e-6);
        assert!((stages[0].duration.as_secs_f64() - 2.4).abs() < 1e-6);
        let mut rest = Profile::built_in("rest-baseline").unwrap();
        rest.apply_overrides(&Overrides {
            rate: Some(20.0),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(rest.throughput_threshold().unwrap(), "rps>=19.8");
        assert_eq!(rest.duration(), Duration::from_secs(600));
        let refused = |name: &str, o: Overrides| {
            Profile::built_in(name)
                .unwrap()
                .apply_overrides(&o)
                .unwrap_err()
        };
        let e = refused(
            "light",
            Overrides {
                rate: Some(5.0),
                ..Overrides::default()
            },
        );
        assert!(e.contains("users profile"), "{e}");
        let e = refused(
            "load",
            Overrides {
                rate: Some(0.0),
                ..Overrides::default()
            },
        );
        assert!(e.contains("above zero"), "{e}");
    }
}
