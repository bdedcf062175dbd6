//! The tiers of an overhead run, planned once on the stack's real endpoints — the same MCP
//! workload (same seed, same class mix) on the bench server directly, on the gateway's virtual
//! server and through nginx (plain, and over TLS trusting the stack's own CA), then the REST
//! classes on the gateway — and run in turn. A tier
//! ends as exactly one of ran, skipped (its component is missing, or a signal came first) or
//! failed (its target was unreachable, went down, or a service it passes through stopped
//! answering).

use contextforge::workloads::{self, ClassKind, ClassPick, WeightTable};
use loadgen::{Era, Header, RunError, RunResults, RunSpec, Scenario, Trust};
use report::{Tier, TierOutcome, TierRun};

use crate::targets::{Health, Targets};
use crate::thresholds::ClassPicks;

/// One tier, ready to run (or the reason it cannot).
#[derive(Clone)]
pub struct PlannedTier {
    pub tier: Tier,
    pub target: String,
    pub scenario: Result<Scenario, String>,
    /// Whose certificates its target may present (the stack's CA for `nginx-tls`).
    pub trust: Trust,
}

impl PlannedTier {
    /// A tier that cannot run, and why.
    fn without(tier: Tier, why: String) -> PlannedTier {
        PlannedTier {
            tier,
            target: "-".into(),
            scenario: Err(why),
            trust: Trust::WebRoots,
        }
    }
}

/// The era of an MCP tier.
fn mcp_era(tier: Tier) -> Era {
    tier.era().unwrap_or(Era::Session)
}

fn bearer(token: &str) -> Result<Vec<Header>, String> {
    Ok(vec![Header::parse(&format!(
        "Authorization: Bearer {token}"
    ))?])
}

/// The MCP workload on the virtual server behind `base` (the gateway, or nginx before it).
fn through(
    tier: Tier,
    base: Result<&url::Url, &String>,
    targets: &Targets,
    picks: &[ClassPick],
) -> Result<PlannedTier, String> {
    let Ok(base) = base else {
        let why = base.err().cloned().unwrap_or_default();
        return Ok(PlannedTier::without(tier, why));
    };
    let url = base
        .join(&contextforge::naming::virtual_server_mcp_path(
            &targets.virtual_server_id,
        ))
        .map_err(|e| format!("{base}: {e}"))?;
    Ok(PlannedTier {
        tier,
        target: url.to_string(),
        scenario: Ok(workloads::mcp_scenario(
            url,
            bearer(&targets.token)?,
            picks,
            mcp_era(tier),
        )?),
        trust: Trust::WebRoots,
    })
}

/// Plans the selected tiers. Notes (REST tasks left out for want of an entity) go to `notes`.
pub fn plan(
    selected: &[Tier],
    targets: &Targets,
    picks: &ClassPicks,
    notes: &mut Vec<String>,
) -> Result<Vec<PlannedTier>, String> {
    let mut planned = Vec::new();
    for tier in Tier::ALL.into_iter().filter(|t| selected.contains(t)) {
        planned.push(match tier.place() {
            Tier::Direct => match &targets.direct {
                Ok(direct) => PlannedTier {
                    tier,
                    target: direct.to_string(),
                    scenario: Ok(workloads::mcp_scenario(
                        direct.clone(),
                        vec![],
                        &picks.mcp,
                        mcp_era(tier),
                    )?),
                    trust: Trust::WebRoots,
                },
                Err(why) => PlannedTier::without(tier, why.clone()),
            },
            Tier::Gateway => through(tier, Ok(&targets.gateway), targets, &picks.mcp)?,
            Tier::Nginx => through(tier, targets.nginx.as_ref(), targets, &picks.mcp)?,
            Tier::NginxTls => match &targets.nginx_tls {
                Ok(tls) => PlannedTier {
                    trust: Trust::WithCa(tls.ca_cert.clone()),
                    ..through(tier, Ok(&tls.base), targets, &picks.mcp)?
                },
                Err(why) => PlannedTier::without(tier, why.clone()),
            },
            _ => {
                let Some(rest) = &picks.rest else { continue };
                let (scenario, left_out) = workloads::rest_scenario(
                    &targets.gateway,
                    &targets.token,
                    rest,
                    &targets.entities,
                )?;
                notes.extend(left_out);
                PlannedTier {
                    tier,
                    target: targets.gateway.to_string(),
                    scenario: Ok(scenario),
                    trust: Trust::WebRoots,
                }
            }
        });
    }
    Ok(planned)
}

