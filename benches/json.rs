//! Benchmark: JSON, the seed's way (`benchmark_json_serialization.py`: serialize, deserialize and
//! size at 10, 100, 1,000 and 5,000 items), on both sides of a benchmark.
//!
//! The gateway: the standard library's json against orjson, in the gateway's own venv (the one
//! `benchmark-up --runtime local` runs it from, installed when absent), on tools/list responses
//! as the gateway sends them (`benches/json/serialization.py`). Ours: serde_json against
//! sonic-rs on what the load engine handles per request — tools/call and error-in-200 responses
//! judged as `loadgen::check` judges them, tools/list at the seed's sizes — and the tools/call
//! request. Every figure is the median per operation over `--repeats` timed runs of the seed's
//! iteration count; each ratio is between two libraries measured in the same run. Then one line
//! each: does orjson matter for the gateway, should the engine switch crates.
//!
//! Run: `cargo xtask bench json` (or `cargo bench --bench json -- --repeats 5`).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cli::Exit;
use cli::{Align, Table};
use mcpbench::harness::{script, target_dir};
use mcpbench::json_bench::{self, Op, Payload, Row, SEED_SIZES};
use serde::Deserialize;
use serde_json::{json, Value};

const COMMAND: &str = "bench json";
const OTHER: &str = "sonic-rs";

/// A JSON library as the engine would use it.
trait Json {
    /// A member left unparsed, borrowed from the text.
    type Raw<'a>: Deserialize<'a>;
    fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T>;
    fn raw<'r>(raw: &'r Self::Raw<'_>) -> &'r str;
    fn serialize(value: &Value) -> String;
    /// Parses into the library's own tree of values.
    fn tree(text: &str) -> bool;
}

struct Serde;
struct Sonic;

impl Json for Serde {
    type Raw<'a> = &'a serde_json::value::RawValue;
    fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
        serde_json::from_str(text).ok()
    }
    fn raw<'r>(raw: &'r Self::Raw<'_>) -> &'r str {
        raw.get()
    }
    fn serialize(value: &Value) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }
    fn tree(text: &str) -> bool {
        serde_json::from_str::<Value>(text).is_ok()
    }
}

impl Json for Sonic {
    type Raw<'a> = sonic_rs::LazyValue<'a>;
    fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
        sonic_rs::from_str(text).ok()
    }
    fn raw<'r>(raw: &'r Self::Raw<'_>) -> &'r str {
        raw.as_raw_str()
    }
    fn serialize(value: &Value) -> String {
        sonic_rs::to_string(value).unwrap_or_default()
    }
    fn tree(text: &str) -> bool {
        sonic_rs::from_str::<sonic_rs::Value>(text).is_ok()
    }
}

/// A reply as `loadgen::check` reads it: id and result left raw, an error read.
#[derive(Deserialize)]
#[serde(bound = "R: Deserialize<'de>")]
struct Reply<R> {
    #[serde(default)]
    id: Option<R>,
    #[serde(default)]
    error: Option<RpcError>,
    #[serde(default)]
    result: Option<R>,
}

#[derive(Deserialize)]
struct RpcError {
    #[serde(rename = "code")]
    _code: i64,
    #[serde(rename = "message", default)]
    _message: String,
}

#[derive(Deserialize)]
struct ToolResult {
    #[serde(rename = "isError", default)]
    is_error: bool,
    #[serde(default)]
    content: Vec<Content>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    text: Option<String>,
}

/// The engine's verdict on a response: a success, or not (an error, no result, a tool error).
fn judge<J: Json>(body: &str, tool_call: bool) -> bool {
    let Some(reply) = J::parse::<Reply<J::Raw<'_>>>(body) else {
        return false;
    };
    match (reply.id, reply.error, reply.result) {
        (Some(_), None, Some(result)) if tool_call => J::parse::<ToolResult>(J::raw(&result))
            .is_some_and(|r| !r.is_error && r.content.iter().any(|c| c.text.is_some())),
        (Some(_), None, Some(_)) => true,
        _ => false,
    }
}

