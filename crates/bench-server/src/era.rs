//! Which MCP era a POST is in, and the rules of the stateless era (2026-07-28) over Streamable
//! HTTP that a request must keep before it is served. An `initialize` opens the session era as
//! before; a request whose `params._meta` names a protocol version, or whose
//! `MCP-Protocol-Version` header names a stateless one, is stateless: it needs no session, and
//! its header must be there and agree with `_meta`, its version must be one this server speaks,
//! `_meta` must carry the client's capabilities, and `Mcp-Method` (and for calls, reads and
//! prompts `Mcp-Name`) must repeat the body. Each broken rule is one HTTP 400 with the revision's
//! JSON-RPC error (404 for a method the era does not have).

use std::borrow::Cow;

use base64::Engine;
use hyper::header::HeaderMap;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::mcp::{BodyKind, RpcError, STATELESS_METHODS, STATELESS_VERSIONS};

pub const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";

/// What a POST body is, as far as the era goes.
pub enum PostEra<'a> {
    /// The session era: `initialize`, or a request without a per-request version.
    Session(BodyKind),
    /// A stateless request or notification, and what its rules look at.
    Stateless(Envelope<'a>),
}

/// One message's fields that the stateless era's rules compare with the headers.
#[derive(Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default, rename = "_meta")]
    meta: Option<Meta<'a>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uri: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, default, rename = "io.modelcontextprotocol/protocolVersion")]
    version: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "io.modelcontextprotocol/clientCapabilities")]
    capabilities: Option<&'a RawValue>,
}

/// A stateless request refused before it is served: its HTTP status and JSON-RPC error.
#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub error: RpcError,
}

fn bad_request(error: RpcError) -> Rejection {
    Rejection {
        status: StatusCode::BAD_REQUEST,
        error,
    }
}

impl Envelope<'_> {
    /// A notification: answered 202 whatever its headers.
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    fn version(&self) -> Option<&str> {
        self.params.as_ref()?.meta.as_ref()?.version.as_deref()
    }
}

/// The era of `body` given its `MCP-Protocol-Version` header (one scan of the body, which also
/// classifies a session-era one). A body that is not one JSON-RPC message (a batch, garbage)
/// stays in the session era, whose handling answers it.
pub fn of<'a>(headers: &HeaderMap, body: &'a [u8]) -> PostEra<'a> {
    let Ok(envelope) = serde_json::from_slice::<Envelope<'a>>(body) else {
        return PostEra::Session(crate::mcp::classify(body));
    };
    let kind = match (&envelope.id, envelope.method.as_deref()) {
        (Some(_), Some("initialize")) => return PostEra::Session(BodyKind::Initialize),
        (Some(_), Some(_)) => BodyKind::Request,
        _ => BodyKind::Other,
    };
    let header_is_stateless =
        header(headers, VERSION_HEADER).is_some_and(|v| STATELESS_VERSIONS.contains(&v.as_ref()));
    if envelope.version().is_some() || header_is_stateless {
        PostEra::Stateless(envelope)
    } else {
        PostEra::Session(kind)
    }
}

/// The stateless era's rules for a request, in the order the revision lists them.
pub fn check(headers: &HeaderMap, envelope: &Envelope<'_>) -> Result<(), Rejection> {
    let method = envelope.method.as_deref().unwrap_or_default();
    let Some(header_version) = header(headers, VERSION_HEADER) else {
        return Err(bad_request(RpcError::header_mismatch(
            "the MCP-Protocol-Version header is required",
        )));
    };
    let meta = envelope.params.as_ref().and_then(|p| p.meta.as_ref());
    let Some(version) = meta.and_then(|m| m.version.as_deref()) else {
        return Err(bad_request(RpcError::invalid_params(format!(
            "params._meta[\"{VERSION_KEY}\"] is required"
        ))));
    };
    if header_version != version {
        return Err(bad_request(RpcError::header_mismatch(format!(
            "MCP-Protocol-Version header value '{header_version}' does not match body value \
             '{version}'"
        ))));
    }
    if !STATELESS_VERSIONS.contains(&version) {
        return Err(bad_request(RpcError::unsupported_version(version)));
    }
    if meta.and_then(|m| m.capabilities).is_none() {
        return Err(bad_request(RpcError::invalid_params(
            "params._meta[\"io.modelcontextprotocol/clientCapabilities\"] is required",
        )));
    }
    agrees(headers, METHOD_HEADER, "Mcp-Method", Some(method))?;
    if matches!(method, "tools/call" | "resources/read" | "prompts/get") {
        let params = envelope.params.as_ref();
        let name = params.and_then(|p| p.name.as_deref().or(p.uri.as_deref()));
        agrees(headers, NAME_HEADER, "Mcp-Name", name)?;
    }
    if !STATELESS_METHODS.contains(&method) {
        return Err(Rejection {
            status: StatusCode::NOT_FOUND,
            error: RpcError::method_not_found(method),
        });
    }
    Ok(())
}

