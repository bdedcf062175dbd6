//! MCP Streamable HTTP on hyper: `POST /mcp` (and `/`), `DELETE /mcp`, `GET /mcp` (405: this
//! server opens no server-initiated stream), `GET /health`, `GET /version`, sessions, auth, and
//! JSON or SSE framing of responses; and the legacy HTTP+SSE transport (`GET /sse`, `POST
//! /messages`, see `legacy_sse`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use rand::RngCore;
use serde_json::json;
use tokio::sync::oneshot;

use crate::config::ResponseMode;

/// The standard header a reply's handler time goes out in (not among hyper's constants).
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

use crate::era::{self, PostEra, VERSION_HEADER};
use crate::legacy_sse::{self, Refusal, Streams};
use crate::mcp::{self, Era, Reply, RpcError, Server, PROTOCOL_VERSIONS};

/// Largest request body accepted; a load generator's runaway template must not exhaust memory.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Sessions kept per server; beyond it the oldest tenth is forgotten (clients that churn
/// sessions without DELETE must not grow the server without bound).
const MAX_SESSIONS: usize = 100_000;

const SESSION_HEADER: &str = "mcp-session-id";

/// The HTTP face of one server of the fleet.
pub struct HttpServer {
    pub server: Server,
    stateless: bool,
    response_mode: ResponseMode,
    auth_token: Option<Arc<str>>,
    sessions: Mutex<Sessions>,
    streams: Streams,
}

#[derive(Default)]
struct Sessions {
    /// Session id → (negotiated protocol version, creation sequence number).
    open: HashMap<u128, (&'static str, u64)>,
    created: u64,
}

impl Sessions {
    fn insert(&mut self, id: u128, version: &'static str) {
        if self.open.len() >= MAX_SESSIONS {
            let mut ages: Vec<u64> = self.open.values().map(|&(_, seq)| seq).collect();
            let cut = ages.len() / 10;
            let (_, &mut oldest_kept, _) = ages.select_nth_unstable(cut);
            self.open.retain(|_, &mut (_, seq)| seq >= oldest_kept);
        }
        self.created += 1;
        self.open.insert(id, (version, self.created));
    }
}

/// How a response body is framed, from `--response-mode` and the client's Accept header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Json,
    Sse,
}

