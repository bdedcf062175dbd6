//! The UI's HTTP side, on hyper: the page and its assets (compiled in), the form's endpoints,
//! the event stream (server-sent events) and a finished run's files.
//!
//! | route | |
//! |---|---|
//! | `GET /`, `/app.js`, `/app.css` | the page |
//! | `GET /api/meta` | the user classes with their defaults, the tiers, the form's defaults |
//! | `GET /api/events` | `text/event-stream`: the view, then every event |
//! | `POST /api/start` (the form), `/api/stop`, `/api/target` (`{"value"}`), `/api/reset` | |
//! | `GET /runs/<run-id>/<file>` | a finished run's `results.json`, reports and CSVs |

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::hub::{run_file, Hub, Refusal};

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/app.css");
/// A comment on an idle event stream, so proxies and browsers keep it open.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Form bodies are small; anything larger is refused unread.
const MOST_BODY: usize = 64 * 1024;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// What the server answers with besides the hub.
pub struct Site {
    pub hub: Arc<Hub>,
    /// `/api/meta`'s document, made once.
    pub meta: Value,
}

pub async fn handle(
    site: Arc<Site>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_string();
    let response = match (request.method(), path.as_str()) {
        (&Method::GET, "/") => asset(INDEX, "text/html; charset=utf-8"),
        (&Method::GET, "/app.js") => asset(SCRIPT, "text/javascript; charset=utf-8"),
        (&Method::GET, "/app.css") => asset(STYLE, "text/css; charset=utf-8"),
        (&Method::GET, "/api/meta") => json_response(StatusCode::OK, &site.meta),
        (&Method::GET, "/api/events") => events(&site.hub),
        (&Method::POST, "/api/start") => match body_json(request).await {
            Ok(form) => answer(site.hub.start(&form).map(|s| json!({"settings": s}))),
            Err(r) => r,
        },
        (&Method::POST, "/api/stop") => answer(site.hub.stop_run().map(|()| json!({}))),
        (&Method::POST, "/api/reset") => answer(site.hub.reset().map(|()| json!({}))),
        (&Method::POST, "/api/target") => match body_json::<Value>(request).await {
            Ok(v) => {
                let value = v["value"]
                    .as_str()
                    .map_or_else(|| v["value"].to_string(), str::to_string);
                answer(site.hub.steer(&value).map(|t| json!({"value": t})))
            }
            Err(r) => r,
        },
        (&Method::GET, p) if p.starts_with("/runs/") => download(&site.hub, p),
        (_, "/" | "/app.js" | "/app.css" | "/api/meta" | "/api/events") => {
            plain(StatusCode::METHOD_NOT_ALLOWED, "use GET")
        }
        _ => plain(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn asset(text: &'static str, content_type: &str) -> Response<Body> {
    Response::builder()
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(full(text))
        .expect("a static response")
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(full(text.to_string()))
        .expect("a plain response")
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(value.to_string()))
        .expect("a JSON response")
}

/// A hub's answer: 200 with the value, 400 with the bad fields, 409 when not now.
fn answer(result: Result<Value, Refusal>) -> Response<Body> {
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(Refusal::Fields(errors)) => {
            json_response(StatusCode::BAD_REQUEST, &json!({"errors": errors}))
        }
        Err(Refusal::Conflict(message)) => {
            json_response(StatusCode::CONFLICT, &json!({"errors": {"form": message}}))
        }
    }
}

/// The request's JSON body, or the response that refuses it. Only `application/json` is read:
/// another site's page can send a form or text to this port without asking, but not JSON, so a
/// page elsewhere cannot start load from the person's browser.
async fn body_json<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
) -> Result<T, Response<Body>> {
    let json = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == "application/json");
    if !json {
        return Err(plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the form as application/json",
        ));
    }
    let limited = http_body_util::Limited::new(request.into_body(), MOST_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| plain(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string()))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        json_response(
            StatusCode::BAD_REQUEST,
            &json!({"errors": {"form": format!("not the form's JSON: {e}")}}),
        )
    })
}

/// The event stream: the view first, then every event; a page that falls too far behind is
/// sent the view again.
fn events(hub: &Arc<Hub>) -> Response<Body> {
    let (hello, receiver) = hub.subscribe();
    let first = Some(hello);
    let state = (first, receiver, hub.clone());
    let stream = futures_util::stream::unfold(state, |(first, mut receiver, hub)| async move {
        if let Some(hello) = first {
            return Some((frame(&hello), (None, receiver, hub)));
        }
        let received = tokio::select! {
            received = receiver.recv() => Some(received),
            () = tokio::time::sleep(KEEPALIVE) => None,
        };
        let data = match received {
            None => {
                return Some((
                    Ok(Frame::data(Bytes::from_static(b": keep-alive\n\n"))),
                    (None, receiver, hub),
                ))
            }
            Some(Ok(event)) => frame(&event),
            Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                let (hello, fresh) = hub.subscribe();
                receiver = fresh;
                frame(&hello)
            }
            Some(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
        };
        Some((data, (None, receiver, hub)))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(StreamBody::new(stream).boxed())
        .expect("an event stream")
}

fn frame(data: &str) -> Result<Frame<Bytes>, Infallible> {
    Ok(Frame::data(Bytes::from(format!("data: {data}\n\n"))))
}

/// `/runs/<run-id>/<file>`: a finished run's file, offered for download.
fn download(hub: &Hub, path: &str) -> Response<Body> {
    let rest = &path["/runs/".len()..];
    let Some((run_id, file)) = rest.split_once('/') else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let Some(found) = run_file(hub.reports_dir(), run_id, file) else {
        return plain(StatusCode::NOT_FOUND, "no such file of a run");
    };
    let content_type = match found.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    };
    match std::fs::read(&found) {
        Ok(bytes) => Response::builder()
            .header("content-type", content_type)
            .header(
                "content-disposition",
                format!("attachment; filename=\"{run_id}-{file}\""),
            )
            .body(full(bytes))
            .expect("a file response"),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
