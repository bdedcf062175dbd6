//! Judging a response: the HTTP status, then — for JSON-RPC — the body, because a JSON-RPC
//! `error` inside HTTP 200 is a failure (hey counts it as a success) and so is an MCP tool result
//! with `isError: true`. SSE bodies are read event by event for the message answering our id.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use bench_server::stamp::{self, Stamp};

use crate::client::Exchange;
use crate::recorder::ErrorClass;
use crate::scenario::Expect;

pub type Failure = (ErrorClass, String);

/// Longest excerpt of a body kept in an error sample.
const EXCERPT: usize = 200;

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<RpcError>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ToolResultProbe {
    #[serde(rename = "isError", default)]
    is_error: bool,
    #[serde(default)]
    content: Vec<ContentProbe>,
}

#[derive(Deserialize)]
struct ContentProbe {
    #[serde(default)]
    text: Option<String>,
}

/// The start of a body for an error sample: credentials scrubbed (before it is cut, so no
/// token is left half-shown), line breaks flattened, at most [`EXCERPT`] characters.
pub fn excerpt(body: &[u8]) -> String {
    const SCANNED: usize = 4096;
    let text = String::from_utf8_lossy(&body[..body.len().min(SCANNED)]);
    let scrubbed = cli::redact::scrub(&text).replace(['\n', '\r'], " ");
    let mut s: String = scrubbed.chars().take(EXCERPT).collect();
    if body.len() > s.len() {
        s.push('…');
    }
    s
}

fn is_sse(ex: &Exchange) -> bool {
    ex.headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// The JSON-RPC message in the body: the body itself, or in an SSE stream the `data:` of the
/// event whose id is `id` (else the last event carrying a result or an error).
pub fn jsonrpc_message<'a>(ex: &'a Exchange, id: Option<&str>) -> Option<Cow<'a, str>> {
    let body = std::str::from_utf8(&ex.body).ok()?;
    if !is_sse(ex) {
        return Some(Cow::Borrowed(body));
    }
    let mut chosen = None;
    for event in body.split("\n\n") {
        let mut data_lines = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d));
        let Some(first) = data_lines.next() else {
            continue;
        };
        // One data line (the usual case) borrows the body; several are joined as SSE says.
        let data: Cow<'a, str> = match data_lines.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut joined = format!("{first}\n{second}");
                for more in data_lines {
                    joined.push('\n');
                    joined.push_str(more);
                }
                Cow::Owned(joined)
            }
        };
        let (matches_id, is_reply) = match serde_json::from_str::<Reply<'_>>(&data) {
            Ok(reply) => (
                matches!((id, reply.id), (Some(want), Some(got)) if got.get() == want),
                reply.result.is_some() || reply.error.is_some(),
            ),
            Err(_) => (false, false),
        };
        if matches_id {
            return Some(data);
        }
        if is_reply {
            chosen = Some(data);
        }
    }
    chosen
}

/// A JSON-RPC body: an `error` member is a failure; for tools/call `result.isError` is one too.
/// A success gives what the backend said about it, if it said anything: the stamp at the end of
/// a tool's text (it survives a gateway), else the `Server-Timing` header (a direct call).
pub fn judge_jsonrpc(
    ex: &Exchange,
    id: Option<&str>,
    tool_call: bool,
) -> Result<Option<Stamp>, Failure> {
    let Some(message) = jsonrpc_message(ex, id) else {
        return Err((
            ErrorClass::Check,
            format!("no JSON-RPC response in the body: {}", excerpt(&ex.body)),
        ));
    };
    let reply: Reply<'_> = serde_json::from_str(&message).map_err(|e| {
        (
            ErrorClass::Check,
            format!("response is not JSON-RPC ({e}): {}", excerpt(&ex.body)),
        )
    })?;
    if let Some(err) = reply.error {
        return Err((
            ErrorClass::Jsonrpc,
            format!("JSON-RPC error {}: {}", err.code, err.message),
        ));
    }
    let Some(result) = reply.result else {
        return Err((
            ErrorClass::Check,
            format!("JSON-RPC response without result: {}", excerpt(&ex.body)),
        ));
    };
    let mut stamp = None;
    if tool_call {
        if let Ok(probe) = serde_json::from_str::<ToolResultProbe>(result.get()) {
            let mut texts = probe.content.into_iter().filter_map(|c| c.text);
            if probe.is_error {
                let text = texts.next().unwrap_or_default();
                return Err((
                    ErrorClass::ToolError,
                    format!("tool error: {}", excerpt(text.as_bytes())),
                ));
            }
            stamp = texts.find_map(|t| stamp::from_tool_text(&t));
        }
    }
    Ok(stamp.or_else(|| header_stamp(ex)))
}

fn header_stamp(ex: &Exchange) -> Option<Stamp> {
    let header = ex.headers.get("server-timing")?.to_str().ok()?;
    stamp::from_server_timing(header)
}

