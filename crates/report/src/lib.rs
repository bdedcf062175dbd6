//! report: what a tiered run (direct → gateway → nginx → gateway) produced, and every view of it.
//!
//! [`OverheadRun`] is the versioned document (`results.json`, schema [`SCHEMA`]); everything
//! else — the overhead table, HTML, Markdown, JUnit, the terminal tables and the comparison with
//! a baseline — is computed from it, so a saved run can be re-rendered or compared later.

mod document;

pub use document::{
    OverheadRow, OverheadRun, ProfileInfo, ResourceSample, StackInfo, TierRun, Verdict,
    VerdictStatus, SCHEMA,
};
