//! MCP's legacy HTTP+SSE transport (protocol revision 2024-11-05), the one ContextForge's
//! `/servers/<id>/sse` speaks: `GET /sse` opens an event stream whose first event, `endpoint`,
//! names the URL to POST messages to (`/messages?session_id=…`); each POST is answered 202 at
//! once and its JSON-RPC reply arrives later as a `message` event on the stream. It is here so
//! the gateway's SSE tier has a direct baseline.

use bytes::Bytes;
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// The GET path that opens a stream, and the POST path its messages go to.
pub const STREAM_PATH: &str = "/sse";
pub const MESSAGES_PATH: &str = "/messages";

/// Open streams kept per server: beyond it, streams whose client has gone are forgotten first,
/// and a new one is refused while every slot is live (a client opening streams without end must
/// not grow the server without bound).
const MAX_STREAMS: usize = 100_000;
/// Replies queued for one stream before the stream counts as stalled and the POST is refused.
const QUEUE_PER_STREAM: usize = 1024;

/// The open streams of one server, by session id.
#[derive(Default)]
pub struct Streams {
    open: Mutex<HashMap<u128, mpsc::Sender<Bytes>>>,
}

/// Why a POST to the messages endpoint was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such session, or its client has gone (404).
    UnknownSession,
    /// The stream's client is not reading its replies (503).
    Stalled,
}

impl Streams {
    /// Opens a stream: its session id and the receiver its events come out of (the `endpoint`
    /// event already queued), or `None` when every slot holds a live stream.
    pub fn open(&self) -> Option<(u128, mpsc::Receiver<Bytes>)> {
        let id =
            rand::thread_rng().next_u64() as u128 | (rand::thread_rng().next_u64() as u128) << 64;
        let (tx, rx) = mpsc::channel(QUEUE_PER_STREAM);
        let endpoint = format!("event: endpoint\ndata: {MESSAGES_PATH}?session_id={id:032x}\n\n");
        tx.try_send(Bytes::from(endpoint))
            .expect("a new queue has room");
        let mut open = self.open.lock().expect("stream lock");
        if open.len() >= MAX_STREAMS {
            open.retain(|_, tx| !tx.is_closed());
            if open.len() >= MAX_STREAMS {
                return None;
            }
        }
        open.insert(id, tx);
        Some((id, rx))
    }

    /// Room on session `query`'s stream for one reply (a `message` event), taken before the
    /// request is answered 202 so that a reply is never computed for a stream that cannot carry it.
    pub fn reserve(&self, query: Option<&str>) -> Result<mpsc::OwnedPermit<Bytes>, Refusal> {
        let id = query.and_then(session_id).ok_or(Refusal::UnknownSession)?;
        let tx = {
            let mut open = self.open.lock().expect("stream lock");
            match open.get(&id) {
                Some(tx) if tx.is_closed() => {
                    open.remove(&id);
                    return Err(Refusal::UnknownSession);
                }
                Some(tx) => tx.clone(),
                None => return Err(Refusal::UnknownSession),
            }
        };
        tx.try_reserve_owned().map_err(|_| Refusal::Stalled)
    }
}

/// The session id of a query string `session_id=<32 hex digits>`.
fn session_id(query: &str) -> Option<u128> {
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("session_id="))?;
    (value.len() == 32).then(|| u128::from_str_radix(value, 16).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_names_the_messages_endpoint_with_the_session() {
        let streams = Streams::default();
        let (id, mut rx) = streams.open().unwrap();
        let first = rx.try_recv().unwrap();
        let text = std::str::from_utf8(&first).unwrap();
        assert_eq!(
            text,
            format!("event: endpoint\ndata: /messages?session_id={id:032x}\n\n")
        );
        assert_eq!(session_id(&format!("a=1&session_id={id:032x}")), Some(id));
        assert_eq!(session_id("session_id=2a"), None);
    }

    #[test]
    fn a_stream_whose_client_has_gone_is_an_unknown_session() {
        let streams = Streams::default();
        let (id, rx) = streams.open().unwrap();
        drop(rx);
        let query = format!("session_id={id:032x}");
        assert_eq!(
            streams.reserve(Some(&query)).err(),
            Some(Refusal::UnknownSession)
        );
        assert_eq!(streams.reserve(None).err(), Some(Refusal::UnknownSession));
    }
}
