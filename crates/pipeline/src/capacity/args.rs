//! `capacity`'s flags resolved into [`CapacityOptions`]: the SLO parsed (the threshold grammar
//! of `load --threshold`, default the seed's baseline SLA row), the tiers, the search's bounds,
//! the target (the stack or an existing gateway as `load-test` takes them, or one MCP endpoint
//! by `--url`) and the reports directory checked writable. Nothing is sent.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use contextforge::workloads::{self, ClassKind, ClassPick};
use loadgen::load_cli::ProgressArg;
use loadgen::threshold::Threshold;
use loadgen::{Era, ProgressMode, AGGREGATED};
use report::Tier;

use super::search::{Bounds, FLOOR_RATE};
use crate::cli::TargetArgs;
use crate::profile::SlaClass;
use crate::run::RunTarget;

/// The highest `--max-rate`: beyond it no single generator process keeps a schedule anyway.
pub const MOST_RATE: f64 = 1_000_000.0;
/// The most `--repeats`.
pub const MOST_REPEATS: u32 = 10;
/// Bisection ends when the gap between the last good and the first bad rate is below this
/// share of the good rate.
pub const RESOLUTION: f64 = 0.1;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "cargo xtask capacity",
    about = "Find the highest arrival rate each tier sustains under an SLO (open model: ramp, bisect, confirm)"
)]
pub struct CapacityArgs {
    /// A tier to search, repeatable or comma-separated: direct, gateway, nginx (or their
    /// `-stateless` twins). Default: every MCP tier the target has.
    #[arg(long = "tier", value_delimiter = ',')]
    pub tiers: Vec<String>,
    /// The SLO every step must keep, all clauses at once: `p95<300ms,error_rate<0.1%` (the
    /// grammar of `load --threshold`), or a row of the seed's SLA table: baseline, load,
    /// stress. Default: baseline (p50<100ms,p95<200ms,p99<300ms,error_rate<0.1%).
    #[arg(long)]
    pub slo: Option<String>,
    /// Measured time of each step, after its warm-up.
    #[arg(long, default_value = "10s")]
    pub step_duration: String,
    /// Discarded warm-up before each step (sessions opened, connections made).
    #[arg(long, default_value = "2s")]
    pub warmup: String,
    /// Arrivals per second of the first step.
    #[arg(long, default_value = "50")]
    pub start_rate: String,
    /// The highest rate offered.
    #[arg(long, default_value = "100000")]
    pub max_rate: String,
    /// Times the best rate is run again; each must keep the SLO, else it steps down.
    #[arg(long, default_value_t = 2)]
    pub repeats: u32,
    /// Search one MCP endpoint alone, as the direct tier (e.g. http://127.0.0.1:9000/mcp):
    /// nothing is started and no gateway is involved.
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// MCP user classes (Locust's class picker): `MCPToolCallerUser,MCPAgentUser:3`; each
    /// arrival runs one task of the class its user is dealt.
    #[arg(long)]
    pub mcp_classes: Option<String>,
    /// Seed of every random choice (arrival gaps, tool picks), the same on every step.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The engine's worker threads (default: one per CPU) [env: LOADTEST_PROCESSES].
    #[arg(long, allow_hyphen_values = true)]
    pub processes: Option<String>,
    /// Where the run directory goes (`<dir>/capacity-<timestamp>/`, `<dir>/latest-capacity`).
    #[arg(long, default_value = "reports")]
    pub reports_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
}

/// What the search measures.
pub enum SearchTarget {
    /// The stack or an existing gateway, as `load-test` reaches them.
    System(RunTarget),
    /// One MCP endpoint by URL: the direct tier alone, nothing started.
    Endpoint(url::Url),
}

/// `capacity`, resolved and checked (no traffic yet).
pub struct CapacityOptions {
    pub tiers: Vec<Tier>,
    pub slo: Vec<Threshold>,
    pub bounds: Bounds,
    pub step: Duration,
    pub warmup: Duration,
    pub seed: u64,
    pub picks: Vec<ClassPick>,
    pub target: SearchTarget,
    pub reports_dir: PathBuf,
    pub progress: ProgressMode,
    pub workers: Option<usize>,
    pub command_line: Vec<String>,
}

