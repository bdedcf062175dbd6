//! webui: `cargo xtask load-test-ui`, the live web UI of the seed's `make load-test-ui`
//! (Locust's), on the mcpbench engine and the `load-test` pipeline. It takes `load-test`'s flags
//! and the Makefile's variables, holds the stack for its whole life (the running one reused, or
//! one brought up and taken down at the end), and serves a page where a person picks the tier and
//! the user classes, starts a run, watches it second by second, changes its users or rate, stops
//! it and downloads the same reports `load-test` writes. Ctrl-C or SIGTERM ends it: a run under
//! way is halted and writes what it measured, and what the UI started is taken down.

mod form;
mod hub;
mod server;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cli::Exit;
use contextforge::workloads::{self, ClassKind};
use hyper_util::rt::TokioIo;
use pipeline::cli::LoadTestArgs;
use pipeline::run::{Event, RunFailure, RunTarget};
use serde_json::{json, Value};

use crate::form::{Scope, LONGEST_RUN, MOST_USERS};
use crate::hub::Hub;
use crate::server::Site;

/// The page's class picker shows (and sends) every weight explicitly, from the locustfile's table.
const WEIGHTS: workloads::WeightTable = workloads::WeightTable::Locustfile;

const NAME: &str = "load-test-ui";
/// The seed's form defaults (`make load-test-ui`): 4,000 users spawned at 200/s.
const SEED_USERS: u32 = 4000;
const SEED_SPAWN_RATE: f64 = 200.0;
const DEFAULT_RUN_TIME: &str = "60s";

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask load-test-ui",
    about = "The live web UI: pick a tier and user classes, start, watch, steer, stop and download the report (Ctrl-C ends it)"
)]
pub struct UiArgs {
    /// The address to serve on. The UI starts load at whatever it is given: keep it on loopback
    /// unless the network is yours.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// The port (0: any free one; the URL is printed).
    #[arg(long, default_value_t = 8089)]
    pub port: u16,
    /// Everything `load-test` takes: the stack or `--gateway-url`, the form's defaults
    /// (`--users`, `--spawn-rate`, `--run-time`, classes), thresholds, `--reports-dir`.
    #[command(flatten)]
    pub load: LoadTestArgs,
}

/// The whole command. `args[0]` is the program name.
pub fn main_with_args(args: Vec<String>, bench_server: stack::BenchServerProgram) -> ExitCode {
    let parsed: UiArgs = match cli::args::parse(NAME, &args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let command_line = cli::redact::redact_command_line(&args);
    let env = |k: &str| std::env::var(k).ok();
    // The flags are resolved once now, so a bad one is refused before anything starts.
    let target = match pipeline::cli::resolve(
        &parsed.load,
        env,
        bench_server.clone(),
        command_line.clone(),
    ) {
        Ok(options) => options.target,
        Err(m) => return Exit::Usage.fail(NAME, &m),
    };
    let meta = match meta(&parsed.load, &target) {
        Ok(m) => m,
        Err(m) => return Exit::Usage.fail(NAME, &m),
    };
    let runtime = match loadgen::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            return Exit::Infrastructure.fail(NAME, &format!("cannot start the async runtime: {e}"))
        }
    };
    let keep = parsed.load.target.keep_stack;
    let address = SocketAddr::new(parsed.bind, parsed.port);
    let outcome = runtime.block_on(async move {
        let stop = cli::signal::install(NAME)
            .map_err(|e| RunFailure::Infrastructure(format!("cannot handle signals: {e}")))?;
        let lease = match &target {
            RunTarget::Stack { options, .. } => {
                Some(pipeline::lease::StackLease::acquire(options, &stop, &mut say).await?)
            }
            RunTarget::Existing(existing) => {
                say(Event::Note(&format!(
                    "runs measure the gateway at {}",
                    existing.gateway
                )));
                None
            }
        };
        let hub = Hub::new(parsed.load, bench_server, command_line, stop.clone());
        let served = serve(
            address,
            Arc::new(Site {
                hub: hub.clone(),
                meta,
            }),
            stop,
        )
        .await;
        // A run under way was halted by the same signal; it writes what it measured.
        let waiting = hub.clone();
        let _ = tokio::task::spawn_blocking(move || waiting.wait_for_run()).await;
        if let Some(lease) = lease {
            lease.release(keep, &mut say).await;
        }
        served
    });
    match outcome {
        // A stop signal is the UI's normal end.
        Ok(()) => Exit::Ok.into(),
        Err(failure) => failure.exit().fail(NAME, &failure.to_string()),
    }
}

