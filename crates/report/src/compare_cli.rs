//! `cargo xtask compare-baseline`: the current run against the committed baseline, with the
//! workspace's exit status for CI (0 within budget, 1 a regression, 2 usage or an unreadable
//! file, 3 the current run is an ERROR: a tier failed), or `--save` to make the current run the
//! baseline (refused for a run that is no baseline: failed, stopped or saturated). Either both
//! runs are tiered (`load-test`) or both single-target (`load`, `hey`: their one tier, `target`,
//! compared per operation and `Aggregated`); a mix is refused (exit 2): a tiered run's tiers ran
//! Locust's user classes, a single run its own `--ops` or payload, so no operation of one is
//! the other's.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use cli::Exit;

use crate::budget::Budgets;
use crate::compare::compare;
use crate::document::VerdictStatus;
use crate::single::SavedRun;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask compare-baseline",
    about = "Compare a run (tiered, load or hey) with the baseline: per tier and operation, within budgets or a regression"
)]
pub struct CompareArgs {
    /// The baseline run's results.json (committed to the repository): a tiered run's, `load`'s,
    /// or hey's results JSON.
    #[arg(long, default_value = "perf/baseline.json")]
    pub baseline: PathBuf,
    /// The run to judge.
    #[arg(long, default_value = "reports/latest/results.json")]
    pub current: PathBuf,
    /// A budget, repeatable: rps=-10%, p50=+10%, p95=+15% or p95=+2ms, p99=+20%,
    /// error_rate=+0.5pt, METRIC=off. Defaults: rps -10%, p95 +15%, p99 +20%, error_rate +0.5pt.
    #[arg(long = "budget", value_name = "METRIC=LIMIT")]
    pub budgets: Vec<String>,
    /// Copy the current run over the baseline instead of comparing.
    #[arg(long)]
    pub save: bool,
    /// Also append the comparison as Markdown to this file (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Show every operation, also those with no metric judged (too few requests).
    #[arg(long)]
    pub all: bool,
}

/// The whole command. `args[0]` is the program name.
pub fn main_with_args(args: Vec<String>) -> ExitCode {
    match cli::args::parse::<CompareArgs>("compare-baseline", &args) {
        Ok(parsed) => run(&parsed).into(),
        Err(code) => code,
    }
}

/// Prints the comparison (or saves) and returns the exit status.
pub fn run(args: &CompareArgs) -> Exit {
    let budgets = match Budgets::from_flags(&args.budgets) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let saved_current = match read(&args.current, "current run") {
        Ok(run) => run,
        Err(e) => return fail(&e),
    };
    let current = saved_current.document();
    if args.save {
        if matches!(
            current.verdict.status,
            VerdictStatus::Error | VerdictStatus::Interrupted | VerdictStatus::Saturated
        ) {
            return fail(&format!(
                "{} is no baseline: its verdict is {} ({})",
                args.current.display(),
                current.verdict.status.label(),
                current.verdict.reasons.first().map_or("", String::as_str)
            ));
        }
        return match save(&args.current, &args.baseline) {
            Ok(()) => {
                println!(
                    "saved {} (run {}) as the baseline {}",
                    args.current.display(),
                    current.run_id,
                    args.baseline.display()
                );
                Exit::Ok
            }
            Err(e) => fail(&e),
        };
    }
    let saved_baseline = match read(&args.baseline, "baseline") {
        Ok(run) => run,
        Err(e) => {
            return fail(&format!(
                "{e} (after a run, `cargo xtask compare-baseline --save` makes it the baseline)"
            ))
        }
    };
    if matches!(saved_baseline, SavedRun::Tiered(_)) != matches!(saved_current, SavedRun::Tiered(_))
    {
        return fail(&format!(
            "cannot compare {} with {}: their workloads differ (Locust's user classes per tier vs one target's --ops or payload); compare runs of the same kind",
            saved_baseline.kind(),
            saved_current.kind()
        ));
    }
    let comparison = compare(saved_baseline.document(), current, &budgets);
    print!("{}", comparison.text(args.all));
    if let Some(path) = &args.markdown {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(comparison.markdown(args.all).as_bytes()));
        if let Err(e) = appended {
            return fail(&format!("cannot append to {}: {e}", path.display()));
        }
    }
    if current.verdict.status == VerdictStatus::Error {
        eprintln!(
            "compare-baseline: the current run is an ERROR, not a comparison: {}",
            current.verdict.reasons.first().map_or("", String::as_str)
        );
        Exit::Infrastructure
    } else if comparison.regressions().is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

