//! Command-line configuration of the benchmark server: the single source of its defaults.
//!
//! The flags mirror ContextForge's Go benchmark server so existing compose files keep working;
//! `-server-count=10` (Go's single-dash spelling) is rewritten to `--server-count=10` before parsing.

use std::net::IpAddr;

use clap::{Parser, ValueEnum};

/// The largest catalog a server serves: items are computed on demand, but their numbering
/// (and the fixed tools after them) must stay within u32.
pub const MAX_CATALOG: i64 = 1_000_000;
/// The most requests `--concurrency` serves at once (far beyond what one process can hold open).
pub const MAX_CONCURRENCY: i64 = 1_000_000;
/// The largest payload of one result: past it a single response would exhaust memory.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
/// Payload bytes in a benchmark tool result unless `--tool-size` says otherwise.
pub const DEFAULT_TOOL_SIZE: usize = 1000;

fn payload_size(text: &str) -> Result<usize, String> {
    let bytes: usize = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of bytes"))?;
    if bytes > MAX_PAYLOAD {
        return Err(format!(
            "{bytes} bytes is more than the {MAX_PAYLOAD} a payload may have"
        ));
    }
    Ok(bytes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// MCP Streamable HTTP on `POST /mcp` (and `/`).
    Http,
    /// Newline-delimited JSON-RPC on stdin/stdout (one server).
    Stdio,
}

/// How a response to a POST is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResponseMode {
    /// JSON unless the client accepts only `text/event-stream`.
    Auto,
    /// Always `application/json` (406 if the client does not accept it).
    Json,
    /// Always a `text/event-stream` (406 if the client does not accept it).
    Sse,
}

/// Which failure an injected error takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ErrorKind {
    /// A JSON-RPC `error` object on HTTP 200.
    Jsonrpc,
    /// A tool result with `isError: true` (tools/call only; other methods get a JSON-RPC error).
    Tool,
    /// Alternate between the two.
    Mixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    None,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "bench-server",
    version,
    about = "MCP benchmark server: N Streamable HTTP servers in one process, with fault injection",
    long_about = None,
    after_help = "Exit status: 0 stopped by SIGINT/SIGTERM (its normal end; in-flight requests get 800 ms), 2 bad flags or values, 3 a port in use or an address that cannot be bound."
)]
pub struct Config {
    /// Transport: `http` serves Streamable HTTP; `stdio` serves one server on stdin/stdout.
    #[arg(long, value_enum, default_value_t = Transport::Http)]
    pub transport: Transport,

    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,

    /// Port of a single server (ignored when --start-port is given).
    #[arg(long, default_value_t = 8080, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// `HOST:PORT`, overriding --listen and --port (Go server compatibility).
    #[arg(long)]
    pub addr: Option<std::net::SocketAddr>,

    /// Number of servers, on consecutive ports from --start-port.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub server_count: u32,

    /// First port of the fleet (defaults to --port).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub start_port: Option<u16>,

    /// Benchmark tools per server (`benchmark_tool_{i}`), besides echo/get_system_time/convert_time.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=MAX_CATALOG))]
    pub tools: u32,

    /// Resources per server (`benchmark://server{id}/resource_{i}`).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=MAX_CATALOG))]
    pub resources: u32,

    /// Prompts per server (`benchmark_prompt_{i}`).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=MAX_CATALOG))]
    pub prompts: u32,

    /// Payload bytes in each benchmark tool result.
    #[arg(long, alias = "payload-size", default_value_t = DEFAULT_TOOL_SIZE, value_parser = payload_size)]
    pub tool_size: usize,

    /// Payload bytes in each resource.
    #[arg(long, default_value_t = 1000, value_parser = payload_size)]
    pub resource_size: usize,

    /// Payload bytes in each prompt message.
    #[arg(long, default_value_t = 1000, value_parser = payload_size)]
    pub prompt_size: usize,

    /// Items per page of tools/list, resources/list and prompts/list (cursor pagination).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,

    /// Require `Authorization: Bearer <token>` on the MCP endpoint (not on /health, /version).
    #[arg(
        long,
        env = "AUTH_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub auth_token: Option<String>,

    /// No `Mcp-Session-Id`: every request stands alone (as FastMCP's stateless_http).
    #[arg(long)]
    pub stateless: bool,

    /// JSON or SSE responses to POST; `auto` follows the client's Accept header.
    #[arg(long, value_enum, default_value_t = ResponseMode::Auto)]
    pub response_mode: ResponseMode,

    /// Added latency per MCP request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,

    /// Uniform jitter around --latency-ms (± this many milliseconds, never below zero).
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,

    /// Fraction (0..=1) of tools/call, resources/read and prompts/get answered with an injected error.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    pub error_rate: f64,

    /// Form of the injected errors.
    #[arg(long, value_enum, default_value_t = ErrorKind::Mixed)]
    pub error_kind: ErrorKind,

    /// At most N requests (process-wide) are served at once, each holding its slot for its
    /// --latency-ms (± jitter), so N / latency is the server's capacity; the rest queue.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_CONCURRENCY))]
    pub concurrency: Option<u32>,

    /// Every Nth MCP request (process-wide) stalls the whole server for --stall-ms.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), requires = "stall_ms")]
    pub stall_every: Option<u64>,