/// Median µs per call of `op` over `repeats` runs of `iterations / repeats` calls each.
fn median_us(iterations: u32, repeats: u32, mut op: impl FnMut()) -> f64 {
    let per_run = (iterations / repeats).max(1);
    let mut runs: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_run {
                op();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(per_run)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// Which library does the work: the engine's, or the one measured against it.
#[derive(Clone, Copy)]
enum Library {
    SerdeJson,
    SonicRs,
}

impl Library {
    fn serialize(self, value: &Value) -> String {
        match self {
            Library::SerdeJson => Serde::serialize(value),
            Library::SonicRs => Sonic::serialize(value),
        }
    }

    fn tree(self, text: &str) -> bool {
        match self {
            Library::SerdeJson => Serde::tree(text),
            Library::SonicRs => Sonic::tree(text),
        }
    }

    fn judge(self, body: &str, tool_call: bool) -> bool {
        match self {
            Library::SerdeJson => judge::<Serde>(body, tool_call),
            Library::SonicRs => judge::<Sonic>(body, tool_call),
        }
    }
}

/// `op` on `payload` timed with both libraries; `run` says whether the library got it right.
fn timed(
    payload: Payload,
    op: Op,
    iterations: u32,
    repeats: u32,
    run: impl Fn(Library) -> bool,
) -> Row {
    // The same work each way: a run that goes wrong would time an early return.
    let right = run(Library::SerdeJson) && run(Library::SonicRs);
    assert!(right, "{} {}", payload.name(), op.name());
    let time = |library: Library| {
        median_us(iterations, repeats, || {
            black_box(run(black_box(library)));
        })
    };
    Row {
        payload,
        op,
        baseline: time(Library::SerdeJson),
        other: time(Library::SonicRs),
    }
}

/// serde_json against sonic-rs on the engine's payloads.
fn engine_rows(repeats: u32) -> Vec<Row> {
    let (_, one_message) = SEED_SIZES[0];
    let mut rows = Vec::new();
    for (items, iterations) in SEED_SIZES {
        let value = json_bench::tools_list_response(items);
        let text = value.to_string();
        let payload = Payload::ToolsList(items);
        rows.push(timed(payload, Op::Serialize, iterations, repeats, |lib| {
            !lib.serialize(&value).is_empty()
        }));
        rows.push(timed(
            payload,
            Op::Deserialize,
            iterations,
            repeats,
            |lib| lib.tree(&text),
        ));
        rows.push(timed(payload, Op::Judge, iterations, repeats, |lib| {
            lib.judge(&text, false)
        }));
        let bytes = |lib: Library| lib.serialize(&value).len() as f64;
        rows.push(Row {
            payload,
            op: Op::Size,
            baseline: bytes(Library::SerdeJson),
            other: bytes(Library::SonicRs),
        });
    }
    let request = json_bench::tools_call_request();
    rows.push(timed(
        Payload::ToolsCallRequest,
        Op::Serialize,
        one_message,
        repeats,
        |lib| !lib.serialize(&request).is_empty(),
    ));
    let call = json_bench::tools_call_response().to_string();
    rows.push(timed(
        Payload::ToolsCallResponse,
        Op::Judge,
        one_message,
        repeats,
        |lib| lib.judge(&call, true),
    ));
    let error = json_bench::error_in_200_response().to_string();
    rows.push(timed(
        Payload::ErrorIn200,
        Op::Judge,
        one_message,
        repeats,
        // An error inside 200 must be judged a failure.
        |lib| !lib.judge(&error, true),
    ));
    rows
}

/// A line of `serialization.py`'s output.
#[derive(Deserialize)]
struct Measured {
    items: usize,
    op: String,
    json: f64,
    orjson: f64,
}

/// Why the gateway's side was not measured: the status to end with, and one line.
struct Refusal(Exit, String);

/// json against orjson in the gateway's own venv, and what was measured there.
fn gateway_rows(repeats: u32) -> Result<(Vec<Row>, String), Refusal> {
    let infra = |e: anyhow::Error| Refusal(Exit::Infrastructure, format!("{e:#}"));
    let work = target_dir().join("bench-json");
    std::fs::create_dir_all(&work).map_err(|e| infra(e.into()))?;
    let code = stack::GatewayCode::Release(None);
    let python = stack::GatewayPython::ensure(&code, &stack::default_cache_dir(), &work).map_err(
        |e| match e {
            stack::StackError::Missing(missing) => Refusal(Exit::Missing, missing.to_string()),
            other => Refusal(Exit::Infrastructure, other.to_string()),
        },
    )?;
    if let Some(note) = &python.note {
        eprintln!("{COMMAND}: {note}");
    }
    let has_orjson = python.command().args(["-c", "import orjson"]).output();
    if !has_orjson.is_ok_and(|o| o.status.success()) {
        return Err(Refusal(
            Exit::Missing,
            format!("ContextForge {}'s venv has no orjson: the gateway serializes with the standard library's json only", python.release),
        ));
    }
    let cases: Vec<Value> = SEED_SIZES
        .iter()
        .map(|&(items, iterations)| json!({"items": items, "iterations": iterations, "payload": json_bench::tools_list_response(items)}))
        .collect();
    let run = || -> Result<(Vec<Row>, String)> {
        std::fs::write(
            work.join("cases.json"),
            json!({"repeats": repeats, "cases": cases}).to_string(),
        )?;
        std::fs::copy(
            script("benches/json/serialization.py"),
            work.join("serialization.py"),
        )?;
        let out = python
            .command()
            .args(["serialization.py", "cases.json"])
            .output()?;
        if !out.status.success() {
            bail!(
                "serialization.py failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let stdout = String::from_utf8(out.stdout)?;
        let mut lines = stdout.lines();
        let versions: Value = serde_json::from_str(lines.next().context("no output")?)?;
        let what = format!(
            "ContextForge {}, Python {}, orjson {}",
            python.release,
            versions["python"].as_str().unwrap_or("?"),
            versions["orjson"].as_str().unwrap_or("?")
        );
        let rows = lines
            .map(|line| {
                let m: Measured = serde_json::from_str(line)?;
                let op = match m.op.as_str() {
                    "serialize" => Op::Serialize,
                    "deserialize" => Op::Deserialize,
                    "size" => Op::Size,
                    other => bail!("unknown op {other:?}"),
                };
                Ok(Row {
                    payload: Payload::ToolsList(m.items),
                    op,
                    baseline: m.json,
                    other: m.orjson,
                })
            })
            .collect::<Result<_>>()?;
        Ok((rows, what))
    };
    run().map_err(infra)
}

fn table(baseline: &'static str, other: &'static str, rows: &[Row]) -> String {
    let mut table = Table::new(&[
        ("payload", Align::Left),
        ("op", Align::Left),
        (baseline, Align::Right),
        (other, Align::Right),
        ("ratio", Align::Right),
    ]);
    for row in rows {
        table.push(row.cells());
    }
    table.text()
}

fn repeats() -> Result<u32> {
    let mut repeats = 5;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeats" => {
                repeats = args
                    .next()
                    .context("--repeats needs a value")?
                    .parse::<u32>()
                    .context("--repeats needs a whole number")?
                    .clamp(1, 100);
            }
            "--bench" => {} // passed by `cargo bench`
            "--help" | "-h" => {
                println!("json bench [--repeats N=5]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(repeats)
}

fn main() -> ExitCode {
    let repeats = match repeats() {
        Ok(repeats) => repeats,
        Err(e) => return Exit::Usage.fail(COMMAND, &format!("{e:#}")),
    };
    let (gateway, what) = match gateway_rows(repeats) {
        Ok(measured) => measured,
        Err(Refusal(exit, line)) => return exit.fail(COMMAND, &line),
    };
    println!("# The gateway's JSON: {what}; median of {repeats} runs of the seed's iterations; ratio = json / orjson\n");
    println!("{}", table("stdlib json", "orjson", &gateway));
    let engine = engine_rows(repeats);
    println!("# The engine's JSON: serde_json against {OTHER}, same method; ratio = serde_json / {OTHER}\n");
    println!("{}", table("serde_json", OTHER, &engine));
    println!("{}", json_bench::gateway_verdict(&gateway));
    println!("{}", json_bench::engine_verdict(&engine, OTHER));
    ExitCode::SUCCESS
}
