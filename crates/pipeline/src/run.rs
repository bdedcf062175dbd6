//! One overhead run: reuse the stack or bring it up, mint a token, read the gateway's entities,
//! run the workload on each tier in turn (the gateway's memory sampled throughout), judge the
//! thresholds, write `reports/<run-id>/`, and take down a stack this run started.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contextforge::workloads::{ClassKind, GatewayEntities};
use loadgen::threshold::{Threshold, ThresholdResult};
use loadgen::{HttpOptions, ProgressMode, RunError, RunSpec};
use report::{OverheadRun, ProfileInfo, ResourceSample, StackInfo, TierRun};

use crate::host::{self, HostPaths, PlannedLoad};
use crate::profile::Profile;
use crate::tiers::{self, Endpoints, DEFAULT_THRESHOLD_TIERS};

/// What `load-test` was asked to do, resolved and validated (no traffic yet).
pub struct RunOptions {
    pub profile: Profile,
    pub tiers: Vec<&'static str>,
    /// Extra thresholds (flags), beside the profile's own and the SLA defaults.
    pub thresholds: Vec<String>,
    /// The front door for the nginx tier (`LOADTEST_HOST`); None: the stack's nginx.
    pub host: Option<url::Url>,
    /// Options for bringing the stack up when it is not.
    pub stack: stack::UpOptions,
    /// Leave a stack this run started running afterwards.
    pub keep_stack: bool,
    /// `reports/`: the run writes `reports/<run-id>/` and points `reports/latest` at it.
    pub reports_dir: PathBuf,
    pub progress: ProgressMode,
    pub command_line: Vec<String>,
}

/// Why a run ended without a verdict.
#[derive(Debug)]
pub enum RunFailure {
    /// Bad options, thresholds or profile; nothing was sent (exit 2).
    Usage(String),
    /// The stack or a target failed (exit 3).
    Infrastructure(String),
    /// Ctrl-C before any tier finished (exit 130).
    Interrupted,
}

impl RunFailure {
    pub fn exit_code(&self) -> u8 {
        use loadgen::load_cli::exit_code;
        match self {
            RunFailure::Usage(_) => exit_code::USAGE,
            RunFailure::Infrastructure(_) => exit_code::INFRASTRUCTURE,
            RunFailure::Interrupted => exit_code::INTERRUPTED,
        }
    }
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunFailure::Usage(m) | RunFailure::Infrastructure(m) => f.write_str(m),
            RunFailure::Interrupted => {
                f.write_str("interrupted: everything this run started was stopped")
            }
        }
    }
}

/// A threshold and the tiers it is checked on.
struct ScopedThreshold {
    threshold: Threshold,
    tiers: Vec<&'static str>,
}

/// Parses every threshold and checks its scope against the tiers selected. Operation scopes are
/// checked once the scenarios exist ([`check_operations`]).
fn parse_thresholds(
    options: &RunOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<ScopedThreshold>, String> {
    let mut texts: Vec<String> = Vec::new();
    if options.profile.sla_thresholds {
        texts.extend(
            options
                .profile
                .sla
                .latency_thresholds()
                .iter()
                .map(|s| s.to_string()),
        );
        match options.profile.throughput_threshold() {
            Ok(t) => texts.push(t),
            Err(why) => warnings.push(why),
        }
    }
    texts.extend(options.profile.thresholds.iter().cloned());
    texts.extend(options.thresholds.iter().cloned());
    let mut out = Vec::new();
    for text in texts {
        let threshold = Threshold::parse(&text)?;
        let tiers: Vec<&'static str> = match &threshold.tier {
            Some(t) => {
                let tier = tiers::ALL.iter().find(|x| *x == t).ok_or_else(|| {
                    format!(
                        "threshold '{text}' names tier '{t}' (known: {})",
                        tiers::ALL.join(", ")
                    )
                })?;
                if !options.tiers.contains(tier) {
                    return Err(format!(
                        "threshold '{text}' names tier '{t}', which this run does not include"
                    ));
                }
                vec![*tier]
            }
            None => DEFAULT_THRESHOLD_TIERS
                .iter()
                .copied()
                .filter(|t| options.tiers.contains(t))
                .collect(),
        };
        out.push(ScopedThreshold { threshold, tiers });
    }
    Ok(out)
}

