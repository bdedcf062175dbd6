//! The `benchmark-*` commands: flags, then `crates/stack`; what it returns is printed here, and
//! its errors become the shared exit status (`cli::Exit`).

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use cli::signal::{stopped, StopReceiver};
use cli::{Align, Exit, Table};

#[derive(Args)]
pub struct StateDir {
    /// Where the stack keeps its state, logs, database and secrets.
    #[arg(long, default_value_os_t = stack::default_state_dir())]
    pub state_dir: PathBuf,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    dir: StateDir,
}

#[derive(Args)]
pub struct LogsArgs {
    /// bench-servers, gateway or nginx (default: all).
    service: Option<String>,
    #[arg(short, long)]
    follow: bool,
    #[arg(long, default_value_t = 50)]
    tail: usize,
    #[command(flatten)]
    dir: StateDir,
}

const UP: &str = "cargo xtask benchmark-up";
const DOWN: &str = "cargo xtask benchmark-down";
const CLEAN: &str = "cargo xtask benchmark-clean";
const STATUS: &str = "cargo xtask benchmark-status";
const LOGS: &str = "cargo xtask benchmark-logs";

/// Runs `command` on a Tokio runtime. Blocking work still under way when it returns (pip after a
/// stop signal) is abandoned with the process.
pub fn run<F: Future<Output = ExitCode>>(command: F) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return Exit::Infrastructure.fail("cargo xtask", &format!("no async runtime: {e}"))
        }
    };
    let code = runtime.block_on(command);
    runtime.shutdown_background();
    code
}

/// Prints `e` after `command:` (whole: a service's failure carries its last log lines) and
/// returns its exit status.
pub fn fail(command: &str, e: &stack::StackError) -> ExitCode {
    eprintln!("{command}: {e}");
    e.exit().into()
}

/// Runs `command`, one that changes the stack: the stop signals (SIGINT, SIGTERM, SIGHUP) reach
/// `call`, a wait for another command's hold on the stack is said once, and what it returns is
/// printed.
fn changing<T, F>(command: &'static str, call: impl FnOnce(StopReceiver) -> F) -> ExitCode
where
    T: std::fmt::Display,
    F: Future<Output = Result<T, stack::StackError>>,
{
    run(async {
        let stop = match cli::signal::install(command) {
            Ok(stop) => stop,
            Err(e) => {
                return Exit::Infrastructure.fail(command, &format!("cannot handle signals: {e}"))
            }
        };
        match call(stop).await {
            Ok(done) => {
                println!("{done}");
                Exit::Ok.into()
            }
            Err(e) => fail(command, &e),
        }
    })
}

/// What a command that waits for another's hold on the stack says, once.
fn waiting(command: &'static str) -> impl FnOnce(&str) {
    move |line| eprintln!("{command}: {line}")
}

/// bench-server as this binary's own `bench-server` subcommand: built by the same `cargo
/// xtask`, so a fresh clone's first command needs nothing else built, and it is never stale.
pub fn bench_server_program() -> stack::BenchServerProgram {
    stack::BenchServerProgram {
        path: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("xtask")),
        leading_args: vec!["bench-server".into()],
    }
}

pub fn up(flags: stack::UpFlags) -> ExitCode {
    let options = flags.options(bench_server_program());
    changing(UP, |stop| async move {
        stack::up(&options, stopped(stop), waiting(UP)).await
    })
}

pub fn down(dir: StateDir) -> ExitCode {
    changing(DOWN, |stop| async move {
        stack::down(&dir.state_dir, stopped(stop), waiting(DOWN)).await
    })
}

pub fn clean(dir: StateDir) -> ExitCode {
    changing(CLEAN, |stop| async move {
        stack::clean(&dir.state_dir, stopped(stop), waiting(CLEAN)).await
    })
}

pub fn status(args: StatusArgs) -> ExitCode {
    run(async {
        let status = match stack::status(&args.dir.state_dir).await {
            Ok(status) => status,
            Err(e) => return fail(STATUS, &e),
        };
        for note in &status.notes {
            eprintln!("{STATUS}: {note}");
        }
        if args.json {
            let rows = serde_json::to_string_pretty(&status.rows).expect("rows serialise");
            println!("{rows}");
        } else if status.rows.is_empty() {
            println!("nothing is up");
        } else {
            print!("{}", status_table(&status.rows).text());
        }
        Exit::Ok.into()
    })
}

fn status_table(rows: &[stack::ServiceStatus]) -> Table {
    let mut table = Table::new(&[
        ("SERVICE", Align::Left),
        ("STATE", Align::Left),
        ("ENDPOINT", Align::Left),
        ("HEALTH", Align::Left),
        ("PID", Align::Right),
        ("CONTAINER", Align::Left),
    ]);
    for r in rows {
        table.push(vec![
            r.service.clone(),
            r.state.clone(),
            r.endpoint.clone(),
            r.health.clone(),
            r.pid.map_or("-".into(), |p| p.to_string()),
            r.container.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    table
}

pub fn logs(args: LogsArgs) -> ExitCode {
    let request = stack::LogRequest {
        service: args.service.as_deref(),
        lines: args.tail,
        follow: args.follow,
    };
    run(async {
        let stop = match cli::signal::install(LOGS) {
            Ok(stop) => stopped(stop),
            Err(e) => {
                return Exit::Infrastructure.fail(LOGS, &format!("cannot handle signals: {e}"))
            }
        };
        let print = |service: &str, line: &str| println!("{service} | {line}");
        match stack::logs(&args.dir.state_dir, request, print, stop).await {
            Ok(()) => Exit::Ok.into(),
            // Following ends with the signal; the handler has said so.
            Err(stack::StackError::Interrupted(signal)) => Exit::Stopped(signal).into(),
            Err(e) => fail(LOGS, &e),
        }
    })
}

/// The running stack's JWT secret, for `jwt` without `--secret`.
pub fn stack_secret() -> Option<String> {
    stack::StackState::load(&stack::default_state_dir())
        .ok()
        .flatten()
        .map(|s| s.jwt_secret)
}
