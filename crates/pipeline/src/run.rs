//! One overhead run, as a short sequence of named steps: check the host, lease the stack
//! (reuse it, or bring it up and take it down again), prepare the targets on the gateway, plan
//! the tiers once, run them with every service's CPU and memory and the host's TCP sockets
//! sampled (and the gateway tier profiled when asked), judge the thresholds, and hand the facts
//! to the report, which assembles the document.

use std::path::PathBuf;
use std::time::Duration;

use cli::signal::StopReceiver;
use cli::{Exit, Signal};
use loadgen::{HttpOptions, ProgressMode, RunSpec};
use report::{OverheadRun, ProfileInfo, RunFacts, StackInfo, Tier};

use crate::host::{self, HostPaths, PlannedLoad};
use crate::profile::Profile;
use crate::profiling::GatewayProfiling;
use crate::sampler::{RunSampler, Sources};
use crate::thresholds::{ClassPicks, ScopedThreshold};
use crate::tiers::{self, TierEvent};

/// What `load-test` was asked to do, resolved and validated (no traffic yet).
pub struct RunOptions {
    pub profile: Profile,
    pub tiers: Vec<Tier>,
    /// Every threshold, scoped to its tiers and checked against their operations.
    pub thresholds: Vec<ScopedThreshold>,
    pub picks: ClassPicks,
    /// What the tiers measure.
    pub target: RunTarget,
    /// `reports/`: the run writes `reports/<run-id>/` and points `reports/latest` at it.
    pub reports_dir: PathBuf,
    pub progress: ProgressMode,
    pub command_line: Vec<String>,
    /// What resolving found worth saying (an SLA threshold that cannot be checked).
    pub notes: Vec<String>,
    /// A steerer of every tier's engine run (the web UI), when there is one.
    pub live: Option<loadgen::Live>,
    /// The engine's worker threads (`--processes`, `LOADTEST_PROCESSES`); None: one per CPU.
    pub workers: Option<usize>,
    /// Rounds of every tier, interleaved (`--repeat`; 1: each tier once).
    pub repeat: u32,
    /// The tier whose gateway is profiled (`--profile-gateway`); None: no profiling.
    pub profiled_tier: Option<Tier>,
}

/// What a run measures.
pub enum RunTarget {
    /// The stack: reused when up, else brought up for the run (and taken down unless `keep`).
    Stack {
        options: stack::UpOptions,
        keep: bool,
    },
    /// A gateway this tool did not start (`--gateway-url`): nothing is brought up.
    Existing(crate::targets::Existing),
}

/// Why a run ended without a document.
#[derive(Debug)]
pub enum RunFailure {
    /// Bad options, thresholds or profile, or a host that cannot run it; nothing was sent.
    Usage(String),
    /// The stack or the gateway could not be prepared.
    Infrastructure(String),
    /// A system piece the stack needs is absent and was not installed.
    Missing(String),
    /// A stop signal before any tier started.
    Stopped(Signal),
}

impl RunFailure {
    pub fn exit(&self) -> Exit {
        match self {
            RunFailure::Usage(_) => Exit::Usage,
            RunFailure::Infrastructure(_) => Exit::Infrastructure,
            RunFailure::Missing(_) => Exit::Missing,
            RunFailure::Stopped(signal) => Exit::Stopped(*signal),
        }
    }
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunFailure::Usage(m) | RunFailure::Infrastructure(m) | RunFailure::Missing(m) => {
                f.write_str(m)
            }
            RunFailure::Stopped(signal) => {
                write!(
                    f,
                    "stopped by {signal}: everything this run started was stopped"
                )
            }
        }
    }
}

