//! The `load-test` and `tune` command lines: flags and the Makefile's variables resolved into
//! [`RunOptions`] (every threshold, class pick and tier parsed and checked; nothing sent yet),
//! the run, its files, and the workspace's exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use cli::Exit;
use contextforge::workloads::{ClassKind, WeightTable};
use loadgen::load_cli::ProgressArg;
use report::Tier;

use crate::profile::{Overrides, Profile};
use crate::run::{self, Event, RunOptions, RunTarget};
use crate::targets::{Auth, Existing};
use crate::thresholds::ClassPicks;
use crate::tiers::TierEvent;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "cargo xtask load-test",
    about = "Run a profile on every tier (direct, gateway, nginx → gateway, REST) and report the gateway's overhead"
)]
pub struct LoadTestArgs {
    /// light, heavy, stress, sustained (the Makefile's); rest-baseline, mcp-baseline,
    /// mcp-servers-baseline, load, stress-ramp, spike, soak, admin-ui, and the streaming plans
    /// sse and websocket (the seed's JMeter plans); or a TOML profile file (the last one given wins, so `load-test-light --profile heavy`
    /// runs heavy).
    #[arg(long, default_value = "light", overrides_with = "profile")]
    pub profile: String,
    /// Concurrent users (users profiles) [env: LOADTEST_USERS].
    #[arg(long)]
    pub users: Option<u32>,
    /// Users started per second [env: LOADTEST_SPAWN_RATE].
    #[arg(long)]
    pub spawn_rate: Option<String>,
    /// Measured time per tier, e.g. 30s, 5m; an arrival-rate profile's stages keep their
    /// shares of it [env: LOADTEST_RUN_TIME].
    #[arg(long, visible_alias = "duration")]
    pub run_time: Option<String>,
    /// Starting arrival rate of an arrival-rate profile (20, 20/s); its stages scale with it
    /// (`--profile spike --rate 20`: 20/s → 200/s → 20/s).
    #[arg(long)]
    pub rate: Option<String>,
    /// Connections held on each tier by a streaming plan (sse: 1000, websocket: 500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: Option<u32>,
    /// Messages per second on each connection of a streaming plan (sse: 0.1, websocket: 1).
    #[arg(long)]
    pub message_rate: Option<String>,
    /// What the tiers measure: the stack, or a gateway this tool did not start.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Tiers to run, comma-separated (direct, gateway, nginx, nginx-tls, rest; each MCP tier
    /// runs in every era of --eras, nginx-tls in the session era only; `gateway-stateless` and
    /// the like name one era's tier). nginx-tls turns on the stack's TLS listener. Default: the
    /// profile's tiers (rest-baseline: rest, …), else direct, gateway, nginx and rest.
    #[arg(long)]
    pub tiers: Option<String>,
    /// Protocol eras of the MCP tiers: session (initialize, 2025-11-25 and before), stateless
    /// (2026-07-28), or both (default: the profile's, session unless it says).
    #[arg(long)]
    pub eras: Option<String>,
    /// MCP user classes (Locust's class picker): `MCPToolCallerUser,MCPAgentUser:3`.
    #[arg(long)]
    pub mcp_classes: Option<String>,
    /// REST user classes for the rest tier: `HealthCheckUser,ReadOnlyAPIUser`.
    #[arg(long)]
    pub rest_classes: Option<String>,
    /// Whose user-class weights a class without `:N` gets: `locustfile` (the gateway's current
    /// locustfiles) or `seed` (the seed's User Classes table).
    #[arg(long, default_value = "locustfile")]
    pub class_weights: String,
    /// Pass/fail threshold (repeatable): `p95<300ms`, `error_rate<0.5%`, `rps>1000`, scoped as
    /// `p95{tier=gateway,op=tools/call}<300ms`. Unscoped ones apply to the gateway and nginx tiers.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Do not check the SLA table's thresholds for the profile's class.
    #[arg(long)]
    pub no_sla: bool,
    /// Discarded warm-up before each tier, e.g. 5s.
    #[arg(long)]
    pub warmup: Option<String>,
    /// Seed of every random choice (the same on every tier).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The engine's worker threads (Locust's worker processes; default: one per CPU; results
    /// are one process's, so nothing needs merging) [env: LOADTEST_PROCESSES].
    #[arg(long, allow_hyphen_values = true)]
    pub processes: Option<String>,
    /// Run every tier N times, interleaved (direct, gateway, nginx, direct, …), and report each
    /// figure with its 95% confidence interval over the rounds (compare-baseline then tells a
    /// regression from noise).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Sample the gateway's Python stacks with py-spy during the gateway tier (a flame graph and
    /// the top frames in the report, the stacks in gateway.folded) and read the gateway's own
    /// performance counters around it; a stack brought up for the run keeps those counters on.
    #[arg(long)]
    pub profile_gateway: bool,
    /// Where run directories go (`<dir>/<run-id>/`, `<dir>/latest`).
    #[arg(long, default_value = "reports")]
    pub reports_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
}