    /// Length of each stall in milliseconds.
    #[arg(long, requires = "stall_every")]
    pub stall_ms: Option<u64>,

    /// Seed of the fault-injection dice, so a faulty run can be repeated exactly.
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,

    /// Tokio worker threads (default: the CPUs this process may run on).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    /// Log level, to stderr.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
}

/// A validation failure that clap's per-flag parsers cannot see (it spans several flags).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--server-count {count} from port {start} runs past port 65535")]
    PortRangeOverflow { start: u16, count: u32 },
    #[error("--transport stdio serves exactly one server; drop --server-count {0}")]
    StdioFleet(u32),
}

impl Config {
    /// Parses Go-style or GNU-style arguments (`args[0]` is the program name).
    pub fn try_parse_args<I, S>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::try_parse_from(normalize_go_flags(args.into_iter().map(Into::into)))
    }

    /// Cross-flag checks; call after parsing.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.transport == Transport::Stdio && self.server_count > 1 {
            return Err(ConfigError::StdioFleet(self.server_count));
        }
        let start = self.first_port();
        if u32::from(start) + self.server_count - 1 > 65535 {
            return Err(ConfigError::PortRangeOverflow {
                start,
                count: self.server_count,
            });
        }
        Ok(())
    }

    pub fn first_port(&self) -> u16 {
        self.addr
            .map(|a| a.port())
            .or(self.start_port)
            .unwrap_or(self.port)
    }

    pub fn listen_ip(&self) -> IpAddr {
        self.addr.map(|a| a.ip()).unwrap_or(self.listen)
    }

    /// The socket addresses of the fleet, one per server, in server-index order.
    pub fn socket_addrs(&self) -> Vec<std::net::SocketAddr> {
        let first = self.first_port();
        (0..self.server_count)
            .map(|i| std::net::SocketAddr::new(self.listen_ip(), first + i as u16))
            .collect()
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number between 0 and 1"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

/// Rewrites Go's single-dash long flags (`-server-count=10`, `-tools 5`) to `--server-count=10`.
/// Single-letter flags (`-h`, `-V`) and negative numbers are left alone.
pub fn normalize_go_flags(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            let bytes = arg.as_bytes();
            let go_style = i > 0
                && bytes.len() > 2
                && bytes[0] == b'-'
                && bytes[1].is_ascii_alphabetic()
                && bytes[2] != b'=';
            if go_style {
                format!("-{arg}")
            } else {
                arg
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_args(std::iter::once("bench-server").chain(args.iter().copied()))
    }

    #[test]
    fn go_single_dash_flags_are_accepted() {
        let c = parse(&[
            "-transport=http",
            "-server-count=10",
            "-start-port=9000",
            "-tools=50",
        ])
        .unwrap();
        assert_eq!(c.server_count, 10);
        assert_eq!(c.first_port(), 9000);
        assert_eq!(c.tools, 50);
        assert_eq!(c.socket_addrs().last().unwrap().port(), 9009);
    }

    #[test]
    fn single_letter_and_negative_values_are_not_rewritten() {
        let out = normalize_go_flags(["x", "-h", "-5", "--port", "-port"].map(String::from));
        assert_eq!(out, ["x", "-h", "-5", "--port", "--port"]);
    }

    #[test]
    fn catalogs_and_payloads_beyond_their_limits_are_refused_not_wrapped() {
        assert!(parse(&["--tools", "4294967295"]).is_err());
        assert!(parse(&["--resources", "1000001"]).is_err());
        assert!(parse(&["--tool-size", "99999999999"]).is_err());
        assert_eq!(parse(&["--tools", "1000000"]).unwrap().tools, 1_000_000);
    }

    #[test]
    fn port_zero_and_out_of_range_are_rejected() {
        assert!(parse(&["--port", "0"]).is_err());
        assert!(parse(&["--port", "65536"]).is_err());
        assert!(parse(&["--server-count", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }

    #[test]
    fn fleet_running_past_the_last_port_is_rejected() {
        let c = parse(&["--start-port", "65530", "--server-count", "7"]).unwrap();
        assert_eq!(
            c.validate(),
            Err(ConfigError::PortRangeOverflow {
                start: 65530,
                count: 7
            })
        );
        let c = parse(&["--start-port", "65530", "--server-count", "6"]).unwrap();
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn error_rate_must_be_a_fraction() {
        assert!(parse(&["--error-rate", "1.5"]).is_err());
        assert!(parse(&["--error-rate", "abc"]).is_err());
        assert_eq!(parse(&["--error-rate", "0.25"]).unwrap().error_rate, 0.25);
    }

    #[test]
    fn concurrency_is_a_positive_count() {
        assert!(parse(&["--concurrency", "0"]).is_err());
        assert!(parse(&["--concurrency", "1000001"]).is_err());
        assert_eq!(parse(&["--concurrency", "8"]).unwrap().concurrency, Some(8));
        assert_eq!(parse(&[]).unwrap().concurrency, None);
    }

    #[test]
    fn stall_flags_come_together() {
        assert!(parse(&["--stall-every", "10"]).is_err());
        let c = parse(&["--stall-every", "10", "--stall-ms", "50"]).unwrap();
        assert_eq!((c.stall_every, c.stall_ms), (Some(10), Some(50)));
    }
}
