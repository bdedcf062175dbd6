//! `hey`, as ContextForge's `tests/hey/hey.sh` drove it — same flags, same defaults, same
//! timestamped log — on this engine: JSON-RPC errors inside HTTP 200 are failures, reported
//! apart from non-2xx statuses, and a results JSON is written beside the log. hey's own
//! single-dash spellings (`-h2`, `-host`, `-disable-keepalive`, …) work as in hey, or are
//! refused in one line.

mod args;
mod summary;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use cli::Exit;

pub use args::HeyArgs;
pub use summary::summary;

use crate::threshold::Threshold;
use crate::{
    parse_duration, parse_rate, parse_url, Expect, Header, HttpOptions, HttpStep, Model, Origin,
    Plan, ProgressMode, RequestLog, RunSpec, Scenario, Step, Task, Template, Trust, Wait,
};

/// Why a hey run could not start, with its exit status.
#[derive(Debug)]
pub struct Refusal {
    pub exit: Exit,
    pub message: String,
}

fn usage(message: String) -> Refusal {
    Refusal {
        exit: Exit::Usage,
        message,
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        usage(message)
    }
}

/// The body: the payload file's text (hey.sh's `-d`) for methods that send one. A value that
/// is no file but is itself JSON (hey's own `-d '{…}'`) is the body, and that is said in one
/// line on stderr.
fn payload(args: &HeyArgs, method: &hyper::Method) -> Result<Option<String>, Refusal> {
    if matches!(
        *method,
        hyper::Method::GET | hyper::Method::HEAD | hyper::Method::DELETE
    ) {
        return Ok(None);
    }
    let literal = args.payload.to_str().filter(|text| {
        !args.payload.exists() && serde_json::from_str::<serde_json::Value>(text).is_ok()
    });
    if let Some(text) = literal {
        eprintln!("hey: -d is hey.sh's payload file; no file is named so and the value is JSON, so it is the body");
        return Ok(Some(text.to_string()));
    }
    std::fs::read_to_string(&args.payload)
        .map(Some)
        .map_err(|e| Refusal {
            // hey.sh's code for a missing payload file.
            exit: Exit::Infrastructure,
            message: format!(
                "payload file {} cannot be read: {e}",
                args.payload.display()
            ),
        })
}

