//! `cargo xtask capacity`: the highest arrival rate each tier sustains under an SLO. Each tier's
//! workload (the one `load-test` runs) is offered at rising rates in the open model — doubled
//! while the SLO holds, then bisected between the last good and the first bad rate, then the best
//! rate confirmed by repeats — and a step the generator could not keep ends the search with a
//! lower bound instead of a false capacity. The stack is leased as `load-test` leases it.

pub mod args;
pub mod run;
pub mod search;
pub mod step;

use std::process::ExitCode;

use cli::Exit;

use self::args::CapacityArgs;
use self::run::Progress;

const NAME: &str = "capacity";

/// The whole `capacity` command. `args[0]` is the program name.
pub fn main_with_args(args: Vec<String>, bench_server: stack::BenchServerProgram) -> ExitCode {
    let parsed: CapacityArgs = match cli::args::parse(NAME, &args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let command_line = cli::redact::redact_command_line(&args);
    let env = |k: &str| std::env::var(k).ok();
    let options = match args::resolve(&parsed, env, bench_server, command_line) {
        Ok(o) => o,
        Err(m) => return Exit::Usage.fail(NAME, &m),
    };
    let runtime = match loadgen::runtime_with_workers(options.workers) {
        Ok(rt) => rt,
        Err(e) => {
            return Exit::Infrastructure.fail(NAME, &format!("cannot start the async runtime: {e}"))
        }
    };
    let outcome = runtime.block_on(async {
        let stop = cli::signal::install(NAME).map_err(|e| {
            crate::run::RunFailure::Infrastructure(format!("cannot handle signals: {e}"))
        })?;
        run::run(&options, stop, &mut print_progress).await
    });
    let run = match outcome {
        Ok(r) => r,
        Err(e) => return e.exit().fail(NAME, &e.to_string()),
    };
    print!("{}", report::capacity::terminal(&run));
    match run::write_reports(&run, &options.reports_dir) {
        Ok(dir) => println!("report: {}", dir.join("capacity.html").display()),
        Err(m) => return Exit::Infrastructure.fail(NAME, &m),
    }
    run.exit().into()
}

fn print_progress(progress: Progress<'_>) {
    match progress {
        Progress::Note(note) => println!("{note}"),
        Progress::TierStarting { tier, target } => {
            println!("── capacity of {tier} ({}): {target}", tier.description());
        }
        Progress::Step { index, step } => println!("{}", run::step_line(index, step)),
    }
}