/// `direct,gateway` → the tiers, checked.
pub fn parse_tiers(text: &str) -> Result<Vec<Tier>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let tier: Tier = item.parse()?;
        if !out.contains(&tier) {
            out.push(tier);
        }
    }
    if out.is_empty() {
        return Err("no tier selected".into());
    }
    Ok(out)
}

/// The tiers to run: each session-era MCP tier named once per era in `eras` (a tier named with
/// its era stays as named), in run order.
pub fn in_eras(named: &[Tier], eras: &[Era]) -> Vec<Tier> {
    let mut out: Vec<Tier> = Vec::new();
    for &tier in named {
        let place = Tier::mcp_tiers(Era::Session)
            .iter()
            .position(|&t| t == tier);
        match place {
            Some(i) => out.extend(eras.iter().map(|&era| Tier::mcp_tiers(era)[i])),
            None => out.push(tier),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The class picks for one kind: the given picker, or every class of that kind, weighted by
/// `table` unless the picker says `:N`.
pub fn picks(
    text: Option<&str>,
    kind: ClassKind,
    table: WeightTable,
) -> Result<Vec<ClassPick>, String> {
    match text {
        Some(t) => workloads::parse_class_picks(t, kind, table),
        // The stack runs the gateway without its admin UI, so the UI classes stay out.
        None => Ok(workloads::default_picks(kind, false, table)),
    }
}

/// What the tier loop tells the command as it goes.
pub enum TierEvent<'a> {
    Starting { tier: Tier, target: &'a str },
    Finished { tier: Tier, results: &'a RunResults },
    NotRun { tier: Tier, why: String },
}

/// What runs just before and just after each tier that starts (the gateway's profiling).
pub trait AroundTier {
    fn starting(&mut self, tier: Tier) -> impl std::future::Future<Output = ()>;
    fn ended(&mut self, tier: Tier) -> impl std::future::Future<Output = ()>;
}

impl AroundTier for Option<crate::profiling::GatewayProfiling> {
    async fn starting(&mut self, tier: Tier) {
        if let Some(profiling) = self {
            profiling.starting(tier).await;
        }
    }

    async fn ended(&mut self, tier: Tier) {
        if let Some(profiling) = self {
            profiling.ended(tier).await;
        }
    }
}

/// Runs the planned tiers in order. `spec` makes a tier's engine spec from its scenario (its
/// TLS trust is then the tier's target's);
/// `stop` is the run's stop signal; `around` runs before and after each tier that starts; `on`
/// hears what happens. A `Config` error of the engine is a bug in the plan, returned as such.
pub async fn run_all(
    planned: Vec<PlannedTier>,
    spec: impl Fn(Tier, Scenario) -> RunSpec,
    health: &Health,
    stop: &cli::signal::StopReceiver,
    around: &mut impl AroundTier,
    mut on: impl FnMut(TierEvent<'_>),
) -> Result<Vec<TierRun>, String> {
    let mut runs = Vec::new();
    for planned in planned {
        // Read once: a watch guard held across the tier's await would block the signal's send.
        let stopped_by = *stop.borrow();
        let outcome = match (stopped_by, planned.scenario) {
            (Some(signal), _) => TierOutcome::Skipped {
                reason: format!("stopped by {signal} before this tier"),
            },
            (None, Err(why)) => TierOutcome::Skipped { reason: why },
            (None, Ok(scenario)) => {
                let mut spec = spec(planned.tier, scenario);
                spec.http.trust = planned.trust.clone();
                if spec.live.as_ref().is_some_and(loadgen::Live::has_ended) {
                    TierOutcome::Skipped {
                        reason: "ended by its steerer (the web UI) before this tier".into(),
                    }
                } else {
                    around.starting(planned.tier).await;
                    on(TierEvent::Starting {
                        tier: planned.tier,
                        target: &planned.target,
                    });
                    let outcome = run_one(planned.tier, spec, health, stop).await;
                    around.ended(planned.tier).await;
                    outcome?
                }
            }
        };
        match &outcome {
            TierOutcome::Ran { results } => on(TierEvent::Finished {
                tier: planned.tier,
                results,
            }),
            other => on(TierEvent::NotRun {
                tier: planned.tier,
                why: other.not_run().unwrap_or_default(),
            }),
        }
        runs.push(TierRun {
            tier: planned.tier,
            target: planned.target,
            outcome,
        });
    }
    Ok(runs)
}

/// Why the tier's target does not speak the stateless era its workload is in (asked with a
/// stateless `server/discover`), never downgrading it to the session era; None when it does,
/// or when the workload is in the session era.
async fn era_not_spoken(spec: &RunSpec) -> Option<String> {
    let endpoint = spec.scenario.endpoints.first()?;
    if endpoint.era() != Era::Stateless {
        return None;
    }
    let probe = loadgen::announced_era(
        endpoint.url.clone(),
        endpoint.headers.clone(),
        spec.http.clone(),
    );
    match probe.await {
        Ok((Era::Stateless, _)) => None,
        Ok((Era::Session, why)) | Err(RunError::Config(why) | RunError::Target(why)) => {
            Some(format!(
                "the target does not speak the {}: {why}",
                Era::Stateless.describe()
            ))
        }
    }
}

/// One tier (or one step of a capacity search): the services it passes through must answer
/// before it starts and after it ends, and its target must not have gone down in between.
pub async fn run_one(
    tier: Tier,
    spec: RunSpec,
    health: &Health,
    stop: &cli::signal::StopReceiver,
) -> Result<TierOutcome, String> {
    if let Err(why) = health.check(tier).await {
        return Ok(TierOutcome::Failed {
            reason: format!("before the tier: {why}"),
            results: None,
        });
    }
    if let Some(reason) = era_not_spoken(&spec).await {
        return Ok(TierOutcome::Skipped { reason });
    }
    let results = match loadgen::run(spec, cli::signal::stopped(stop.clone())).await {
        Ok(results) => Box::new(results),
        Err(RunError::Config(m)) => return Err(format!("tier {tier}: {m}")),
        Err(RunError::Target(reason)) => {
            return Ok(TierOutcome::Failed {
                reason,
                results: None,
            })
        }
    };
    if results.stopped_by.is_some() {
        return Ok(TierOutcome::Ran { results });
    }
    let failure = match (&results.target_down, health.check(tier).await) {
        (Some(down), _) => Some(down.reason.clone()),
        (None, Err(why)) => Some(format!("during the tier, {why}")),
        (None, Ok(())) => None,
    };
    Ok(match failure {
        Some(reason) => TierOutcome::Failed {
            reason,
            results: Some(results),
        },
        None => TierOutcome::Ran { results },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_named_mcp_tier_runs_in_every_era_asked_for() {
        let named = parse_tiers("direct,gateway,rest").unwrap();
        assert_eq!(in_eras(&named, &[Era::Session]), named);
        assert_eq!(
            in_eras(&named, &Era::ALL),
            [
                Tier::Direct,
                Tier::Gateway,
                Tier::DirectStateless,
                Tier::GatewayStateless,
                Tier::Rest
            ]
        );
        let named = parse_tiers("nginx-stateless,direct").unwrap();
        assert_eq!(
            in_eras(&named, &[Era::Session]),
            [Tier::Direct, Tier::NginxStateless]
        );
    }

    fn targets(nginx: Result<url::Url, String>) -> Targets {
        let url = |u: &str| url::Url::parse(u).unwrap();
        // Port 9 (discard) is closed on loopback: nothing answers there.
        Targets {
            direct: Ok(url("http://127.0.0.1:9/mcp")),
            gateway: url("http://127.0.0.1:9/"),
            nginx_tls: nginx
                .as_ref()
                .map(|_| crate::targets::TlsTarget {
                    base: url("https://127.0.0.1:8443/"),
                    ca_cert: "/state/tls/ca.pem".into(),
                })
                .map_err(Clone::clone),
            nginx,
            virtual_server_id: "abc".into(),
            token: "tok".into(),
            entities: Default::default(),
            health: Health {
                backend: Some(url("http://127.0.0.1:9/health")),
                gateway: Some(url("http://127.0.0.1:9/health")),
                nginx: None,
            },
        }
    }

    fn class_picks() -> ClassPicks {
        ClassPicks {
            mcp: picks(None, ClassKind::Mcp, WeightTable::Locustfile).unwrap(),
            rest: Some(
                picks(
                    Some("HealthCheckUser"),
                    ClassKind::Rest,
                    WeightTable::Locustfile,
                )
                .unwrap(),
            ),
            weights: WeightTable::Locustfile,
        }
    }

    #[test]
    fn every_mcp_tier_gets_the_same_workload_on_its_own_endpoint() {
        let nginx = Ok(url::Url::parse("http://127.0.0.1:8080/").unwrap());
        let planned = plan(&Tier::ALL, &targets(nginx), &class_picks(), &mut vec![]).unwrap();
        let addressed: Vec<&str> = planned.iter().map(|t| t.target.as_str()).collect();
        assert_eq!(
            addressed,
            [
                "http://127.0.0.1:9/mcp",
                "http://127.0.0.1:9/servers/abc/mcp",
                "http://127.0.0.1:8080/servers/abc/mcp",
                "https://127.0.0.1:8443/servers/abc/mcp",
                "http://127.0.0.1:9/mcp",
                "http://127.0.0.1:9/servers/abc/mcp",
                "http://127.0.0.1:8080/servers/abc/mcp",
                "http://127.0.0.1:9/"
            ]
        );
        let ops = |i: usize| planned[i].scenario.as_ref().unwrap().operation_names();
        assert_eq!(ops(0), ops(1));
        assert_eq!(ops(1), ops(2));
        assert_eq!(ops(2), ops(3), "over TLS the same workload");
        assert_eq!(ops(4), ops(5), "the stateless era's tiers share theirs");
        assert_eq!(ops(5), ops(6));
        assert!(ops(0).contains(&"ping".to_string()));
        assert!(ops(4).contains(&"server/discover".to_string()));
        assert!(!ops(4)
            .iter()
            .any(|o| o == loadgen::SESSION_SETUP_OP || o == "ping"));
        let era = |i: usize| planned[i].scenario.as_ref().unwrap().endpoints[0].era();
        assert_eq!((era(3), era(4)), (Era::Session, Era::Stateless));
        assert!(ops(7).contains(&"/health".to_string()));
        // Only the TLS tier trusts the stack's CA.
        let trusts: Vec<&Trust> = planned.iter().map(|t| &t.trust).collect();
        assert_eq!(*trusts[3], Trust::WithCa("/state/tls/ca.pem".into()));
        assert!(trusts
            .iter()
            .enumerate()
            .all(|(i, t)| i == 3 || **t == Trust::WebRoots));
        assert!(parse_tiers("direct,proxy")
            .unwrap_err()
            .contains("unknown tier 'proxy'"));
        assert_eq!(
            parse_tiers("gateway, direct").unwrap(),
            vec![Tier::Gateway, Tier::Direct]
        );
    }

    #[tokio::test]
    async fn a_missing_component_skips_a_dead_service_fails_and_a_signal_skips_the_rest() {
        let t = targets(Err("nginx is not on PATH".into()));
        let planned = plan(
            &[Tier::Direct, Tier::Nginx],
            &t,
            &class_picks(),
            &mut vec![],
        )
        .unwrap();
        let spec = |tier: Tier, scenario| RunSpec {
            plan: crate::profile::Profile::built_in("light").unwrap().plan(),
            scenario,
            http: loadgen::HttpOptions::default(),
            command_line: vec![],
            progress: loadgen::ProgressMode::Quiet,
            label: tier.to_string(),
            live: None,
            request_log: None,
        };
        let (_tx, stop) = tokio::sync::watch::channel(None);
        let runs = run_all(planned, spec, &t.health, &stop, &mut None, |_| {})
            .await
            .unwrap();
        let TierOutcome::Failed { reason, results } = &runs[0].outcome else {
            panic!("{:?}", runs[0].outcome)
        };
        assert!(
            reason.contains("the bench server does not answer"),
            "{reason}"
        );
        assert!(results.is_none(), "no traffic was sent");
        assert_eq!(
            runs[1].outcome,
            TierOutcome::Skipped {
                reason: "nginx is not on PATH".into()
            }
        );

        let planned = plan(&[Tier::Direct], &t, &class_picks(), &mut vec![]).unwrap();
        let (_tx, stop) = tokio::sync::watch::channel(Some(cli::Signal::Terminate));
        let runs = run_all(planned, spec, &t.health, &stop, &mut None, |_| {})
            .await
            .unwrap();
        assert!(
            matches!(&runs[0].outcome, TierOutcome::Skipped { reason } if reason.contains("SIGTERM"))
        );
    }
}
