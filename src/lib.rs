//! The root package: it owns the end-to-end tests (`tests/`) and the benchmarks (`benches/`), and
//! this library holds what both need to drive the workspace's binaries as a user would.

pub mod browser;
pub mod delay_proxy;
pub mod harness;
pub mod json_bench;