/// What a run measures, as `load-test` and `capacity` take it: the stack (reused when up, else
/// brought up with these flags), or a gateway this tool did not start.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Measure a gateway this tool did not start (http or https, any host), e.g.
    /// https://gateway.example.com: nothing is brought up [env: LOADTEST_HOST].
    #[arg(long, visible_alias = "host")]
    pub gateway_url: Option<String>,
    /// The bearer token for --gateway-url; never printed or recorded
    /// [env: MCPGATEWAY_BEARER_TOKEN].
    #[arg(long, conflicts_with = "jwt_secret", allow_hyphen_values = true)]
    pub token: Option<String>,
    /// Mint an admin token for --gateway-url with its JWT_SECRET_KEY instead of --token.
    #[arg(long, allow_hyphen_values = true)]
    pub jwt_secret: Option<String>,
    /// The virtual server --gateway-url's tiers address (default: mcpbench's own, created or
    /// replaced, bundling the --direct-url backend's tools, or every tool the gateway lists).
    #[arg(long)]
    pub server_id: Option<String>,
    /// The MCP endpoint of a backend behind --gateway-url, for the direct tier, e.g.
    /// http://10.0.0.5:9000/mcp (without it the direct tier is skipped).
    #[arg(long)]
    pub direct_url: Option<String>,
    /// How to bring the stack up when none is running.
    #[command(flatten)]
    pub stack: stack::UpFlags,
    /// Leave a stack this run brought up running afterwards.
    #[arg(long)]
    pub keep_stack: bool,
}

/// An http(s) URL with a host and no credentials in it (they go in --token); `base` makes its
/// path end in `/`, so the gateway's paths join below it.
pub fn target_url(flag: &str, text: &str, base: bool) -> Result<url::Url, String> {
    let mut url = url::Url::parse(text).map_err(|e| format!("{flag} '{text}': {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "{flag} '{text}' must be an http:// or https:// URL with a host"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{flag} carries credentials: pass the token with --token"
        ));
    }
    if base && !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// The `nginx-tls` tier asks the stack it brings up for nginx's TLS listener (on
/// `--nginx-tls-port`, else the default port); a running stack without one says so.
pub fn tls_for_tiers(target: &mut RunTarget, tiers: &[Tier]) {
    if let (RunTarget::Stack { options, .. }, true) = (target, tiers.contains(&Tier::NginxTls)) {
        options.nginx_tls_port = options
            .nginx_tls_port
            .or(Some(stack::DEFAULT_NGINX_TLS_PORT));
    }
}