fn check_operations(
    thresholds: &[ScopedThreshold],
    planned: &[tiers::PlannedTier],
) -> Result<(), String> {
    for st in thresholds {
        for tier in &st.tiers {
            if let Some(Ok(scenario)) = planned
                .iter()
                .find(|p| p.name == *tier)
                .map(|p| &p.scenario)
            {
                let mut ops = scenario.operation_names();
                ops.push("Aggregated".into());
                st.threshold
                    .check_operation(&ops)
                    .map_err(|e| format!("{e} (tier {tier})"))?;
            }
        }
    }
    Ok(())
}

/// The whole run. `interrupt` resolves on Ctrl-C.
pub async fn run(
    options: RunOptions,
    interrupt: tokio::sync::watch::Receiver<bool>,
) -> Result<OverheadRun, RunFailure> {
    let started_at = chrono::Utc::now();
    let mut warnings = Vec::new();
    let thresholds = parse_thresholds(&options, &mut warnings).map_err(RunFailure::Usage)?;
    let mcp_picks = tiers::picks(options.profile.mcp_classes.as_deref(), ClassKind::Mcp)
        .map_err(RunFailure::Usage)?;
    let rest_picks = if options.profile.rest {
        Some(
            tiers::picks(options.profile.rest_classes.as_deref(), ClassKind::Rest)
                .map_err(RunFailure::Usage)?,
        )
    } else {
        None
    };

    // Operation scopes are checked on the tiers as they would be planned, before the stack is
    // touched (the real plan differs only in URLs and ids).
    let dry_run = tiers::plan_tiers(
        &options.tiers,
        &Endpoints::placeholder(),
        &mcp_picks,
        rest_picks.as_deref(),
        &GatewayEntities::placeholder(),
        &mut Vec::new(),
    )
    .map_err(RunFailure::Usage)?;
    check_operations(&thresholds, &dry_run).map_err(RunFailure::Usage)?;

    let (nofile, _) = host::nofile_limits();
    let preflight = host::preflight(
        &HostPaths::default(),
        PlannedLoad {
            peak_connections: options.profile.peak_users(),
        },
        nofile,
    );
    if let Some(blocker) = preflight.blockers.first() {
        return Err(RunFailure::Usage(format!(
            "this host cannot run profile '{}': {blocker}",
            options.profile.name
        )));
    }
    warnings.extend(preflight.advice);

    // The stack: reuse it when it is up, else bring it up (and down at the end).
    let stop = async {
        wait_for(interrupt.clone()).await;
        cli::Signal::Interrupt
    };
    let up = stack::up(&options.stack, stop, |line| eprintln!("load-test: {line}"))
        .await
        .map_err(|e| match e {
            stack::StackError::Usage(m) => RunFailure::Usage(m),
            // load-test keeps 4 for a saturated generator: a missing engine is infrastructure.
            stack::StackError::Infrastructure(m) | stack::StackError::NoEngine(m) => {
                RunFailure::Infrastructure(m)
            }
            stack::StackError::Interrupted(_) => RunFailure::Interrupted,
        })?;
    for note in &up.notes {
        println!("{note}");
    }
    let (reused, state) = (up.already_up, up.state);
    let prepared = Prepared {
        thresholds,
        mcp_picks,
        rest_picks,
        warnings,
        started_at,
    };
    let result = run_on_stack(&options, &state, reused, prepared, interrupt).await;
    if !reused && !options.keep_stack {
        let no_stop = std::future::pending();
        let waiting = |line: &str| eprintln!("load-test: {line}");
        match stack::down(&options.stack.state_dir, no_stop, waiting).await {
            Ok(said) => println!("{said}"),
            Err(e) => eprintln!("load-test: taking the stack down: {e}"),
        }
    }
    result
}

