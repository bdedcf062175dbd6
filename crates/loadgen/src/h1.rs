//! A minimal HTTP/1.1 client connection for the hot path: the request is serialised into one
//! reused buffer and written with one call; the response head is parsed in place with httparse;
//! bodies are framed by Content-Length, chunked encoding or connection close.
//!
//! Why not hyper's client here: measured against wrk on nginx `return 200`, hyper's connection
//! task, channel and header maps cost about 20% of the generator's throughput (see README,
//! Performance). HTTP/2 still goes through hyper.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::phases::Phases;
use crate::recorder::ErrorClass;

pub type Failure = (ErrorClass, String);

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body kept; a runaway response must not exhaust the generator's memory.
pub const MAX_BODY: usize = 64 * 1024 * 1024;
const MAX_HEADERS: usize = 64;

/// A parsed response.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub ttfb: Duration,
    /// Write, wait and read (the connection's setup is the caller's to add).
    pub phases: Phases,
}

pub struct H1<S> {
    stream: S,
    write_buf: Vec<u8>,
    read_buf: BytesMut,
    /// The server said `Connection: close` (or spoke HTTP/1.0 without keep-alive).
    closed: bool,
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
    Empty,
}

impl<S: AsyncRead + AsyncWrite + Unpin> H1<S> {
    pub fn new(stream: S) -> Self {
        H1 {
            stream,
            write_buf: Vec::with_capacity(1024),
            read_buf: BytesMut::with_capacity(16 * 1024),
            closed: false,
        }
    }

    /// Whether the connection can take another request: the server has not said it closes it,
    /// and has not closed it (or sent anything unasked) while it sat idle. Servers close idle
    /// keep-alive connections (uvicorn after 5 s, gunicorn's workers after 2 s); that is found
    /// out here, with one read polled without waiting, instead of failing the next request.
    pub fn is_open(&mut self) -> bool {
        if self.closed {
            return false;
        }
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        let mut probe = tokio::io::ReadBuf::new(&mut byte);
        match std::pin::Pin::new(&mut self.stream).poll_read(&mut cx, &mut probe) {
            std::task::Poll::Pending => true,
            // End of stream, an error, or bytes no request asked for: done either way.
            std::task::Poll::Ready(_) => {
                self.closed = true;
                false
            }
        }
    }

    /// Writes `request` (origin-form URI, or absolute-form to a proxy; the caller sets Host)
    /// and reads its response.
    pub async fn exchange(&mut self, request: &Request<Bytes>) -> Result<Response, Failure> {
        let start = Instant::now();
        self.serialise(request);
        // TLS buffers what it encrypts: without the flush a request can wait in rustls's
        // buffer until the response timeout (a plain TCP stream's flush costs nothing).
        let sent = async {
            self.stream.write_all(&self.write_buf).await?;
            self.stream.flush().await
        };
        sent.await.map_err(|e| {
            (
                ErrorClass::Connect,
                format!("connection failed while sending: {e}"),
            )
        })?;
        let written = Instant::now();
        if self.read_buf.is_empty() {
            self.fill("response head").await?;
        }
        let first_byte = Instant::now();
        let is_head = request.method() == hyper::Method::HEAD;
        loop {
            let (status, headers, head_len, framing, close) = self.read_head(is_head).await?;
            let ttfb = start.elapsed();
            self.read_buf.advance(head_len);
            if (100..200).contains(&status) && status != 101 {
                continue; // an interim response (100 Continue): the real one follows
            }
            let body = match framing {
                Framing::Empty => Bytes::new(),
                Framing::Length(n) => self.read_exact_body(n).await?,
                Framing::Chunked => self.read_chunked().await?,
                Framing::UntilClose => self.read_until_close().await?,
            };
            self.closed |= close;
            let end = Instant::now();
            return Ok(Response {
                status,
                headers,
                body,
                ttfb,
                phases: Phases {
                    write: Some(written - start),
                    wait: first_byte - written,
                    read: end - first_byte,
                    ..Phases::default()
                },
            });
        }
    }

