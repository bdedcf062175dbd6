//! The `benchmark-*` commands: flags, then `crates/stack`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct StateDir {
    /// Where the stack keeps its state, logs, database and secrets.
    #[arg(long, default_value_os_t = stack::default_state_dir())]
    pub state_dir: PathBuf,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    dir: StateDir,
}

#[derive(Args)]
pub struct LogsArgs {
    /// bench-servers, gateway or nginx (default: all).
    service: Option<String>,
    #[arg(short, long)]
    follow: bool,
    #[arg(long, default_value_t = 50)]
    tail: usize,
    #[command(flatten)]
    dir: StateDir,
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

pub fn fail(e: stack::StackError) -> ExitCode {
    eprintln!("cargo xtask: {e}");
    ExitCode::from(match e {
        stack::StackError::Usage(_) => 2,
        stack::StackError::Infrastructure(_) => 3,
        stack::StackError::NoEngine(_) => 4,
        stack::StackError::Interrupted => 130,
    })
}

/// The bench-server binary built beside this one.
pub fn bench_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("bench-server")))
        .unwrap_or_else(|| PathBuf::from("bench-server"))
}

pub fn up(flags: stack::UpFlags) -> ExitCode {
    let options = flags.options(bench_server_bin());
    match runtime().block_on(stack::up(&options, ctrl_c())) {
        Ok(state) => {
            println!("gateway: http://127.0.0.1:{}", state.gateway_port);
            if let Some(port) = state.nginx_port {
                println!(
                    "nginx:   http://127.0.0.1:{port}{}",
                    if state.nginx_cache {
                        " (list pages cached)"
                    } else {
                        ""
                    }
                );
            }
            if let Some(id) = &state.virtual_server_id {
                println!(
                    "MCP:     http://127.0.0.1:{}/servers/{id}/mcp",
                    state.gateway_port
                );
            }
            println!("token:   cargo xtask jwt --admin   (signed with this stack's secret)");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn down(dir: StateDir) -> ExitCode {
    match runtime().block_on(stack::down(&dir.state_dir)) {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn clean(dir: StateDir) -> ExitCode {
    match runtime().block_on(stack::clean(&dir.state_dir)) {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn status(args: StatusArgs) -> ExitCode {
    match runtime().block_on(stack::status(&args.dir.state_dir)) {
        Ok(rows) if args.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).expect("rows serialise")
            );
            ExitCode::SUCCESS
        }
        Ok(rows) if rows.is_empty() => {
            println!("nothing is up");
            ExitCode::SUCCESS
        }
        Ok(rows) => {
            print!("{}", stack::status_table(&rows));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn logs(args: LogsArgs) -> ExitCode {
    let request = stack::LogRequest {
        service: args.service.as_deref(),
        lines: args.tail,
        follow: args.follow,
    };
    match runtime().block_on(stack::logs(&args.dir.state_dir, request, ctrl_c())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// The running stack's JWT secret, for `jwt` without `--secret`.
pub fn stack_secret() -> Option<String> {
    stack::StackState::load(&stack::default_state_dir())
        .ok()
        .flatten()
        .map(|s| s.jwt_secret)
}
