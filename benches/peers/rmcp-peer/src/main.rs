//! A peer written with the official MCP Rust SDK (rmcp), for conformance and benchmarks: code
//! nobody here wrote, on both sides of the wire.
//!
//! - `rmcp-peer serve` — an rmcp Streamable HTTP server with bench-server's benchmark tools
//!   (`benchmark_tool_{i}(param1, param2)` answering the same JSON document), the resource
//!   `bench://status` and the prompt `greet(name)`, in both protocol eras on one endpoint
//!   (`POST /mcp`), and `GET /health`. Prints `ready http://HOST:PORT/mcp` once it listens.
//! - `rmcp-peer check URL` — rmcp's client against any MCP server: lists every page of tools,
//!   resources and prompts, calls a tool, reads a resource, gets a prompt, in the era asked for;
//!   prints `rmcp conformance ok: …` or fails.

mod check;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "A peer written with the official MCP Rust SDK (rmcp)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the benchmark catalog with rmcp's Streamable HTTP server.
    Serve(serve::Options),
    /// Check an MCP server with rmcp's client.
    Check(check::Options),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(options) => serve::run(options).await,
        Command::Check(options) => check::run(options).await,
    }
}
