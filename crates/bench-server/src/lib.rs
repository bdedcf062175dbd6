//! bench-server: an MCP benchmark server that runs N servers (one per port) in one process.
//!
//! Use it as a library (`Fleet::bind` then `Fleet::serve`) or through [`main_with_args`], which
//! the `bench-server` binary and `cargo xtask bench-server` both call.

mod catalog;
mod config;
mod era;
mod faults;
mod http;
mod legacy_sse;
mod log;
mod mcp;
pub mod stamp;
mod stdio;
mod tools;

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;

pub use catalog::{benchmark_tool, benchmark_tool_name};
pub use config::{
    Config, ConfigError, ErrorKind, LogLevel, ResponseMode, Transport, DEFAULT_TOOL_SIZE,
};
pub use mcp::{PROTOCOL_VERSIONS, SERVER_NAME};

use cli::Exit;

use crate::catalog::Catalog;
use crate::faults::Faults;
use crate::http::HttpServer;
use crate::mcp::{Server, Shared};

/// How long in-flight requests may take to finish after SIGINT/SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(800);

/// A port of the fleet that could not be bound. Nothing is served when any port fails.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("port {} on {} is already in use", .addr.port(), .addr.ip())]
    InUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Other {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound fleet of HTTP servers, not yet serving.
pub struct Fleet {
    listeners: Vec<std::net::TcpListener>,
    servers: Vec<Arc<HttpServer>>,
}

fn shared_state(config: &Config) -> Arc<Shared> {
    Arc::new(Shared {
        catalog: Catalog::new(config),
        faults: Faults::new(config),
        started: Instant::now(),
        instance: rand::random(),
    })
}

impl Fleet {
    /// Binds every port of the fleet first, so a port in use fails the whole start cleanly.
    pub fn bind(config: &Config) -> Result<Fleet, BindError> {
        let shared = shared_state(config);
        let auth: Option<Arc<str>> = config.auth_token.as_deref().map(Arc::from);
        let mut listeners = Vec::with_capacity(config.server_count as usize);
        let mut servers = Vec::with_capacity(config.server_count as usize);
        for (index, addr) in config.socket_addrs().into_iter().enumerate() {
            let listener = std::net::TcpListener::bind(addr).map_err(|source| {
                if source.kind() == std::io::ErrorKind::AddrInUse {
                    BindError::InUse { addr }
                } else {
                    BindError::Other { addr, source }
                }
            })?;
            listener
                .set_nonblocking(true)
                .map_err(|source| BindError::Other { addr, source })?;
            listeners.push(listener);
            let server = Server::new(index as u32, Arc::clone(&shared));
            servers.push(Arc::new(HttpServer::new(
                server,
                config.stateless,
                config.response_mode,
                auth.clone(),
            )));
        }
        Ok(Fleet { listeners, servers })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` resolves, then stops accepting and gives in-flight requests up to
    /// [`DRAIN_TIMEOUT`] to finish. Must run inside a Tokio runtime.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let graceful = Arc::new(GracefulShutdown::new());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut accept_loops = Vec::with_capacity(self.listeners.len());
        for (listener, server) in self.listeners.into_iter().zip(self.servers) {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            accept_loops.push(tokio::spawn(accept_loop(
                listener,
                server,
                Arc::clone(&graceful),
                stop_rx.clone(),
            )));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        for task in accept_loops {
            let _ = task.await;
        }
        let graceful = Arc::into_inner(graceful).expect("accept loops have ended");
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            log::warning!(
                "in-flight requests still running after {DRAIN_TIMEOUT:?}; exiting anyway"
            );
        }
        Ok(())
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    server: Arc<HttpServer>,
    graceful: Arc<GracefulShutdown>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, peer)) => {
                log::debug!("connection from {peer}");
                stream
            }
            Err(e) => {
                // Out of descriptors, or the peer vanished mid-handshake: keep serving the rest.
                log::warning!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let server = Arc::clone(&server);
        // A watcher per connection: connection tasks must not keep the shutdown handle alive.
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| Arc::clone(&server).handle(req));
            // HTTP/1.1, or HTTP/2 with prior knowledge (h2c), told apart by the connection preface.
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                log::debug!("connection ended with an error: {e}");
            }
        });
    }
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn termination_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The whole command line: parse, validate, bind, serve until a signal (its normal end: exit
/// 0). `args[0]` is the program name. Errors are one line on stderr; exit 2 for bad input, 3
/// for a port in use or an address that cannot be bound.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    let config = match Config::try_parse_args(args) {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    if let Err(e) = config.validate() {
        return Exit::Usage.fail("bench-server", &e.to_string());
    }
    log::set_level(config.log_level);
    let mut builder = match config.transport {
        Transport::Stdio => tokio::runtime::Builder::new_current_thread(),
        Transport::Http => tokio::runtime::Builder::new_multi_thread(),
    };
    if let (Transport::Http, Some(threads)) = (config.transport, config.threads) {
        builder.worker_threads(threads as usize);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return Exit::Infrastructure.fail(
                "bench-server",
                &format!("cannot start the async runtime: {e}"),
            )
        }
    };
    let result = match config.transport {
        Transport::Stdio => {
            let server = Server::new(0, shared_state(&config));
            runtime.block_on(stdio::serve(server, termination_signal()))
        }
        Transport::Http => {
            let fleet = match Fleet::bind(&config) {
                Ok(f) => f,
                Err(e) => return Exit::Infrastructure.fail("bench-server", &e.to_string()),
            };
            let addrs = fleet.local_addrs();
            log::info!(
                "serving {} MCP server(s) on {}..{} (tools={} resources={} prompts={} stateless={} response-mode={:?})",
                addrs.len(),
                addrs[0],
                addrs[addrs.len() - 1].port(),
                config.tools,
                config.resources,
                config.prompts,
                config.stateless,
                config.response_mode,
            );
            runtime.block_on(fleet.serve(termination_signal()))
        }
    };
    // Tasks still parked on a stall or a delay must not hold the exit past the drain deadline.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => Exit::Infrastructure.fail("bench-server", &e.to_string()),
    }
}

/// clap's help and version go to stdout with exit 0; its errors become one line and exit 2.
fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = e.render().to_string();
            let first = cli::args::first_line(&rendered);
            Exit::Usage.fail("bench-server", &format!("{first} (see --help)"))
        }
    }
}
