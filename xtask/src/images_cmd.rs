//! `cargo xtask images build`: the static bench-server binary (cargo, in its own target
//! directory so the normal build is not invalidated), then the images through `stack::images`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use cli::Exit;
use xshell::cmd;

#[derive(Subcommand)]
pub enum ImagesCommand {
    /// Build the stack's images here (no registry needed): bench-server on scratch, the gateway
    /// and nginx on a Debian base made with debootstrap when absent.
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    Build(BuildArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// The base image of the gateway and nginx images (default: the Debian suite each needs,
    /// made with debootstrap when absent).
    #[arg(long)]
    base: Option<String>,
    /// The ContextForge release the gateway image installs.
    #[arg(long, value_name = "VERSION", default_value_t = contextforge::release::Release::newest())]
    gateway_version: contextforge::release::Release,
    /// Build only this image.
    #[arg(long, value_parser = stack::images::NAMES)]
    only: Option<String>,
}

const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";
const BUILD: &str = "cargo xtask images build";

/// bench-server linked statically (so it runs on `scratch`); returns the binary's path.
fn static_bench_server() -> Result<PathBuf> {
    let sh = crate::dev::workspace_shell()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| sh.current_dir().join("target"))
        .join("static");
    cmd!(
        sh,
        "cargo build --release --target {STATIC_TARGET} -p bench-server --target-dir {target_dir}"
    )
    .env("RUSTFLAGS", "-C target-feature=+crt-static")
    .run()?;
    Ok(target_dir
        .join(STATIC_TARGET)
        .join("release")
        .join("bench-server"))
}

pub fn run(command: ImagesCommand) -> ExitCode {
    let ImagesCommand::Build(args) = command;
    let only: Vec<String> = match args.only {
        Some(name) => vec![name],
        None => stack::images::NAMES.map(String::from).to_vec(),
    };
    let bench_server_binary = if only.iter().any(|n| n == "bench-server") {
        match static_bench_server() {
            Ok(path) => Some(path),
            Err(e) => {
                eprintln!("{BUILD}: the static bench-server build failed: {e:#}");
                return Exit::Infrastructure.into();
            }
        }
    } else {
        None
    };
    let options = stack::images::BuildOptions {
        base: args.base,
        only,
        gateway: stack::images::GatewayBuild::Release(args.gateway_version),
        bench_server_binary,
        work_dir: stack::default_cache_dir(),
    };
    crate::stack_cmd::run(async {
        match stack::images::build(&options).await {
            Ok(made) => {
                made.iter().for_each(|line| println!("{line}"));
                Exit::Ok.into()
            }
            Err(e) => crate::stack_cmd::fail(BUILD, &e),
        }
    })
}
