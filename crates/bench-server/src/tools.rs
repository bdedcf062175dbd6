//! Tool execution: the benchmark tools plus the fast-time server's `echo`, `get_system_time` and
//! `convert_time`, with real IANA time-zone conversion (chrono-tz's bundled database, so it works
//! in a `scratch` container with no /usr/share/zoneinfo).

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use crate::catalog::{benchmark_tool_index, Catalog};
use crate::mcp::RpcError;
use crate::stamp::{Identity, SERVED_KEY};

/// What a tool call produced: MCP text content, whether it is a tool error, and how long the
/// tool asked to take (echo's `delay_ms`), which the caller sleeps without blocking the server.
#[derive(Debug)]
pub struct ToolOutput {
    pub text: String,
    pub is_error: bool,
    pub delay: Duration,
}

impl ToolOutput {
    fn ok(text: String) -> Self {
        ToolOutput {
            text,
            is_error: false,
            delay: Duration::ZERO,
        }
    }
    fn error(text: String) -> Self {
        ToolOutput {
            text,
            is_error: true,
            delay: Duration::ZERO,
        }
    }

    pub fn into_result(self) -> Value {
        json!({"content": [{"type": "text", "text": self.text}], "isError": self.is_error})
    }
}

pub struct FixedTool {
    pub name: &'static str,
    pub definition: fn() -> Value,
    call: fn(&Map<String, Value>) -> Result<ToolOutput, RpcError>,
}

/// Echo's longest permitted delay: a load generator's mistake must not park a request forever.
const MAX_ECHO_DELAY_MS: u64 = 60_000;

pub const FIXED_TOOLS: [FixedTool; 3] = [
    FixedTool {
        name: "echo",
        definition: || {
            json!({
                "name": "echo",
                "description": "Echo a message back, optionally after a delay",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string", "description": "Text to echo", "examples": ["hello"]},
                        "delay_ms": {"type": "integer", "minimum": 0, "maximum": MAX_ECHO_DELAY_MS, "default": 0,
                                     "description": "Milliseconds to wait before answering"},
                    },
                    "required": ["message"],
                },
                "annotations": {"readOnlyHint": true},
            })
        },
        call: echo,
    },
    FixedTool {
        name: "get_system_time",
        definition: || {
            json!({
                "name": "get_system_time",
                "description": "Current time in an IANA time zone, as RFC 3339",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "timezone": {"type": "string", "description": "IANA zone", "default": "UTC", "examples": ["Europe/Paris"]},
                    },
                },
                "annotations": {"readOnlyHint": true},
            })
        },
        call: get_system_time,
    },
    FixedTool {
        name: "convert_time",
        definition: || {
            json!({
                "name": "convert_time",
                "description": "Convert a time between IANA time zones",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "time": {"type": "string", "description": "RFC 3339, 'YYYY-MM-DD HH:MM:SS', 'YYYY-MM-DDTHH:MM:SS' or 'YYYY-MM-DD'",
                                 "examples": ["2025-01-15T12:00:00Z"]},
                        "source_timezone": {"type": "string", "description": "IANA zone of the time", "examples": ["UTC"]},
                        "target_timezone": {"type": "string", "description": "IANA zone to convert to", "examples": ["Asia/Tokyo"]},
                    },
                    "required": ["time", "source_timezone", "target_timezone"],
                },
                "annotations": {"readOnlyHint": true},
            })
        },
        call: convert_time,
    },
];

