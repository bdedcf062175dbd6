//! hey's flags: hey.sh's set and defaults, plus hey's own Go spellings. Go takes `-h2` and
//! `-host` as one flag each where a getopt parser would read `-h` (help) and a cluster; they are
//! rewritten to their long forms first, and flags mcpbench cannot honour are refused in one line
//! rather than half-applied.

use std::path::PathBuf;

use clap::Parser;

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
    /// Accept header (hey's -A).
    #[arg(short = 'A')]
    pub accept: Option<String>,
    /// Basic authentication, username:password (hey's -a; never shown).
    #[arg(short = 'a')]
    pub basic_auth: Option<String>,
    /// Host header (hey's -host).
    #[arg(long)]
    pub host: Option<String>,
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
    /// Timeout of each request, in seconds (at least 1).
    #[arg(short = 't', default_value_t = 60)]
    pub timeout_secs: u64,
    /// Log file the summary is appended to (default hey-YYYYMMDD_HHMMSS.log).
    #[arg(short = 'l')]
    pub log: Option<PathBuf>,
    /// Use HTTP/2 (also hey's -h2).
    #[arg(long = "h2")]
    pub http2: bool,
    /// A new connection for every request (hey's -disable-keepalive).
    #[arg(long)]
    pub disable_keepalive: bool,
    /// Accepted for hey's sake: mcpbench never asks for compressed responses.
    #[arg(long)]
    pub disable_compression: bool,
    /// Accepted for hey's sake: mcpbench never follows redirects.
    #[arg(long)]
    pub disable_redirects: bool,
    /// Worker threads of the generator (hey's -cpus).
    #[arg(long, value_parser = clap::value_parser!(usize))]
    pub cpus: Option<usize>,
    /// hey's output type: `csv` streams one row per request to stdout instead of the summary
    /// (which still goes to the log and the results JSON).
    #[arg(short = 'o')]
    pub output: Option<String>,
    /// HTTP proxy, host:port (hey's -x): plain http:// targets over HTTP/1.1.
    #[arg(short = 'x')]
    pub proxy: Option<String>,
    /// User-Agent header (hey's -U).
    #[arg(short = 'U')]
    pub user_agent: Option<String>,
    /// Pass/fail threshold (repeatable), as `load --threshold`: `p95<300ms`, `error_rate<1%`,
    /// `rps>500`, `failures==0`; a failed one exits 1.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Exit 1 when any request failed: non-2xx, a JSON-RPC error inside 2xx, no response.
    #[arg(long)]
    pub fail_on_error: bool,
    /// Extra PEM CA certificates to trust for https URLs.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Verify no TLS certificate, as hey itself never does (said on stderr).
    #[arg(long, conflicts_with = "cacert")]
    pub insecure: bool,
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

impl HeyArgs {
    /// hey flags mcpbench does not honour, refused rather than ignored.
    pub fn refuse_unsupported(&self) -> Result<(), String> {
        if let Some(kind) = self.output.as_deref().filter(|k| *k != "csv") {
            return Err(format!("-o {kind}: hey's only output type is csv"));
        }
        if self.cpus == Some(0) {
            return Err("-cpus must be at least 1".into());
        }
        Ok(())
    }
}

/// hey's multi-letter single-dash flags, and their long forms here.
const GO_FLAGS: [&str; 6] = [
    "h2",
    "host",
    "disable-keepalive",
    "disable-compression",
    "disable-redirects",
    "cpus",
];
/// Short flags that take a value: the argument after one is a value, never a flag.
const TAKES_VALUE: &str = "ncmXTHAadDuzqtloxU";

/// Rewrites `-h2`, `-host X`, `-host=X`, `-disable-keepalive`, … to their long forms, leaving
/// flag values alone.
pub fn go_spellings(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut value_next = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || value_next {
            value_next = false;
            out.push(arg);
            continue;
        }
        let go = arg
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-'))
            .and_then(|rest| {
                let name = rest.split_once('=').map_or(rest, |(n, _)| n);
                GO_FLAGS.contains(&name).then(|| format!("--{rest}"))
            });
        match go {
            Some(long) => out.push(long),
            None => {
                let mut chars = arg.chars();
                value_next = chars.next() == Some('-')
                    && chars.as_str().len() == 1
                    && TAKES_VALUE.contains(chars.as_str());
                out.push(arg);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_spellings_become_long_flags_and_values_are_left_alone() {
        assert_eq!(
            go_spellings(argv(&[
                "hey",
                "-h2",
                "-host=a.b",
                "-H",
                "-host",
                "-cpus",
                "2",
                "-n",
                "5"
            ])),
            argv(&[
                "hey",
                "--h2",
                "--host=a.b",
                "-H",
                "-host",
                "--cpus",
                "2",
                "-n",
                "5"
            ])
        );
        assert_eq!(go_spellings(argv(&["hey", "-h"])), argv(&["hey", "-h"]));
    }
}