/// Where the tiers go: the stack, or the gateway at `--gateway-url` (`LOADTEST_HOST`) with its
/// credentials. The existing gateway's flags without it are a usage error; so is profiling a
/// gateway this tool does not run (`profile_gateway`).
pub fn target(
    args: &TargetArgs,
    profile_gateway: bool,
    admin_ui: contextforge::settings::AdminUi,
    env: &impl Fn(&str) -> Option<String>,
    bench_server: stack::BenchServerProgram,
) -> Result<RunTarget, String> {
    let gateway = args
        .gateway_url
        .clone()
        .or_else(|| env("LOADTEST_HOST").filter(|h| !h.trim().is_empty()));
    let Some(gateway) = gateway else {
        let only_with = [
            ("--token", args.token.is_some()),
            ("--jwt-secret", args.jwt_secret.is_some()),
            ("--server-id", args.server_id.is_some()),
            ("--direct-url", args.direct_url.is_some()),
        ];
        if let Some((flag, _)) = only_with.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{flag} is for an existing gateway: add --gateway-url URL"
            ));
        }
        let mut options = args.stack.options(bench_server);
        options.check_limits()?;
        if profile_gateway {
            options.tracking = contextforge::settings::Tracking::Performance;
        }
        if admin_ui == contextforge::settings::AdminUi::On {
            options.admin_ui = admin_ui;
        }
        return Ok(RunTarget::Stack {
            options,
            keep: args.keep_stack,
        });
    };
    if profile_gateway {
        return Err(
            "--profile-gateway samples a gateway this tool runs: it cannot with --gateway-url"
                .into(),
        );
    }
    let gateway = target_url("--gateway-url", gateway.trim(), true)?;
    let credential = |flag: &Option<String>, variable: &str| {
        flag.clone()
            .or_else(|| env(variable))
            .filter(|v| !v.is_empty())
    };
    let auth = match (
        credential(&args.token, "MCPGATEWAY_BEARER_TOKEN"),
        credential(&args.jwt_secret, contextforge::settings::JWT_SECRET_ENV),
    ) {
        (Some(token), _) if args.jwt_secret.is_none() => Auth::Token(token),
        (_, Some(secret)) => Auth::Secret(secret),
        _ => {
            return Err("an existing gateway needs credentials: --token (or \
                        MCPGATEWAY_BEARER_TOKEN), or --jwt-secret (or JWT_SECRET_KEY)"
                .into())
        }
    };
    Ok(RunTarget::Existing(Existing {
        gateway,
        auth,
        server_id: args.server_id.clone(),
        direct: args
            .direct_url
            .as_deref()
            .map(|d| target_url("--direct-url", d, false))
            .transpose()?,
    }))
}

/// The profile with the flags and the Makefile's variables applied (flags win).
fn profile(args: &LoadTestArgs, env: &impl Fn(&str) -> Option<String>) -> Result<Profile, String> {
    let mut profile = Profile::load(&args.profile)?;
    if let Some(flag) = [
        ("--connections", args.connections.is_some()),
        ("--message-rate", args.message_rate.is_some()),
    ]
    .iter()
    .find_map(|(flag, given)| given.then_some(flag))
    {
        return Err(format!(
            "{flag} sizes a streaming plan (--profile sse or websocket), not '{}'",
            profile.name
        ));
    }
    let flags = Overrides {
        users: args.users,
        spawn_rate: args
            .spawn_rate
            .as_deref()
            .map(|r| loadgen::parse_rate(r).map_err(|e| e.to_string()))
            .transpose()?,
        rate: args
            .rate
            .as_deref()
            .map(|r| loadgen::parse_rate(r).map_err(|e| format!("--rate: {e}")))
            .transpose()?,
        run_time: args
            .run_time
            .as_deref()
            .map(|d| loadgen::parse_duration(d).map_err(|e| e.to_string()))
            .transpose()?,
    };
    profile.apply_overrides(&flags.or(Overrides::from_env(env)?))?;
    if let Some(w) = &args.warmup {
        profile.warmup = loadgen::parse_duration(w).map_err(|e| e.to_string())?;
    }
    if let Some(seed) = args.seed {
        profile.seed = seed;
    }
    if args.mcp_classes.is_some() {
        profile.mcp_classes = args.mcp_classes.clone();
    }
    if args.rest_classes.is_some() {
        profile.rest_classes = args.rest_classes.clone();
    }
    if args.no_sla {
        profile.sla_thresholds = false;
    }
    profile.plan().validate().map_err(|e| e.to_string())?;
    Ok(profile)
}

/// The tiers a profile runs when neither `--tiers` nor the profile names them.
const ALL_TIERS: &str = "direct,gateway,nginx,rest";

/// The most engine worker threads `--processes` takes.
const MOST_WORKERS: usize = 1024;

/// `--processes`, else `LOADTEST_PROCESSES`: the engine's worker threads (None: one per CPU).
pub fn workers(
    flag: Option<&str>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<usize>, String> {
    let (name, text) = match flag {
        Some(text) => ("--processes", text.to_string()),
        None => match env("LOADTEST_PROCESSES").filter(|v| !v.trim().is_empty()) {
            Some(text) => ("LOADTEST_PROCESSES", text),
            None => return Ok(None),
        },
    };
    match text.trim().parse::<usize>() {
        // Locust's -1 is "one per CPU", our default.
        _ if text.trim() == "-1" => Ok(None),
        Ok(n) if (1..=MOST_WORKERS).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{name}='{}': the engine's worker threads, a whole number from 1 to {MOST_WORKERS} (or -1: one per CPU)",
            text.trim()
        )),
    }
}

