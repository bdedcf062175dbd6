//! What the `load` and `hey` commands share around a run: the run under the stop signals, and
//! the exit status of its results.

use std::path::{Path, PathBuf};

use cli::Exit;

use crate::{run, RunError, RunResults, RunSpec};

/// Writes a finished run's report views (HTML, Markdown, JUnit, Locust's CSVs) beside its
/// results JSON and returns the HTML page's path. The report crate renders them — it sits above
/// this one — so the front end hands its function (`report::single::write_views`) to `load` and
/// `hey`.
pub type WriteViews = fn(&RunResults, &Path) -> Result<PathBuf, String>;

/// Runs `spec` on a runtime of its own (`worker_threads` when given), stopping on SIGINT,
/// SIGTERM or SIGHUP; an error is the exit status and its one-line message.
pub fn run_until_stopped(
    command: &'static str,
    spec: RunSpec,
    worker_threads: Option<usize>,
) -> Result<RunResults, (Exit, String)> {
    let runtime = match worker_threads {
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => crate::runtime(),
    }
    .map_err(|e| {
        (
            Exit::Infrastructure,
            format!("cannot start the async runtime: {e}"),
        )
    })?;
    if spec.http.trust == crate::Trust::Insecure {
        eprintln!("{command}: --insecure: no TLS certificate is verified, any server is trusted");
    }
    runtime.block_on(async {
        let stop = cli::signal::install(command)
            .map_err(|e| (Exit::Infrastructure, format!("cannot handle signals: {e}")))?;
        run(spec, cli::signal::stopped(stop))
            .await
            .map_err(|e| match e {
                RunError::Config(m) => (Exit::Usage, m),
                RunError::Target(m) => (Exit::Infrastructure, m),
            })
    })
}

/// The exit status of a finished run: a stop signal; else the target down (its figures are not
/// a verdict on it); else a saturated generator (thresholds not judged); else a failed
/// threshold; else done.
pub fn outcome(r: &RunResults) -> Exit {
    if let Some(signal) = r.stopped_by {
        Exit::Stopped(signal)
    } else if r.target_down.is_some() {
        Exit::Infrastructure
    } else if r.schedule.generator_saturated() {
        Exit::Saturated
    } else if r.thresholds.iter().any(|t| !t.passed) {
        Exit::Failed
    } else {
        Exit::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures;

    #[test]
    fn a_signal_outranks_a_dead_target_which_outranks_saturation_and_thresholds() {
        let mut r = fixtures::empty();
        assert_eq!(outcome(&r), Exit::Ok);
        r.thresholds.push(crate::threshold::ThresholdResult {
            expression: "p95<1ms".into(),
            tier: None,
            actual: Some(2.0),
            limit: 1.0,
            passed: false,
        });
        assert_eq!(outcome(&r), Exit::Failed);
        r.schedule.verdict = crate::ScheduleVerdict::GeneratorSaturated { reasons: vec![] };
        assert_eq!(outcome(&r), Exit::Saturated);
        r.target_down = Some(crate::TargetDown {
            last_success_secs: 1.0,
            reason: "down".into(),
        });
        assert_eq!(outcome(&r), Exit::Infrastructure);
        r.stopped_by = Some(cli::Signal::Terminate);
        assert_eq!(outcome(&r).code(), 143);
    }
}
