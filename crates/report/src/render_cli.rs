//! `cargo xtask report DIR`: a saved run rendered again (the seed's `jmeter-report`): its
//! `results.json` read back with the schema check, then `report.html`, `report.md`, `junit.xml`
//! and the Locust CSVs written — in the run's directory, or in `--out`. A `load` run's
//! directory or a hey results JSON renders too (`report::single`), its `results.json` untouched,
//! and a streaming plan's run (`report::stream`). Exit 0 when written, 2
//! for a path that holds no mcpbench run, 3 when the files cannot be written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use cli::Exit;

use crate::single::SavedRun;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask report",
    about = "Render a saved run's reports again from its results.json (HTML, Markdown, JUnit, CSV)"
)]
pub struct ReportArgs {
    /// The run's directory (`reports/<run-id>`, `reports/latest`, a `load` run's) or its results
    /// JSON (also hey's `hey-….json`).
    pub run: PathBuf,
    /// Write the views here instead of beside the results (created).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The whole command. `args[0]` is the program name.
pub fn main_with_args(args: Vec<String>) -> ExitCode {
    match cli::args::parse::<ReportArgs>("report", &args) {
        Ok(parsed) => render(&parsed),
        Err(code) => code,
    }
}

fn render(args: &ReportArgs) -> ExitCode {
    let results = if args.run.is_dir() {
        args.run.join("results.json")
    } else {
        args.run.clone()
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::single::parent_of(&results));
    if let Some(stream) = crate::stream::StreamRun::read(&results) {
        let run = match stream {
            Ok(run) => run,
            Err(e) => return Exit::Usage.fail("report", &e),
        };
        return outcome(
            run.write_to_dir(&out)
                .map(|()| out.join("report.html"))
                .map_err(|e| format!("cannot write {}: {e}", out.display())),
        );
    }
    let run = match crate::compare_cli::read(&results, "run") {
        Ok(run) => run,
        Err(e) => return Exit::Usage.fail("report", &e),
    };
    let written = match &run {
        SavedRun::Tiered(run) => run
            .write_to_dir(&out)
            .map(|()| out.join("report.html"))
            .map_err(|e| format!("cannot write {}: {e}", out.display())),
        SavedRun::Single(run) => crate::single::write_views_to(run, &results, &out),
    };
    outcome(written)
}

fn outcome(written: Result<PathBuf, String>) -> ExitCode {
    match written {
        Ok(html) => {
            println!("report: {}", html.display());
            Exit::Ok.into()
        }
        Err(e) => Exit::Infrastructure.fail("report", &e),
    }
}
