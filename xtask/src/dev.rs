//! Developer commands that drive cargo itself: `test` and `bench`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use cli::Exit;
use provision::{engine::EngineService, Piece};
use xshell::{cmd, Shell};

const TEST: &str = "cargo xtask test";

/// Provisions what the tests need (see [`provision_for_tests`]), builds every binary in release
/// (the end-to-end tests run them as a user would, and the load tests need them optimised), then
/// runs the whole workspace's tests against them.
pub fn test(extra: &[String]) -> ExitCode {
    let engine = match provision_for_tests(extra.is_empty()) {
        Ok(engine) => engine,
        Err((exit, line)) => return exit.fail(TEST, &line),
    };
    let run = || -> Result<()> {
        let sh = workspace_shell()?;
        let _docker_host = engine
            .as_ref()
            .map(|service| sh.push_env("DOCKER_HOST", service.docker_host()));
        cmd!(sh, "cargo build --release --workspace --bins").run()?;
        // The tests append a line per skip (`harness::skip`).
        let skips = sh.current_dir().join("target").join("test-skips.txt");
        let _ = std::fs::remove_file(&skips);
        let _skips_env = sh.push_env("MCPBENCH_SKIPS", &skips);
        let tested = cmd!(
            sh,
            "cargo test --release --workspace --no-fail-fast {extra...}"
        )
        .run()
        .context("tests failed");
        // Said last, where the eye lands: a skipped test is not a passed one.
        if let Ok(lines) = std::fs::read_to_string(&skips) {
            eprint!("{lines}");
        }
        tested
    };
    exit(run())
}

/// Every system piece a test needs, installed when absent (as root on Debian or Ubuntu), and a
/// container engine's API: the one that answers, or Podman's service for the tests' duration.
/// With a test filter (`extra` not empty) a missing piece is said and the run goes on: the tests
/// that need it fail with the same advice.
fn provision_for_tests(whole_suite: bool) -> Result<Option<EngineService>, (Exit, String)> {
    if let Err(missing) = provision::ensure(&Piece::ALL) {
        if whole_suite {
            return Err((Exit::Missing, missing.to_string()));
        }
        eprintln!("{TEST}: {missing}");
    }
    if provision::engine::answering().is_some() || !Piece::Podman.present() {
        return Ok(None);
    }
    EngineService::start()
        .map(Some)
        .map_err(|e| (Exit::Infrastructure, e))
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BenchName {
    BenchServer,
    Loadgen,
    Json,
}

/// Runs a benchmark harness from `benches/` (each pins its target and generator itself). A
/// harness that ends with one of mcpbench's refusals (`json`: the gateway has no orjson, exit 5)
/// passes its status on; any other failure is exit 1.
pub fn bench(name: BenchName, extra: &[String]) -> ExitCode {
    let run = || -> Result<std::process::ExitStatus> {
        let sh = workspace_shell()?;
        // The JSON benchmark runs no program of ours.
        let (target, needs_binaries) = match name {
            BenchName::BenchServer => ("bench_server", true),
            BenchName::Loadgen => ("loadgen", true),
            BenchName::Json => ("json", false),
        };
        if needs_binaries {
            cmd!(sh, "cargo build --release --workspace --bins").run()?;
        }
        let bench = cmd!(sh, "cargo bench --bench {target} -- {extra...}");
        Ok(std::process::Command::from(bench).status()?)
    };
    let status = match run() {
        Ok(status) if status.success() => return ExitCode::SUCCESS,
        Ok(status) => status,
        Err(e) => return exit(Err(e)),
    };
    let refusal = [Exit::Usage, Exit::Infrastructure, Exit::Missing]
        .into_iter()
        .find(|e| status.code() == Some(i32::from(e.code())));
    match refusal {
        // The harness has said why, in one line.
        Some(refusal) => refusal.into(),
        None => exit(Err(anyhow::anyhow!("the benchmark failed ({status})"))),
    }
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
        Err(e) => Exit::Failed.fail("cargo xtask", &format!("{e:#}")),
    }
}