/// Runs tool `name`. Unknown tools and arguments that break the tool's schema are protocol errors
/// (-32602); a tool that runs and fails (an unknown time zone) is an `isError` result.
/// A benchmark tool's text ends with the [`stamp`](crate::stamp) of `served` (who, and since
/// when the request is being handled).
pub fn call(
    catalog: &Catalog,
    name: &str,
    arguments: &Map<String, Value>,
    served: (&Identity, Instant),
) -> Result<ToolOutput, RpcError> {
    if benchmark_tool_index(name, catalog.tools).is_some() {
        return benchmark_tool(catalog, name, arguments, served);
    }
    match FIXED_TOOLS.iter().find(|t| t.name == name) {
        Some(tool) => (tool.call)(arguments),
        None => Err(RpcError::invalid_params(format!("Unknown tool: {name}"))),
    }
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn benchmark_tool(
    catalog: &Catalog,
    name: &str,
    arguments: &Map<String, Value>,
    (identity, arrived): (&Identity, Instant),
) -> Result<ToolOutput, RpcError> {
    for key in ["param1", "param2"] {
        optional_string(arguments, key)?;
    }
    let body = json!({
        "tool": name,
        "timestamp": now_rfc3339(),
        "arguments": arguments,
        "data": catalog.payload(name, catalog.tool_size),
    });
    // The stamp goes last (after the object's own members, whatever their order), so a reader
    // finds it from the end, and as late as possible, so its time covers the most.
    let mut text = body.to_string();
    text.pop();
    let stamp = serde_json::to_string(&identity.stamp_tool_call(arrived)).expect("a stamp");
    text.push_str(&format!(r#","{SERVED_KEY}":{stamp}}}"#));
    Ok(ToolOutput::ok(text))
}

fn echo(arguments: &Map<String, Value>) -> Result<ToolOutput, RpcError> {
    let message = required_string(arguments, "message")?;
    let delay_ms = match arguments.get("delay_ms") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .filter(|&ms| ms <= MAX_ECHO_DELAY_MS)
            .ok_or_else(|| {
                RpcError::invalid_params(format!(
                    "delay_ms must be an integer from 0 to {MAX_ECHO_DELAY_MS}, got {v}"
                ))
            })?,
    };
    Ok(ToolOutput {
        delay: Duration::from_millis(delay_ms),
        ..ToolOutput::ok(message.to_string())
    })
}

fn get_system_time(arguments: &Map<String, Value>) -> Result<ToolOutput, RpcError> {
    let zone = optional_string(arguments, "timezone")?.unwrap_or("UTC");
    Ok(match zone.parse::<Tz>() {
        Ok(tz) => ToolOutput::ok(
            Utc::now()
                .with_timezone(&tz)
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
        Err(_) => ToolOutput::error(format!("unknown time zone '{zone}'")),
    })
}

fn convert_time(arguments: &Map<String, Value>) -> Result<ToolOutput, RpcError> {
    let time = required_string(arguments, "time")?;
    let source = required_string(arguments, "source_timezone")?;
    let target = required_string(arguments, "target_timezone")?;
    let (source_tz, target_tz) = match (source.parse::<Tz>(), target.parse::<Tz>()) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(_), _) => return Ok(ToolOutput::error(format!("unknown time zone '{source}'"))),
        (_, Err(_)) => return Ok(ToolOutput::error(format!("unknown time zone '{target}'"))),
    };
    Ok(match parse_time_in(time, source_tz) {
        Some(instant) => ToolOutput::ok(
            instant
                .with_timezone(&target_tz)
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
        None => ToolOutput::error(format!(
            "cannot read time '{time}' in {source}: use RFC 3339, 'YYYY-MM-DD HH:MM:SS', 'YYYY-MM-DDTHH:MM:SS' or 'YYYY-MM-DD'"
        )),
    })
}

/// An RFC 3339 time keeps its own offset; a local time is read in `zone` (the earlier instant
/// when a DST change makes it ambiguous, none when it does not exist).
fn parse_time_in(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn required_string<'a>(arguments: &'a Map<String, Value>, key: &str) -> Result<&'a str, RpcError> {
    optional_string(arguments, key)?.ok_or_else(|| {
        RpcError::invalid_params(format!("missing required string argument '{key}'"))
    })
}

fn optional_string<'a>(
    arguments: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, RpcError> {
    match arguments.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(RpcError::invalid_params(format!(
            "argument '{key}' must be a string, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn catalog() -> Catalog {
        Catalog::new(&crate::Config::parse_from([
            "t",
            "--tools",
            "5",
            "--tool-size",
            "64",
        ]))
    }

    #[test]
    fn convert_time_uses_real_zone_rules_including_dst() {
        let winter = convert_time(&args(json!({"time": "2025-01-15 12:00:00", "source_timezone": "America/New_York", "target_timezone": "Europe/London"}))).unwrap();
        assert_eq!(winter.text, "2025-01-15T17:00:00Z");
        let summer = convert_time(&args(json!({"time": "2025-07-15T12:00:00", "source_timezone": "America/New_York", "target_timezone": "Europe/London"}))).unwrap();
        assert_eq!(summer.text, "2025-07-15T17:00:00+01:00");
        let rfc = convert_time(&args(json!({"time": "2025-01-15T12:00:00Z", "source_timezone": "UTC", "target_timezone": "Asia/Kolkata"}))).unwrap();
        assert_eq!(rfc.text, "2025-01-15T17:30:00+05:30");
    }

    #[test]
    fn unknown_zone_is_a_tool_error_and_missing_argument_a_protocol_error() {
        let out = convert_time(&args(json!({"time": "2025-01-15", "source_timezone": "Mars/Olympus", "target_timezone": "UTC"}))).unwrap();
        assert!(out.is_error);
        assert_eq!(
            convert_time(&args(json!({"time": "2025-01-15"})))
                .unwrap_err()
                .code,
            -32602
        );
    }

    #[test]
    fn benchmark_tool_returns_its_arguments_and_payload_and_ends_with_its_stamp() {
        let identity = Identity::new(2, 7);
        let arrived = Instant::now() - Duration::from_millis(3);
        let out = call(
            &catalog(),
            "benchmark_tool_4",
            &args(json!({"param1": "a", "served": "by the client"})),
            (&identity, arrived),
        )
        .unwrap();
        let stamp = crate::stamp::from_tool_text(&out.text).expect("stamped");
        assert_eq!((stamp.by.as_str(), stamp.call), ("2@00000007", Some(1)));
        assert!(stamp.handler() >= Duration::from_millis(3));
        let body: Value = serde_json::from_str(&out.text).unwrap();
        assert_eq!(body[SERVED_KEY]["handler_us"], stamp.handler_us);
        assert_eq!(body["tool"], "benchmark_tool_4");
        assert_eq!(
            body["arguments"],
            json!({"param1": "a", "served": "by the client"})
        );
        assert_eq!(body["data"].as_str().unwrap().len(), 64);
        assert!(DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn wrong_argument_types_and_unknown_tools_are_invalid_params() {
        let c = catalog();
        let identity = Identity::new(0, 0);
        let call = |c: &Catalog, name: &str, a: &Map<String, Value>| {
            call(c, name, a, (&identity, Instant::now()))
        };
        assert_eq!(
            call(&c, "benchmark_tool_1", &args(json!({"param1": 3})))
                .unwrap_err()
                .code,
            -32602
        );
        assert_eq!(
            call(&c, "benchmark_tool_5", &Map::new()).unwrap_err().code,
            -32602
        );
        assert_eq!(
            call(&c, "echo", &args(json!({"message": "m", "delay_ms": -1})))
                .unwrap_err()
                .code,
            -32602
        );
    }
}
