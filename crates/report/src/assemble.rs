//! The run document assembled from what the pipeline hands over once — the tiers as they ran,
//! the thresholds judged, the samples and notes — with everything derived from them computed
//! here: the overhead rows, the verdict and the memory-growth note.

use cli::Signal;
use loadgen::threshold::ThresholdResult;

use crate::document::{Measured, OverheadRun, ProfileInfo, TierRun, SCHEMA};

/// The facts of a finished tiered run.
pub struct RunFacts {
    /// `YYYYMMDD-HHMMSS-<profile>`: also the directory name under `reports/`.
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub command_line: Vec<String>,
    pub profile: ProfileInfo,
    pub measured: Measured,
    /// Each tier once (a repeated run's rounds merged, [`loadgen::RunResults::merge_rounds`]).
    pub tiers: Vec<TierRun>,
    /// A repeated run's figures round by round (None: one round).
    pub repeats: Option<crate::repeats::Repeats>,
    pub thresholds: Vec<ThresholdResult>,
    /// Every service's CPU and memory through the run.
    pub service_usage: Vec<crate::usage::ServiceUsage>,
    /// The host's TCP sockets through the run; None when they could not be read.
    pub sockets: Option<crate::sockets::HostSockets>,
    pub gateway_profile: Option<crate::profile::GatewayProfile>,
    pub warnings: Vec<String>,
    /// The signal that stopped the run, if one did.
    pub stopped_by: Option<Signal>,
}

impl OverheadRun {
    pub fn assemble(f: RunFacts) -> OverheadRun {
        let mut warnings = f.warnings;
        warnings.extend(rss_growth(&crate::usage::gateway_rss(&f.service_usage)));
        warnings.extend(f.sockets.iter().flat_map(|s| s.warnings()));
        OverheadRun {
            schema: SCHEMA.into(),
            run_id: f.run_id,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            started_at: f.started_at,
            finished_at: f.finished_at,
            command_line: f.command_line,
            profile: f.profile,
            measured: f.measured,
            environment: loadgen::Environment::capture(),
            overhead: crate::overhead_rows(&f.tiers),
            verdict: crate::verdict(&f.tiers, &f.thresholds, f.stopped_by),
            tiers: f.tiers,
            thresholds: f.thresholds,
            repeats: f.repeats,
            gateway_rss: vec![],
            usage_summary: crate::usage::summarise(&f.service_usage),
            service_usage: f.service_usage,
            sockets: f.sockets,
            gateway_profile: f.gateway_profile,
            warnings,
        }
    }
}

/// How the gateway's memory moved over the run — `(t, MiB)` readings — under a steady load a
/// leak shows as growth that does not level off (the soak profile's question). None with fewer
/// than two readings.
fn rss_growth(readings: &[(f64, f64)]) -> Option<String> {
    let (&(first_t, first), &(last_t, last)) = (readings.first()?, readings.last()?);
    if readings.len() < 2 || first <= 0.0 {
        return None;
    }
    let peak = readings.iter().map(|r| r.1).fold(0.0, f64::max);
    let growth = (last / first - 1.0) * 100.0;
    Some(format!(
        "gateway RSS {first:.1} MiB → {last:.1} MiB ({growth:+.1}%) over {:.0} s, peak {peak:.1} MiB{}",
        last_t - first_t,
        if growth > 10.0 {
            ": it grew by more than 10%; under a steady load, growth that does not level off is a leak"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_growth_is_summarised_and_flagged_beyond_ten_percent() {
        let sample = |t: f64, rss_mib: f64| (t, rss_mib);
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
    fn the_document_derives_its_overhead_and_verdict_from_the_facts() {
        let template = crate::fixture::run();
        let run = OverheadRun::assemble(RunFacts {
            run_id: template.run_id.clone(),
            started_at: template.started_at.clone(),
            finished_at: template.finished_at.clone(),
            command_line: vec![],
            profile: template.profile.clone(),
            measured: template.measured.clone(),
            tiers: template.tiers.clone(),
            repeats: None,
            thresholds: template.thresholds.clone(),
            service_usage: vec![],
            sockets: None,
            gateway_profile: None,
            warnings: vec![],
            stopped_by: Some(Signal::Terminate),
        });
        assert_eq!(run.overhead, template.overhead);
        assert_eq!(run.verdict.exit_code, 143);
    }
}