/// The SLO's clauses: a row of the seed's SLA table by name, or comma-separated thresholds (a
/// comma inside a `{…}` scope belongs to the scope). Every clause is checked against the
/// workload's operations; a `tier=` scope is refused (every tier is searched under the same SLO).
pub fn parse_slo(text: Option<&str>, picks: &[ClassPick]) -> Result<Vec<Threshold>, String> {
    let row = |class: SlaClass| class.latency_thresholds().map(str::to_string).to_vec();
    let clauses: Vec<String> = match text.map(str::trim) {
        None | Some("baseline") => row(SlaClass::Baseline),
        Some("load") => row(SlaClass::Load),
        Some("stress") => row(SlaClass::Stress),
        Some(text) => split_clauses(text),
    };
    if clauses.is_empty() {
        return Err("--slo is empty: give clauses like p95<300ms,error_rate<0.1%".into());
    }
    let mut operations = workloads::operation_names(ClassKind::Mcp, picks)?;
    operations.push(AGGREGATED.into());
    clauses
        .iter()
        .map(|clause| {
            let threshold = Threshold::parse(clause).map_err(|e| format!("--slo: {e}"))?;
            if threshold.tier.is_some() {
                return Err(format!(
                    "--slo '{clause}': no tier= scope (every tier is searched under the same SLO; pick tiers with --tier)"
                ));
            }
            threshold
                .check_operation(&operations)
                .map_err(|e| format!("--slo: {e}"))?;
            Ok(threshold)
        })
        .collect()
}

/// `a,b{op=x,tier=y},c` → `a`, `b{op=x,tier=y}`, `c`.
fn split_clauses(text: &str) -> Vec<String> {
    let (mut clauses, mut current, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth <= 0 => {
                clauses.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    clauses.push(current);
    clauses
        .into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// The MCP tiers named (each once, in run order), or every session-era MCP tier.
fn tiers(named: &[String]) -> Result<Vec<Tier>, String> {
    if named.is_empty() {
        return Ok(Tier::mcp_tiers(Era::Session).to_vec());
    }
    let mut tiers = crate::tiers::parse_tiers(&named.join(","))?;
    if let Some(rest) = tiers.iter().find(|t| t.era().is_none()) {
        return Err(format!(
            "--tier {rest}: capacity searches the MCP tiers (direct, gateway, nginx, nginx-tls and the -stateless twins)"
        ));
    }
    tiers.sort();
    Ok(tiers)
}

fn rate_flag(flag: &str, text: &str) -> Result<f64, String> {
    let rate = loadgen::parse_rate(text).map_err(|e| format!("{flag}: {e}"))?;
    if (FLOOR_RATE..=MOST_RATE).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "{flag} {text}: arrivals per second from {FLOOR_RATE} to {MOST_RATE}"
        ))
    }
}

fn bounds(args: &CapacityArgs) -> Result<Bounds, String> {
    let start = rate_flag("--start-rate", &args.start_rate)?;
    let max = rate_flag("--max-rate", &args.max_rate)?;
    if start > max {
        return Err(format!(
            "--start-rate {} is above --max-rate {}",
            args.start_rate, args.max_rate
        ));
    }
    if args.repeats > MOST_REPEATS {
        return Err(format!(
            "--repeats {}: at most {MOST_REPEATS}",
            args.repeats
        ));
    }
    Ok(Bounds {
        start,
        max,
        repeats: args.repeats,
        resolution: RESOLUTION,
    })
}

/// `--url` alone, or the stack / an existing gateway as `load-test` takes them.
fn target(
    args: &CapacityArgs,
    tiers: &[Tier],
    env: &impl Fn(&str) -> Option<String>,
    bench_server: stack::BenchServerProgram,
) -> Result<SearchTarget, String> {
    let Some(url) = &args.url else {
        let mut target = crate::cli::target(
            &args.target,
            false,
            contextforge::settings::AdminUi::Off,
            env,
            bench_server,
        )?;
        crate::cli::tls_for_tiers(&mut target, tiers);
        return Ok(SearchTarget::System(target));
    };
    let gateway_named = args.target.gateway_url.is_some()
        || env("LOADTEST_HOST").is_some_and(|h| !h.trim().is_empty());
    if gateway_named || args.target.direct_url.is_some() {
        return Err(
            "--url searches one MCP endpoint alone: drop --gateway-url/LOADTEST_HOST and --direct-url"
                .into(),
        );
    }
    if let Some(other) = tiers.iter().find(|t| t.place() != Tier::Direct) {
        return Err(format!(
            "--url is the direct tier alone: --tier {other} needs the stack or --gateway-url"
        ));
    }
    crate::cli::target_url("--url", url, false).map(SearchTarget::Endpoint)
}

fn duration(flag: &str, text: &str) -> Result<Duration, String> {
    loadgen::parse_duration(text).map_err(|e| format!("{flag}: {e}"))
}