    fn serialise(&mut self, request: &Request<Bytes>) {
        let body = request.body();
        let buf = &mut self.write_buf;
        buf.clear();
        buf.extend_from_slice(request.method().as_str().as_bytes());
        buf.push(b' ');
        let uri = request.uri();
        // Absolute form (to a proxy): scheme and authority first, without building a string.
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            buf.extend_from_slice(scheme.as_bytes());
            buf.extend_from_slice(b"://");
            buf.extend_from_slice(authority.as_str().as_bytes());
        }
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        buf.extend_from_slice(target.as_bytes());
        buf.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in request.headers() {
            buf.extend_from_slice(name.as_str().as_bytes());
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(value.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        if !body.is_empty()
            || !matches!(*request.method(), hyper::Method::GET | hyper::Method::HEAD)
        {
            buf.extend_from_slice(b"content-length: ");
            buf.extend_from_slice(body.len().to_string().as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(body);
    }

    async fn fill(&mut self, what: &str) -> Result<(), Failure> {
        if self.read_buf.capacity() - self.read_buf.len() < 4096 {
            self.read_buf.reserve(16 * 1024);
        }
        match self.stream.read_buf(&mut self.read_buf).await {
            Ok(0) => {
                self.closed = true;
                Err((
                    ErrorClass::Connect,
                    format!("connection closed by the server while reading the {what}"),
                ))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                self.closed = true;
                Err((
                    ErrorClass::Connect,
                    format!("connection failed while reading the {what}: {e}"),
                ))
            }
        }
    }

    async fn read_head(
        &mut self,
        is_head: bool,
    ) -> Result<(u16, HeaderMap, usize, Framing, bool), Failure> {
        loop {
            let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut raw);
            match parsed.parse(&self.read_buf) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let status = parsed.code.unwrap_or(0);
                    let http10 = parsed.version == Some(0);
                    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
                    let (mut length, mut chunked, mut close, mut keep_alive) =
                        (None, false, http10, false);
                    for h in parsed.headers.iter() {
                        let (Ok(name), Ok(value)) = (
                            HeaderName::from_bytes(h.name.as_bytes()),
                            HeaderValue::from_bytes(h.value),
                        ) else {
                            continue;
                        };
                        if name == hyper::header::CONTENT_LENGTH {
                            length = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<usize>().ok());
                        } else if name == hyper::header::TRANSFER_ENCODING {
                            chunked = h.value.to_ascii_lowercase().ends_with(b"chunked");
                        } else if name == hyper::header::CONNECTION {
                            let v = h.value.to_ascii_lowercase();
                            close |= v.windows(5).any(|w| w == b"close");
                            keep_alive |= v.windows(10).any(|w| w == b"keep-alive");
                        }
                        headers.append(name, value);
                    }
                    let framing = if is_head
                        || status == 204
                        || status == 304
                        || (100..200).contains(&status)
                    {
                        Framing::Empty
                    } else if chunked {
                        Framing::Chunked
                    } else if let Some(n) = length {
                        Framing::Length(n)
                    } else {
                        close = true;
                        Framing::UntilClose
                    };
                    if http10 && keep_alive {
                        close = false;
                    }
                    if let Framing::Length(n) = framing {
                        if n > MAX_BODY {
                            return Err((
                                ErrorClass::Check,
                                format!("response body of {n} bytes is over {MAX_BODY}"),
                            ));
                        }
                    }
                    return Ok((status, headers, head_len, framing, close));
                }
                Ok(httparse::Status::Partial) => {
                    if self.read_buf.len() > MAX_HEAD {
                        return Err((
                            ErrorClass::Check,
                            format!("response head over {MAX_HEAD} bytes"),
                        ));
                    }
                    self.fill("response head").await?;
                }
                Err(e) => {
                    self.closed = true;
                    return Err((ErrorClass::Check, format!("malformed HTTP response: {e}")));
                }
            }
        }
    }

    async fn read_exact_body(&mut self, n: usize) -> Result<Bytes, Failure> {
        while self.read_buf.len() < n {
            self.fill("response body").await?;
        }
        Ok(self.read_buf.split_to(n).freeze())
    }

    async fn read_chunked(&mut self) -> Result<Bytes, Failure> {
        let mut body = BytesMut::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.read_buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill("chunk size").await?;
            };
            let size_text = std::str::from_utf8(&self.read_buf[..line_end]).unwrap_or("");
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                self.closed = true;
                (
                    ErrorClass::Check,
                    format!("malformed chunk size {size_text:?}"),
                )
            })?;
            self.read_buf.advance(line_end + 2);
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    if let Some(i) = self.read_buf.windows(2).position(|w| w == b"\r\n") {
                        self.read_buf.advance(i + 2);
                        if i == 0 {
                            return Ok(body.freeze());
                        }
                    } else {
                        self.fill("chunk trailer").await?;
                    }
                }
            }
            if body.len() + size > MAX_BODY {
                self.closed = true;
                return Err((
                    ErrorClass::Check,
                    format!("response body over {MAX_BODY} bytes"),
                ));
            }
            while self.read_buf.len() < size + 2 {
                self.fill("chunk").await?;
            }
            body.extend_from_slice(&self.read_buf[..size]);
            self.read_buf.advance(size + 2);
        }
    }

    async fn read_until_close(&mut self) -> Result<Bytes, Failure> {
        loop {
            if self.read_buf.len() > MAX_BODY {
                return Err((
                    ErrorClass::Check,
                    format!("response body over {MAX_BODY} bytes"),
                ));
            }
            match self.stream.read_buf(&mut self.read_buf).await {
                Ok(0) => return Ok(self.read_buf.split().freeze()),
                Ok(_) => {}
                Err(e) => {
                    return Err((
                        ErrorClass::Connect,
                        format!("connection failed while reading the body: {e}"),
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Runs one exchange against a scripted server that answers `response` in the given pieces.
    async fn exchange(pieces: Vec<&'static [u8]>) -> (Result<Response, Failure>, Vec<u8>, bool) {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let writer = tokio::spawn(async move {
            let mut request = vec![0u8; 4096];
            let n = server.read(&mut request).await.unwrap();
            for p in pieces {
                server.write_all(p).await.unwrap();
                tokio::task::yield_now().await;
            }
            request.truncate(n);
            request
        });
        let mut conn = H1::new(client);
        let req = Request::builder()
            .method("POST")
            .uri("/mcp?x=1")
            .header("host", "127.0.0.1:9")
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        let result = conn.exchange(&req).await;
        let request = writer.await.unwrap();
        // Whether the server said it closes (the writer has gone, so a poll would see EOF).
        (result, request, !conn.closed)
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_not_reused() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut conn = H1::new(client);
        let req = Request::get("/health")
            .header("host", "127.0.0.1:9")
            .body(Bytes::new())
            .unwrap();
        let answer = tokio::spawn(async move {
            let mut request = vec![0u8; 4096];
            let _ = server.read(&mut request).await.unwrap();
            server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
            server
        });
        assert_eq!(conn.exchange(&req).await.unwrap().status, 200);
        let server = answer.await.unwrap();
        assert!(conn.is_open(), "idle and still open: reused");
        drop(server);
        assert!(
            !conn.is_open(),
            "closed by the server while idle: a new one"
        );
    }

    #[tokio::test]
    async fn the_request_is_serialised_with_its_length_and_body() {
        let (r, request, open) =
            exchange(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]).await;
        let text = String::from_utf8(request).unwrap();
        assert!(
            text.starts_with(
                "POST /mcp?x=1 HTTP/1.1\r\nhost: 127.0.0.1:9\r\ncontent-length: 2\r\n\r\n{}"
            ),
            "{text}"
        );
        let r = r.ok().unwrap();
        assert_eq!((r.status, &r.body[..], open), (200, &b"ok"[..], true));
    }

    #[tokio::test]
    async fn an_absolute_uri_goes_out_in_absolute_form_and_the_phases_add_up() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let answer = tokio::spawn(async move {
            let mut request = vec![0u8; 4096];
            let n = server.read(&mut request).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
            request.truncate(n);
            (request, server)
        });
        let mut conn = H1::new(client);
        let req = Request::post("http://127.0.0.1:9/mcp?x=1")
            .header("host", "127.0.0.1:9")
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        let started = Instant::now();
        let r = conn.exchange(&req).await.ok().unwrap();
        let elapsed = started.elapsed();
        let (request, _server) = answer.await.unwrap();
        assert!(request.starts_with(b"POST http://127.0.0.1:9/mcp?x=1 HTTP/1.1\r\n"));
        let p = r.phases;
        assert!(p.wait >= Duration::from_millis(20), "{p:?}");
        assert!(p.write.unwrap() + p.wait + p.read <= elapsed, "{p:?}");
        assert_eq!((p.dns, p.dialup), (Duration::ZERO, Duration::ZERO));
    }

    #[tokio::test]
    async fn chunked_bodies_split_across_reads_are_reassembled() {
        let (r, _, open) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n5\r\nhel",
            b"lo\r\n6;ext=1\r\n world\r\n0\r\n",
            b"\r\n",
        ])
        .await;
        let r = r.ok().unwrap();
        assert_eq!(&r.body[..], b"hello world");
        assert_eq!(r.headers["content-type"], "text/event-stream");
        assert!(open);
    }

    #[tokio::test]
    async fn connection_close_and_read_to_end_framing() {
        let (r, _, open) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
        ])
        .await;
        assert_eq!(&r.ok().unwrap().body[..], b"x");
        assert!(!open, "the server said close");
        let (r, _, open) = exchange(vec![b"HTTP/1.0 200 OK\r\n\r\nall of it"]).await;
        assert_eq!(&r.ok().unwrap().body[..], b"all of it");
        assert!(!open);
    }

    #[tokio::test]
    async fn interim_responses_are_skipped_and_garbage_is_a_check_failure() {
        let (r, _, _) = exchange(vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
        ])
        .await;
        assert_eq!(r.ok().unwrap().status, 202);
        let (r, _, _) = exchange(vec![b"SMTP ready\r\n\r\n"]).await;
        assert_eq!(r.err().unwrap().0, ErrorClass::Check);
        let (r, _, _) = exchange(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
        assert_eq!(
            r.err().unwrap().0,
            ErrorClass::Connect,
            "the server hung up mid-body"
        );
    }
}
