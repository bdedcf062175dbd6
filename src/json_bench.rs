//! The JSON benchmark's payloads and verdicts (`cargo xtask bench json`, `benches/json.rs`): the
//! seed's `benchmark_json_serialization.py` sizes as tools/list responses the gateway would send,
//! the messages the load engine handles on every request, and the recommendation the measured
//! times lead to.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// The seed's payload sizes and its iterations at each (`benchmark_json_serialization.py`).
pub const SEED_SIZES: [(usize, u32); 4] =
    [(10, 10_000), (100, 5_000), (1_000, 1_000), (5_000, 200)];

/// How much faster a library must be before its lead is worth acting on: below it, a change of
/// library (a new dependency, and for the gateway a code path of its own) buys less than run-to-run
/// noise on a shared machine moves the numbers.
pub const MATERIAL: f64 = 1.5;

/// The size nearest the gateway's tools/list page (its REST pages hold 50, bench-server's 100).
const PAGE_ITEMS: usize = 100;

/// The bench servers' first port in a default stack: the gateway names their tools after it.
const FIRST_PORT: u16 = 9000;

/// A tools/list response with `items` of bench-server's tools, named as the gateway lists them.
pub fn tools_list_response(items: usize) -> Value {
    let gateway = contextforge::naming::bench_gateway_name(FIRST_PORT);
    let tools: Vec<Value> = (0..items as u32)
        .map(|i| {
            let mut tool = bench_server::benchmark_tool(i);
            let own = tool["name"].as_str().unwrap_or_default().to_string();
            tool["name"] = contextforge::naming::federated_tool_name(&gateway, &own).into();
            tool
        })
        .collect();
    json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": tools}})
}

/// The request the engine sends most: tools/call of a benchmark tool with arguments.
pub fn tools_call_request() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "benchmark_tool_0", "arguments": {"param1": "alpha", "param2": "beta"}}})
}

/// Its answer: bench-server's tool text (the call echoed, a default-size payload) as MCP content.
pub fn tools_call_response() -> Value {
    let unit = "This is benchmark data. ";
    let mut data = unit.repeat(bench_server::DEFAULT_TOOL_SIZE / unit.len() + 1);
    data.truncate(bench_server::DEFAULT_TOOL_SIZE);
    let text = json!({"tool": "benchmark_tool_0", "timestamp": "2026-12-03T12:00:00.000Z",
                      "arguments": {"param1": "alpha", "param2": "beta"}, "data": data});
    json!({"jsonrpc": "2.0", "id": 1,
           "result": {"content": [{"type": "text", "text": text.to_string()}], "isError": false}})
}

/// The gateway's answer to an unknown tool: a JSON-RPC error inside HTTP 200.
pub fn error_in_200_response() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "Tool not found: convert_time"}})
}

/// What is timed or counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Serialize,
    /// Parsed into the library's own tree of values.
    Deserialize,
    /// Parsed as the engine judges a response: id, error, result left raw (`loadgen::check`).
    Judge,
    /// Bytes of the serialized payload.
    Size,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Serialize => "serialize",
            Op::Deserialize => "deserialize",
            Op::Judge => "judge (engine)",
            Op::Size => "size",
        }
    }
}

/// What a row measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    ToolsList(usize),
    ToolsCallRequest,
    ToolsCallResponse,
    ErrorIn200,
}

impl Payload {
    pub fn name(self) -> String {
        match self {
            Payload::ToolsList(items) => format!("tools/list, {items} tools"),
            Payload::ToolsCallRequest => "tools/call request".into(),
            Payload::ToolsCallResponse => "tools/call response".into(),
            Payload::ErrorIn200 => "error in HTTP 200".into(),
        }
    }
}

/// One operation with two libraries: median µs per operation (bytes for [`Op::Size`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub payload: Payload,
    pub op: Op,
    /// The library in use: the standard library's json, serde_json.
    pub baseline: f64,
    /// The faster one: orjson, the other Rust crate.
    pub other: f64,
}

impl Row {
    /// How many times faster (or smaller) the other is.
    pub fn ratio(&self) -> f64 {
        self.baseline / self.other
    }

    /// The row as table cells: payload, op, baseline, other, ratio.
    pub fn cells(&self) -> Vec<String> {
        let figure = |v: f64| match self.op {
            Op::Size => format!("{v:.0} B"),
            _ if v >= 1000.0 => format!("{:.2} ms", v / 1000.0),
            _ => format!("{v:.2} µs"),
        };
        vec![
            self.payload.name(),
            self.op.name().into(),
            figure(self.baseline),
            figure(self.other),
            format!("{:.2}×", self.ratio()),
        ]
    }
}

fn ratios(rows: &[Row], op: Op) -> Vec<f64> {
    rows.iter().filter(|r| r.op == op).map(Row::ratio).collect()
}

/// `1.4–2.1×` over the rows of `op`, `?` when none was measured.
fn span(rows: &[Row], op: Op) -> String {
    let r = ratios(rows, op);
    let low = r.iter().copied().fold(f64::INFINITY, f64::min);
    let high = r.iter().copied().fold(0.0, f64::max);
    if r.is_empty() {
        "?".into()
    } else {
        format!("{low:.1}–{high:.1}×")
    }
}

