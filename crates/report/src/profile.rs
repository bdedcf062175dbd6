//! `--profile-gateway`: the gateway's Python stacks sampled while its tier ran (a flame graph and
//! the top frames), and the gateway's own request counters read before and after that tier, set
//! beside what the load engine measured.

use serde::{Deserialize, Serialize};

use crate::document::{OverheadRun, Tier};
use crate::flame::{self, FoldedStack};
use cli::{Align, Table};
use contextforge::api::RouteTiming;

/// How many frames the top-frames tables list.
pub const TOP_FRAMES: usize = 15;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayProfile {
    /// The tier it covers (warm-up included).
    pub tier: Tier,
    /// The sampler and how it ran, in one line.
    pub sampler: String,
    pub stacks: Stacks,
    pub counters: Counters,
}

/// The collapsed stacks, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stacks {
    Recorded { stacks: Vec<FoldedStack> },
    NotRecorded { reason: String },
}

/// The gateway's own counters around the tier, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Counters {
    Read {
        before: Vec<RouteTiming>,
        after: Vec<RouteTiming>,
    },
    Unavailable {
        reason: String,
    },
}

impl GatewayProfile {
    pub fn recorded(&self) -> Option<&[FoldedStack]> {
        match &self.stacks {
            Stacks::Recorded { stacks } => Some(stacks),
            Stacks::NotRecorded { .. } => None,
        }
    }

    /// The flame graph; None without stacks.
    pub fn flame_graph(&self) -> Option<String> {
        let stacks = self.recorded()?;
        let samples: u64 = stacks.iter().map(|s| s.count).sum();
        Some(flame::svg(
            stacks,
            &format!(
                "{} tier: the gateway's Python stacks ({samples} samples; frames under {} px not drawn)",
                self.tier,
                flame::MIN_FRAME_PX
            ),
        ))
    }
}

/// The top frames as a table.
pub fn top_frames_table(stacks: &[FoldedStack]) -> Table {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("frame", Left),
        ("self %", Right),
        ("total %", Right),
        ("self samples", Right),
        ("total samples", Right),
    ]);
    for f in flame::top_frames(stacks, TOP_FRAMES) {
        table.push(vec![
            f.frame,
            format!("{:.1}", f.self_percent),
            format!("{:.1}", f.total_percent),
            f.self_samples.to_string(),
            f.total_samples.to_string(),
        ]);
    }
    table
}

/// The gateway's timings over the tier, per route it served, beside the engine's figures for
/// the same tier.
pub fn counters_table(run: &OverheadRun, profile: &GatewayProfile) -> Option<Table> {
    let Counters::Read { before, after } = &profile.counters else {
        return None;
    };
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("who", Left),
        ("route", Left),
        ("requests", Right),
        ("mean ms", Right),
    ]);
    for now in after {
        let then = before.iter().find(|b| b.route == now.route);
        let requests = now.requests - then.map_or(0, |b| b.requests.min(now.requests));
        let seconds = now.seconds - then.map_or(0.0, |b| b.seconds);
        // mcpbench's own reads of these timings are no part of the tier.
        if requests == 0 || now.route.ends_with(contextforge::api::PROMETHEUS_PATH) {
            continue;
        }
        table.push(vec![
            "the gateway (inside it)".into(),
            now.route.clone(),
            requests.to_string(),
            format!("{:.2}", seconds * 1000.0 / requests as f64),
        ]);
    }
    if let Some(ours) = run
        .tiers
        .iter()
        .find(|t| t.tier == profile.tier)
        .and_then(|t| t.measured())
    {
        for op in ours.operations.iter().filter(|o| o.requests > 0) {
            table.push(vec![
                "mcpbench (from the actual send)".into(),
                op.name.clone(),
                op.requests.to_string(),
                format!("{:.2}", op.uncorrected.mean_ms),
            ]);
        }
    }
    Some(table)
}

/// What the timings' table cannot say, in one line each.
pub fn counters_notes(profile: &GatewayProfile) -> Vec<String> {
    match &profile.counters {
        Counters::Read { .. } => vec![format!(
            "The gateway's timings are per route ({}), read before the tier's warm-up and after \
             its end, so they count more requests than mcpbench's measured window; this version \
             has no per-MCP-operation timings (every MCP call is one route), and the per-operation \
             means are mcpbench's.",
            contextforge::api::PROMETHEUS_PATH
        )],
        Counters::Unavailable { reason } => {
            vec![format!("The gateway's own timings were not read: {reason}")]
        }
    }
}

/// The profile's section of `report.md`.
pub fn markdown(run: &OverheadRun) -> String {
    let Some(profile) = &run.gateway_profile else {
        return String::new();
    };
    let mut md = format!(
        "\n### Gateway profile ({} tier)\n\n{}\n\n",
        profile.tier,
        cli::markdown_cell(&profile.sampler)
    );
    match &profile.stacks {
        Stacks::Recorded { stacks } => {
            md.push_str(
                "Top frames (the flame graph is in report.html; the stacks in gateway.folded):\n\n",
            );
            md.push_str(&top_frames_table(stacks).markdown());
        }
        Stacks::NotRecorded { reason } => {
            md.push_str(&format!(
                "No stacks were recorded: {}\n",
                cli::markdown_cell(reason)
            ));
        }
    }
    md.push_str("\n#### The gateway's own view\n\n");
    if let Some(table) = counters_table(run, profile) {
        md.push_str(&table.markdown());
        md.push('\n');
    }
    for note in counters_notes(profile) {
        md.push_str(&cli::markdown_cell(&note));
        md.push('\n');
    }
    md
}
