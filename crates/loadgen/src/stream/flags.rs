//! `cargo xtask load --transport sse|websocket`: the `load` flags that apply to long-lived
//! connections turned into a [`StreamPlan`] (the others refused in one line), the run under the
//! stop signals, its summary, `results.json` and exit status.

use std::process::ExitCode;
use std::sync::Arc;

use cli::Exit;

use super::{StreamMessage, StreamPlan, StreamTransport};
use crate::load_cli::{LoadArgs, TransportArg};
use crate::{parse_duration, Header};

/// The stream plan of `args`, or a one-line reason they do not make one.
pub fn plan_from_args(args: &LoadArgs) -> Result<StreamPlan, String> {
    let transport = match args.transport {
        TransportArg::Sse => StreamTransport::Sse,
        TransportArg::Websocket => StreamTransport::WebSocket,
        TransportArg::StreamableHttp | TransportArg::Rpc => {
            return Err("a stream plan needs --transport sse or websocket".into())
        }
    };
    refuse_request_flags(args)?;
    let url = url::Url::parse(&args.url).map_err(|e| format!("invalid URL '{}': {e}", args.url))?;
    let message = match args.ops.trim() {
        "ping" => StreamMessage::Ping,
        op => match op.strip_prefix("tools/call:") {
            Some(name) if !name.is_empty() && name != "round-robin" => {
                StreamMessage::ToolCall(name.to_string())
            }
            _ => {
                return Err(format!(
                    "--ops '{op}': a stream sends one message, `ping` or `tools/call:NAME`"
                ))
            }
        },
    };
    let mut headers = Vec::new();
    for line in &args.headers {
        let header = Header::parse(line)?;
        let value = header.fixed.ok_or_else(|| {
            format!(
                "--header {}: a stream's headers are fixed (no templates)",
                header.name
            )
        })?;
        headers.push((header.name, value));
    }
    let plan = StreamPlan {
        transport,
        url,
        connections: args.connections.unwrap_or(100),
        message_rate: crate::parse_rate(&args.message_rate).map_err(|e| e.to_string())?,
        duration: parse_duration(args.duration.as_deref().unwrap_or("30s"))
            .map_err(|e| e.to_string())?,
        message,
        timeout: parse_duration(&args.timeout).map_err(|e| e.to_string())?,
        headers: Arc::new(headers),
    };
    plan.validate()?;
    Ok(plan)
}

/// Flags of request-per-iteration load that mean nothing on held connections.
fn refuse_request_flags(args: &LoadArgs) -> Result<(), String> {
    let given = [
        ("--users", args.users.is_some()),
        ("--rate", args.rate.is_some()),
        ("--stages", args.stages.is_some()),
        ("--requests", args.requests.is_some()),
        ("--session", args.session.is_some()),
        ("--h2", args.h2),
        ("--cacert", args.cacert.is_some()),
        ("--no-keepalive", args.no_keepalive),
        ("--threshold", !args.thresholds.is_empty()),
        ("--arrival", args.arrival.is_some()),
        ("--max-in-flight", args.max_in_flight.is_some()),
        ("--max-backlog", args.max_backlog.is_some()),
        ("--spawn-rate", args.spawn_rate != 0.0),
        ("--wait", args.wait != "none"),
        ("--warmup", args.warmup != "0s"),
        ("--protocol", args.protocol != "auto"),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(format!(
            "{flag} does not apply to --transport sse/websocket: it holds --connections open and sends --message-rate messages on each"
        )),
        None => Ok(()),
    }
}

/// `load` with a stream transport. `args` is the command line (recorded nowhere but checked).
pub(crate) fn main(parsed: &LoadArgs, out: &std::path::Path) -> ExitCode {
    let plan = match plan_from_args(parsed) {
        Ok(p) => p,
        Err(m) => return Exit::Usage.fail("load", &m),
    };
    let runtime = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            return Exit::Infrastructure
                .fail("load", &format!("cannot start the async runtime: {e}"))
        }
    };
    let ran = runtime.block_on(async {
        let stop =
            cli::signal::install("load").map_err(|e| format!("cannot handle signals: {e}"))?;
        super::run(plan, cli::signal::stopped(stop)).await
    });
    let results = match ran {
        Ok(r) => r,
        Err(m) => return Exit::Infrastructure.fail("load", &m),
    };
    print!("{}", results.summary());
    if let Err(e) = results.write_to_dir(out) {
        return Exit::Infrastructure.fail(
            "load",
            &format!("cannot write results to {}: {e}", out.display()),
        );
    }
    println!("results: {}", out.join("results.json").display());
    if let Some(signal) = results.stopped_by {
        Exit::Stopped(signal).into()
    } else if results.connect.count == 0 {
        Exit::Infrastructure.fail("load", "no connection was ever established")
    } else {
        Exit::Ok.into()
    }
}