fn say(event: Event<'_>) {
    if let Event::Note(note) = event {
        println!("{NAME}: {note}");
    }
}

/// Serves the page until a stop signal; a port that cannot be bound is the stack's kind of
/// failure (exit 3), said in one line.
async fn serve(
    address: SocketAddr,
    site: Arc<Site>,
    stop: cli::signal::StopReceiver,
) -> Result<(), RunFailure> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| RunFailure::Infrastructure(format!("cannot listen on {address}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| RunFailure::Infrastructure(e.to_string()))?;
    println!("{NAME}: http://{bound}/ (Ctrl-C to stop)");
    let stopped = cli::signal::stopped(stop);
    tokio::pin!(stopped);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => return Ok(()),
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let site = site.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| server::handle(site.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What the page needs to draw its form: the tiers, every user class with its Locust weight
/// and wait, and the defaults (the flags, then the Makefile's variables, then the seed's).
fn meta(args: &LoadTestArgs, target: &RunTarget) -> Result<Value, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let users = args
        .users
        .map(|u| u.to_string())
        .or_else(|| env("LOADTEST_USERS"))
        .unwrap_or_else(|| SEED_USERS.to_string());
    let spawn_rate = args
        .spawn_rate
        .clone()
        .or_else(|| env("LOADTEST_SPAWN_RATE"))
        .unwrap_or_else(|| SEED_SPAWN_RATE.to_string());
    let run_time = args
        .run_time
        .clone()
        .or_else(|| env("LOADTEST_RUN_TIME"))
        .unwrap_or_else(|| DEFAULT_RUN_TIME.into());
    let picks = |given: &Option<String>, kind| match given {
        Some(text) => {
            workloads::parse_class_picks(text, kind, WEIGHTS).map(|p| form::picker_text(&p))
        }
        None => Ok(form::picker_text(&workloads::default_picks(
            kind, false, WEIGHTS,
        ))),
    };
    let classes: Vec<Value> = workloads::CLASSES
        .iter()
        .map(|c| {
            json!({"name": c.name, "kind": kind_name(c.kind), "weight": c.weight,
                   "wait": wait_text(c.wait), "needs_ui": c.needs_ui})
        })
        .collect();
    let tiers: Vec<Value> = Scope::ALL
        .iter()
        .map(|s| json!({"value": s.tiers(), "label": s.label(), "kind": kind_name(s.class_kind())}))
        .collect();
    let measuring = match target {
        RunTarget::Stack { .. } => "the benchmark stack (bench-server, ContextForge, nginx)".into(),
        RunTarget::Existing(e) => format!("the gateway at {}", e.gateway),
    };
    Ok(json!({
        "tiers": tiers,
        "classes": classes,
        "defaults": {
            "tier": "direct", "users": users, "spawn_rate": spawn_rate, "rate": "",
            "run_time": run_time,
            "classes": {"mcp": picks(&args.mcp_classes, ClassKind::Mcp)?,
                        "rest": picks(&args.rest_classes, ClassKind::Rest)?},
        },
        "limits": {"users": MOST_USERS, "run_time_secs": LONGEST_RUN.as_secs()},
        "measuring": measuring,
    }))
}

fn kind_name(kind: ClassKind) -> &'static str {
    match kind {
        ClassKind::Mcp => "mcp",
        ClassKind::Rest => "rest",
    }
}

fn wait_text(wait: workloads::WaitSpec) -> String {
    match wait {
        workloads::WaitSpec::Between(min, max) => format!("between({min}, {max}) s"),
        workloads::WaitSpec::ConstantThroughput(n) => format!("constant_throughput({n}/s)"),
    }
}