/// What was checked and chosen before the stack was touched.
struct Prepared {
    thresholds: Vec<ScopedThreshold>,
    mcp_picks: Vec<contextforge::workloads::ClassPick>,
    rest_picks: Option<Vec<contextforge::workloads::ClassPick>>,
    warnings: Vec<String>,
    started_at: chrono::DateTime<chrono::Utc>,
}

async fn run_on_stack(
    options: &RunOptions,
    state: &stack::StackState,
    reused: bool,
    prepared: Prepared,
    interrupt: tokio::sync::watch::Receiver<bool>,
) -> Result<OverheadRun, RunFailure> {
    let Prepared {
        thresholds,
        mcp_picks,
        rest_picks,
        mut warnings,
        started_at,
    } = prepared;
    let infra = RunFailure::Infrastructure;
    let token = contextforge::jwt::mint(
        &contextforge::jwt::TokenRequest {
            username: "admin@example.com".into(),
            expires_in_minutes: contextforge::jwt::DEFAULT_EXPIRY_MINUTES,
            admin: true,
            teams: None,
        },
        &state.jwt_secret,
    )
    .map_err(|e| infra(format!("minting a token: {e}")))?;
    let gateway = url::Url::parse(&format!("http://127.0.0.1:{}/", state.gateway_port))
        .expect("a loopback URL");
    // The gateway tiers go through a virtual server bundling exactly what the direct tier's
    // bench server serves, so every tier lists and calls the same catalog.
    let direct_server = format!("benchmark-{}", state.bench_start_port);
    let api = contextforge::api::Client::new(gateway.as_str(), &token);
    let bundle = api
        .bundle_of(std::slice::from_ref(&direct_server))
        .await
        .map_err(|e| infra(e.to_string()))?;
    if bundle.tools.is_empty() {
        return Err(infra(format!(
            "the gateway lists no tools of {direct_server}: run benchmark-down, then benchmark-up"
        )));
    }
    let virtual_server_id = api
        .replace_server(&format!("mcpbench-overhead-{direct_server}"), &bundle)
        .await
        .map_err(|e| infra(e.to_string()))?;
    let nginx = match (&options.host, state.nginx_port) {
        (Some(host), _) => Ok(host.clone()),
        (None, Some(port)) => Ok(url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("a loopback URL")),
        (None, None) => Err("nginx is not part of the stack (it was not found when the stack came up): install nginx (apt-get install nginx-light) and run benchmark-down, then benchmark-up".to_string()),
    };
    if state.nginx_cache {
        warnings.push(
            "nginx caches list/admin pages in this stack: the nginx tier's list numbers are nginx's, not the gateway's".into(),
        );
    }
    let endpoints = Endpoints {
        direct: url::Url::parse(&format!("http://127.0.0.1:{}/mcp", state.bench_start_port))
            .expect("a loopback URL"),
        gateway: gateway.clone(),
        virtual_server_id,
        nginx,
        token: token.clone(),
    };
    let entities = if rest_picks.is_some() {
        read_entities(&gateway, &token, state)
            .await
            .map_err(infra)?
    } else {
        GatewayEntities::default()
    };
    let mut notes = Vec::new();
    let planned = tiers::plan_tiers(
        &options.tiers,
        &endpoints,
        &mcp_picks,
        rest_picks.as_deref(),
        &entities,
        &mut notes,
    )
    .map_err(RunFailure::Usage)?;
    warnings.extend(notes);

    // The gateway's memory, sampled through every tier.
    let current_tier = Arc::new(Mutex::new(String::new()));
    let samples = Arc::new(Mutex::new(Vec::<ResourceSample>::new()));
    // Its main process as the host sees it, for either runtime (a container's too); its
    // process group holds the workers.
    let gateway_process = stack::status(&options.stack.state_dir)
        .await
        .ok()
        .and_then(|status| {
            status
                .rows
                .into_iter()
                .find(|r| r.service == stack::GATEWAY)
        })
        .and_then(|row| row.pid)
        .and_then(stack::process::ProcessId::of);
    if gateway_process.is_none() {
        warnings
            .push("the gateway's process could not be found: its memory was not sampled".into());
    }
    let sampler = gateway_process.map(|process| {
        let (current_tier, samples) = (current_tier.clone(), samples.clone());
        let every = Duration::from_secs_f64(options.profile.rss_sample_secs);
        let start = Instant::now();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(kib) = process.group_rss_kib() else {
                    continue;
                };
                samples.lock().expect("samples").push(ResourceSample {
                    t: start.elapsed().as_secs_f64(),
                    tier: current_tier.lock().expect("tier").clone(),
                    rss_mib: kib as f64 / 1024.0,
                });
            }
        })
    });

    let mut tier_runs = Vec::new();
    let mut interrupted = false;
    for tier in planned {
        let scenario = match tier.scenario {
            Ok(s) if !interrupted => s,
            Ok(_) => {
                tier_runs.push(skipped(
                    tier.name,
                    tier.description,
                    tier.target,
                    "interrupted before this tier",
                ));
                continue;
            }
            Err(why) => {
                println!("── tier {}: skipped: {why}", tier.name);
                tier_runs.push(skipped(tier.name, tier.description, tier.target, &why));
                continue;
            }
        };
        println!(
            "── tier {} ({}): {}",
            tier.name, tier.description, tier.target
        );
        *current_tier.lock().expect("tier") = tier.name.to_string();
        let spec = RunSpec {
            plan: options.profile.plan(),
            scenario,
            http: HttpOptions {
                // The gateway answers in seconds under load; a minute bounds every request.
                timeout: Duration::from_secs(60),
                ..HttpOptions::default()
            },
            command_line: options.command_line.clone(),
            progress: options.progress,
            label: tier.name.to_string(),
        };
        match loadgen::run(spec, wait_for(interrupt.clone())).await {
            Ok(results) => {
                interrupted |= results.interrupted;
                print!("{}", loadgen::load_cli::table(&results));
                tier_runs.push(TierRun {
                    name: tier.name.to_string(),
                    description: tier.description,
                    target: tier.target,
                    skipped: None,
                    failed: false,
                    results: Some(results),
                });
            }
            Err(RunError::Config(m)) => {
                return Err(RunFailure::Usage(format!("tier {}: {m}", tier.name)))
            }
            Err(RunError::Infrastructure(m)) => {
                println!("── tier {}: failed: {m}", tier.name);
                tier_runs.push(skipped(
                    tier.name,
                    tier.description,
                    tier.target,
                    &format!("failed: {m}"),
                ));
            }
        }
    }
    if let Some(s) = sampler {
        s.abort();
    }
    if tier_runs.iter().all(|t| t.results.is_none()) {
        if interrupted || *interrupt.borrow() {
            return Err(RunFailure::Interrupted);
        }
        let reasons: Vec<String> = tier_runs
            .iter()
            .map(|t| format!("{}: {}", t.name, t.skipped.as_deref().unwrap_or("-")))
            .collect();
        return Err(infra(format!("no tier ran ({})", reasons.join("; "))));
    }

    let mut threshold_results: Vec<ThresholdResult> = Vec::new();
    for st in &thresholds {
        for tier in &st.tiers {
            match tier_runs.iter().find(|t| t.name == *tier) {
                Some(TierRun {
                    results: Some(r), ..
                }) => {
                    let mut result = st.threshold.evaluate(r);
                    result.tier = Some(tier.to_string());
                    threshold_results.push(result);
                }
                _ => warnings.push(format!(
                    "threshold '{}' not checked on tier {tier}: the tier did not run",
                    st.threshold.expression
                )),
            }
        }
    }
    let gateway_rss = std::mem::take(&mut *samples.lock().expect("samples"));
    warnings.extend(rss_growth(&gateway_rss));
    let overhead = report::overhead_rows(&tier_runs);
    let verdict = report::verdict(&tier_runs, &threshold_results, interrupted);
    let profile = &options.profile;
    let class_list = |picks: &[contextforge::workloads::ClassPick]| {
        picks
            .iter()
            .map(|p| format!("{}:{}", p.name, p.weight))
            .collect::<Vec<_>>()
    };
    let run = OverheadRun {
        schema: report::SCHEMA.into(),
        run_id: format!("{}-{}", started_at.format("%Y%m%d-%H%M%S"), profile.name),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        command_line: options.command_line.clone(),
        profile: ProfileInfo {
            name: profile.name.clone(),
            sla_class: profile.sla.name().into(),
            description: profile.describe(),
            model: match profile.load {
                crate::profile::Load::Users { .. } => "closed".into(),
                crate::profile::Load::Arrivals { .. } => "open".into(),
            },
            duration_secs: profile.duration().as_secs_f64(),
            warmup_secs: profile.warmup.as_secs_f64(),
            seed: profile.seed,
            mcp_classes: class_list(&mcp_picks),
            rest_classes: rest_picks.as_deref().map(class_list).unwrap_or_default(),
        },
        stack: StackInfo {
            runtime: state.runtime.to_string(),
            reused,
            bench_servers: u32::from(state.bench_count),
            gateway_version: contextforge::settings::PINNED_VERSION.into(),
            gateway_workers: options.stack.workers,
            nginx_cache: state.nginx_cache,
        },
        environment: loadgen::Environment::capture(),
        tiers: tier_runs,
        overhead,
        thresholds: threshold_results,
        verdict,
        gateway_rss,
        warnings,
    };
    Ok(run)
}