/// The headers hey sends: Content-Type, `-A` (Accept), `-a` (basic auth), `-host`, then `-H`.
fn headers(args: &HeyArgs) -> Result<Vec<Header>, Refusal> {
    use base64::Engine as _;
    let mut lines = vec![format!("Content-Type: {}", args.content_type)];
    lines.extend(args.accept.iter().map(|a| format!("Accept: {a}")));
    if let Some(credentials) = &args.basic_auth {
        if !credentials.contains(':') {
            return Err(usage("-a takes username:password".into()));
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        lines.push(format!("Authorization: Basic {encoded}"));
    }
    lines.extend(args.host.iter().map(|h| format!("Host: {h}")));
    lines.extend(args.user_agent.iter().map(|ua| format!("User-Agent: {ua}")));
    lines.extend(args.headers.iter().cloned());
    lines
        .iter()
        .map(|l| Header::parse(l).map_err(usage))
        .collect()
}

/// hey's `-x host:port` (or `http://host:port`): plain HTTP/1.1 to an http:// target, sent to
/// the proxy in absolute form. A TLS target would need a CONNECT tunnel, which the engine's
/// client does not make.
fn proxy(args: &HeyArgs, target: &url::Url) -> Result<Option<Origin>, String> {
    let Some(text) = &args.proxy else {
        return Ok(None);
    };
    let with_scheme = if text.contains("://") {
        text.clone()
    } else {
        format!("http://{text}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("-x {text}: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!("-x {text}: only an http:// proxy is supported"));
    }
    if target.scheme() != "http" {
        return Err(format!(
            "-x with {target}: an https target needs a CONNECT tunnel through the proxy, which is not implemented (plain http:// targets only)"
        ));
    }
    if args.http2 {
        return Err("-x with -h2: requests go to a proxy as HTTP/1.1 only".into());
    }
    Origin::of(&url).map(Some)
}

/// What hey's flags make: the engine's plan, scenario and HTTP options, and the thresholds
/// (`--fail-on-error` is `failures==0`).
pub type Built = (Plan, Scenario, HttpOptions, Vec<Threshold>);

/// The engine's plan and scenario for these flags, checked before any traffic.
pub fn build(args: &HeyArgs) -> Result<Built, Refusal> {
    args.refuse_unsupported().map_err(usage)?;
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
    if args.timeout_secs == 0 {
        return Err(usage(
            "-t 0 (no timeout) is refused: every request has a timeout; give seconds".into(),
        ));
    }
    let proxy_origin = proxy(args, &url)?;
    let body_text = payload(args, &method)?;
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
                headers: headers(args)?,
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
    let mut thresholds = Threshold::parse_for_plain_run(&args.thresholds, &scenario)?;
    if args.fail_on_error {
        let mut any_failure = Threshold::parse("failures==0")?;
        any_failure.expression = "failures==0 (--fail-on-error)".into();
        thresholds.push(any_failure);
    }
    let http = HttpOptions {
        http2: args.http2,
        timeout: Duration::from_secs(args.timeout_secs),
        keep_alive: !args.disable_keepalive,
        trust: Trust::from_flags(args.cacert.as_deref(), args.insecure),
        proxy: proxy_origin,
        ..HttpOptions::default()
    };
    Ok((plan, scenario, http, thresholds))
}

/// The whole `hey` command: parse, check, run, print hey's summary, write the log and JSON;
/// `views` writes the report views beside them (`<log stem>.html`, `.md`, `.junit.xml`,
/// `_*.csv`).
pub fn main_with_args(args: Vec<String>, views: crate::WriteViews) -> ExitCode {
    let args = args::go_spellings(args);
    let parsed = match HeyArgs::try_parse_from(&args) {
        Ok(a) => a,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp) => {
            let _ = e.print();
            println!("\n{}", cli::EXIT_STATUS_HELP);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let line = cli::args::first_line(&e.render().to_string()).to_string();
            return Exit::Usage.fail("hey", &format!("{line} (see -h)"));
        }
    };
    let (plan, scenario, http, thresholds) = match build(&parsed) {
        Ok(b) => b,
        Err(r) => return r.exit.fail("hey", &r.message),
    };
    let stamp = chrono::Local::now().format("%Y%m%d_%H%M%S");
    let log = parsed
        .log
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("hey-{stamp}.log")));
    let json_path = log.with_extension("json");
    if parsed.dry_run {
        println!("{}", dry_run_line(&parsed, &log, &json_path));
        return ExitCode::SUCCESS;
    }
    if let Err(m) = cli::paths::ensure_writable_dir(log.parent().unwrap_or(Path::new("."))) {
        return Exit::Usage.fail("hey", &format!("-l: {m}"));
    }
    // -o csv: the rows are what stdout carries, as in hey.
    let csv = parsed
        .output
        .is_some()
        .then(|| Arc::new(RequestLog::hey_csv(Box::new(std::io::stdout()))));
    let spec = RunSpec {
        plan,
        scenario,
        http,
        command_line: cli::redact::redact_command_line(&args),
        progress: ProgressMode::Auto,
        label: "hey".into(),
        live: None,
        request_log: csv.clone(),
    };
    let mut results = match crate::command::run_until_stopped("hey", spec, parsed.cpus) {
        Ok(r) => r,
        Err((exit, m)) => return exit.fail("hey", &m),
    };
    results.thresholds = thresholds.iter().map(|t| t.evaluate(&results)).collect();
    let text = summary(&results);
    match &csv {
        None => print!("{text}"),
        Some(log) => {
            if let Err(e) = log.finish() {
                return Exit::Infrastructure
                    .fail("hey", &format!("cannot write the CSV to stdout: {e}"));
            }
        }
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::write(&json_path, results.to_json()));
    if let Err(e) = written {
        return Exit::Infrastructure.fail(
            "hey",
            &format!(
                "cannot write {} / {}: {e}",
                log.display(),
                json_path.display()
            ),
        );
    }
    let mut written = format!("\nLog: {}\nResults: {}", log.display(), json_path.display());
    match views(&results, &json_path) {
        Ok(html) => written.push_str(&format!("\nReport: {}", html.display())),
        Err(e) => return Exit::Infrastructure.fail("hey", &e),
    }
    match csv {
        None => println!("{written}"),
        Some(_) => eprintln!("{written}"),
    }
    crate::command::outcome(&results).into()
}

