//! A capacity run, in the order `load-test` runs: check the host, lease the stack (reuse it, or
//! bring it up and take it down again — after a failure or a signal too) or reach the existing
//! gateway or the endpoint, plan the tiers once on their real endpoints (`tiers::plan`: the
//! workload `load-test` runs), search each tier in turn, and assemble the document.

use report::capacity::{
    Answer, CapacityRun, CapacityTarget, SearchSettings, Step, StepVerdict, TierCapacity,
    CAPACITY_SCHEMA,
};
use report::{Measured, Tier};

use super::args::{CapacityOptions, SearchTarget};
use super::search::{Judgement, Search};
use super::step::{self, StepRun, StepSettings, MIN_ACHIEVED_SHARE};
use crate::host::{self, HostPaths, PlannedLoad};
use crate::run::{Event, RunFailure, RunTarget};
use crate::targets::{Health, Targets};
use crate::thresholds::ClassPicks;
use crate::tiers::PlannedTier;

/// What the search tells the command as it goes.
pub enum Progress<'a> {
    Note(&'a str),
    TierStarting { tier: Tier, target: &'a str },
    Step { index: usize, step: &'a Step },
}

/// The parts every tier's search reads.
struct Searcher<'a> {
    options: &'a CapacityOptions,
    stop: &'a cli::signal::StopReceiver,
    health: &'a Health,
}

/// The whole run. `stop` carries the first stop signal; `on` hears progress.
pub async fn run(
    options: &CapacityOptions,
    stop: cli::signal::StopReceiver,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<CapacityRun, RunFailure> {
    let started_at = chrono::Utc::now();
    let mut notes = check_host(options)?;
    let (measured, tiers) = match &options.target {
        SearchTarget::Endpoint(url) => {
            let planned = options
                .tiers
                .iter()
                .map(|&tier| endpoint_tier(tier, url, options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(RunFailure::Usage)?;
            let health = Health {
                backend: None,
                gateway: None,
                nginx: None,
            };
            let target = CapacityTarget::Endpoint {
                url: url.to_string(),
            };
            (
                target,
                search_all(planned, options, &stop, &health, on).await?,
            )
        }
        SearchTarget::System(target) => {
            let (measured, tiers) = system(target, options, &stop, &mut notes, on).await?;
            (CapacityTarget::System(measured), tiers)
        }
    };
    Ok(assemble(options, started_at, measured, tiers, notes, &stop))
}

/// The stack (leased) or an existing gateway: targets prepared, tiers planned and searched.
async fn system(
    target: &RunTarget,
    options: &CapacityOptions,
    stop: &cli::signal::StopReceiver,
    notes: &mut Vec<String>,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<(Measured, Vec<TierCapacity>), RunFailure> {
    // The lease's notes, said once it is acquired and once it is released.
    let mut said: Vec<String> = Vec::new();
    let mut note = |event: Event<'_>| {
        if let Event::Note(text) = event {
            said.push(text.to_string());
        }
    };
    match target {
        RunTarget::Stack { options: up, keep } => {
            let lease = crate::lease::StackLease::acquire(up, stop, &mut note).await;
            for text in said.drain(..) {
                on(Progress::Note(&text));
            }
            let lease = lease?;
            let result = async {
                let targets = crate::targets::prepare(lease.state(), false)
                    .await
                    .map_err(RunFailure::Infrastructure)?;
                let measured = Measured::Stack(crate::run::stack_info(&lease));
                let tiers = plan_and_search(&targets, options, stop, notes, on).await?;
                Ok((measured, tiers))
            }
            .await;
            let mut note = |event: Event<'_>| {
                if let Event::Note(text) = event {
                    on(Progress::Note(text));
                }
            };
            lease.release(*keep, &mut note).await;
            result
        }
        RunTarget::Existing(existing) => {
            let (targets, measured) = crate::targets::existing(existing, false)
                .await
                .map_err(RunFailure::Infrastructure)?;
            let tiers = plan_and_search(&targets, options, stop, notes, on).await?;
            Ok((Measured::ExistingGateway(measured), tiers))
        }
    }
}

async fn plan_and_search(
    targets: &Targets,
    options: &CapacityOptions,
    stop: &cli::signal::StopReceiver,
    notes: &mut Vec<String>,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<TierCapacity>, RunFailure> {
    let picks = ClassPicks {
        mcp: options.picks.clone(),
        rest: None,
        weights: contextforge::workloads::WeightTable::Locustfile,
    };
    let planned =
        crate::tiers::plan(&options.tiers, targets, &picks, notes).map_err(RunFailure::Usage)?;
    search_all(planned, options, stop, &targets.health, on).await
}

/// `--url`'s tier: the MCP workload straight at the endpoint, in the tier's era.
fn endpoint_tier(
    tier: Tier,
    url: &url::Url,
    options: &CapacityOptions,
) -> Result<PlannedTier, String> {
    let era = tier.era().unwrap_or(loadgen::Era::Session);
    Ok(PlannedTier {
        tier,
        target: url.to_string(),
        scenario: Ok(contextforge::workloads::mcp_scenario(
            url.clone(),
            vec![],
            &options.picks,
            era,
        )?),
        trust: loadgen::Trust::WebRoots,
    })
}

async fn search_all(
    planned: Vec<PlannedTier>,
    options: &CapacityOptions,
    stop: &cli::signal::StopReceiver,
    health: &Health,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<TierCapacity>, RunFailure> {
    let searcher = Searcher {
        options,
        stop,
        health,
    };
    let mut tiers = Vec::new();
    for tier in planned {
        tiers.push(searcher.search(tier, on).await?);
    }
    Ok(tiers)
}

impl Searcher<'_> {
    /// One tier's search, from its first step to its answer.
    async fn search(
        &self,
        planned: PlannedTier,
        on: &mut dyn FnMut(Progress<'_>),
    ) -> Result<TierCapacity, RunFailure> {
        let (tier, target) = (planned.tier, planned.target);
        let mut steps = Vec::new();
        let answer = match planned.scenario {
            Err(reason) => Answer::Skipped { reason },
            Ok(scenario) => {
                on(Progress::TierStarting {
                    tier,
                    target: &target,
                });
                self.steps(tier, &scenario, &planned.trust, &mut steps, on)
                    .await?
            }
        };
        Ok(TierCapacity {
            tier,
            target,
            steps,
            answer,
        })
    }

    /// The search's steps, run in turn into `steps` until it answers (or a step ends it).
    async fn steps(
        &self,
        tier: Tier,
        scenario: &loadgen::Scenario,
        trust: &loadgen::Trust,
        steps: &mut Vec<Step>,
        on: &mut dyn FnMut(Progress<'_>),
    ) -> Result<Answer, RunFailure> {
        let settings = StepSettings {
            slo: &self.options.slo,
            step: self.options.step,
            warmup: self.options.warmup,
            seed: self.options.seed,
            progress: self.options.progress,
            command_line: &self.options.command_line,
            trust,
        };
        let mut search = Search::new(self.options.bounds);
        while let Some(next) = search.next() {
            // Read once: a watch guard held across the step's await would block the signal.
            let stopped_by = *self.stop.borrow();
            if let Some(signal) = stopped_by {
                return Ok(Answer::Stopped { signal });
            }
            let run = step::run(
                tier,
                scenario.clone(),
                next,
                &settings,
                self.health,
                self.stop,
            );
            let step = match run.await.map_err(RunFailure::Usage)? {
                StepRun::Skipped(reason) => return Ok(Answer::Skipped { reason }),
                StepRun::Measured(step) => step,
            };
            on(Progress::Step {
                index: steps.len() + 1,
                step: &step,
            });
            let consequence = consequence(&step.verdict);
            steps.push(step);
            match consequence {
                Ok(judgement) => search.record(judgement),
                Err(answer) => return Ok(answer),
            }
        }
        Ok(search.answer().cloned().expect("a finished search answers"))
    }
}

/// What a step means to the search: a judgement, or the end of it (stopped, or the target
/// failed) with the tier's answer.
fn consequence(verdict: &StepVerdict) -> Result<Judgement, Answer> {
    match verdict {
        StepVerdict::Kept => Ok(Judgement::Kept),
        StepVerdict::Broke { .. } => Ok(Judgement::Broke),
        StepVerdict::GeneratorLimited { .. } => Ok(Judgement::GeneratorLimited),
        StepVerdict::Stopped { signal } => Err(Answer::Stopped { signal: *signal }),
        StepVerdict::Failed { reason } => Err(Answer::Failed {
            reason: reason.clone(),
        }),
    }
}

/// The host against the most connections a step may hold (at `--max-rate`): a search that
/// cannot run here is refused before anything starts.
fn check_host(options: &CapacityOptions) -> Result<Vec<String>, RunFailure> {
    let (nofile, _) = host::nofile_limits();
    let peak = u64::from(step::in_flight(options.bounds.max));
    let preflight = host::preflight(
        &HostPaths::default(),
        PlannedLoad {
            peak_connections: peak,
        },
        nofile,
    );
    match preflight.blockers.first() {
        Some(blocker) => Err(RunFailure::Usage(format!(
            "this host cannot run the search: {blocker}"
        ))),
        None => Ok(preflight.advice),
    }
}

fn assemble(
    options: &CapacityOptions,
    started_at: chrono::DateTime<chrono::Utc>,
    measured: CapacityTarget,
    tiers: Vec<TierCapacity>,
    warnings: Vec<String>,
    stop: &cli::signal::StopReceiver,
) -> CapacityRun {
    let stopped_by = *stop.borrow();
    CapacityRun {
        schema: CAPACITY_SCHEMA.into(),
        run_id: format!("capacity-{}", started_at.format("%Y%m%d-%H%M%S")),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        command_line: options.command_line.clone(),
        measured,
        environment: loadgen::Environment::capture(),
        slo: options.slo.clone(),
        settings: SearchSettings {
            start_rate: options.bounds.start,
            max_rate: options.bounds.max,
            step_secs: options.step.as_secs_f64(),
            warmup_secs: options.warmup.as_secs_f64(),
            repeats: options.bounds.repeats,
            resolution: options.bounds.resolution,
            min_achieved_share: MIN_ACHIEVED_SHARE,
            seed: options.seed,
            mcp_classes: options
                .picks
                .iter()
                .map(|p| format!("{}:{}", p.name, p.weight))
                .collect(),
        },
        tiers,
        stopped_by,
        warnings,
    }
}

/// Writes the run's files into `<reports_dir>/<run-id>/` and points
/// `<reports_dir>/latest-capacity` at them (`latest` stays the last `load-test` run, which
/// `compare-baseline` reads); returns the run's directory.
pub fn write_reports(
    run: &CapacityRun,
    reports_dir: &std::path::Path,
) -> Result<std::path::PathBuf, String> {
    let dir = reports_dir.join(&run.run_id);
    run.write_to_dir(&dir)
        .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    let latest = reports_dir.join("latest-capacity");
    let _ = std::fs::remove_file(&latest);
    std::os::unix::fs::symlink(&run.run_id, &latest)
        .map_err(|e| format!("cannot link {}: {e}", latest.display()))?;
    Ok(dir)
}

/// A step's line as it ends: `step 3 bisect 300/s: served 299/s, p95 41.2 ms … kept`.
pub fn step_line(index: usize, step: &Step) -> String {
    let numbers = step.figures.as_ref().map_or_else(String::new, |f| {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".into(), report::format::ms_short);
        format!(
            " served {}, p50 {} ms, p95 {} ms, p99 {} ms, errors {};",
            report::capacity::rate(f.achieved_rate),
            ms(f.p50_ms),
            ms(f.p95_ms),
            ms(f.p99_ms),
            report::format::percent(f.error_rate)
        )
    });
    format!(
        "  step {index} {} {}:{numbers} {}",
        step.phase.name(),
        report::capacity::rate(step.offered_rate),
        step.verdict.cell()
    )
}
