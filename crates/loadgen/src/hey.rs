//! `hey`, as ContextForge's `tests/hey/hey.sh` drove it — same flags, same defaults, same
//! timestamped log — on this engine: JSON-RPC errors inside HTTP 200 are failures, reported
//! apart from non-2xx statuses, and a results JSON is written beside the log.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::{
    parse_duration, parse_rate, parse_url, run, Expect, Header, HttpOptions, HttpStep, Model, Plan,
    ProgressMode, RunError, RunResults, RunSpec, Scenario, Step, Task, Template, Wait,
};

/// Exit codes, shared with the rest of mcpbench.
pub mod exit_code {
    pub const USAGE: u8 = 2;
    /// hey.sh's code for a missing payload file; also an unreachable target.
    pub const INFRASTRUCTURE: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask hey",
    about = "hey.sh on the mcpbench engine: JSON-RPC errors in HTTP 200 count as failures",
    disable_help_flag = true
)]
pub struct HeyArgs {
    /// Number of requests to run.
    #[arg(short = 'n', default_value_t = 10_000)]
    pub requests: u64,
    /// Number of workers (users) running concurrently, each with its own connection.
    #[arg(short = 'c', default_value_t = 200)]
    pub concurrency: u32,
    /// HTTP method.
    #[arg(short = 'm', short_alias = 'X', default_value = "POST")]
    pub method: String,
    /// Content-Type header.
    #[arg(short = 'T', default_value = "application/json")]
    pub content_type: String,
    /// Custom header `Name: value`; repeatable. Values may use {{uuid}}, {{seq}}, … templates.
    #[arg(short = 'H')]
    pub headers: Vec<String>,
    /// Request body file (hey.sh's -d; hey's -D). Its text may use templates.
    #[arg(short = 'd', short_alias = 'D', default_value = "payload.json")]
    pub payload: PathBuf,
    /// Target URL (also accepted as the last positional argument, as hey takes it).
    #[arg(short = 'u', default_value = "http://localhost:4444/rpc")]
    pub url: String,
    #[arg(hide = true)]
    pub positional_url: Option<String>,
    /// Run for this long instead of -n requests (e.g. 10s, 2m).
    #[arg(short = 'z')]
    pub duration: Option<String>,
    /// Rate limit per worker, in requests per second (hey's -q).
    #[arg(short = 'q')]
    pub rate: Option<String>,
    /// Timeout of each request, in seconds.
    #[arg(short = 't', default_value_t = 60)]
    pub timeout_secs: u64,
    /// Log file the summary is appended to (default hey-YYYYMMDD_HHMMSS.log).
    #[arg(short = 'l')]
    pub log: Option<PathBuf>,
    /// Use HTTP/2.
    #[arg(long = "h2")]
    pub http2: bool,
    /// Extra PEM CA certificates to trust for https URLs.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Seed for templates.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Show what would run, then exit without sending anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print help.
    #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Why a hey run could not start, with its exit code.
#[derive(Debug)]
pub struct Refusal {
    pub code: u8,
    pub message: String,
}

fn usage(message: String) -> Refusal {
    Refusal {
        code: exit_code::USAGE,
        message,
    }
}

/// The engine's plan and scenario for these flags, checked before any traffic.
pub fn build(args: &HeyArgs) -> Result<(Plan, Scenario, HttpOptions), Refusal> {
    let url_text = args.positional_url.as_deref().unwrap_or(&args.url);
    let url = parse_url(url_text).map_err(usage)?;
    let method = hyper::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| usage(format!("invalid method '{}'", args.method)))?;
    if args.concurrency == 0 {
        return Err(usage("-c must be at least 1".into()));
    }
    if args.requests == 0 {
        return Err(usage("-n must be at least 1".into()));
    }
    let sends_body = !matches!(
        method,
        hyper::Method::GET | hyper::Method::HEAD | hyper::Method::DELETE
    );
    let body_text = if sends_body {
        let text = std::fs::read_to_string(&args.payload).map_err(|e| Refusal {
            code: exit_code::INFRASTRUCTURE,
            message: format!(
                "payload file {} cannot be read: {e}",
                args.payload.display()
            ),
        })?;
        Some(text)
    } else {
        None
    };
    let body = body_text
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|e| usage(format!("payload {}: {e}", args.payload.display())))?;
    // A JSON-RPC payload gets its responses judged as JSON-RPC: an error inside HTTP 200 fails.
    let jsonrpc = body_text
        .as_deref()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .is_some_and(|v| {
            v.get("jsonrpc").is_some()
                || v.as_array()
                    .is_some_and(|a| a.iter().any(|m| m.get("jsonrpc").is_some()))
        });
    let mut headers = vec![Header::parse(&format!(
        "Content-Type: {}",
        args.content_type
    ))?];
    for h in &args.headers {
        headers.push(Header::parse(h).map_err(usage)?);
    }
    let wait = match &args.rate {
        Some(q) => Wait::ConstantThroughput {
            per_sec: parse_rate(q).map_err(|e| usage(e.to_string()))?,
        },
        None => Wait::None,
    };
    let duration = args
        .duration
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| usage(e.to_string()))?;
    let plan = Plan {
        model: Model::Closed {
            users: args.concurrency,
            spawn_rate: 0.0,
            wait,
        },
        stages: vec![],
        duration,
        // hey: -z wins over -n.
        max_requests: if duration.is_some() {
            None
        } else {
            Some(args.requests)
        },
        warmup: Duration::ZERO,
        seed: args.seed,
        drain: Duration::from_secs(args.timeout_secs.min(30)),
    };
    plan.validate().map_err(|e| usage(e.to_string()))?;
    let op = format!("{method} {}", url.path());
    let scenario = Scenario {
        name: "hey".into(),
        tasks: vec![Task {
            name: "request".into(),
            weight: 1,
            steps: vec![Step::Http(Box::new(HttpStep {
                op,
                method,
                url,
                headers,
                body,
                expect: Expect {
                    jsonrpc,
                    ..Expect::default()
                },
                capture: None,
            }))],
        }],
        endpoints: vec![],
        classes: vec![],
    };
    let http = HttpOptions {
        http2: args.http2,
        timeout: Duration::from_secs(args.timeout_secs.max(1)),
        ca_file: args.cacert.clone(),
        ..HttpOptions::default()
    };
    Ok((plan, scenario, http))
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        usage(message)
    }
}

