//! The MCP protocol core, independent of transport: JSON-RPC framing, version negotiation and
//! method dispatch. HTTP and stdio both feed it raw bytes and write back what it returns.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::catalog::Catalog;
use crate::faults::{Faults, InjectedError};
use crate::stamp::Identity;
use crate::tools;

/// Protocol versions of the session era this server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// Protocol versions of the stateless era (2026-07-28 on: no handshake, every request carries its
/// version and the client's capabilities in `_meta`) this server speaks, newest first.
pub const STATELESS_VERSIONS: [&str; 1] = ["2026-07-28"];

/// The methods of the stateless era this server serves; the rest (`initialize`, `ping`, …) are
/// gone from it and answered as unknown.
pub const STATELESS_METHODS: [&str; 8] = [
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
];

/// The `_meta` key naming the server in every stateless-era result.
const SERVER_INFO_KEY: &str = "io.modelcontextprotocol/serverInfo";

/// Which protocol era a message is handled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize`, then requests in its session (2025-11-25 and before).
    Session,
    /// Self-contained requests (2026-07-28): results carry `resultType` and the server's info,
    /// listings and reads carry cache hints.
    Stateless,
}

pub const SERVER_NAME: &str = "bench-server";
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    /// The error's `data`, where its code defines one.
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: String) -> Self {
        RpcError {
            code,
            message,
            data: None,
        }
    }
    pub fn parse_error(detail: impl std::fmt::Display) -> Self {
        RpcError::new(-32700, format!("Parse error: {detail}"))
    }
    pub fn invalid_request(detail: &str) -> Self {
        RpcError::new(-32600, format!("Invalid Request: {detail}"))
    }
    pub fn method_not_found(method: &str) -> Self {
        RpcError::new(-32601, format!("Method not found: {method}"))
    }
    pub fn invalid_params(detail: impl Into<String>) -> Self {
        RpcError::new(-32602, detail.into())
    }
    /// A request header the stateless era requires is missing or disagrees with the body.
    pub fn header_mismatch(detail: impl Into<String>) -> Self {
        RpcError::new(-32020, format!("Header mismatch: {}", detail.into()))
    }
    /// A stateless-era version this server does not speak, with those it does.
    pub fn unsupported_version(requested: &str) -> Self {
        let supported: Vec<&str> = STATELESS_VERSIONS
            .iter()
            .chain(PROTOCOL_VERSIONS.iter())
            .copied()
            .collect();
        RpcError {
            data: Some(json!({"supported": supported, "requested": requested})),
            ..RpcError::new(-32022, "Unsupported protocol version".into())
        }
    }
    /// A resource that does not exist: the session era's own code, Invalid params since
    /// 2026-07-28.
    fn resource_not_found(uri: &str, era: Era) -> Self {
        let code = match era {
            Era::Session => -32002,
            Era::Stateless => -32602,
        };
        RpcError::new(code, format!("Resource not found: {uri}"))
    }
    fn injected() -> Self {
        RpcError::new(-32603, "Internal error: injected by --error-rate".into())
    }

    /// `{"code":…,"message":…[,"data":…]}`.
    pub fn to_value(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        error
    }
}

/// State shared by every server of the fleet.
pub struct Shared {
    pub catalog: Catalog,
    pub faults: Faults,
    pub started: Instant,
    /// Tells this start of the process apart from any other (a restart, a replica).
    pub instance: u32,
}

/// One MCP server of the fleet (one port).
#[derive(Clone)]
pub struct Server {
    pub index: u32,
    pub shared: Arc<Shared>,
    pub identity: Arc<Identity>,
}

/// One JSON-RPC message from the client, borrowed from the request body.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

/// What a POSTed body turned out to hold, for the transport to frame.
#[derive(Debug)]
pub enum Reply {
    /// Only notifications or responses: HTTP 202, no body.
    Accepted,
    /// A JSON-RPC response (or batch of them) to send back.
    Message(Vec<u8>),
    /// The body was not JSON-RPC at all: HTTP 400 with this error.
    Malformed(Vec<u8>),
}

/// What a body holds, as far as session handling and response framing care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// A single `initialize` request: it needs no session and may open one.
    Initialize,
    /// A single request other than `initialize`.
    Request,
    /// Notifications, client responses, a batch, or something malformed.
    Other,
}