impl HttpServer {
    pub fn new(
        server: Server,
        stateless: bool,
        response_mode: ResponseMode,
        auth_token: Option<Arc<str>>,
    ) -> Self {
        HttpServer {
            server,
            stateless,
            response_mode,
            auth_token,
            sessions: Mutex::new(Sessions::default()),
            streams: Streams::default(),
        }
    }

    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        let path = req.uri().path();
        let response = match (req.method(), path) {
            (&Method::GET, "/health") => self.health().await,
            (&Method::GET, "/version") => json_response(StatusCode::OK, version_body(&self.server)),
            (_, "/health" | "/version") => method_not_allowed("GET"),
            (method, legacy_sse::STREAM_PATH | legacy_sse::MESSAGES_PATH) => {
                if let Some(denied) = self.check_auth(req.headers()) {
                    denied
                } else {
                    match (method, path) {
                        (&Method::GET, legacy_sse::STREAM_PATH) => self.open_stream(),
                        (&Method::POST, legacy_sse::MESSAGES_PATH) => self.post_message(req).await,
                        (_, legacy_sse::STREAM_PATH) => method_not_allowed("GET"),
                        _ => method_not_allowed("POST"),
                    }
                }
            }
            (method, "/mcp" | "/") => {
                if let Some(denied) = self.check_auth(req.headers()) {
                    denied
                } else {
                    match *method {
                        Method::POST => self.post(req).await,
                        Method::DELETE => self.delete(req.headers()),
                        _ => method_not_allowed("POST, DELETE"),
                    }
                }
            }
            _ => json_response(
                StatusCode::NOT_FOUND,
                json!({"error": "not found", "path": path}).to_string(),
            ),
        };
        Ok(response)
    }

    /// `GET /sse`: a legacy HTTP+SSE stream, its `endpoint` event first.
    fn open_stream(&self) -> Response<Body> {
        let Some((_, events)) = self.streams.open() else {
            return rpc_error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                -32000,
                "too many open SSE streams",
            );
        };
        let mut r = Response::new(Body::Stream(events));
        set_sse_headers(r.headers_mut());
        r
    }

    /// `POST /messages?session_id=…`: 202 at once; the reply goes out on the session's stream.
    async fn post_message(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let arrived = Instant::now();
        let permit = match self.streams.reserve(req.uri().query()) {
            Ok(permit) => permit,
            Err(Refusal::UnknownSession) => {
                return rpc_error_response(StatusCode::NOT_FOUND, -32001, "Session not found")
            }
            Err(Refusal::Stalled) => {
                return rpc_error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    -32000,
                    "the session's stream is not being read",
                )
            }
        };
        let body = match read_body(req).await {
            Ok(body) => body,
            Err(too_large) => return too_large,
        };
        tokio::spawn(async move {
            let (reply, _) = self.server.handle_body(&body, Era::Session, arrived).await;
            match reply {
                Reply::Message(b) | Reply::Malformed(b) => {
                    permit.send(sse_event(&b));
                }
                Reply::Accepted => drop(permit),
            }
        });
        empty_response(StatusCode::ACCEPTED)
    }

    async fn health(&self) -> Response<Body> {
        // /health is stalled with the rest of the server: a GC pause freezes everything.
        self.server.shared.faults.admit().await;
        let shared = &self.server.shared;
        json_response(
            StatusCode::OK,
            json!({
                "status": "healthy",
                "name": mcp::SERVER_NAME,
                "version": mcp::SERVER_VERSION,
                "server_index": self.server.index,
                "uptime_seconds": shared.started.elapsed().as_secs(),
            })
            .to_string(),
        )
    }

    fn check_auth(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        let expected = self.auth_token.as_deref()?;
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        match presented {
            Some(token) if constant_time_eq(token, expected.as_bytes()) => None,
            _ => {
                let mut r = json_response(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "missing or invalid bearer token"}).to_string(),
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Some(r)
            }
        }
    }

    async fn post(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let arrived = Instant::now();
        let framing = match self.framing(req.headers()) {
            Some(f) => f,
            None => {
                return rpc_error_response(
                    StatusCode::NOT_ACCEPTABLE,
                    -32600,
                    self.not_acceptable_reason(),
                )
            }
        };
        let headers = req.headers().clone();
        let body = match read_body(req).await {
            Ok(body) => body,
            Err(too_large) => return too_large,
        };
        let (era, kind) = match era::of(&headers, &body) {
            PostEra::Stateless(envelope) if envelope.is_notification() => {
                return empty_response(StatusCode::ACCEPTED)
            }
            PostEra::Stateless(envelope) => match era::check(&headers, &envelope) {
                Ok(()) => (Era::Stateless, mcp::BodyKind::Request),
                Err(rejected) => return error_response(rejected.status, &rejected.error),
            },
            PostEra::Session(kind) => (Era::Session, kind),
        };
        let sessions = !self.stateless && era == Era::Session;
        if sessions && kind != mcp::BodyKind::Initialize {
            if let Some(rejection) = self.check_session(&headers) {
                return rejection;
            }
        }
        // An initialize gets its session id up front, so an SSE reply can carry it in its headers.
        let new_session = (sessions && kind == mcp::BodyKind::Initialize).then(|| {
            rand::thread_rng().next_u64() as u128 | (rand::thread_rng().next_u64() as u128) << 64
        });

        if framing == Framing::Sse
            && matches!(kind, mcp::BodyKind::Initialize | mcp::BodyKind::Request)
        {
            let this = Arc::clone(&self);
            let mut event = Box::pin(async move {
                let (reply, negotiated) = this.server.handle_body(&body, era, arrived).await;
                this.open_session(new_session, negotiated);
                match reply {
                    Reply::Message(b) | Reply::Malformed(b) => sse_event(&b),
                    Reply::Accepted => Bytes::new(),
                }
            });
            // A reply ready at once goes out with the headers in one write, as JSON does. One
            // still being computed (a tool with latency) gets its headers now and the event when
            // it is ready, so clients can tell time to first byte from time to the response.
            let (body, timed) = match poll_once(event.as_mut()).await {
                Some(ready) => (Body::full(ready), true),
                None => {
                    let (tx, rx) = oneshot::channel();
                    tokio::spawn(async move {
                        let _ = tx.send(event.await);
                    });
                    (Body::Deferred(rx), false)
                }
            };
            let mut r = Response::new(body);
            if timed {
                self.add_server_timing(&mut r, arrived);
            }
            set_sse_headers(r.headers_mut());
            add_session_header(&mut r, new_session);
            return r;
        }

        let (reply, negotiated) = self.server.handle_body(&body, era, arrived).await;
        let opened = self.open_session(new_session, negotiated);
        let mut r = match reply {
            Reply::Accepted => empty_response(StatusCode::ACCEPTED),
            Reply::Malformed(b) => json_response(StatusCode::BAD_REQUEST, b),
            Reply::Message(b) => {
                let mut r = match framing {
                    Framing::Json => json_response(StatusCode::OK, b),
                    Framing::Sse => {
                        let mut r = Response::new(Body::full(sse_event(&b)));
                        set_sse_headers(r.headers_mut());
                        r
                    }
                };
                self.add_server_timing(&mut r, arrived);
                r
            }
        };
        add_session_header(&mut r, opened);
        r
    }

    /// The handler's time in a standard header, for clients that call this server directly.
    fn add_server_timing(&self, r: &mut Response<Body>, arrived: Instant) {
        let timing = self.server.identity.server_timing(arrived);
        if let Ok(v) = HeaderValue::from_str(&timing) {
            r.headers_mut().insert(SERVER_TIMING, v);
        }
    }

    /// Registers the session of a successful initialize; returns its id if one was opened.
    fn open_session(&self, id: Option<u128>, negotiated: Option<&'static str>) -> Option<u128> {
        let (id, version) = id.zip(negotiated)?;
        self.sessions
            .lock()
            .expect("session lock")
            .insert(id, version);
        Some(id)
    }

    /// 400 without a session id, 404 for an unknown one, 400 for an unsupported protocol version.
    fn check_session(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        let Some(raw) = headers.get(SESSION_HEADER) else {
            return Some(rpc_error_response(
                StatusCode::BAD_REQUEST,
                -32600,
                "Bad Request: Mcp-Session-Id header is required",
            ));
        };
        let known = parse_session_id(raw).is_some_and(|id| {
            self.sessions
                .lock()
                .expect("session lock")
                .open
                .contains_key(&id)
        });
        if !known {
            return Some(rpc_error_response(
                StatusCode::NOT_FOUND,
                -32001,
                "Session not found",
            ));
        }
        if let Some(version) = headers.get(VERSION_HEADER) {
            let supported = version
                .to_str()
                .is_ok_and(|v| PROTOCOL_VERSIONS.contains(&v));
            if !supported {
                return Some(rpc_error_response(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    &format!("Bad Request: unsupported MCP-Protocol-Version {version:?}"),
                ));
            }
        }
        None
    }

    fn delete(&self, headers: &HeaderMap) -> Response<Body> {
        if self.stateless {
            return method_not_allowed("POST");
        }
        let Some(raw) = headers.get(SESSION_HEADER) else {
            return rpc_error_response(
                StatusCode::BAD_REQUEST,
                -32600,
                "Bad Request: Mcp-Session-Id header is required",
            );
        };
        let removed = parse_session_id(raw)
            .and_then(|id| self.sessions.lock().expect("session lock").open.remove(&id));
        match removed {
            Some(_) => empty_response(StatusCode::OK),
            None => rpc_error_response(StatusCode::NOT_FOUND, -32001, "Session not found"),
        }
    }

    fn framing(&self, headers: &HeaderMap) -> Option<Framing> {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .collect::<Vec<_>>();
        let any = accept.is_empty() || accept.iter().any(|m| m == "*/*");
        let json = any
            || accept
                .iter()
                .any(|m| m == "application/json" || m == "application/*");
        let sse = any
            || accept
                .iter()
                .any(|m| m == "text/event-stream" || m == "text/*");
        match self.response_mode {
            ResponseMode::Json => json.then_some(Framing::Json),
            ResponseMode::Sse => sse.then_some(Framing::Sse),
            ResponseMode::Auto if json => Some(Framing::Json),
            ResponseMode::Auto => sse.then_some(Framing::Sse),
        }
    }

    fn not_acceptable_reason(&self) -> &'static str {
        match self.response_mode {
            ResponseMode::Json => "Not Acceptable: this server answers application/json",
            ResponseMode::Sse => "Not Acceptable: this server answers text/event-stream",
            ResponseMode::Auto => "Not Acceptable: accept application/json or text/event-stream",
        }
    }
}