/// A run's results JSON (tiered, `load`'s or hey's), read back with the schema check.
pub(crate) fn read(path: &Path, what: &str) -> Result<SavedRun, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?;
    SavedRun::from_json(&text, path).map_err(|e| format!("the {what} {}: {e}", path.display()))
}

/// Copies the file as it is (not re-serialised), so the baseline is byte for byte the run.
fn save(current: &Path, baseline: &Path) -> Result<(), String> {
    if let Some(dir) = baseline.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::copy(current, baseline).map(|_| ()).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            current.display(),
            baseline.display()
        )
    })
}

fn fail(message: &str) -> Exit {
    eprintln!("compare-baseline: {message}");
    Exit::Usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn args(dir: &Path, extra: &[&str]) -> CompareArgs {
        let baseline = dir.join("perf/baseline.json");
        let current = dir.join("current.json");
        let mut all = vec![
            "compare-baseline".to_string(),
            "--baseline".into(),
            baseline.display().to_string(),
            "--current".into(),
            current.display().to_string(),
        ];
        all.extend(extra.iter().map(|s| s.to_string()));
        CompareArgs::try_parse_from(all).unwrap()
    }

    #[test]
    fn save_then_compare_then_regress() {
        let dir = Dir(std::env::temp_dir().join(format!("report-compare-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let saved = fixture::run();
        std::fs::write(dir.0.join("current.json"), saved.to_json()).unwrap();

        assert_eq!(run(&args(&dir.0, &[])), Exit::Usage, "no baseline yet");
        assert_eq!(run(&args(&dir.0, &["--save"])), Exit::Ok);
        let summary = dir.0.join("summary.md");
        let with_summary = ["--markdown", summary.to_str().unwrap()];
        assert_eq!(run(&args(&dir.0, &with_summary)), Exit::Ok);
        assert!(std::fs::read_to_string(&summary)
            .unwrap()
            .contains("no regressions"));

        let mut slower = saved.clone();
        let crate::document::TierOutcome::Ran { results: gateway } = &mut slower.tiers[1].outcome
        else {
            panic!()
        };
        gateway.total.rps *= 0.5;
        std::fs::write(dir.0.join("current.json"), slower.to_json()).unwrap();
        assert_eq!(run(&args(&dir.0, &[])), Exit::Failed);
        assert_eq!(run(&args(&dir.0, &["--budget", "rps=off"])), Exit::Ok);
        assert_eq!(run(&args(&dir.0, &["--budget", "rps=+5%"])), Exit::Usage);

        // A run whose gateway died is an ERROR: exit 3, and never a baseline.
        let mut failed = saved;
        failed.tiers[1] = fixture::failed(
            crate::document::Tier::Gateway,
            "the gateway died during the tier",
            None,
        );
        failed.verdict = crate::verdict(&failed.tiers, &[], None);
        std::fs::write(dir.0.join("current.json"), failed.to_json()).unwrap();
        assert_eq!(run(&args(&dir.0, &[])), Exit::Infrastructure);
        assert_eq!(run(&args(&dir.0, &["--save"])), Exit::Usage);
    }

    #[test]
    fn unreadable_and_foreign_files_are_usage_errors() {
        let dir =
            Dir(std::env::temp_dir().join(format!("report-compare-bad-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).unwrap();
        std::fs::write(
            dir.0.join("current.json"),
            "{\"schema\":\"mcpbench.loadgen.results/v1\"}",
        )
        .unwrap();
        assert_eq!(run(&args(&dir.0, &[])), Exit::Usage);
        assert!(read(&dir.0.join("current.json"), "current run")
            .unwrap_err()
            .contains("a single load run"));
    }
}