/// What the run tells the command as it goes.
pub enum Event<'a> {
    Note(&'a str),
    Tier(TierEvent<'a>),
}

/// The whole run. `stop` carries the first stop signal; `on` hears progress.
pub async fn run(
    options: RunOptions,
    stop: StopReceiver,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<OverheadRun, RunFailure> {
    let started_at = chrono::Utc::now();
    let mut notes = options.notes.clone();
    notes.extend(check_host(&options)?);
    let rest = options.picks.rest.is_some();
    let run = Run {
        options: &options,
        stop: &stop,
        started_at,
    };
    match &options.target {
        RunTarget::Stack { options: up, keep } => {
            let lease = crate::lease::StackLease::acquire(up, &stop, on).await?;
            let result = async {
                admin_ui_served(lease.state(), up.admin_ui)?;
                let targets = crate::targets::prepare(lease.state(), rest)
                    .await
                    .map_err(RunFailure::Infrastructure)?;
                if lease.state().nginx_cache {
                    notes.push("nginx caches list/admin pages in this stack: the nginx tier's list numbers are nginx's, not the gateway's".into());
                }
                let measured = report::Measured::Stack(stack_info(&lease));
                let meter = match stack::usage::Meter::of(lease.state()).await {
                    Ok(meter) => Some(meter),
                    Err(e) => {
                        notes.push(format!("the stack's services were not sampled: {e}"));
                        None
                    }
                };
                let profiling = match options.profiled_tier {
                    Some(tier) => {
                        let length = options.profile.duration() + options.profile.warmup;
                        let profiling =
                            GatewayProfiling::prepare(tier, lease.state(), up, &targets, length)
                                .await;
                        on(Event::Note(&profiling.announce()));
                        Some(profiling)
                    }
                    None => None,
                };
                let sampled = Sampled { meter, profiling };
                run.measure(targets, measured, sampled, notes, on).await
            }
            .await;
            lease.release(*keep, on).await;
            result
        }
        RunTarget::Existing(existing) => {
            on(Event::Note(&format!(
                "measuring the gateway at {} (nothing is started; its CPU and memory are not sampled)",
                existing.gateway
            )));
            let (targets, measured) = crate::targets::existing(existing, rest)
                .await
                .map_err(RunFailure::Infrastructure)?;
            let measured = report::Measured::ExistingGateway(measured);
            let sampled = Sampled {
                meter: None,
                profiling: None,
            };
            run.measure(targets, measured, sampled, notes, on).await
        }
    }
}

/// What watches the stack while the tiers run.
struct Sampled {
    /// Every service's CPU and memory; None when there is nothing to read.
    meter: Option<stack::usage::Meter>,
    profiling: Option<GatewayProfiling>,
}

/// The parts of a run every step reads.
struct Run<'a> {
    options: &'a RunOptions,
    stop: &'a StopReceiver,
    started_at: chrono::DateTime<chrono::Utc>,
}

/// The host's limits against the profile's connections: a run that cannot succeed is refused.
fn check_host(options: &RunOptions) -> Result<Vec<String>, RunFailure> {
    let (nofile, _) = host::nofile_limits();
    let peak_connections = options.profile.peak_users();
    let preflight = host::preflight(
        &HostPaths::default(),
        PlannedLoad { peak_connections },
        nofile,
    );
    match preflight.blockers.first() {
        Some(blocker) => Err(RunFailure::Usage(format!(
            "this host cannot run profile '{}': {blocker}",
            options.profile.name
        ))),
        None => Ok(preflight.advice),
    }
}

impl Run<'_> {
    /// Everything once the targets are known: the tiers, the thresholds, the document.
    async fn measure(
        &self,
        targets: crate::targets::Targets,
        measured: report::Measured,
        sampled: Sampled,
        mut notes: Vec<String>,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<OverheadRun, RunFailure> {
        let (options, stop, started_at) = (self.options, self.stop, self.started_at);
        let planned = tiers::plan(&options.tiers, &targets, &options.picks, &mut notes)
            .map_err(RunFailure::Usage)?;
        let every = Duration::from_secs_f64(options.profile.rss_sample_secs);
        let first = planned.first().map_or(Tier::Direct, |p| p.tier);
        let (sources, socket_limits) = sources(sampled.meter, &mut notes);
        let sampler = RunSampler::start(sources, every, first);
        let mut profiling = sampled.profiling;
        let mut rounds = Vec::new();
        for round in 1..=options.repeat {
            if round > 1 {
                if stop.borrow().is_some() {
                    break;
                }
                on(Event::Note(&format!("round {round} of {}", options.repeat)));
            }
            let round_runs = tiers::run_all(
                planned.clone(),
                |tier, scenario| tier_spec(options, tier, scenario),
                &targets.health,
                stop,
                &mut profiling,
                |event| {
                    if let TierEvent::Starting { tier, .. } = &event {
                        sampler.tier_started(*tier);
                    }
                    on(Event::Tier(event));
                },
            )
            .await
            .map_err(RunFailure::Usage)?;
            rounds.push(round_runs);
        }
        let (tier_runs, repeats) =
            crate::repeat::merged(rounds).map_err(RunFailure::Infrastructure)?;
        let samples = sampler.finish();
        let service_usage = samples.service_usage;
        if service_usage.is_empty() && matches!(measured, report::Measured::Stack(_)) {
            notes.push(
                "no service of the stack could be read: CPU and memory were not sampled".into(),
            );
        }
        let mut thresholds = crate::thresholds::judge(&options.thresholds, &tier_runs, &mut notes);
        thresholds.extend(crate::thresholds::judge_breaking_points(
            &options.profile,
            &options.tiers,
            &tier_runs,
            &mut notes,
        ));
        Ok(OverheadRun::assemble(RunFacts {
            run_id: format!(
                "{}-{}",
                started_at.format("%Y%m%d-%H%M%S"),
                options.profile.name
            ),
            started_at: started_at.to_rfc3339(),
            finished_at: chrono::Utc::now().to_rfc3339(),
            command_line: options.command_line.clone(),
            profile: profile_info(options),
            measured,
            tiers: tier_runs,
            repeats,
            thresholds,
            service_usage,
            sockets: (!samples.sockets.is_empty())
                .then(|| report::HostSockets::new(socket_limits, samples.sockets)),
            gateway_profile: profiling.and_then(GatewayProfiling::finish),
            warnings: notes,
            stopped_by: *stop.borrow(),
        }))
    }
}

/// What the run samples: the stack's services (when it has them) and the host's sockets, read
/// once now so a host whose `/proc/net` cannot be read is said once rather than sampled in vain;
/// with the limits its sockets are judged against.
pub(crate) fn sources(
    meter: Option<stack::usage::Meter>,
    notes: &mut Vec<String>,
) -> (Sources, report::SocketLimits) {
    let paths = HostPaths::default();
    let proc_net = match host::sockets::read(&paths.proc_net) {
        Ok(_) => Some(paths.proc_net.clone()),
        Err(e) => {
            notes.push(format!("the host's TCP sockets were not sampled: {e}"));
            None
        }
    };
    (Sources { meter, proc_net }, host::sockets::limits(&paths))
}

/// A plan that needs the gateway's admin UI cannot run on a stack whose gateway has it off (a
/// reused one): every page would fail, which says nothing about the UI.
fn admin_ui_served(
    state: &stack::StackState,
    needed: contextforge::settings::AdminUi,
) -> Result<(), RunFailure> {
    let served = state
        .gateway_settings
        .iter()
        .any(|(name, value)| name == contextforge::settings::UI_ENABLED && value == "true");
    if needed == contextforge::settings::AdminUi::On && !served {
        return Err(RunFailure::Usage(
            "this profile needs the gateway's admin UI, which the running stack serves without: take it down (cargo xtask benchmark-down) or bring it up with --admin-ui".into(),
        ));
    }
    Ok(())
}

/// The engine's spec for one tier: the same plan and seed on every tier.
fn tier_spec(options: &RunOptions, tier: Tier, scenario: loadgen::Scenario) -> RunSpec {
    RunSpec {
        plan: options.profile.plan(),
        scenario,
        http: HttpOptions {
            // The gateway answers in seconds under load; a minute bounds every request.
            timeout: Duration::from_secs(60),
            ..HttpOptions::default()
        },
        command_line: options.command_line.clone(),
        progress: options.progress,
        label: tier.to_string(),
        live: options.live.clone(),
        request_log: None,
    }
}

fn profile_info(options: &RunOptions) -> ProfileInfo {
    let profile = &options.profile;
    let class_list = |picks: &[contextforge::workloads::ClassPick]| {
        picks
            .iter()
            .map(|p| format!("{}:{}", p.name, p.weight))
            .collect::<Vec<_>>()
    };
    ProfileInfo {
        name: profile.name.clone(),
        sla_class: profile.sla.name().into(),
        description: profile.describe(),
        model: profile.model(),
        duration_secs: profile.duration().as_secs_f64(),
        warmup_secs: profile.warmup.as_secs_f64(),
        seed: profile.seed,
        class_weights: options.picks.weights.name().into(),
        mcp_classes: class_list(&options.picks.mcp),
        rest_classes: options
            .picks
            .rest
            .as_deref()
            .map(class_list)
            .unwrap_or_default(),
    }
}

pub(crate) fn stack_info(lease: &crate::lease::StackLease) -> StackInfo {
    let state = lease.state();
    StackInfo {
        runtime: state.runtime,
        reused: lease.reused(),
        bench_servers: u32::from(state.bench_count),
        gateway_version: state.gateway_release.to_string(),
        gateway_source: state.gateway_source.clone(),
        gateway_workers: state.gateway_workers,
        database: state.database(),
        cache: state.cache,
        gateway_settings: state.gateway_settings.clone(),
        nginx_cache: state.nginx_cache,
    }
}

/// Writes the run's files and points `reports/latest` at them; returns the run's directory.
pub fn write_reports(run: &OverheadRun, reports_dir: &std::path::Path) -> Result<PathBuf, String> {
    let dir = reports_dir.join(&run.run_id);
    run.write_to_dir(&dir)
        .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    link_latest(reports_dir, &run.run_id)?;
    Ok(dir)
}

/// Points `reports/latest` at the run `run_id`.
pub(crate) fn link_latest(reports_dir: &std::path::Path, run_id: &str) -> Result<(), String> {
    let latest = reports_dir.join("latest");
    let _ = std::fs::remove_file(&latest);
    std::os::unix::fs::symlink(run_id, &latest)
        .map_err(|e| format!("cannot link {}: {e}", latest.display()))
}