/// Classifies a body before dispatch (a validating scan that borrows, so it costs little).
pub fn classify(body: &[u8]) -> BodyKind {
    match serde_json::from_slice::<Incoming<'_>>(body) {
        Ok(m) if m.id.is_some() && m.method.as_deref() == Some("initialize") => {
            BodyKind::Initialize
        }
        Ok(m) if m.id.is_some() && m.method.is_some() => BodyKind::Request,
        _ => BodyKind::Other,
    }
}

impl Server {
    pub fn new(index: u32, shared: Arc<Shared>) -> Self {
        let identity = Arc::new(Identity::new(index, shared.instance));
        Server {
            index,
            shared,
            identity,
        }
    }

    /// Handles one body (a message or a batch) in `era` and reports the protocol version an
    /// `initialize` in it negotiated, so the transport can open a session.
    /// `arrived` is when the request came in: a benchmark tool's result says how long since.
    pub async fn handle_body(
        &self,
        body: &[u8],
        era: Era,
        arrived: Instant,
    ) -> (Reply, Option<&'static str>) {
        let value: &RawValue = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return (malformed(RpcError::parse_error(e)), None),
        };
        let text = value.get();
        if text.starts_with('[') {
            let items: Vec<&RawValue> = match serde_json::from_str(text) {
                Ok(items) => items,
                Err(e) => return (malformed(RpcError::parse_error(e)), None),
            };
            if items.is_empty() {
                return (malformed(RpcError::invalid_request("empty batch")), None);
            }
            let mut out = Vec::with_capacity(64 * items.len());
            let mut negotiated = None;
            out.push(b'[');
            for item in items {
                let (reply, version) = self.handle_one(item, era, arrived).await;
                negotiated = negotiated.or(version);
                if let Some(bytes) = reply {
                    if out.len() > 1 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&bytes);
                }
            }
            out.push(b']');
            let reply = if out.len() == 2 {
                Reply::Accepted
            } else {
                Reply::Message(out)
            };
            return (reply, negotiated);
        }
        match Incoming::deserialize(value) {
            Ok(msg) if msg.method.is_none() && msg.result.is_none() && msg.error.is_none() => (
                malformed(RpcError::invalid_request("no method, result or error")),
                None,
            ),
            Ok(_) => {
                let (reply, version) = self.handle_one(value, era, arrived).await;
                (reply.map_or(Reply::Accepted, Reply::Message), version)
            }
            Err(e) => (malformed(RpcError::invalid_request(&e.to_string())), None),
        }
    }

    /// One message: `None` for notifications and client responses, else the serialised response.
    async fn handle_one(
        &self,
        raw: &RawValue,
        era: Era,
        arrived: Instant,
    ) -> (Option<Vec<u8>>, Option<&'static str>) {
        let msg = match Incoming::deserialize(raw) {
            Ok(m) => m,
            Err(e) => {
                return (
                    Some(response(
                        None,
                        Err(RpcError::invalid_request(&e.to_string())),
                    )),
                    None,
                )
            }
        };
        let Some(method) = msg.method.as_deref() else {
            return (None, None); // a response to a server request: nothing to answer
        };
        let Some(id) = msg.id else {
            return (None, None); // a notification
        };
        if msg.jsonrpc.as_deref() != Some("2.0") {
            let err = RpcError::invalid_request("jsonrpc must be \"2.0\"");
            return (Some(response(Some(id), Err(err))), None);
        }
        let faults = &self.shared.faults;
        let n = faults.admit().await;
        // Injected errors hit the calls a workload measures, never the handshake or the
        // listings a client needs before it can call anything.
        let can_fail = matches!(method, "tools/call" | "resources/read" | "prompts/get");
        let (latency, injected) = faults.plan(n, can_fail);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut negotiated = None;
        let result = match injected {
            Some(InjectedError::ToolResult) if method == "tools/call" => Ok(json!({
                "content": [{"type": "text", "text": "injected tool error (--error-rate)"}],
                "isError": true,
            })),
            Some(_) => Err(RpcError::injected()),
            None => {
                self.dispatch(method, msg.params, (&mut negotiated, arrived), era)
                    .await
            }
        };
        let result = match era {
            Era::Session => result,
            Era::Stateless => result.map(|value| self.stateless_result(method, value)),
        };
        (Some(response(Some(id), result)), negotiated)
    }

    async fn dispatch(
        &self,
        method: &str,
        params: Option<&RawValue>,
        (negotiated, arrived): (&mut Option<&'static str>, Instant),
        era: Era,
    ) -> Result<Value, RpcError> {
        let catalog = &self.shared.catalog;
        if era == Era::Stateless && !STATELESS_METHODS.contains(&method) {
            return Err(RpcError::method_not_found(method));
        }
        match method {
            "server/discover" if era == Era::Stateless => Ok(json!({
                "supportedVersions": STATELESS_VERSIONS,
                "capabilities": capabilities(),
                "instructions": self.instructions(),
            })),
            "initialize" => {
                let p: InitializeParams = parse_params(params)?;
                let version = negotiate(&p.protocol_version);
                *negotiated = Some(version);
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": capabilities(),
                    "serverInfo": server_info(),
                    "instructions": self.instructions(),
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => catalog.list_tools(parse_cursor(params)?.as_deref()),
            "tools/call" => {
                let p: CallParams = parse_params(params)?;
                let args = p.arguments.unwrap_or_default();
                let out = tools::call(catalog, &p.name, &args, (&self.identity, arrived))?;
                if !out.delay.is_zero() {
                    tokio::time::sleep(out.delay).await;
                }
                Ok(out.into_result())
            }
            "resources/list" => {
                catalog.list_resources(self.index, parse_cursor(params)?.as_deref())
            }
            "resources/templates/list" => Ok(catalog.resource_templates(self.index)),
            "resources/read" => {
                let p: ReadParams = parse_params(params)?;
                let i = catalog
                    .resource_index(self.index, &p.uri)
                    .ok_or_else(|| RpcError::resource_not_found(&p.uri, era))?;
                Ok(catalog.read_resource(&p.uri, i, &tools::now_rfc3339()))
            }
            "prompts/list" => catalog.list_prompts(parse_cursor(params)?.as_deref()),
            "prompts/get" => {
                let p: PromptParams = parse_params(params)?;
                let i = catalog.prompt_index(&p.name).ok_or_else(|| {
                    RpcError::invalid_params(format!("Unknown prompt: {}", p.name))
                })?;
                let args = p.arguments.unwrap_or_default();
                for (key, value) in &args {
                    if !value.is_string() {
                        return Err(RpcError::invalid_params(format!(
                            "prompt argument '{key}' must be a string"
                        )));
                    }
                }
                Ok(catalog.get_prompt(i, &args, &tools::now_rfc3339()))
            }
            other => Err(RpcError::method_not_found(other)),
        }
    }
}

impl Server {
    fn instructions(&self) -> String {
        format!("mcpbench benchmark server #{}", self.index)
    }

    /// A stateless-era result: `resultType`, the server's info in `_meta`, and for discovery,
    /// listings and reads the cache hints the revision requires — a time to live of zero, so a
    /// client that honours them asks again rather than measuring its own cache.
    fn stateless_result(&self, method: &str, mut value: Value) -> Value {
        let Some(result) = value.as_object_mut() else {
            return value;
        };
        result.insert("resultType".into(), "complete".into());
        let meta = result
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(SERVER_INFO_KEY.into(), server_info());
        }
        let cacheable =
            method == "server/discover" || method == "resources/read" || method.ends_with("/list");
        if cacheable {
            result.insert("ttlMs".into(), 0.into());
            result.insert("cacheScope".into(), "public".into());
        }
        value
    }
}

fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": false},
        "resources": {"subscribe": false, "listChanged": false},
        "prompts": {"listChanged": false},
    })
}

fn server_info() -> Value {
    json!({"name": SERVER_NAME, "version": SERVER_VERSION})
}

/// The client's version when we speak it, else our newest (the client then decides).
pub fn negotiate(requested: &str) -> &'static str {
    PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(PROTOCOL_VERSIONS[0])
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    protocol_version: String,
}

#[derive(Deserialize)]
struct CallParams {
    name: String,
    #[serde(default)]
    arguments: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct ReadParams {
    uri: String,
}

#[derive(Deserialize)]
struct PromptParams {
    name: String,
    #[serde(default)]
    arguments: Option<Map<String, Value>>,
}

#[derive(Deserialize, Default)]
struct CursorParams {
    #[serde(default)]
    cursor: Option<String>,
}

fn parse_params<T: for<'de> Deserialize<'de>>(params: Option<&RawValue>) -> Result<T, RpcError> {
    let text = params.map_or("{}", RawValue::get);
    serde_json::from_str(text).map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}")))
}

fn parse_cursor(params: Option<&RawValue>) -> Result<Option<String>, RpcError> {
    match params {
        None => Ok(None),
        Some(p) if p.get() == "null" => Ok(None),
        Some(_) => parse_params::<CursorParams>(params).map(|p| p.cursor),
    }
}