/// How the gateway's memory moved over the run: under a steady load a leak shows as growth
/// that does not level off (the soak profile's question). None with fewer than two samples.
fn rss_growth(samples: &[ResourceSample]) -> Option<String> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 || first.rss_mib <= 0.0 {
        return None;
    }
    let peak = samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    let growth = (last.rss_mib / first.rss_mib - 1.0) * 100.0;
    Some(format!(
        "gateway RSS {:.1} MiB → {:.1} MiB ({growth:+.1}%) over {:.0} s, peak {peak:.1} MiB{}",
        first.rss_mib,
        last.rss_mib,
        last.t - first.t,
        if growth > 10.0 {
            ": it grew by more than 10%; under a steady load, growth that does not level off is a leak"
        } else {
            ""
        }
    ))
}

fn skipped(name: &str, description: String, target: String, why: &str) -> TierRun {
    TierRun {
        name: name.to_string(),
        description,
        target,
        skipped: Some(why.to_string()),
        failed: false,
        results: None,
    }
}

async fn wait_for(mut interrupt: tokio::sync::watch::Receiver<bool>) {
    let _ = interrupt.wait_for(|stopped| *stopped).await;
}

/// Ids and names the REST classes address, read from the gateway (what Locust's classes
/// discover at start).
async fn read_entities(
    gateway: &url::Url,
    token: &str,
    state: &stack::StackState,
) -> Result<GatewayEntities, String> {
    let api = contextforge::api::Client::new(gateway.as_str(), token);
    let list = |c: &'static str| {
        let api = &api;
        async move { api.list(c).await.map_err(|e| e.to_string()) }
    };
    let slug = format!("benchmark-{}", state.bench_start_port);
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_string);
    let tools = list("tools").await?;
    let tool_named = |suffix: &str| {
        let name = format!("{slug}-{suffix}");
        tools.iter().find(|t| t["name"] == name.as_str())
    };
    let benchmark_tool = tool_named("benchmark-tool-0");
    let gateways = list("gateways").await?;
    let resources = list("resources").await?;
    let prompts = list("prompts").await?;
    Ok(GatewayEntities {
        tool_id: benchmark_tool.and_then(|t| text(t, "id")),
        tool_name: benchmark_tool.and_then(|t| text(t, "name")),
        time_tool_name: tool_named("get-system-time").and_then(|t| text(t, "name")),
        convert_tool_name: tool_named("convert-time").and_then(|t| text(t, "name")),
        server_id: state.virtual_server_id.clone(),
        gateway_id: gateways
            .iter()
            .find(|g| g["name"] == slug.as_str())
            .and_then(|g| text(g, "id")),
        resource_id: resources.first().and_then(|r| text(r, "id")),
        resource_uri: resources.first().and_then(|r| text(r, "uri")),
        prompt_id: prompts.first().and_then(|p| text(p, "id")),
        prompt_name: prompts.first().and_then(|p| text(p, "name")),
    })
}