fn version_body(server: &Server) -> String {
    let c = &server.shared.catalog;
    json!({
        "name": mcp::SERVER_NAME,
        "version": mcp::SERVER_VERSION,
        "mcp_version": PROTOCOL_VERSIONS[0],
        "protocol_versions": PROTOCOL_VERSIONS,
        "stateless_versions": mcp::STATELESS_VERSIONS,
        "tools": c.total_tools(),
        "resources": c.resources,
        "prompts": c.prompts,
        "server_index": server.index,
    })
    .to_string()
}

fn parse_session_id(raw: &HeaderValue) -> Option<u128> {
    let s = raw.to_str().ok()?;
    (s.len() == 32).then(|| u128::from_str_radix(s, 16).ok())?
}

fn add_session_header(r: &mut Response<Body>, id: Option<u128>) {
    if let Some(id) = id {
        let value = HeaderValue::from_str(&format!("{id:032x}")).expect("hex is a valid header");
        r.headers_mut().insert(SESSION_HEADER, value);
    }
}

/// `future`'s output if it is ready on its first poll.
async fn poll_once<F: Future + Unpin>(mut future: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut future).poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

fn set_sse_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

pub(crate) fn sse_event(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 24);
    out.extend_from_slice(b"event: message\ndata: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// A request's body, or the JSON-RPC error reply for one over [`MAX_BODY_BYTES`].
async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    match http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(rpc_error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            -32600,
            &format!("request body over {MAX_BODY_BYTES} bytes"),
        )),
    }
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::full(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn rpc_error_response(status: StatusCode, code: i64, message: &str) -> Response<Body> {
    let error = RpcError {
        code,
        message: message.into(),
        data: None,
    };
    error_response(status, &error)
}

/// `error` (with its data) as the body of an HTTP error.
fn error_response(status: StatusCode, error: &RpcError) -> Response<Body> {
    json_response(
        status,
        json!({"jsonrpc": "2.0", "id": null, "error": error.to_value()}).to_string(),
    )
}

fn empty_response(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::full(Bytes::new()));
    *r.status_mut() = status;
    r
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"error": "method not allowed", "allow": allow}).to_string(),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A response body: whole, one chunk that arrives later (an SSE event still being computed), or
/// a legacy SSE stream's events as they come (it ends when the server forgets the stream).
pub enum Body {
    Full(Option<Bytes>),
    Deferred(oneshot::Receiver<Bytes>),
    Stream(tokio::sync::mpsc::Receiver<Bytes>),
}

