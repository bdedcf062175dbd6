//! pipeline: the overhead pipeline. A [`profile::Profile`] (the Makefile's presets, the seed's JMeter plans,
//! or TOML) runs the same MCP workload on each tier — the bench server directly, the gateway,
//! nginx in front of the gateway — then the REST classes on the gateway; thresholds (the seed's
//! SLA table by default) are judged per tier and the `report` crate assembles and writes the
//! document. The host is checked first (`host`), so a run that cannot succeed is refused before
//! any traffic. `capacity` searches each tier for the highest arrival rate that keeps an SLO.

mod breaking;
pub mod capacity;
pub mod cli;
pub mod host;
pub mod lease;
pub mod profile;
mod profiling;
mod repeat;
pub mod run;
mod sampler;
pub mod streams;
pub mod targets;
pub mod thresholds;
pub mod tiers;