/// What `--dry-run` shows: the run as it would go, secrets redacted.
fn dry_run_line(parsed: &HeyArgs, log: &Path, json_path: &Path) -> String {
    let target = parsed.positional_url.as_deref().unwrap_or(&parsed.url);
    format!(
        "hey (dry run): {} {target} -n {} -c {} {}{}timeout {}s, payload {}, headers [{}], log {}, results {}",
        parsed.method.to_ascii_uppercase(),
        parsed.requests,
        parsed.concurrency,
        parsed.duration.as_deref().map(|d| format!("-z {d}, ")).unwrap_or_default(),
        parsed.rate.as_deref().map(|q| format!("-q {q}/s per worker, ")).unwrap_or_default(),
        parsed.timeout_secs,
        parsed.payload.display(),
        parsed
            .headers
            .iter()
            .map(|h| cli::redact::redact_header_line(h))
            .collect::<Vec<_>>()
            .join("; "),
        log.display(),
        json_path.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> HeyArgs {
        let argv = std::iter::once("hey")
            .chain(extra.iter().copied())
            .map(String::from)
            .collect();
        HeyArgs::try_parse_from(args::go_spellings(argv)).unwrap()
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
        assert_eq!(r.exit, Exit::Infrastructure);
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
        let u = "http://127.0.0.1:1/rpc";
        for (extra, why) in [
            (vec!["-u", "localhost:4444/rpc", "-d", g], "URL"),
            (vec!["-u", u, "-d", g, "-H", "NoColon"], "header"),
            (vec!["-u", u, "-d", g, "-z", "ten"], "duration"),
            (vec!["-u", u, "-d", g, "-z", "0s"], "zero duration"),
            (vec!["-u", u, "-d", g, "-q", "fast"], "rate"),
            (vec!["-u", u, "-d", g, "-t", "0"], "no timeout"),
            (vec!["-u", u, "-d", g, "-a", "nocolon"], "basic auth"),
            (
                vec![
                    "-u",
                    "https://127.0.0.1:1/rpc",
                    "-d",
                    g,
                    "-x",
                    "127.0.0.1:3128",
                ],
                "proxy to https",
            ),
            (
                vec!["-u", u, "-d", g, "-h2", "-x", "127.0.0.1:3128"],
                "proxy with h2",
            ),
            (
                vec!["-u", u, "-d", g, "-x", "socks5://127.0.0.1:1080"],
                "socks proxy",
            ),
            (vec!["-u", u, "-d", g, "-o", "json"], "other output"),
            (
                vec!["-u", u, "-d", g, "--threshold", "p95<fast"],
                "threshold",
            ),
            (
                vec!["-u", u, "-d", g, "--threshold", "p95{tier=gateway}<1s"],
                "tier scope",
            ),
            (
                vec!["-u", u, "-d", bad_template.to_str().unwrap()],
                "template",
            ),
        ] {
            let r = build(&args(&extra)).unwrap_err();
            assert_eq!(r.exit, Exit::Usage, "{why}: {}", r.message);
            assert!(!r.message.contains('\n'), "{why}: {}", r.message);
        }
        let (plan, scenario, _, thresholds) = build(&args(&[
            "-u",
            u,
            "-d",
            g,
            "-n",
            "7",
            "-c",
            "3",
            "--threshold",
            "p95<1s",
            "--fail-on-error",
        ]))
        .unwrap();
        assert_eq!(thresholds.len(), 2);
        assert_eq!(thresholds[1].metric, crate::threshold::Metric::Failures);
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
    fn heys_own_spellings_work_as_in_hey() {
        let dir = std::env::temp_dir().join(format!("hey-go-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let payload = dir.join("p.json");
        std::fs::write(&payload, "{}").unwrap();
        let parsed = args(&[
            "-h2",
            "-host",
            "api.example",
            "-disable-keepalive",
            "-disable-compression",
            "-disable-redirects",
            "-cpus",
            "1",
            "-A",
            "application/json",
            "-a",
            "user:pass",
            "-U",
            "ci-bot/1",
            "-d",
            payload.to_str().unwrap(),
            "http://127.0.0.1:1/rpc",
        ]);
        assert_eq!(parsed.cpus, Some(1));
        let (_, scenario, http, _) = build(&parsed).unwrap();
        assert!(http.http2 && !http.keep_alive);
        let Step::Http(step) = &scenario.tasks[0].steps[0] else {
            panic!()
        };
        let names: Vec<&str> = step.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "accept",
                "authorization",
                "host",
                "user-agent"
            ],
            "-A, -a, -host and -U become headers"
        );
        let proxied = args(&[
            "-x",
            "127.0.0.1:3128",
            "-d",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            "http://127.0.0.1:1/rpc",
        ]);
        let (_, scenario, http, _) = build(&proxied).unwrap();
        assert_eq!(http.proxy.unwrap().authority(), "127.0.0.1:3128");
        let Step::Http(step) = &scenario.tasks[0].steps[0] else {
            panic!()
        };
        assert!(
            step.expect.jsonrpc && step.body.is_some(),
            "a -d value that is JSON and no file is the body"
        );
    }
}
