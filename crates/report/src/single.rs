//! A single-target run (`cargo xtask load`, `cargo xtask hey`: a `loadgen::RunResults`) seen
//! through the tiered run's views: a document with one tier, [`Tier::Target`], measuring
//! [`Measured::Target`] — so `report.html`, `report.md`, `junit.xml`, the Locust CSVs and
//! `compare-baseline` are the very same code as for `load-test`, with no overhead (there is
//! nothing to measure it against). The document lives in memory only: the run's own
//! `results.json` stays the engine's.

use std::path::{Path, PathBuf};

use loadgen::RunResults;

use crate::document::{
    Measured, OverheadRun, ProfileInfo, SingleTarget, Tier, TierOutcome, TierRun, SCHEMA,
};

/// A saved run of either kind, as `report` and `compare-baseline` read it.
#[derive(Debug)]
pub enum SavedRun {
    Tiered(OverheadRun),
    /// A `load` or `hey` run, as its one-tier document.
    Single(OverheadRun),
}

impl SavedRun {
    /// Reads a `results.json` (tiered or `load`) or a hey results JSON; `path` names the run.
    pub fn from_json(text: &str, path: &Path) -> Result<SavedRun, String> {
        let schema = serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("not JSON: {e}"))?
            .get("schema")
            .and_then(|s| s.as_str().map(str::to_string));
        match schema {
            Some(s) if s == loadgen::SCHEMA => {
                let results = RunResults::from_json(text)?;
                Ok(SavedRun::Single(document(results, &run_id(path))))
            }
            _ => OverheadRun::from_json(text).map(SavedRun::Tiered),
        }
    }

    pub fn document(&self) -> &OverheadRun {
        match self {
            SavedRun::Tiered(run) | SavedRun::Single(run) => run,
        }
    }

    /// `a tiered run (load-test)` or `a single-target run (hey)`.
    pub fn kind(&self) -> String {
        match self {
            SavedRun::Tiered(_) => "a tiered run (load-test)".into(),
            SavedRun::Single(run) => format!("a single-target run ({})", run.profile.name),
        }
    }
}

/// The run's name: its directory for `load`'s `results.json`, else the file's stem (hey's
/// `hey-YYYYMMDD_HHMMSS`).
fn run_id(path: &Path) -> String {
    let named = if path.file_name().is_some_and(|n| n == "results.json") {
        path.parent().and_then(Path::file_name)
    } else {
        path.file_stem()
    };
    named.map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned())
}

/// The one-tier document of a single-target run: a target that went down is a failed tier
/// (the run an ERROR, exit 3, as `load` and `hey` exit).
pub fn document(results: RunResults, run_id: &str) -> OverheadRun {
    let scenario = &results.config["scenario"];
    let tool = scenario["name"].as_str().unwrap_or("load").to_string();
    let url = [
        &scenario["endpoints"][0]["url"],
        &scenario["tasks"][0]["steps"][0]["url"],
    ]
    .into_iter()
    .find_map(|u| u.as_str())
    .map_or_else(|| "unknown".into(), without_credentials);
    let profile = ProfileInfo {
        name: tool.clone(),
        sla_class: "none".into(),
        description: format!(
            "{tool} against {url}: {} model, {:.0} s measured",
            results.model, results.duration_secs
        ),
        model: results.model,
        duration_secs: results.duration_secs,
        warmup_secs: results.warmup_secs,
        seed: results.seed,
        class_weights: "none".into(),
        mcp_classes: vec![],
        rest_classes: vec![],
    };
    let thresholds = results.thresholds.clone();
    let stopped_by = results.stopped_by;
    let outcome = match &results.target_down {
        Some(down) => TierOutcome::Failed {
            reason: format!("target down: {}", down.reason),
            results: Some(Box::new(results.clone())),
        },
        None => TierOutcome::Ran {
            results: Box::new(results.clone()),
        },
    };
    let tiers = vec![TierRun {
        tier: Tier::Target,
        target: url.clone(),
        outcome,
    }];
    OverheadRun {
        schema: SCHEMA.into(),
        run_id: run_id.into(),
        tool_version: results.tool_version.clone(),
        started_at: results.started_at.clone(),
        finished_at: results.finished_at.clone(),
        command_line: results.command_line.clone(),
        profile,
        measured: Measured::Target(SingleTarget { tool, url }),
        environment: results.environment.clone(),
        verdict: crate::verdict(&tiers, &thresholds, stopped_by),
        tiers,
        overhead: vec![],
        thresholds,
        repeats: None,
        gateway_rss: vec![],
        service_usage: vec![],
        usage_summary: vec![],
        sockets: None,
        gateway_profile: None,
        warnings: vec![],
    }
}

fn without_credentials(url: &str) -> String {
    match loadgen::parse_url(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// Writes a single-target run's views beside its results JSON: for `load`'s `results.json`,
/// `report.html`, `report.md`, `junit.xml` and `locust_*.csv` in its directory; for any other
/// file (hey's `hey-….json`), `<stem>.html`, `<stem>.md`, `<stem>.junit.xml` and `<stem>_*.csv`
/// (Locust's `--csv <stem>`). Returns the HTML page's path. `load` and `hey` are handed this
/// function (loadgen sits below this crate).
pub fn write_views(results: &RunResults, json: &Path) -> Result<PathBuf, String> {
    let run = document(results.clone(), &run_id(json));
    write_views_to(&run, json, &parent_of(json))
}

/// The views of a single-target run's document into `dir`, named after `json` as
/// [`write_views`] says.
pub(crate) fn write_views_to(
    run: &OverheadRun,
    json: &Path,
    dir: &Path,
) -> Result<PathBuf, String> {
    let names = if json.file_name().is_some_and(|n| n == "results.json") {
        ViewNames::run_directory()
    } else {
        let stem = json
            .file_stem()
            .map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned());
        ViewNames {
            html: format!("{stem}.html"),
            markdown: format!("{stem}.md"),
            junit: format!("{stem}.junit.xml"),
            csv_prefix: Some(stem),
        }
    };
    run.write_views(dir, &names)
        .map_err(|e| format!("cannot write the reports into {}: {e}", dir.display()))?;
    Ok(dir.join(names.html))
}

/// The file names of a run's views (a run directory's: [`ViewNames::run_directory`]).
pub(crate) struct ViewNames {
    pub html: String,
    pub markdown: String,
    pub junit: String,
    /// Locust's `--csv` prefix of every tier's CSVs; None: each tier's own
    /// ([`Tier::csv_prefix`]).
    pub csv_prefix: Option<String>,
}

pub(crate) fn parent_of(file: &Path) -> PathBuf {
    file.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
