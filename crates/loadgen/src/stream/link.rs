//! A live connection of either transport, and the one exchange the workload makes on it: a
//! JSON-RPC request sent, its reply picked out by id from whatever else arrives.

use tokio::time::Instant;

use super::sse::SseLink;
use super::ws::WsLink;
use super::{Headers, StreamTransport};

/// Why an exchange did not get its reply.
#[derive(Debug)]
pub enum LinkError {
    /// The connection is gone (the stream ended, a read or write failed): a drop.
    Lost(String),
    /// The message was refused (a non-2xx answer to the POST); the connection is still up.
    Refused(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Lost(why) | LinkError::Refused(why) => f.write_str(why),
        }
    }
}

pub enum Link {
    Sse(SseLink),
    Ws(WsLink),
}

impl Link {
    pub async fn connect(
        transport: StreamTransport,
        url: &url::Url,
        headers: &Headers,
    ) -> Result<Link, String> {
        match transport {
            StreamTransport::Sse => SseLink::connect(url, headers).await.map(Link::Sse),
            StreamTransport::WebSocket => WsLink::connect(url, headers).await.map(Link::Ws),
        }
    }

    async fn send(&mut self, body: String) -> Result<(), LinkError> {
        match self {
            Link::Sse(l) => l.send(body).await,
            Link::Ws(l) => l.send(body).await,
        }
    }

    async fn recv(&mut self) -> Result<String, LinkError> {
        match self {
            Link::Sse(l) => l.recv().await,
            Link::Ws(l) => l.recv().await,
        }
    }

    /// Sends `body` and waits for the message whose `id` is `id` (replies to earlier, timed-out
    /// requests and notifications are passed over).
    pub async fn exchange(
        &mut self,
        body: String,
        id: u64,
    ) -> Result<serde_json::Value, LinkError> {
        self.send(body).await?;
        loop {
            let text = self.recv().await?;
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if message.get("id").and_then(serde_json::Value::as_u64) == Some(id) {
                return Ok(message);
            }
        }
    }

    /// Waits until `until` while reading what arrives, so that a connection that goes away
    /// between messages is seen when it goes (`Err` at that moment), not at the next send.
    pub async fn idle_until(&mut self, until: Instant) -> Result<(), LinkError> {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return Ok(()),
                received = self.recv() => { received?; }
            }
        }
    }
}
