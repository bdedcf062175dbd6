//! report: what a tiered run (direct → gateway → nginx → gateway) produced, and every view of it.
//!
//! [`OverheadRun`] is the versioned document (`results.json`, schema [`SCHEMA`]); everything
//! else — the overhead table, HTML, Markdown, JUnit, the terminal tables and the comparison with
//! a baseline — is computed from it, so a saved run can be re-rendered or compared later.
//! [`capacity::CapacityRun`] is the capacity search's document (`capacity.json`) and its views.

mod assemble;
mod budget;
pub mod capacity;
mod charts;
mod compare;
pub mod compare_cli;
mod document;
mod flame;
pub mod format;
mod html;
mod junit;
mod markdown;
mod notices;
mod overhead;
mod profile;
pub mod render_cli;
mod repeats;
pub mod single;
mod sockets;
pub mod stream;
mod svg;
mod tables;
pub mod terminal;
mod tier;
mod usage;
mod verdict;
mod write;
mod xml;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixture;

pub use assemble::RunFacts;
pub use budget::{BudgetMetric, Budgets, Limit};
pub use compare::{compare, ComparedOperation, Comparison, MetricCheck, Regression};
pub use document::{
    AddedLatency, ExistingGateway, Measured, OverheadRow, OverheadRun, ProfileInfo, ResourceSample,
    SingleTarget, StackInfo, Tier, TierOutcome, TierRun, Verdict, VerdictStatus, SCHEMA,
};
pub use flame::{parse as parse_folded, FoldedStack};
pub use html::render_html;
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use overhead::overhead_rows;
pub use profile::{Counters, GatewayProfile, Stacks};
pub use repeats::{repeats, Figure, Interval, Repeats, RoundFigure};
pub use sockets::{HostSockets, SocketLimits, SocketSample, SocketStates, SocketSummary};
pub use usage::{summarise as summarise_usage, ServiceUsage, UsageSample, UsageSummary};

pub use verdict::verdict;
