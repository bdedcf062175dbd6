//! The HTTP client of one virtual user: its own keep-alive connection per origin (HTTP/1.1 by
//! default, HTTP/2 on request), TLS with a custom CA, and timing of each exchange to the
//! response head (TTFB) and to the end of the body.
//!
//! HTTP/1.1 goes through our own minimal client (`h1.rs`), HTTP/2 through hyper's connection
//! API; neither uses reqwest: a user owns exactly one connection, so there is no pool to consult
//! on the hot path, and connect failures surface where they happen.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper::{HeaderMap, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use crate::h1::H1;
use crate::phases::Phases;
use crate::recorder::ErrorClass;

/// Connection settings shared by every user of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpOptions {
    pub http2: bool,
    /// Whole-exchange timeout (send, head, body).
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    #[serde(serialize_with = "secs")]
    pub connect_timeout: Duration,
    /// false: a new connection for every request (hey's -disable-keepalive).
    pub keep_alive: bool,
    /// Whose certificates an https target may present.
    pub trust: Trust,
    /// A plain-HTTP proxy (hey's -x): connections go to it and requests carry the absolute
    /// URL; HTTP/1.1 to http:// targets only (no CONNECT tunnel).
    #[serde(serialize_with = "proxy_authority")]
    pub proxy: Option<Origin>,
}

fn proxy_authority<S: serde::Serializer>(p: &Option<Origin>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(origin) => s.serialize_some(&origin.authority()),
        None => s.serialize_none(),
    }
}

/// Which servers a TLS connection trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// The built-in web roots (webpki-roots) only.
    #[default]
    WebRoots,
    /// The web roots and the CA certificates of this PEM file (`--cacert`; the stack's own CA
    /// for the `nginx-tls` tier).
    WithCa(std::path::PathBuf),
    /// Any certificate: nothing is verified but the handshake's own signatures (`--insecure`).
    Insecure,
}

impl Trust {
    /// `--cacert` and `--insecure` as a command line gives them (clap keeps them apart).
    pub fn from_flags(cacert: Option<&std::path::Path>, insecure: bool) -> Trust {
        match (cacert, insecure) {
            (_, true) => Trust::Insecure,
            (Some(path), false) => Trust::WithCa(path.to_path_buf()),
            (None, false) => Trust::WebRoots,
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            http2: false,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            keep_alive: true,
            trust: Trust::WebRoots,
            proxy: None,
        }
    }
}

/// Where requests go: scheme, host and port, checked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(url: &url::Url) -> Result<Origin, String> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(format!(
                    "unsupported scheme '{other}' in {url}: use http or https"
                ))
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => return Err(format!("no host in {url}")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("no port in {url}"))?;
        Ok(Origin { tls, host, port })
    }

    /// The Host header / :authority, with the port only when it is not the default.
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Parses a URL given by a user, with a message that names it.
pub fn parse_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("invalid URL '{text}': {e}"))?;
    Origin::of(&url)?;
    Ok(url)
}

/// TLS settings built once per run.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
}

