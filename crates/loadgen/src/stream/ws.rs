//! JSON-RPC over WebSocket, client side (ContextForge's `/ws` relay): one text frame per request,
//! one per reply.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use url::Url;

use super::link::LinkError;
use super::Headers;

/// One open WebSocket.
pub struct WsLink {
    socket: WebSocketStream<TcpStream>,
}

impl WsLink {
    /// TCP connect and the opening handshake (HTTP Upgrade, answered 101).
    pub async fn connect(url: &Url, headers: &Headers) -> Result<WsLink, String> {
        let tcp = super::connect_origin(url).await?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("WebSocket request: {e}"))?;
        for (name, value) in headers.iter() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let (socket, _) = tokio_tungstenite::client_async(request, tcp)
            .await
            .map_err(|e| format!("WebSocket handshake: {e}"))?;
        Ok(WsLink { socket })
    }

    pub async fn send(&mut self, body: String) -> Result<(), LinkError> {
        self.socket
            .send(Message::text(body))
            .await
            .map_err(|e| LinkError::Lost(format!("WebSocket send: {e}")))
    }

    /// The next text (or binary) frame; pings are answered by the library as frames are read.
    pub async fn recv(&mut self) -> Result<String, LinkError> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
                Some(Ok(Message::Binary(bytes))) => {
                    return Ok(String::from_utf8_lossy(&bytes).into_owned())
                }
                Some(Ok(Message::Close(frame))) => {
                    let why =
                        frame.map_or_else(String::new, |f| format!(" ({} {})", f.code, f.reason));
                    return Err(LinkError::Lost(format!("the WebSocket was closed{why}")));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(LinkError::Lost(format!("WebSocket: {e}"))),
                None => return Err(LinkError::Lost("the WebSocket ended".into())),
            }
        }
    }
}