/// Serialises `{"jsonrpc":"2.0","id":…,"result"|"error":…}` without building a `Value` for it.
fn response(id: Option<&RawValue>, result: Result<Value, RpcError>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    match result {
        Ok(value) => {
            out.extend_from_slice(b",\"result\":");
            serde_json::to_writer(&mut out, &value).expect("a Value always serialises");
        }
        Err(e) => {
            out.extend_from_slice(b",\"error\":");
            serde_json::to_writer(&mut out, &e.to_value()).expect("a Value always serialises");
        }
    }
    out.push(b'}');
    out
}

fn malformed(error: RpcError) -> Reply {
    Reply::Malformed(response(None, Err(error)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn server(args: &[&str]) -> Server {
        let config = crate::Config::parse_from(std::iter::once("t").chain(args.iter().copied()));
        let shared = Arc::new(Shared {
            catalog: Catalog::new(&config),
            faults: Faults::new(&config),
            started: Instant::now(),
            instance: 1,
        });
        Server::new(0, shared)
    }

    async fn call(s: &Server, body: &str) -> Value {
        match s
            .handle_body(body.as_bytes(), Era::Session, Instant::now())
            .await
            .0
        {
            Reply::Message(b) | Reply::Malformed(b) => serde_json::from_slice(&b).unwrap(),
            Reply::Accepted => Value::Null,
        }
    }

    #[tokio::test]
    async fn initialize_negotiates_the_clients_version_or_offers_the_newest() {
        let s = server(&[]);
        for (asked, got) in [
            ("2025-06-18", "2025-06-18"),
            ("2025-03-26", "2025-03-26"),
            ("2024-11-05", "2025-11-25"),
        ] {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"{asked}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
            );
            let (reply, version) = s
                .handle_body(body.as_bytes(), Era::Session, Instant::now())
                .await;
            assert_eq!(version, Some(got));
            let Reply::Message(bytes) = reply else {
                panic!("{reply:?}")
            };
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["result"]["protocolVersion"], got);
            assert_eq!(v["result"]["serverInfo"]["name"], "bench-server");
        }
    }

    #[tokio::test]
    async fn protocol_errors_carry_the_standard_codes() {
        let s = server(&[]);
        assert_eq!(
            call(&s, r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#).await["error"]["code"],
            -32601
        );
        assert_eq!(
            call(
                &s,
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}}"#
            )
            .await["error"]["code"],
            -32602
        );
        assert_eq!(
            call(
                &s,
                r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"missing"}}"#
            )
            .await["error"]["code"],
            -32602
        );
        assert_eq!(
            call(
                &s,
                r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"x://y"}}"#
            )
            .await["error"]["code"],
            -32002
        );
        assert_eq!(call(&s, "{not json").await["error"]["code"], -32700);
        assert_eq!(
            call(&s, r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#).await["id"],
            "a"
        );
    }

    #[tokio::test]
    async fn notifications_and_batches() {
        let s = server(&[]);
        assert!(matches!(
            s.handle_body(
                br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                Era::Session,
                Instant::now()
            )
            .await
            .0,
            Reply::Accepted
        ));
        let v = call(&s, r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#).await;
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[1]["result"]["tools"].as_array().unwrap().len(), 100);
    }

    #[tokio::test]
    async fn injected_errors_take_both_forms_on_tools_call() {
        let s = server(&["--error-rate", "1", "--error-kind", "tool"]);
        let v = call(&s, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"benchmark_tool_0"}}"#).await;
        assert_eq!(v["result"]["isError"], true);
        let s = server(&["--error-rate", "1", "--error-kind", "jsonrpc"]);
        let v = call(&s, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"benchmark_tool_0"}}"#).await;
        assert_eq!(v["error"]["code"], -32603);
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#;
        assert!(call(&s, init).await.get("result").is_some());
    }

    #[test]
    fn classify_finds_initialize_only_as_the_method() {
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#),
            BodyKind::Initialize
        );
        assert_eq!(
            classify(
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"initialize"}}"#
            ),
            BodyKind::Request
        );
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            BodyKind::Other
        );
        assert_eq!(classify(b"[]"), BodyKind::Other);
    }
}
