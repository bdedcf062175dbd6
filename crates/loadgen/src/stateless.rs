//! The stateless era on the wire ([`STATELESS_PROTOCOL_VERSION`]): every request is
//! self-contained — its params carry `_meta` with the revision and the client's capabilities,
//! and its headers repeat the revision, the method and, for calls, reads and prompts, the name.
//! What can be built once (params with `_meta`, name headers) is built at discovery, so a
//! request costs what a session-era request costs.

use base64::Engine;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::scenario::STATELESS_PROTOCOL_VERSION;

pub(crate) const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";

/// The `_meta` of every stateless request: the revision, the client's capabilities (none: the
/// engine answers no server requests) and who the client is.
fn meta() -> Value {
    serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_PROTOCOL_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "mcpbench", "version": env!("CARGO_PKG_VERSION")},
    })
}

/// `params` (a JSON object) with the era's `_meta` added.
pub(crate) fn with_meta(params: Value) -> Value {
    let mut object = match params {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    object.insert("_meta".into(), meta());
    Value::Object(object)
}

/// The value of an `Mcp-Name` header: the name itself when a header can carry it as it is,
/// else the revision's encoded form `=?base64?…?=`.
pub(crate) fn name_header(name: &str) -> HeaderValue {
    let plain = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.starts_with("=?");
    if plain {
        if let Ok(value) = HeaderValue::from_str(name) {
            return value;
        }
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(name);
    HeaderValue::from_str(&format!("=?base64?{encoded}?=")).expect("base64 is a valid header")
}

/// The headers a stateless request of `method` carries (`name`: its `Mcp-Name`, where the
/// method has one).
pub(crate) fn insert_headers(headers: &mut HeaderMap, method: &str, name: Option<&HeaderValue>) {
    headers.insert(
        HeaderName::from_static(VERSION_HEADER),
        HeaderValue::from_static(STATELESS_PROTOCOL_VERSION),
    );
    if let Ok(method) = HeaderValue::from_str(method) {
        headers.insert(HeaderName::from_static(METHOD_HEADER), method);
    }
    if let Some(name) = name {
        headers.insert(HeaderName::from_static(NAME_HEADER), name.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_is_added_beside_the_params() {
        let params = with_meta(serde_json::json!({"name": "echo", "arguments": {}}));
        assert_eq!(params["name"], "echo");
        assert_eq!(
            params["_meta"]["io.modelcontextprotocol/protocolVersion"],
            STATELESS_PROTOCOL_VERSION
        );
        assert!(params["_meta"]["io.modelcontextprotocol/clientCapabilities"].is_object());
        assert!(with_meta(Value::Null)["_meta"].is_object());
    }

    #[test]
    fn names_a_header_cannot_carry_are_sent_in_base64() {
        assert_eq!(name_header("benchmark-tool-0"), "benchmark-tool-0");
        assert_eq!(name_header("bench://status"), "bench://status");
        assert_eq!(name_header("héllo"), "=?base64?aMOpbGxv?=");
        assert_eq!(name_header(" padded"), "=?base64?IHBhZGRlZA==?=");
        assert_eq!(name_header("=?base64?x?="), "=?base64?PT9iYXNlNjQ/eD89?=");
    }
}
