//! Developer commands that drive cargo itself: `test` and `bench`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

/// Builds every binary in release (the end-to-end tests run them as a user would, and the
/// load tests need them optimised), then runs the whole workspace's tests against them.
pub fn test(extra: &[String]) -> Result<()> {
    let sh = workspace_shell()?;
    cmd!(sh, "cargo build --release --workspace --bins").run()?;
    cmd!(
        sh,
        "cargo test --release --workspace --no-fail-fast {extra...}"
    )
    .run()
    .context("tests failed")?;
    Ok(())
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BenchName {
    BenchServer,
    Loadgen,
}

/// Runs a benchmark harness from `benches/` (each pins its target and generator itself).
pub fn bench(name: BenchName, extra: &[String]) -> Result<()> {
    let sh = workspace_shell()?;
    let target = match name {
        BenchName::BenchServer => "bench_server",
        BenchName::Loadgen => "loadgen",
    };
    cmd!(sh, "cargo build --release --workspace --bins").run()?;
    cmd!(sh, "cargo bench --bench {target} -- {extra...}").run()?;
    Ok(())
}

pub(crate) fn workspace_shell() -> Result<Shell> {
    let sh = Shell::new()?;
    // xtask's manifest sits one level below the workspace root.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has a parent directory")?;
    sh.change_dir(root);
    Ok(sh)
}

/// A test or benchmark run that fails is judged and failed (exit 1).
pub fn exit(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::Exit::Failed.fail("cargo xtask", &format!("{e:#}")),
    }
}