/// The whole `hey` command: parse, check, run, print hey's summary, write the log and JSON.
pub fn main_with_args(args: Vec<String>) -> ExitCode {
    let parsed = match HeyArgs::try_parse_from(&args) {
        Ok(a) => a,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!(
                "hey: {} (see -h)",
                crate::load_cli::first_line(&e.render().to_string())
            );
            return ExitCode::from(exit_code::USAGE);
        }
    };
    let (plan, scenario, http) = match build(&parsed) {
        Ok(b) => b,
        Err(r) => {
            eprintln!("hey: {}", r.message);
            return ExitCode::from(r.code);
        }
    };
    let stamp = chrono::Local::now().format("%Y%m%d_%H%M%S");
    let log = parsed
        .log
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("hey-{stamp}.log")));
    let json_path = log.with_extension("json");
    let target = parsed.positional_url.as_deref().unwrap_or(&parsed.url);
    if parsed.dry_run {
        println!(
            "hey (dry run): {} {target} -n {} -c {} {}{}timeout {}s, payload {}, headers [{}], log {}, results {}",
            parsed.method.to_ascii_uppercase(),
            parsed.requests,
            parsed.concurrency,
            parsed.duration.as_deref().map(|d| format!("-z {d}, ")).unwrap_or_default(),
            parsed.rate.as_deref().map(|q| format!("-q {q}/s per worker, ")).unwrap_or_default(),
            parsed.timeout_secs,
            parsed.payload.display(),
            parsed.headers.iter().map(|h| crate::redact_line(h)).collect::<Vec<_>>().join("; "),
            log.display(),
            json_path.display(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match crate::engine::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hey: cannot start the async runtime: {e}");
            return ExitCode::from(exit_code::INFRASTRUCTURE);
        }
    };
    let spec = RunSpec {
        plan,
        scenario,
        http,
        command_line: redacted_command_line(&args),
        progress: ProgressMode::Auto,
        label: "hey".into(),
    };
    let results = match runtime.block_on(run(spec, async {
        let _ = tokio::signal::ctrl_c().await;
    })) {
        Ok(r) => r,
        Err(RunError::Config(m)) => {
            eprintln!("hey: {m}");
            return ExitCode::from(exit_code::USAGE);
        }
        Err(RunError::Infrastructure(m)) => {
            eprintln!("hey: {m}");
            return ExitCode::from(exit_code::INFRASTRUCTURE);
        }
    };
    let text = summary(&results);
    print!("{text}");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::write(&json_path, results.to_json()));
    match written {
        Ok(()) => println!("\nLog: {}\nResults: {}", log.display(), json_path.display()),
        Err(e) => {
            eprintln!(
                "hey: cannot write {} / {}: {e}",
                log.display(),
                json_path.display()
            );
            return ExitCode::from(exit_code::INFRASTRUCTURE);
        }
    }
    if results.interrupted {
        ExitCode::from(exit_code::INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    }
}

