//! `cargo xtask`: the mcpbench command line. It parses flags and dispatches; the work lives in
//! the library crates under `crates/` (and, for `test` and `bench`, in cargo itself).

mod dev;
mod images_cmd;
mod provision_cmd;
mod stack_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    version,
    about = "mcpbench: what does your MCP gateway cost?",
    after_help = cli::EXIT_STATUS_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the MCP benchmark server fleet (all `bench-server` flags, Go single-dash spellings too).
    #[command(disable_help_flag = true)]
    BenchServer {
        /// Flags for bench-server; `cargo xtask bench-server --help` lists them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Load an MCP endpoint: closed users or an open rate, stages, sessions; `--help` for all.
    #[command(disable_help_flag = true)]
    Load {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// hey.sh on the mcpbench engine (-n -c -m -T -H -d -u -z -q -t -l --dry-run); `-h` for all.
    #[command(disable_help_flag = true)]
    Hey {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a load-test profile on every tier (direct, gateway, nginx, REST) and report the
    /// gateway's overhead (`--profile light|heavy|stress|sustained|rest-baseline|…|FILE`;
    /// `--help`).
    #[command(disable_help_flag = true)]
    LoadTest {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The live web UI (the seed's `make load-test-ui`) on 127.0.0.1:8089: pick a tier and
    /// classes, start, watch, change users, stop, download the report; Ctrl-C ends it.
    #[command(disable_help_flag = true)]
    LoadTestUi {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile light: 10 users, spawn 2/s, 30 s per tier (SLA: baseline).
    #[command(disable_help_flag = true)]
    LoadTestLight {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile heavy: 200 users, spawn 20/s, 120 s per tier (SLA: load).
    #[command(disable_help_flag = true)]
    LoadTestHeavy {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile stress: 500 users, spawn 50/s, 60 s per tier (SLA: stress).
    #[command(disable_help_flag = true)]
    LoadTestStress {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile sustained: 25 users, spawn 5/s, 300 s per tier (SLA: load).
    #[command(disable_help_flag = true)]
    LoadTestSustained {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile rest-baseline: REST API at 1,000/s for 10 min (SLA: baseline).
    #[command(disable_help_flag = true)]
    LoadTestRestBaseline {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile mcp-baseline: MCP JSON-RPC on the virtual server at 1,000/s for 15 min.
    #[command(disable_help_flag = true)]
    LoadTestMcpBaseline {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile mcp-servers-baseline: the bench servers directly at 2,000/s for 10 min.
    #[command(disable_help_flag = true)]
    LoadTestMcpServersBaseline {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile load: every tier at 4,000/s for 30 min (SLA: load).
    #[command(disable_help_flag = true)]
    LoadTestLoad {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile stress-ramp: 1k/s → 10k/s over 30 min; where the SLA breaks.
    #[command(disable_help_flag = true)]
    LoadTestStressRamp {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile spike: 1k/s → 10k/s → 1k/s in 10 min (SLA: stress).
    #[command(disable_help_flag = true)]
    LoadTestSpike {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile soak: 2,000/s for 24 h, the gateway's memory sampled (SLA: load).
    #[command(disable_help_flag = true)]
    LoadTestSoak {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile admin-ui: 50 users on the gateway's admin UI for 5 min.
    #[command(disable_help_flag = true)]
    LoadTestAdminUi {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile sse: 1,000 SSE connections (refused until the engine drives them).
    #[command(disable_help_flag = true)]
    LoadTestSse {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// load-test --profile websocket: 500 WebSocket connections (refused until wired).
    #[command(disable_help_flag = true)]
    LoadTestWebsocket {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The highest arrival rate each tier sustains under an SLO (`--slo 'p95<300ms,error_rate<0.1%'`,
    /// `--tier`, `--url`; ramp, bisect, confirm); `--help` for all.
    #[command(disable_help_flag = true)]
    Capacity {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Compare a run with the baseline per tier and operation; exit 1 on a regression.
    #[command(disable_help_flag = true)]
    CompareBaseline {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Render a saved run's reports again from its results.json: `report reports/latest`.
    #[command(disable_help_flag = true)]
    Report {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Host TCP tuning for load tests: `tune check`, `tune apply [--persist]`.
    #[command(disable_help_flag = true)]
    Tune {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Start bench servers, the ContextForge gateway and nginx (containers or local processes), registered.
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    BenchmarkUp(stack::UpFlags),
    /// Stop everything benchmark-up started (nothing up is not an error).
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    BenchmarkDown(stack_cmd::StateDir),
    /// benchmark-down, then remove the stack's state, database, logs and secrets.
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    BenchmarkClean(stack_cmd::StateDir),
    /// Each service's state, endpoint and health (`--json` for machines).
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    BenchmarkStatus(stack_cmd::StatusArgs),
    /// Print a service's log (`--follow`, `--tail N`).
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    BenchmarkLogs(stack_cmd::LogsArgs),
    /// The stack's container images (`images build`).
    #[command(subcommand)]
    Images(images_cmd::ImagesCommand),
    /// Mint a ContextForge-compatible JWT (HS256), as `python -m mcpgateway.utils.create_jwt_token`.
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    Jwt(JwtArgs),
    /// Check or install the system pieces mcpbench needs (as root on Debian or Ubuntu;
    /// MCPBENCH_NO_INSTALL=1 refuses). The commands that need a piece do this themselves.
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    Provision(provision_cmd::ProvisionArgs),
    /// Provision what the tests need, build the binaries and run every test (unit, end-to-end, SDK conformance).
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    Test {
        /// Extra arguments for `cargo test` (a test-name filter, `-- --nocapture`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a benchmark against its peers: `bench-server` (vs the official SDK's FastMCP),
    /// `loadgen` (vs wrk, hey, oha and a reqwest loop) or `json` (orjson vs json in the gateway's
    /// venv, serde_json vs sonic-rs on the engine's payloads).
    #[command(after_help = cli::EXIT_STATUS_HELP)]
    Bench {
        #[arg(value_enum)]
        name: dev::BenchName,
        /// Extra arguments for the benchmark binary (`--help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct JwtArgs {
    /// The user the token is for (its `username` and `sub`).
    #[arg(short = 'u', long, default_value = contextforge::naming::ADMIN_EMAIL)]
    username: String,
    /// Minutes until expiry (0: no `exp`, which the gateway refuses).
    #[arg(long, default_value_t = contextforge::jwt::DEFAULT_EXPIRY_MINUTES)]
    exp: u64,
    /// An admin token: `user.is_admin` and `teams: null` (every team).
    #[arg(long, conflicts_with = "teams")]
    admin: bool,
    /// Team ids the token is scoped to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    teams: Option<Vec<String>>,
    /// The gateway's JWT_SECRET_KEY (never printed); default: the running stack's.
    #[arg(
        long,
        env = contextforge::settings::JWT_SECRET_ENV,
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    secret: Option<String>,
}

fn jwt(args: JwtArgs) -> ExitCode {
    const JWT: &str = "cargo xtask jwt";
    let Some(secret) = args.secret.or_else(stack_cmd::stack_secret) else {
        return cli::Exit::Usage.fail(
            JWT,
            "no signing secret: pass --secret, set JWT_SECRET_KEY, or run benchmark-up first",
        );
    };
    let request = contextforge::jwt::TokenRequest {
        username: args.username,
        expires_in_minutes: args.exp,
        admin: args.admin,
        teams: args.teams,
    };
    match contextforge::jwt::mint(&request, &secret) {
        Ok(token) => {
            println!("{token}");
            cli::Exit::Ok.into()
        }
        Err(e) => cli::Exit::Usage.fail(JWT, &e.to_string()),
    }
}

/// `load-test` (or a `load-test-<profile>` alias, whose profile goes first so a later
/// `--profile` still wins).
fn load_test(profile: Option<&str>, args: Vec<String>) -> ExitCode {
    let program = match profile {
        Some(p) => format!("cargo xtask load-test-{p}"),
        None => "cargo xtask load-test".into(),
    };
    let preset = profile
        .into_iter()
        .flat_map(|p| ["--profile".to_string(), p.to_string()]);
    pipeline::cli::main_with_args(
        std::iter::once(program).chain(preset).chain(args).collect(),
        stack_cmd::bench_server_program(),
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::BenchServer { args } => bench_server::main_with_args(
            std::iter::once("cargo xtask bench-server".into()).chain(args),
        ),
        Command::Load { args } => loadgen::load_cli::main_with_args(
            std::iter::once("cargo xtask load".into())
                .chain(args)
                .collect(),
            report::single::write_views,
        ),
        Command::Hey { args } => loadgen::hey::main_with_args(
            std::iter::once("cargo xtask hey".into())
                .chain(args)
                .collect(),
            report::single::write_views,
        ),
        Command::LoadTest { args } => load_test(None, args),
        Command::LoadTestUi { args } => webui::main_with_args(
            std::iter::once("cargo xtask load-test-ui".into())
                .chain(args)
                .collect(),
            stack_cmd::bench_server_program(),
        ),
        Command::LoadTestLight { args } => load_test(Some("light"), args),
        Command::LoadTestHeavy { args } => load_test(Some("heavy"), args),
        Command::LoadTestStress { args } => load_test(Some("stress"), args),
        Command::LoadTestSustained { args } => load_test(Some("sustained"), args),
        Command::LoadTestRestBaseline { args } => load_test(Some("rest-baseline"), args),
        Command::LoadTestMcpBaseline { args } => load_test(Some("mcp-baseline"), args),
        Command::LoadTestMcpServersBaseline { args } => {
            load_test(Some("mcp-servers-baseline"), args)
        }
        Command::LoadTestLoad { args } => load_test(Some("load"), args),
        Command::LoadTestStressRamp { args } => load_test(Some("stress-ramp"), args),
        Command::LoadTestSpike { args } => load_test(Some("spike"), args),
        Command::LoadTestSoak { args } => load_test(Some("soak"), args),
        Command::LoadTestAdminUi { args } => load_test(Some("admin-ui"), args),
        Command::LoadTestSse { args } => load_test(Some("sse"), args),
        Command::LoadTestWebsocket { args } => load_test(Some("websocket"), args),
        Command::Capacity { args } => pipeline::capacity::main_with_args(
            std::iter::once("cargo xtask capacity".into())
                .chain(args)
                .collect(),
            stack_cmd::bench_server_program(),
        ),
        Command::CompareBaseline { args } => report::compare_cli::main_with_args(
            std::iter::once("cargo xtask compare-baseline".into())
                .chain(args)
                .collect(),
        ),
        Command::Report { args } => report::render_cli::main_with_args(
            std::iter::once("cargo xtask report".into())
                .chain(args)
                .collect(),
        ),
        Command::Tune { args } => pipeline::cli::tune_main(
            std::iter::once("cargo xtask tune".into())
                .chain(args)
                .collect(),
        ),
        Command::Jwt(args) => jwt(args),
        Command::BenchmarkUp(args) => stack_cmd::up(args),
        Command::BenchmarkDown(dir) => stack_cmd::down(dir),
        Command::BenchmarkClean(dir) => stack_cmd::clean(dir),
        Command::BenchmarkStatus(args) => stack_cmd::status(args),
        Command::BenchmarkLogs(args) => stack_cmd::logs(args),
        Command::Images(command) => images_cmd::run(command),
        Command::Provision(args) => provision_cmd::run(args),
        Command::Test { args } => dev::test(&args),
        Command::Bench { name, args } => dev::bench(name, &args),
    }
}