/// Resolves flags, the Makefile's variables and the profile into run options: every threshold,
/// class pick and tier parsed and checked, the reports directory writable. Nothing is sent.
pub fn resolve(
    args: &LoadTestArgs,
    env: impl Fn(&str) -> Option<String>,
    bench_server: stack::BenchServerProgram,
    command_line: Vec<String>,
) -> Result<RunOptions, String> {
    let mut profile = profile(args, &env)?;
    if let Some(eras) = &args.eras {
        profile.eras = crate::profile::parse_eras(eras).map_err(|e| format!("--eras: {e}"))?;
    }
    let named = args
        .tiers
        .as_deref()
        .or(profile.tiers.as_deref())
        .unwrap_or(ALL_TIERS);
    let mut tiers = crate::tiers::in_eras(&crate::tiers::parse_tiers(named)?, &profile.eras);
    if !profile.rest {
        tiers.retain(|t| *t != Tier::Rest);
    }
    let weights = WeightTable::parse(&args.class_weights)?;
    let picks = ClassPicks {
        mcp: crate::tiers::picks(profile.mcp_classes.as_deref(), ClassKind::Mcp, weights)?,
        rest: tiers
            .contains(&Tier::Rest)
            .then(|| crate::tiers::picks(profile.rest_classes.as_deref(), ClassKind::Rest, weights))
            .transpose()?,
        weights,
    };
    let mut notes = Vec::new();
    let thresholds =
        crate::thresholds::scoped(&profile, &args.thresholds, &tiers, &picks, &mut notes)?;
    let mut target = target(
        &args.target,
        args.profile_gateway,
        profile.admin_ui,
        &env,
        bench_server,
    )?;
    tls_for_tiers(&mut target, &tiers);
    let workers = workers(args.processes.as_deref(), &env)?;
    let profiled_tier = match args.profile_gateway {
        false => None,
        true => Some(
            [Tier::Gateway, Tier::GatewayStateless]
                .into_iter()
                .find(|t| tiers.contains(t))
                .ok_or("--profile-gateway profiles the gateway tier: add it to --tiers")?,
        ),
    };
    cli::paths::ensure_writable_dir(&args.reports_dir)
        .map_err(|e| format!("--reports-dir: {e}"))?;
    Ok(RunOptions {
        profile,
        tiers,
        thresholds,
        picks,
        target,
        reports_dir: args.reports_dir.clone(),
        progress: args.progress.into(),
        command_line,
        notes,
        live: None,
        workers,
        repeat: args.repeat,
        profiled_tier,
    })
}