/// Writes the run's files and points `reports/latest` at them; returns the run's directory.
pub fn write_reports(run: &OverheadRun, reports_dir: &std::path::Path) -> Result<PathBuf, String> {
    let dir = reports_dir.join(&run.run_id);
    run.write_to_dir(&dir)
        .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    let latest = reports_dir.join("latest");
    let _ = std::fs::remove_file(&latest);
    std::os::unix::fs::symlink(&run.run_id, &latest)
        .map_err(|e| format!("cannot link {}: {e}", latest.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options `load-test --tiers … --threshold …` resolves to (light profile).
    fn options(tiers: Vec<&'static str>, thresholds: &[&str]) -> RunOptions {
        let mut args = vec!["load-test".to_string(), "--tiers".into(), tiers.join(",")];
        for t in thresholds {
            args.extend(["--threshold".to_string(), t.to_string()]);
        }
        let parsed = <crate::cli::LoadTestArgs as clap::Parser>::try_parse_from(args).unwrap();
        crate::cli::resolve(&parsed, |_| None, PathBuf::from("bench-server"), vec![]).unwrap()
    }

    #[test]
    fn rss_growth_is_summarised_and_flagged_beyond_ten_percent() {
        let sample = |t: f64, rss_mib: f64| ResourceSample {
            t,
            tier: "gateway".into(),
            rss_mib,
        };
        assert_eq!(rss_growth(&[sample(0.0, 100.0)]), None);
        let flat = rss_growth(&[sample(0.0, 100.0), sample(60.0, 104.0)]).unwrap();
        assert_eq!(
            flat,
            "gateway RSS 100.0 MiB → 104.0 MiB (+4.0%) over 60 s, peak 104.0 MiB"
        );
        let leak =
            rss_growth(&[sample(0.0, 100.0), sample(30.0, 130.0), sample(60.0, 125.0)]).unwrap();
        assert!(leak.contains("(+25.0%)") && leak.contains("peak 130.0") && leak.contains("leak"));
    }

    #[test]
    fn sla_thresholds_apply_to_the_gateway_tiers_and_scopes_are_checked() {
        let mut warnings = vec![];
        let all = parse_thresholds(
            &options(tiers::ALL.to_vec(), &["p99{tier=rest}<2s"]),
            &mut warnings,
        )
        .unwrap();
        // light is judged by the baseline column: p50, p95, p99, error rate; plus ours.
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].threshold.expression, "p50<100ms");
        assert_eq!(all[0].tiers, vec!["gateway", "nginx"]);
        assert_eq!(all[4].tiers, vec!["rest"]);
        assert!(warnings[0].contains("throughput SLA"), "{warnings:?}");

        let e = parse_thresholds(
            &options(vec!["direct", "gateway"], &["p95{tier=nginx}<1s"]),
            &mut vec![],
        )
        .err()
        .unwrap();
        assert!(e.contains("does not include"), "{e}");
        let e = parse_thresholds(
            &options(vec!["gateway"], &["p95{tier=edge}<1s"]),
            &mut vec![],
        )
        .err()
        .unwrap();
        assert!(e.contains("names tier 'edge'"), "{e}");
        let e = parse_thresholds(&options(vec!["gateway"], &["p95<fast"]), &mut vec![])
            .err()
            .unwrap();
        assert!(e.contains("invalid threshold"), "{e}");
    }
}
