//! The run document on disk: `results.json` (read back with a schema check) and every view of
//! it written into a report directory.

use std::path::Path;

use crate::document::{OverheadRun, SCHEMA, SCHEMA_V2};
use crate::single::ViewNames;

/// A v2 document as v3: its `stack` object becomes `measured` of kind `stack` (v2 knew no
/// other kind); nothing else changed.
fn from_v2(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(object) = value.as_object_mut() {
        if let Some(mut stack) = object.remove("stack") {
            if let Some(fields) = stack.as_object_mut() {
                fields.insert("kind".into(), "stack".into());
            }
            object.insert("measured".into(), stack);
        }
        object.insert("schema".into(), SCHEMA.into());
    }
    value
}

impl OverheadRun {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the run document serialises")
    }

    /// Reads a `results.json` of this schema; any other says what it is instead.
    pub fn from_json(text: &str) -> Result<OverheadRun, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => serde_json::from_value(value)
                .map_err(|e| format!("does not match {SCHEMA}: {e}")),
            Some(SCHEMA_V2) => serde_json::from_value(from_v2(value))
                .map_err(|e| format!("does not match {SCHEMA_V2}: {e}")),
            Some(loadgen) if loadgen.starts_with("mcpbench.loadgen.results/") => Err(format!(
                "this is a single load run ({loadgen}, from `cargo xtask load` or `hey`), not a tiered run ({SCHEMA}, from `cargo xtask load-test`){}",
                if loadgen == loadgen::SCHEMA { "" } else { "; this mcpbench reads single runs of schema mcpbench.loadgen.results/v2 only: record it again" }
            )),
            Some(crate::stream::STREAM_RUN_SCHEMA) => Err(format!(
                "this is a streaming plan's run ({}, from `load-test --profile sse|websocket`): its connections and round trips are no request run's to compare; `cargo xtask report DIR` renders it",
                crate::stream::STREAM_RUN_SCHEMA
            )),
            Some(older) if older.starts_with("mcpbench.overhead/") => Err(format!(
                "schema {older} was written by an older mcpbench, this one reads {SCHEMA}: record the run again"
            )),
            Some(other) => Err(format!("schema {other} is not {SCHEMA}")),
            None => Err(format!("no \"schema\" field: not an mcpbench results file (expected {SCHEMA})")),
        }
    }

    /// Writes `results.json`, `report.html`, `report.md`, `junit.xml` and, per tier that
    /// measured something, Locust's CSV set under the tier's name as prefix
    /// (`<tier>_stats.csv`, `_stats_history.csv`, `_failures.csv`, `_exceptions.csv`) into
    /// `dir` (created); with a gateway profile, its collapsed stacks as `gateway.folded`.
    pub fn write_to_dir(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("results.json"), self.to_json())?;
        self.write_views(dir, &ViewNames::run_directory())
    }

    /// Every view but `results.json`, named by `names`, into `dir` (created).
    pub(crate) fn write_views(&self, dir: &Path, names: &ViewNames) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let html = crate::render_html(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(&names.html), html)?;
        std::fs::write(dir.join(&names.markdown), crate::render_markdown(self))?;
        std::fs::write(dir.join(&names.junit), crate::render_junit(self))?;
        if let Some(stacks) = self.gateway_profile.as_ref().and_then(|p| p.recorded()) {
            std::fs::write(dir.join("gateway.folded"), crate::flame::to_text(stacks))?;
        }
        for tier in &self.tiers {
            if let Some(results) = tier.measured() {
                let prefix = names
                    .csv_prefix
                    .as_deref()
                    .unwrap_or(tier.tier.csv_prefix());
                results.write_locust_csvs(dir, prefix)?;
            }
        }
        Ok(())
    }
}

impl ViewNames {
    /// A run directory's names: `report.html`, `report.md`, `junit.xml`, each tier's CSVs
    /// under its own prefix.
    pub(crate) fn run_directory() -> ViewNames {
        ViewNames {
            html: "report.html".into(),
            markdown: "report.md".into(),
            junit: "junit.xml".into(),
            csv_prefix: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn the_directory_holds_every_view_and_the_json_reads_back() {
        let dir = std::env::temp_dir().join(format!("report-write-{}", std::process::id()));
        let run = fixture::run();
        run.write_to_dir(&dir).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "direct_exceptions.csv",
                "direct_failures.csv",
                "direct_stats.csv",
                "direct_stats_history.csv",
                "gateway_exceptions.csv",
                "gateway_failures.csv",
                "gateway_stats.csv",
                "gateway_stats_history.csv",
                "junit.xml",
                "report.html",
                "report.md",
                "rest_exceptions.csv",
                "rest_failures.csv",
                "rest_stats.csv",
                "rest_stats_history.csv",
                "results.json",
            ]
        );
        let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
        assert_eq!(OverheadRun::from_json(&text).unwrap(), run);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_files_are_refused_with_what_they_are() {
        let single = fixture::results(vec![], 1.0).to_json();
        assert!(OverheadRun::from_json(&single)
            .unwrap_err()
            .contains("a single load run"));
        assert!(OverheadRun::from_json("{\"schema\":\"x/v9\"}")
            .unwrap_err()
            .contains("x/v9"));
        assert!(OverheadRun::from_json("{}")
            .unwrap_err()
            .contains("no \"schema\""));
        assert!(OverheadRun::from_json("nope")
            .unwrap_err()
            .starts_with("not JSON"));
    }
}