/// The command line as recorded in results: header values that are secrets redacted.
pub fn redacted_command_line(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut after_h = false;
    for a in args {
        out.push(if after_h {
            crate::redact_line(a)
        } else {
            a.clone()
        });
        after_h = a == "-H";
    }
    out
}

/// hey's summary layout (times in seconds), plus what hey cannot see: JSON-RPC failures
/// inside HTTP 200 and the error classes with samples.
pub fn summary(r: &RunResults) -> String {
    use std::fmt::Write as _;
    let op = &r.total;
    let secs = |ms: f64| ms / 1000.0;
    let mut s = String::new();
    let _ = writeln!(s, "\nSummary:");
    let _ = writeln!(s, "  Total:\t{:.4} secs", r.duration_secs);
    let _ = writeln!(s, "  Slowest:\t{:.4} secs", secs(op.uncorrected.max_ms));
    let _ = writeln!(s, "  Fastest:\t{:.4} secs", secs(op.uncorrected.min_ms));
    let _ = writeln!(s, "  Average:\t{:.4} secs", secs(op.uncorrected.mean_ms));
    let _ = writeln!(s, "  Requests/sec:\t{:.4}", op.rps);
    let _ = writeln!(s, "  ");
    let _ = writeln!(s, "  Total data:\t{} bytes", op.bytes);
    let _ = writeln!(
        s,
        "  Size/request:\t{} bytes",
        op.bytes.checked_div(op.requests).unwrap_or(0)
    );
    let _ = writeln!(s, "\nResponse time histogram:");
    if let Ok(h) = crate::decode_histogram(&op.histograms.uncorrected) {
        if !h.is_empty() {
            let (lo, hi) = (h.min() as f64, h.max() as f64);
            let buckets = 10;
            let width = ((hi - lo) / buckets as f64).max(1.0);
            let mut counts = vec![0u64; buckets + 1];
            for v in h.iter_recorded() {
                let i =
                    (((v.value_iterated_to() as f64 - lo) / width).floor() as usize).min(buckets);
                counts[i] += v.count_at_value();
            }
            let peak = *counts.iter().max().unwrap_or(&1).max(&1);
            for (i, c) in counts.iter().enumerate() {
                let mark = (40 * c / peak) as usize;
                let _ = writeln!(
                    s,
                    "  {:.3} [{c}]\t|{}",
                    (lo + width * i as f64) / 1e6,
                    "■".repeat(mark)
                );
            }
        }
    }
    let _ = writeln!(s, "\nLatency distribution:");
    if let Ok(h) = crate::decode_histogram(&op.histograms.uncorrected) {
        if !h.is_empty() {
            for p in [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9] {
                let _ = writeln!(
                    s,
                    "  {p}% in {:.4} secs",
                    h.value_at_quantile(p / 100.0) as f64 / 1e6
                );
            }
        }
    }
    let _ = writeln!(s, "\nStatus code distribution:");
    for (code, n) in &op.status_codes {
        let _ = writeln!(s, "  [{code}]\t{n} responses");
    }
    let non_2xx: u64 = op
        .status_codes
        .iter()
        .filter(|(c, _)| !c.starts_with('2'))
        .map(|(_, n)| n)
        .sum();
    let jsonrpc = op.errors.get("jsonrpc").map_or(0, |t| t.count)
        + op.errors.get("tool_error").map_or(0, |t| t.count);
    let _ = writeln!(s, "\nFailures:");
    let _ = writeln!(s, "  Non-2xx responses:\t{non_2xx}");
    let _ = writeln!(s, "  JSON-RPC errors in 2xx:\t{jsonrpc}");
    let _ = writeln!(
        s,
        "  Failed requests:\t{} of {} ({:.2}%)",
        op.failures,
        op.requests,
        op.error_rate * 100.0
    );
    if !op.errors.is_empty() {
        let _ = writeln!(s, "\nError distribution:");
        for (class, tally) in &op.errors {
            let _ = writeln!(
                s,
                "  [{}]\t{class}: {}",
                tally.count,
                tally.samples.first().map(String::as_str).unwrap_or("")
            );
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "\nWarning: {w}");
    }
    if r.saturation.saturated {
        let _ = writeln!(s, "\nSATURATED: {}", r.saturation.reasons.join("; "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> HeyArgs {
        HeyArgs::try_parse_from(std::iter::once("hey").chain(extra.iter().copied())).unwrap()
    }

    #[test]
    fn a_missing_payload_file_is_exit_3_as_in_hey_sh() {
        let r = build(&args(&[
            "-d",
            "/nonexistent/payload.json",
            "-u",
            "http://127.0.0.1:1/rpc",
        ]))
        .unwrap_err();
        assert_eq!(r.code, 3);
        assert!(
            r.message.contains("/nonexistent/payload.json"),
            "{}",
            r.message
        );
    }

    #[test]
    fn bad_urls_headers_durations_rates_and_templates_are_usage_errors() {
        let dir = std::env::temp_dir().join(format!("hey-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("ok.json");
        std::fs::write(&good, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        let bad_template = dir.join("bad.json");
        std::fs::write(&bad_template, r#"{"id": {{nope}} }"#).unwrap();
        let g = good.to_str().unwrap();
        for (extra, why) in [
            (vec!["-u", "localhost:4444/rpc", "-d", g], "URL"),
            (
                vec!["-u", "http://127.0.0.1:1/rpc", "-d", g, "-H", "NoColon"],
                "header",
            ),
            (
                vec!["-u", "http://127.0.0.1:1/rpc", "-d", g, "-z", "ten"],
                "duration",
            ),
            (
                vec!["-u", "http://127.0.0.1:1/rpc", "-d", g, "-q", "fast"],
                "rate",
            ),
            (
                vec![
                    "-u",
                    "http://127.0.0.1:1/rpc",
                    "-d",
                    bad_template.to_str().unwrap(),
                ],
                "template",
            ),
        ] {
            let r = build(&args(&extra)).unwrap_err();
            assert_eq!(r.code, 2, "{why}: {}", r.message);
        }
        let (plan, scenario, _) = build(&args(&[
            "-u",
            "http://127.0.0.1:1/rpc",
            "-d",
            g,
            "-n",
            "7",
            "-c",
            "3",
        ]))
        .unwrap();
        assert_eq!(plan.max_requests, Some(7));
        let Step::Http(step) = &scenario.tasks[0].steps[0] else {
            panic!()
        };
        assert!(
            step.expect.jsonrpc,
            "a JSON-RPC payload is judged as JSON-RPC"
        );
    }

    #[test]
    fn secrets_in_headers_never_reach_the_recorded_command_line() {
        let line = redacted_command_line(&[
            "hey".into(),
            "-H".into(),
            "Authorization: Bearer eyJsecret".into(),
        ]);
        assert!(!line.join(" ").contains("eyJsecret"));
    }
}