impl Body {
    fn full(bytes: Bytes) -> Self {
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Deferred(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(result) => {
                    *this = Body::Full(None);
                    Poll::Ready(
                        result
                            .ok()
                            .filter(|b| !b.is_empty())
                            .map(|b| Ok(Frame::data(b))),
                    )
                }
                Poll::Pending => Poll::Pending,
            },
            Body::Stream(rx) => rx
                .poll_recv(cx)
                .map(|event| event.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Deferred(_) | Body::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_bounded_by_forgetting_the_oldest() {
        let mut s = Sessions::default();
        for id in 0..(MAX_SESSIONS as u128 + 5) {
            s.insert(id, crate::mcp::PROTOCOL_VERSIONS[1]);
        }
        assert!(s.open.len() <= MAX_SESSIONS);
        assert!(s.open.contains_key(&(MAX_SESSIONS as u128 + 4)));
        assert!(!s.open.contains_key(&0));
    }

    #[test]
    fn session_ids_are_exactly_32_hex_digits() {
        assert_eq!(
            parse_session_id(&HeaderValue::from_static(
                "0000000000000000000000000000002a"
            )),
            Some(42)
        );
        assert_eq!(parse_session_id(&HeaderValue::from_static("2a")), None);
        assert_eq!(
            parse_session_id(&HeaderValue::from_static(
                "zz00000000000000000000000000002a"
            )),
            None
        );
    }
}