/// The whole `load-test` command. `args[0]` is the program name; `profile` (from a
/// `load-test-<profile>` alias) goes before the user's flags so `--profile` can still win.
pub fn main_with_args(args: Vec<String>, bench_server: stack::BenchServerProgram) -> ExitCode {
    let parsed: LoadTestArgs = match cli::args::parse("load-test", &args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let command_line = cli::redact::redact_command_line(&args);
    if let Some(plan) = crate::profile::StreamPlan::built_in(&parsed.profile) {
        return stream_main(&parsed, plan, bench_server, command_line);
    }
    let options = match resolve(
        &parsed,
        |k| std::env::var(k).ok(),
        bench_server,
        command_line,
    ) {
        Ok(o) => o,
        Err(m) => return Exit::Usage.fail("load-test", &m),
    };
    let reports_dir = options.reports_dir.clone();
    let run = match under_signals(options.workers, |stop| async move {
        run::run(options, stop, &mut print_event).await
    }) {
        Ok(r) => r,
        Err(code) => return code,
    };
    print!("{}", report::terminal::end_of_run(&run));
    match run::write_reports(&run, &reports_dir) {
        Ok(dir) => println!("report: {}", dir.join("report.html").display()),
        Err(m) => return Exit::Infrastructure.fail("load-test", &m),
    }
    ExitCode::from(u8::try_from(run.verdict.exit_code).unwrap_or(Exit::Infrastructure.code()))
}

/// What the run says as it goes, on the terminal.
/// `load-test` with a streaming plan: the same run, files and exit status as a request
/// profile's, from `crate::streams`.
fn stream_main(
    parsed: &LoadTestArgs,
    plan: crate::profile::StreamPlan,
    bench_server: stack::BenchServerProgram,
    command_line: Vec<String>,
) -> ExitCode {
    let resolved = crate::streams::resolve(
        parsed,
        plan,
        |k| std::env::var(k).ok(),
        bench_server,
        command_line,
    );
    let options = match resolved {
        Ok(o) => o,
        Err(m) => return Exit::Usage.fail("load-test", &m),
    };
    let reports_dir = options.reports_dir.clone();
    let run = match under_signals(None, |stop| async move {
        crate::streams::run(options, stop, &mut print_event).await
    }) {
        Ok(r) => r,
        Err(code) => return code,
    };
    println!("{}", run.verdict.status.label());
    for reason in &run.verdict.reasons {
        println!("  {reason}");
    }
    match crate::streams::write_reports(&run, &reports_dir) {
        Ok(dir) => println!("report: {}", dir.join("report.html").display()),
        Err(m) => return Exit::Infrastructure.fail("load-test", &m),
    }
    ExitCode::from(u8::try_from(run.verdict.exit_code).unwrap_or(Exit::Infrastructure.code()))
}

/// `run` on the engine's runtime (`workers` threads; None: one per CPU) with the stop signals
/// handled; a run that ended without a document is the command's exit.
fn under_signals<T, F>(
    workers: Option<usize>,
    run: impl FnOnce(cli::signal::StopReceiver) -> F,
) -> Result<T, ExitCode>
where
    F: std::future::Future<Output = Result<T, run::RunFailure>>,
{
    let runtime = loadgen::runtime_with_workers(workers).map_err(|e| {
        Exit::Infrastructure.fail("load-test", &format!("cannot start the async runtime: {e}"))
    })?;
    runtime
        .block_on(async {
            let stop = cli::signal::install("load-test").map_err(|e| {
                run::RunFailure::Infrastructure(format!("cannot handle signals: {e}"))
            })?;
            run(stop).await
        })
        .map_err(|e| e.exit().fail("load-test", &e.to_string()))
}

fn print_event(event: Event<'_>) {
    match event {
        Event::Note(note) => println!("{note}"),
        Event::Tier(TierEvent::Starting { tier, target }) => {
            println!("── tier {tier} ({}): {target}", tier.description());
        }
        Event::Tier(TierEvent::Finished { results, .. }) => {
            print!("{}", loadgen::summary(results));
        }
        Event::Tier(TierEvent::NotRun { tier, why }) => println!("── tier {tier}: {why}"),
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask tune",
    about = "Check or apply the host TCP tuning a load test needs (the seed's tables)"
)]
pub struct TuneArgs {
    #[arg(value_enum)]
    pub action: TuneAction,
    /// With apply: also write /etc/sysctl.d/99-mcp-loadtest.conf and the limits.conf entries.
    #[arg(long)]
    pub persist: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TuneAction {
    /// Show each setting against the recommendation (exit 1 if any should change).
    Check,
    /// Apply the recommendations (root); without root, print the commands to run.
    Apply,
}

/// The whole `tune` command.
pub fn tune_main(args: Vec<String>) -> ExitCode {
    use crate::host;
    let parsed: TuneArgs = match cli::args::parse("tune", &args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let paths = host::HostPaths::default();
    let place = host::Place::detect(&paths.root, &paths.proc_sys);
    match parsed.action {
        TuneAction::Check => {
            let rows = host::check(&paths);
            print!("{}", host::check_table(&rows));
            for line in place
                .limitations()
                .iter()
                .map(String::as_str)
                .chain(host::monitoring_advice())
            {
                println!("{line}");
            }
            if rows.iter().all(|r| r.verdict.is_ok()) {
                ExitCode::SUCCESS
            } else {
                println!("to apply: cargo xtask tune apply [--persist]");
                Exit::Failed.into()
            }
        }
        TuneAction::Apply if !host::is_root() => {
            println!("not root: run these as root (or `sudo cargo xtask tune apply`):");
            for cmd in host::apply_commands(parsed.persist, &paths) {
                println!("{cmd}");
            }
            for line in place.limitations() {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        TuneAction::Apply => {
            let applied = host::apply(&paths, parsed.persist);
            for line in &applied.done {
                println!("{line}");
            }
            println!(
                "user limits: `{}` in the shell that runs the load test (up to its hard limits){}",
                host::ulimit_command(),
                if parsed.persist {
                    ""
                } else {
                    ", or `tune apply --persist` for limits.conf"
                }
            );
            if applied.failed.is_empty() {
                return ExitCode::SUCCESS;
            }
            let mut why = format!("cannot set {}", applied.failed.join("; "));
            for line in place.limitations() {
                why.push_str(" — ");
                why.push_str(&line);
            }
            Exit::Infrastructure.fail("tune", &why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> LoadTestArgs {
        LoadTestArgs::try_parse_from(
            ["load-test"]
                .iter()
                .chain(extra)
                .copied()
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn resolve_with(extra: &[&str], env: &[(&str, &str)]) -> Result<RunOptions, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(
            &args(extra),
            |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            stack::BenchServerProgram::binary(PathBuf::from("bench-server")),
            vec![],
        )
    }

    #[test]
    fn a_later_profile_wins_over_the_aliases_own() {
        assert_eq!(
            args(&["--profile", "light", "--profile", "heavy"]).profile,
            "heavy"
        );
    }

    #[test]
    fn makefile_variables_apply_and_flags_win() {
        let o = resolve_with(
            &["--profile", "heavy", "--users", "3"],
            &[
                ("LOADTEST_USERS", "9"),
                ("LOADTEST_RUN_TIME", "10s"),
                ("LOADTEST_HOST", "http://127.0.0.1:8081"),
                ("MCPGATEWAY_BEARER_TOKEN", "t0ken"),
                ("LOADTEST_PROCESSES", "4"),
            ],
        )
        .unwrap();
        assert_eq!(o.workers, Some(4));
        let flag_wins = resolve_with(&["--processes", "2"], &[("LOADTEST_PROCESSES", "4")]);
        assert_eq!(flag_wins.unwrap().workers, Some(2));
        let per_cpu = resolve_with(&[], &[("LOADTEST_PROCESSES", "-1")]);
        assert_eq!(per_cpu.unwrap().workers, None);
        for bad in ["0", "many", "5000"] {
            let refused = resolve_with(&[], &[("LOADTEST_PROCESSES", bad)])
                .err()
                .unwrap();
            assert!(refused.starts_with("LOADTEST_PROCESSES="), "{refused}");
        }
        assert_eq!(
            o.profile.load,
            crate::profile::Load::Users {
                users: 3,
                spawn_rate: 20.0,
                duration: std::time::Duration::from_secs(10)
            }
        );
        let RunTarget::Existing(existing) = o.target else {
            panic!("LOADTEST_HOST names the gateway to measure")
        };
        assert_eq!(existing.gateway.as_str(), "http://127.0.0.1:8081/");
        assert_eq!(existing.auth, Auth::Token("t0ken".into()));
    }

    #[test]
    fn the_nginx_tls_tier_asks_the_stack_for_its_tls_listener() {
        let tls_port = |extra: &[&str]| {
            let options = resolve_with(extra, &[]).unwrap();
            let RunTarget::Stack { options: up, .. } = &options.target else {
                panic!("a stack run");
            };
            up.nginx_tls_port
        };
        assert_eq!(tls_port(&[]), None, "no TLS unless a tier or a flag asks");
        assert_eq!(
            tls_port(&["--tiers", "direct,nginx-tls"]),
            Some(stack::DEFAULT_NGINX_TLS_PORT)
        );
        assert_eq!(
            tls_port(&["--tiers", "nginx-tls", "--nginx-tls-port", "9443"]),
            Some(9443)
        );
        assert_eq!(tls_port(&["--nginx-tls"]), Some(8443));
        let both = resolve_with(&["--tiers", "direct,nginx-tls", "--eras", "both"], &[]).unwrap();
        assert_eq!(
            both.tiers,
            [Tier::Direct, Tier::NginxTls, Tier::DirectStateless],
            "nginx-tls is of the session era only"
        );
    }

    #[test]
    fn profiling_names_the_gateway_tier_turns_its_timings_on_and_needs_a_gateway_it_runs() {
        let options = resolve_with(&["--profile-gateway", "--eras", "both"], &[]).unwrap();
        assert_eq!(options.profiled_tier, Some(Tier::Gateway));
        let RunTarget::Stack { options: up, .. } = &options.target else {
            panic!("a stack run");
        };
        assert_eq!(up.tracking, contextforge::settings::Tracking::Performance);
        let stateless = resolve_with(&["--profile-gateway", "--eras", "stateless"], &[]).unwrap();
        assert_eq!(stateless.profiled_tier, Some(Tier::GatewayStateless));
        assert_eq!(resolve_with(&[], &[]).unwrap().profiled_tier, None);
        let err = resolve_with(&["--profile-gateway", "--tiers", "direct,nginx"], &[])
            .err()
            .unwrap();
        assert!(err.contains("add it to --tiers"), "{err}");
        let err = resolve_with(
            &[
                "--profile-gateway",
                "--gateway-url",
                "http://gw.example",
                "--token",
                "t",
            ],
            &[],
        )
        .err()
        .unwrap();
        assert!(err.contains("--gateway-url"), "{err}");
    }

    #[test]
    fn an_existing_gateway_takes_any_host_and_its_credentials_in_order() {
        use contextforge::settings::JWT_SECRET_ENV;
        let existing =
            |extra: &[&str], env: &[(&str, &str)]| match resolve_with(extra, env).unwrap().target {
                RunTarget::Existing(e) => e,
                RunTarget::Stack { .. } => panic!("{extra:?} names an existing gateway"),
            };
        let e = existing(
            &[
                "--gateway-url",
                "https://gw.example.com/prefix",
                "--jwt-secret",
                "-s3cret",
            ],
            &[("MCPGATEWAY_BEARER_TOKEN", "from-env")],
        );
        assert_eq!(e.gateway.as_str(), "https://gw.example.com/prefix/");
        // A generated secret starts with '-' one time in 64; it is still the flag's value.
        assert_eq!(e.auth, Auth::Secret("-s3cret".into()));
        let e = existing(
            &[
                "--host",
                "http://10.0.0.1:4444",
                "--direct-url",
                "http://10.0.0.2:9000/mcp",
            ],
            &[(JWT_SECRET_ENV, "k"), ("MCPGATEWAY_BEARER_TOKEN", "t")],
        );
        assert_eq!(e.auth, Auth::Token("t".into()));
        assert_eq!(e.direct.unwrap().as_str(), "http://10.0.0.2:9000/mcp");
        let e = existing(
            &["--gateway-url", "http://[::1]:4444"],
            &[(JWT_SECRET_ENV, "k")],
        );
        assert_eq!(e.auth, Auth::Secret("k".into()));
    }

    #[test]
    fn bad_input_is_a_one_line_usage_error() {
        for (extra, env, why) in [
            (vec!["--profile", "medium"], vec![], "no profile 'medium'"),
            (vec!["--run-time", "soon"], vec![], "invalid duration"),
            (
                vec!["--host", "ftp://10.0.0.1:8080"],
                vec![],
                "http:// or https://",
            ),
            (
                vec!["--token", "t"],
                vec![("LOADTEST_HOST", "example.com")],
                "--gateway-url 'example.com'",
            ),
            (
                vec!["--gateway-url", "http://u:p@127.0.0.1:4444"],
                vec![("MCPGATEWAY_BEARER_TOKEN", "t")],
                "carries credentials",
            ),
            (
                vec!["--gateway-url", "http://127.0.0.1:4444"],
                vec![],
                "needs credentials",
            ),
            (vec!["--server-id", "abc"], vec![], "add --gateway-url"),
            (vec!["--tiers", "edge"], vec![], "unknown tier"),
            (
                vec![],
                vec![("LOADTEST_SPAWN_RATE", "fast")],
                "LOADTEST_SPAWN_RATE",
            ),
            (
                vec!["--profile", "spike", "--users", "4"],
                vec![],
                "arrival-rate profile",
            ),
        ] {
            let e = resolve_with(&extra, &env).err().unwrap();
            assert!(e.contains(why), "{extra:?} {env:?}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