impl Tls {
    pub fn new(options: &HttpOptions) -> Result<Tls, String> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let mut config = match &options.trust {
            Trust::WebRoots => builder.with_root_certificates(web_roots()),
            Trust::WithCa(path) => builder.with_root_certificates(with_ca_file(path)?),
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))),
        }
        .with_no_client_auth();
        config.alpn_protocols = if options.http2 {
            vec![b"h2".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

fn web_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
}

/// The web roots and every certificate of the PEM file at `path`.
fn with_ca_file(path: &std::path::Path) -> Result<RootCertStore, String> {
    let mut roots = web_roots();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("CA file {} is not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("CA file {} holds no certificate", path.display()));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// `--insecure`: every certificate chain is taken as it comes; the handshake's signatures are
/// still checked (a server must hold the key of the certificate it shows).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A failed TLS handshake in one line; an untrusted certificate says how to trust it.
fn handshake_failure(origin: &Origin, e: &io::Error) -> String {
    let untrusted = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
        .is_some_and(|tls| matches!(tls, TlsError::InvalidCertificate(_)));
    let hint = if untrusted {
        " (the server's certificate is not trusted: --cacert FILE trusts its CA, --insecure \
         skips verification)"
    } else {
        ""
    };
    format!("TLS handshake with {}: {e}{hint}", origin.authority())
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

enum Sender {
    H1(H1<Stream>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One open connection.
pub struct Connection {
    sender: Sender,
    /// Its DNS lookup and whole setup, until the first exchange reports them (a reused
    /// connection's exchanges have none, as in hey).
    setup: Option<(Duration, Duration)>,
}

/// The addresses of `host` and how long the DNS lookup took (none for an IP literal).
async fn resolve(host: &str, port: u16) -> Result<(Vec<SocketAddr>, Duration), Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((vec![SocketAddr::new(ip, port)], Duration::ZERO));
    }
    let start = Instant::now();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| (ErrorClass::Connect, format!("DNS lookup of {host}: {e}")))?
        .collect();
    Ok((addrs, start.elapsed()))
}

/// What came back: enough for checks and timing, nothing kept beyond the body.
#[derive(Debug)]
pub struct Exchange {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Send → response head.
    pub ttfb: Duration,
    /// Send → end of body.
    pub total: Duration,
    /// hey's phases, the connection's setup included when this exchange opened it.
    pub phases: Phases,
}

pub type Failure = (ErrorClass, String);

impl Connection {
    pub async fn open(
        origin: &Origin,
        options: &HttpOptions,
        tls: Option<&Tls>,
    ) -> Result<Connection, Failure> {
        let connect = async {
            let started = Instant::now();
            let dial = options.proxy.as_ref().unwrap_or(origin);
            let (addrs, dns) = resolve(&dial.host, dial.port).await?;
            let tcp = TcpStream::connect(&addrs[..]).await.map_err(|e| {
                (
                    ErrorClass::Connect,
                    format!("connect to {}: {e}", dial.authority()),
                )
            })?;
            let _ = tcp.set_nodelay(true);
            let stream = if origin.tls {
                let tls = tls.ok_or((ErrorClass::Connect, "TLS not configured".to_string()))?;
                let name = ServerName::try_from(origin.host.clone()).map_err(|e| {
                    (
                        ErrorClass::Connect,
                        format!("TLS name {}: {e}", origin.host),
                    )
                })?;
                let s = tls
                    .connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| (ErrorClass::Connect, handshake_failure(origin, &e)))?;
                Stream::Tls(Box::new(s))
            } else {
                Stream::Plain(tcp)
            };
            let handshake_failed = |e: hyper::Error| {
                (
                    ErrorClass::Connect,
                    format!("HTTP handshake with {}: {e}", origin.authority()),
                )
            };
            let sender = if options.http2 {
                let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .map_err(handshake_failed)?;
                tokio::spawn(conn);
                Sender::H2(sender)
            } else {
                Sender::H1(H1::new(stream))
            };
            Ok(Connection {
                sender,
                setup: Some((dns, started.elapsed())),
            })
        };
        match tokio::time::timeout(options.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err((
                ErrorClass::Timeout,
                format!(
                    "connect to {} took over {:?}",
                    origin.authority(),
                    options.connect_timeout
                ),
            )),
        }
    }

    /// False once the server has closed the connection (`Connection: close` after its
    /// keep-alive limit, or closed while idle): the next request then needs a new one, and that
    /// is not a failure.
    pub fn is_open(&mut self) -> bool {
        match &mut self.sender {
            Sender::H1(conn) => conn.is_open(),
            Sender::H2(s) => !s.is_closed(),
        }
    }

    /// Sends `request` and reads the whole response. Errors leave the connection unusable:
    /// the caller drops it and opens another for the next request.
    pub async fn exchange(&mut self, request: Request<Bytes>) -> Result<Exchange, Failure> {
        let start = Instant::now();
        let (dns, dialup) = self.setup.take().unwrap_or_default();
        match &mut self.sender {
            Sender::H1(conn) => {
                let r = conn.exchange(&request).await?;
                Ok(Exchange {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                    ttfb: r.ttfb,
                    total: start.elapsed(),
                    phases: Phases {
                        dns,
                        dialup,
                        ..r.phases
                    },
                })
            }
            Sender::H2(sender) => {
                let broken =
                    |e: hyper::Error| (ErrorClass::Connect, format!("connection failed: {e}"));
                sender.ready().await.map_err(broken)?;
                let response = sender
                    .send_request(request.map(Full::new))
                    .await
                    .map_err(broken)?;
                let ttfb = start.elapsed();
                let (parts, body) = response.into_parts();
                let body = http_body_util::Limited::new(body, crate::h1::MAX_BODY)
                    .collect()
                    .await
                    .map_err(|e| (ErrorClass::Connect, format!("reading the body: {e}")))?
                    .to_bytes();
                let total = start.elapsed();
                Ok(Exchange {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                    ttfb,
                    total,
                    phases: Phases {
                        dns,
                        dialup,
                        write: None,
                        wait: ttfb,
                        read: total - ttfb,
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_once_with_a_message_naming_them() {
        assert!(parse_url("ftp://x/")
            .unwrap_err()
            .contains("unsupported scheme 'ftp'"));
        assert!(parse_url("not a url")
            .unwrap_err()
            .contains("invalid URL 'not a url'"));
        let o = Origin::of(&parse_url("http://127.0.0.1:4444/rpc").unwrap()).unwrap();
        assert_eq!(o.authority(), "127.0.0.1:4444");
        let o = Origin::of(&parse_url("https://[::1]/mcp").unwrap()).unwrap();
        assert_eq!((o.authority().as_str(), o.tls), ("[::1]", true));
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_refused() {
        let dir = std::env::temp_dir().join(format!("loadgen-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let options = HttpOptions {
            trust: Trust::WithCa(path.clone()),
            ..HttpOptions::default()
        };
        let err = Tls::new(&options).err().unwrap();
        assert!(
            err.contains("holds no certificate") || err.contains("not PEM"),
            "{err}"
        );
        let missing = HttpOptions {
            trust: Trust::WithCa(dir.join("missing.pem")),
            ..HttpOptions::default()
        };
        assert!(Tls::new(&missing)
            .err()
            .unwrap()
            .contains("cannot read CA file"));
    }
}