/// Every flag checked, before anything is started or sent.
pub fn resolve(
    args: &CapacityArgs,
    env: impl Fn(&str) -> Option<String>,
    bench_server: stack::BenchServerProgram,
    command_line: Vec<String>,
) -> Result<CapacityOptions, String> {
    let picks = crate::tiers::picks(
        args.mcp_classes.as_deref(),
        ClassKind::Mcp,
        workloads::WeightTable::Locustfile,
    )?;
    let slo = parse_slo(args.slo.as_deref(), &picks)?;
    let mut tiers = tiers(&args.tiers)?;
    if args.url.is_some() && args.tiers.is_empty() {
        tiers = vec![Tier::Direct];
    }
    let step = duration("--step-duration", &args.step_duration)?;
    if step.is_zero() {
        return Err("--step-duration must be longer than zero".into());
    }
    let bounds = bounds(args)?;
    let target = target(args, &tiers, &env, bench_server)?;
    let workers = crate::cli::workers(args.processes.as_deref(), &env)?;
    cli::paths::ensure_writable_dir(&args.reports_dir)
        .map_err(|e| format!("--reports-dir: {e}"))?;
    Ok(CapacityOptions {
        tiers,
        slo,
        bounds,
        step,
        warmup: duration("--warmup", &args.warmup)?,
        seed: args.seed,
        picks,
        target,
        reports_dir: args.reports_dir.clone(),
        progress: args.progress.into(),
        workers,
        command_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(extra: &[&str]) -> Result<CapacityOptions, String> {
        let args = CapacityArgs::try_parse_from(
            ["capacity"]
                .iter()
                .chain(extra)
                .copied()
                .collect::<Vec<_>>(),
        )
        .unwrap();
        resolve(
            &args,
            |_| None,
            stack::BenchServerProgram::binary(PathBuf::from("bench-server")),
            vec![],
        )
    }

    #[test]
    fn the_default_slo_is_the_seeds_baseline_row_and_clauses_split_outside_scopes() {
        let o = resolve_with(&[]).unwrap();
        let texts: Vec<&str> = o.slo.iter().map(|t| t.expression.as_str()).collect();
        assert_eq!(texts, SlaClass::Baseline.latency_thresholds());
        assert_eq!(o.tiers, [Tier::Direct, Tier::Gateway, Tier::Nginx]);
        let o = resolve_with(&[
            "--slo",
            "p95{op=tools/call}<300ms, error_rate<0.5%",
            "--tier",
            "gateway",
            "--tier",
            "direct,nginx-stateless",
        ])
        .unwrap();
        assert_eq!(o.slo.len(), 2);
        assert_eq!(o.slo[0].operation.as_deref(), Some("tools/call"));
        assert_eq!(o.tiers, [Tier::Direct, Tier::Gateway, Tier::NginxStateless]);
        let o = resolve_with(&["--slo", "stress", "--url", "http://127.0.0.1:9/mcp"]).unwrap();
        assert_eq!(o.slo[2].expression, "p99<1000ms");
        assert_eq!(o.tiers, [Tier::Direct]);
        assert!(matches!(o.target, SearchTarget::Endpoint(_)));
    }

    #[test]
    fn bad_input_is_one_line_before_anything_runs() {
        for (extra, why) in [
            (
                vec!["--slo", "p95<fast"],
                "--slo: invalid threshold 'p95<fast'",
            ),
            (vec!["--slo", "latency<1s"], "unknown metric"),
            (vec!["--slo", " , "], "--slo is empty"),
            (vec!["--slo", "p95{tier=gateway}<1s"], "no tier= scope"),
            (vec!["--slo", "p95{op=tools/cal}<1s"], "tools/cal"),
            (vec!["--tier", "rest"], "MCP tiers"),
            (vec!["--tier", "edge"], "unknown tier"),
            (vec!["--start-rate", "0"], "--start-rate: invalid rate '0'"),
            (
                vec!["--start-rate", "0.5"],
                "--start-rate 0.5: arrivals per second",
            ),
            (
                vec!["--start-rate", "500", "--max-rate", "100"],
                "above --max-rate",
            ),
            (vec!["--repeats", "11"], "at most 10"),
            (vec!["--step-duration", "0s"], "longer than zero"),
            (vec!["--url", "ftp://x/mcp"], "http:// or https://"),
            (
                vec!["--url", "http://127.0.0.1:9/mcp", "--tier", "gateway"],
                "direct tier alone",
            ),
        ] {
            let e = resolve_with(&extra).err().unwrap();
            assert!(e.contains(why), "{extra:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