/// Status, then body checks, as `expect` asks; a JSON-RPC body's backend stamp when it has one.
pub fn judge_http(ex: &Exchange, expect: &Expect) -> Result<Option<Stamp>, Failure> {
    let mut stamp = None;
    let status_ok = if expect.status.is_empty() {
        (200..300).contains(&ex.status)
    } else {
        expect.status.contains(&ex.status)
    };
    if !status_ok {
        return Err((
            ErrorClass::HttpStatus,
            format!("HTTP {}: {}", ex.status, excerpt(&ex.body)),
        ));
    }
    if expect.jsonrpc {
        stamp = judge_jsonrpc(ex, None, true)?;
    }
    if let Some(needle) = &expect.body_contains {
        if !ex
            .body
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            return Err((
                ErrorClass::Check,
                format!("body does not contain {needle:?}: {}", excerpt(&ex.body)),
            ));
        }
    }
    Ok(stamp.or_else(|| header_stamp(ex)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn exchange(status: u16, content_type: &str, body: &str) -> Exchange {
        let mut headers = hyper::HeaderMap::new();
        headers.insert(hyper::header::CONTENT_TYPE, content_type.parse().unwrap());
        Exchange {
            status,
            headers,
            body: bytes::Bytes::from(body.to_string()),
            ttfb: Duration::ZERO,
            total: Duration::ZERO,
            phases: crate::phases::Phases::default(),
        }
    }

    #[test]
    fn a_jsonrpc_error_inside_http_200_is_a_failure() {
        let ex = exchange(
            200,
            "application/json",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found: convert_time"}}"#,
        );
        let (class, msg) = judge_jsonrpc(&ex, Some("1"), false).unwrap_err();
        assert_eq!(class, ErrorClass::Jsonrpc);
        assert!(msg.contains("-32601"), "{msg}");
        let expect = Expect {
            jsonrpc: true,
            ..Expect::default()
        };
        assert_eq!(judge_http(&ex, &expect).unwrap_err().0, ErrorClass::Jsonrpc);
        assert!(
            judge_http(&ex, &Expect::default()).is_ok(),
            "without the JSON-RPC check only the status counts"
        );
    }

    #[test]
    fn an_is_error_tool_result_is_a_failure() {
        let ex = exchange(
            200,
            "application/json",
            r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"boom"}],"isError":true}}"#,
        );
        let (class, msg) = judge_jsonrpc(&ex, Some("2"), true).unwrap_err();
        assert_eq!(
            (class, msg.as_str()),
            (ErrorClass::ToolError, "tool error: boom")
        );
        assert!(
            judge_jsonrpc(&ex, Some("2"), false).is_ok(),
            "isError only matters for tools/call"
        );
    }

    #[test]
    fn sse_bodies_are_read_for_the_message_with_our_id() {
        let body = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
                    event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[],\"isError\":false}}\n\n";
        let ex = exchange(200, "text/event-stream", body);
        assert!(judge_jsonrpc(&ex, Some("7"), true).is_ok());
        let err_body = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32603,\"message\":\"x\"}}\n\n";
        assert_eq!(
            judge_jsonrpc(
                &exchange(200, "text/event-stream", err_body),
                Some("7"),
                true
            )
            .unwrap_err()
            .0,
            ErrorClass::Jsonrpc
        );
        assert_eq!(
            judge_jsonrpc(
                &exchange(200, "text/event-stream", ": keepalive\n\n"),
                Some("7"),
                true
            )
            .unwrap_err()
            .0,
            ErrorClass::Check
        );
    }

    #[test]
    fn a_success_carries_the_tools_stamp_else_the_server_timing_header() {
        let text =
            r#"{\"tool\":\"t\",\"served\":{\"by\":\"1@ff\",\"handler_us\":1500,\"call\":9}}"#;
        let body = format!(
            "event: message\ndata: {{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"{text}\"}}],\"isError\":false}}}}\n\n"
        );
        let mut ex = exchange(200, "text/event-stream", &body);
        ex.headers.insert(
            "server-timing",
            "mcpbench-backend;dur=0.200;desc=\"1@ff\"".parse().unwrap(),
        );
        let stamp = judge_jsonrpc(&ex, Some("7"), true).unwrap().unwrap();
        assert_eq!(
            (stamp.handler_us, stamp.call),
            (1500, Some(9)),
            "the tool's own"
        );
        let listed = exchange(
            200,
            "application/json",
            r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}"#,
        );
        assert_eq!(judge_jsonrpc(&listed, Some("7"), false).unwrap(), None);
        let mut direct = exchange(
            200,
            "application/json",
            &String::from_utf8_lossy(&listed.body),
        );
        direct
            .headers
            .insert("server-timing", ex.headers["server-timing"].clone());
        let stamp = judge_jsonrpc(&direct, Some("7"), false).unwrap().unwrap();
        assert_eq!((stamp.handler_us, stamp.call), (200, None));
    }

    #[test]
    fn an_echoed_credential_never_reaches_an_error_sample() {
        let ex = exchange(
            500,
            "application/json",
            r#"{"error":"bad","headers":{"authorization":"Bearer eyJhbGciOi.eyJzdWIi.c2ln"}}"#,
        );
        let (_, message) = judge_http(&ex, &Expect::default()).unwrap_err();
        assert!(!message.contains("eyJ"), "{message}");
        assert!(message.contains("HTTP 500"), "{message}");
    }

    #[test]
    fn status_and_body_checks() {
        let ex = exchange(503, "text/plain", "busy");
        assert_eq!(
            judge_http(&ex, &Expect::default()).unwrap_err().0,
            ErrorClass::HttpStatus
        );
        let ok = exchange(200, "text/plain", "healthy");
        let expect = Expect {
            body_contains: Some("unhealthy".into()),
            ..Expect::default()
        };
        assert_eq!(judge_http(&ok, &expect).unwrap_err().0, ErrorClass::Check);
        let expect = Expect {
            status: vec![404],
            ..Expect::default()
        };
        assert!(judge_http(&exchange(404, "text/plain", ""), &expect).is_ok());
    }
}