/// Whether orjson's lead matters for the gateway at the seed's sizes: it does when it serializes
/// every size at least [`MATERIAL`] times as fast as json (what the gateway does on every list).
pub fn gateway_verdict(rows: &[Row]) -> String {
    let serialize = ratios(rows, Op::Serialize);
    let matters = !serialize.is_empty() && serialize.iter().all(|r| *r >= MATERIAL);
    let mut line = format!(
        "gateway: orjson serializes a tools/list {} and parses it {} as fast as json",
        span(rows, Op::Serialize),
        span(rows, Op::Deserialize)
    );
    if let Some(page) = rows
        .iter()
        .find(|r| r.op == Op::Serialize && r.payload == Payload::ToolsList(PAGE_ITEMS))
    {
        let _ = write!(
            line,
            "; a page of {PAGE_ITEMS} tools costs {:.0} µs less",
            page.baseline - page.other
        );
    }
    line.push_str(if matters {
        ": its orjson path matters at these sizes"
    } else {
        ": its orjson path does not matter at these sizes"
    });
    line
}

/// Whether the engine should leave serde_json for `other`: only when `other` judges both
/// responses every request may get (a tools/call result, an error inside 200) at least
/// [`MATERIAL`] times as fast — the engine sends no serialized JSON per request (it splices
/// parameters rendered once into a fixed frame), so parsing is all a switch could buy.
pub fn engine_verdict(rows: &[Row], other: &str) -> String {
    let hot: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.op == Op::Judge
                && matches!(r.payload, Payload::ToolsCallResponse | Payload::ErrorIn200)
        })
        .collect();
    let switch = !hot.is_empty() && hot.iter().all(|r| r.ratio() >= MATERIAL);
    let each: Vec<String> = hot
        .iter()
        .map(|r| {
            format!(
                "{} {:.2}× ({:.2} → {:.2} µs)",
                r.payload.name(),
                r.ratio(),
                r.baseline,
                r.other
            )
        })
        .collect();
    let advice = if switch {
        format!("switch to {other} (it clears {MATERIAL}× on every per-request payload), weighing its SIMD code and dependencies")
    } else {
        format!("keep serde_json ({other} does not clear {MATERIAL}× on every per-request payload)")
    };
    format!(
        "engine: {other} judges {} as fast as serde_json: {advice}",
        each.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_jsonrpc_with_id(v: &Value) -> bool {
        v["jsonrpc"] == "2.0" && v["id"].is_number()
    }

    #[test]
    fn the_payloads_have_the_seeds_sizes_and_are_json_rpc() {
        for (items, _) in SEED_SIZES {
            let text = tools_list_response(items).to_string();
            let back: Value = serde_json::from_str(&text).unwrap();
            assert!(is_jsonrpc_with_id(&back), "{items}");
            let tools = back["result"]["tools"].as_array().unwrap();
            assert_eq!(tools.len(), items);
            assert_eq!(tools[0]["name"], "benchmark-9000-benchmark-tool-0");
            assert!(tools[items - 1]["inputSchema"]["properties"]["param1"].is_object());
        }
        let request = tools_call_request();
        assert!(is_jsonrpc_with_id(&request));
        assert_eq!(
            (&request["method"], &request["params"]["name"]),
            (&json!("tools/call"), &json!("benchmark_tool_0"))
        );
        let response = tools_call_response();
        assert!(is_jsonrpc_with_id(&response) && response["result"]["isError"] == false);
        let text = response["result"]["content"][0]["text"].as_str().unwrap();
        let tool: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            tool["data"].as_str().unwrap().len(),
            bench_server::DEFAULT_TOOL_SIZE
        );
        let error = error_in_200_response();
        assert!(is_jsonrpc_with_id(&error) && error["result"].is_null());
        assert_eq!(error["error"]["code"], -32601);
    }

    fn row(payload: Payload, op: Op, baseline: f64, other: f64) -> Row {
        Row {
            payload,
            op,
            baseline,
            other,
        }
    }

    fn engine_rows(call: f64, error: f64) -> Vec<Row> {
        vec![
            row(Payload::ToolsCallResponse, Op::Judge, call, 1.0),
            row(Payload::ErrorIn200, Op::Judge, error, 1.0),
            // Not per request: discovery's full parse never decides a switch.
            row(Payload::ToolsList(5_000), Op::Deserialize, 9.0, 1.0),
        ]
    }

    #[test]
    fn the_engine_switches_only_when_every_per_request_payload_is_materially_faster() {
        let verdict = engine_verdict(&engine_rows(2.0, 1.6), "sonic-rs");
        assert!(verdict.contains("switch to sonic-rs"), "{verdict}");
        assert!(
            verdict.contains("tools/call response 2.00× (2.00 → 1.00 µs)"),
            "{verdict}"
        );
        for (call, error) in [(2.0, 1.2), (1.1, 3.0), (0.8, 0.9)] {
            let verdict = engine_verdict(&engine_rows(call, error), "sonic-rs");
            assert!(
                verdict.contains("keep serde_json"),
                "{call} {error}: {verdict}"
            );
        }
        assert!(engine_verdict(&[], "sonic-rs").contains("keep serde_json"));
    }

    #[test]
    fn orjson_matters_only_when_it_serializes_every_size_materially_faster() {
        let rows = |small: f64| {
            vec![
                row(Payload::ToolsList(10), Op::Serialize, small, 1.0),
                row(Payload::ToolsList(100), Op::Serialize, 60.0, 10.0),
                row(Payload::ToolsList(100), Op::Deserialize, 15.0, 10.0),
                row(Payload::ToolsList(100), Op::Size, 300.0, 280.0),
            ]
        };
        let verdict = gateway_verdict(&rows(5.0));
        assert!(verdict.ends_with("matters at these sizes"), "{verdict}");
        assert!(
            verdict.contains("serializes a tools/list 5.0–6.0×"),
            "{verdict}"
        );
        assert!(verdict.contains("parses it 1.5–1.5×"), "{verdict}");
        assert!(verdict.contains("costs 50 µs less"), "{verdict}");
        let verdict = gateway_verdict(&rows(1.2));
        assert!(
            verdict.ends_with("does not matter at these sizes"),
            "{verdict}"
        );
    }
}
