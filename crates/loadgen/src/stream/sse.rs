//! MCP's legacy HTTP+SSE transport, client side: `GET` opens the event stream, its `endpoint`
//! event names the URL to POST messages to, and replies arrive as `message` events. The POSTs go
//! on a second keep-alive connection of their own, as a browser's `EventSource` client does.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use url::Url;

use super::link::LinkError;
use super::Headers;

/// One open stream and the connection its messages are POSTed on.
pub struct SseLink {
    events: EventReader,
    post: SendRequest<Full<Bytes>>,
    post_url: Url,
    headers: Headers,
}

impl SseLink {
    /// Opens the stream and waits for its `endpoint` event: the link is usable from then on.
    pub async fn connect(url: &Url, headers: &Headers) -> Result<SseLink, String> {
        let mut sender = http1_connection(url).await?;
        let mut request = request_to(url, "GET", headers, Full::default())?;
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {}: {e}", url.path()))?;
        if response.status() != StatusCode::OK {
            return Err(format!("GET {}: HTTP {}", url.path(), response.status()));
        }
        let mut events = EventReader::new(response.into_body());
        let endpoint = loop {
            match events.next().await.map_err(|e| e.to_string())? {
                Event { name, data } if name == "endpoint" => break data,
                _ => continue,
            }
        };
        let post_url = url
            .join(endpoint.trim())
            .map_err(|e| format!("the endpoint event's URL '{endpoint}': {e}"))?;
        let post = http1_connection(&post_url).await?;
        Ok(SseLink {
            events,
            post,
            post_url,
            headers: headers.clone(),
        })
    }

    /// POSTs one JSON-RPC message; a non-2xx answer refuses it (the stream stays up).
    pub async fn send(&mut self, body: String) -> Result<(), LinkError> {
        let mut request = request_to(
            &self.post_url,
            "POST",
            &self.headers,
            Full::new(Bytes::from(body)),
        )
        .map_err(LinkError::Lost)?;
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.post
            .ready()
            .await
            .map_err(|e| LinkError::Lost(format!("POST connection: {e}")))?;
        let response = self
            .post
            .send_request(request)
            .await
            .map_err(|e| LinkError::Lost(format!("POST: {e}")))?;
        let status = response.status();
        // Drained so the connection can carry the next POST.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(LinkError::Refused(format!(
                "POST: HTTP {}",
                status.as_u16()
            )))
        }
    }

    /// The next `message` event's data (keepalives and other events skipped).
    pub async fn recv(&mut self) -> Result<String, LinkError> {
        loop {
            let event = self.events.next().await?;
            if event.name == "message" {
                return Ok(event.data);
            }
        }
    }
}

/// An HTTP/1.1 connection to `url`'s origin (plain HTTP: `StreamPlan::validate` takes
/// `http://` URLs only).
async fn http1_connection(url: &Url) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = super::connect_origin(url).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| {
            format!(
                "HTTP handshake with {}: {e}",
                url.origin().ascii_serialization()
            )
        })?;
    tokio::spawn(connection);
    Ok(sender)
}

fn request_to(
    url: &Url,
    method: &str,
    headers: &Headers,
    body: Full<Bytes>,
) -> Result<Request<Full<Bytes>>, String> {
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(target)
        .header(HOST, authority);
    for (name, value) in headers.iter() {
        builder = builder.header(name, value);
    }
    builder.body(body).map_err(|e| format!("request: {e}"))
}

/// One server-sent event.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    name: String,
    data: String,
}

/// Server-sent events out of a response body, line by line (`\n` or `\r\n` endings).
struct EventReader {
    body: Incoming,
    buffer: Vec<u8>,
    name: String,
    data: Vec<String>,
}

impl EventReader {
    fn new(body: Incoming) -> EventReader {
        EventReader {
            body,
            buffer: Vec::new(),
            name: String::new(),
            data: Vec::new(),
        }
    }

    async fn next(&mut self) -> Result<Event, LinkError> {
        loop {
            while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                if let Some(event) = self.take_line(&line) {
                    return Ok(event);
                }
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(LinkError::Lost(format!("event stream: {e}"))),
                None => return Err(LinkError::Lost("the event stream ended".into())),
            }
        }
    }

    /// Folds one line into the event being read; an empty line ends it.
    fn take_line(&mut self, line: &[u8]) -> Option<Event> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            if self.data.is_empty() && self.name.is_empty() {
                return None;
            }
            let name = std::mem::take(&mut self.name);
            return Some(Event {
                name: if name.is_empty() {
                    "message".into()
                } else {
                    name
                },
                data: std::mem::take(&mut self.data).join("\n"),
            });
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = value.to_string(),
            "data" => self.data.push(value.to_string()),
            _ => {}
        }
        None
    }
}