/// The header `name` (shown as `shown`) is present and equals `body` (decoded first when it is
/// in the revision's base64 form, `=?base64?…?=`).
fn agrees(
    headers: &HeaderMap,
    name: &str,
    shown: &str,
    body: Option<&str>,
) -> Result<(), Rejection> {
    let Some(value) = header(headers, name) else {
        return Err(bad_request(RpcError::header_mismatch(format!(
            "the {shown} header is required"
        ))));
    };
    let value = match decoded(&value) {
        Some(text) => Cow::Owned(text),
        None => value,
    };
    match body {
        Some(body) if body == value => Ok(()),
        body => Err(bad_request(RpcError::header_mismatch(format!(
            "{shown} header value '{value}' does not match body value '{}'",
            body.unwrap_or("")
        )))),
    }
}

/// A header value in the revision's encoded form (`=?base64?<base64>?=`), decoded.
fn decoded(value: &str) -> Option<String> {
    let inner = value.strip_prefix("=?base64?")?.strip_suffix("?=")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(inner)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// A header's value as text (None when absent or not visible ASCII).
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(Cow::Borrowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::PROTOCOL_VERSIONS;
    use hyper::header::HeaderValue;

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn complete() -> HeaderMap {
        headers(&[
            (VERSION_HEADER, "2026-07-28"),
            (METHOD_HEADER, "tools/call"),
            (NAME_HEADER, "echo"),
        ])
    }

    fn rejected(h: &HeaderMap, body: &str) -> (u16, i64, String) {
        let PostEra::Stateless(envelope) = of(h, body.as_bytes()) else {
            panic!("stateless: {body}");
        };
        let r = check(h, &envelope).unwrap_err();
        (r.status.as_u16(), r.error.code, r.error.message)
    }

    #[test]
    fn initialize_and_requests_without_a_version_stay_in_the_session_era() {
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        assert!(matches!(
            of(&complete(), init.as_bytes()),
            PostEra::Session(BodyKind::Initialize)
        ));
        let plain = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let session = headers(&[(VERSION_HEADER, PROTOCOL_VERSIONS[0])]);
        assert!(matches!(
            of(&session, plain.as_bytes()),
            PostEra::Session(BodyKind::Request)
        ));
        assert!(matches!(
            of(&complete(), b"[1,2]"),
            PostEra::Session(BodyKind::Other)
        ));
    }

    #[test]
    fn a_complete_stateless_request_passes_and_an_encoded_name_is_decoded() {
        let PostEra::Stateless(envelope) = of(&complete(), CALL.as_bytes()) else {
            panic!("stateless");
        };
        check(&complete(), &envelope).unwrap();
        let mut encoded = complete();
        encoded.insert(NAME_HEADER, HeaderValue::from_static("=?base64?ZWNobw==?="));
        check(&encoded, &envelope).unwrap();
    }

    #[test]
    fn each_broken_rule_gets_its_status_and_code() {
        let mut no_version = complete();
        no_version.remove(VERSION_HEADER);
        assert_eq!(rejected(&no_version, CALL).1, -32020);

        let mut mismatch = complete();
        mismatch.insert(
            VERSION_HEADER,
            HeaderValue::from_static(PROTOCOL_VERSIONS[0]),
        );
        let (status, code, message) = rejected(&mismatch, CALL);
        assert_eq!((status, code), (400, -32020), "{message}");
        let said = format!(
            "'{}' does not match body value '2026-07-28'",
            PROTOCOL_VERSIONS[0]
        );
        assert!(message.contains(&said), "{message}");

        let future = CALL.replace("2026-07-28", "2099-01-01");
        let mut future_headers = complete();
        future_headers.insert(VERSION_HEADER, HeaderValue::from_static("2099-01-01"));
        assert_eq!(rejected(&future_headers, &future).1, -32022);

        let no_capabilities =
            CALL.replace(r#","io.modelcontextprotocol/clientCapabilities":{}"#, "");
        assert_eq!(rejected(&complete(), &no_capabilities).1, -32602);

        let no_meta = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
        assert_eq!(
            rejected(&complete(), no_meta),
            (
                400,
                -32602,
                format!("params._meta[\"{VERSION_KEY}\"] is required")
            )
        );

        let mut wrong_name = complete();
        wrong_name.insert(NAME_HEADER, HeaderValue::from_static("other"));
        let (status, code, message) = rejected(&wrong_name, CALL);
        assert_eq!((status, code), (400, -32020));
        assert!(message.contains("Mcp-Name header value 'other' does not match body value 'echo'"));

        let mut no_method = complete();
        no_method.remove(METHOD_HEADER);
        assert_eq!(rejected(&no_method, CALL).1, -32020);

        let ping = CALL.replace("tools/call", "ping");
        let mut ping_headers = complete();
        ping_headers.insert(METHOD_HEADER, HeaderValue::from_static("ping"));
        let (status, code, _) = rejected(&ping_headers, &ping);
        assert_eq!((status, code), (404, -32601));
    }
}
