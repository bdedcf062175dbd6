//! Long-lived connections: a [`StreamPlan`] holds N connections open over MCP's legacy
//! HTTP+SSE transport or JSON-RPC over WebSocket for a bounded time, each sending one request
//! at a fixed rate and matching its reply by id. Measured: connect time, round trip from the
//! intended send time (HDR, as the engine measures), every intended message answered, failed or
//! counted missing by reason, drops and reconnects, and the connections held each second.
//!
//! Accounting: a connection's messages are intended from its first connect on, every
//! `1/message_rate` seconds, until the window ends; each intended message is answered, failed
//! (JSON-RPC error, tool error, refused, timed out), lost with its connection, missed because
//! its connection was down, or unsent because its connection was still waiting on earlier
//! replies when the window closed — nothing else (`Messages::intended` is their sum).

mod flags;
mod link;
mod results;
mod sse;
mod ws;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde_json::json;
use tokio::time::Instant;
use url::Url;

pub(crate) use flags::main as load_main;
pub use flags::plan_from_args;
use link::{Link, LinkError};
pub use results::{Messages, StreamPoint, StreamResults, STREAM_SCHEMA};

/// Headers sent on every connection (and every POST of the SSE transport).
pub type Headers = Arc<Vec<(HeaderName, HeaderValue)>>;

/// The long-lived transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamTransport {
    /// MCP's legacy HTTP+SSE transport (ContextForge's `/servers/<id>/sse`, bench-server's `/sse`).
    Sse,
    /// JSON-RPC over WebSocket (ContextForge's `/ws`).
    #[serde(rename = "websocket")]
    WebSocket,
}

/// The request each connection sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamMessage {
    Ping,
    /// `tools/call` of this tool with no arguments.
    ToolCall(String),
}

impl StreamMessage {
    pub fn label(&self) -> String {
        match self {
            StreamMessage::Ping => "ping".into(),
            StreamMessage::ToolCall(name) => format!("tools/call:{name}"),
        }
    }

    fn request(&self, id: u64) -> String {
        match self {
            StreamMessage::Ping => json!({"jsonrpc": "2.0", "id": id, "method": "ping"}),
            StreamMessage::ToolCall(name) => json!({
                "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": name, "arguments": {}}
            }),
        }
        .to_string()
    }

    /// Whether `reply` answers the request, else why not (a short, fixed reason).
    fn judge(&self, reply: &serde_json::Value) -> Result<(), &'static str> {
        if reply.get("error").is_some() {
            return Err("json-rpc error");
        }
        let result = reply.get("result").ok_or("no result")?;
        match self {
            StreamMessage::Ping => Ok(()),
            // ContextForge's SSE bridge answers `{}` when its /rpc call failed: no content.
            StreamMessage::ToolCall(_) if result.get("isError") == Some(&json!(true)) => {
                Err("tool error")
            }
            StreamMessage::ToolCall(_) if !result.get("content").is_some_and(|c| c.is_array()) => {
                Err("no content")
            }
            StreamMessage::ToolCall(_) => Ok(()),
        }
    }
}

/// What a stream run does. Bounded: `connections` tasks, each until `duration` has passed (plus
/// at most one `timeout` for the message in flight).
#[derive(Debug, Clone)]
pub struct StreamPlan {
    pub transport: StreamTransport,
    /// SSE: the stream's URL (`…/servers/<id>/sse`, `…/sse`); WebSocket: `ws://…/ws`.
    pub url: Url,
    pub connections: u32,
    /// Messages per second on each connection.
    pub message_rate: f64,
    pub duration: Duration,
    pub message: StreamMessage,
    /// For a connect (up to the usable link) and for each message's reply.
    pub timeout: Duration,
    pub headers: Headers,
}

impl StreamPlan {
    pub fn validate(&self) -> Result<(), String> {
        check_sizes(
            self.connections,
            self.message_rate,
            self.duration,
            self.timeout,
        )?;
        let expected: &[&str] = match self.transport {
            StreamTransport::Sse => &["http"],
            StreamTransport::WebSocket => &["ws"],
        };
        if !expected.contains(&self.url.scheme()) {
            return Err(format!(
                "--transport {} takes a {}:// URL, not '{}'",
                transport_name(self.transport),
                expected[0],
                self.url
            ));
        }
        Ok(())
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.message_rate)
    }
}

/// A TCP connection to `url`'s host and port, Nagle off (each message is one small write).
async fn connect_origin(url: &Url) -> Result<tokio::net::TcpStream, String> {
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("connect {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The bounds of a stream run, checked before any plan has a URL (`--connections`,
/// `--message-rate`, `--duration`, `--timeout`).
pub fn check_sizes(
    connections: u32,
    message_rate: f64,
    duration: Duration,
    timeout: Duration,
) -> Result<(), String> {
    if connections == 0 || connections > 100_000 {
        return Err("--connections must be 1..=100000".into());
    }
    if !(message_rate > 0.0 && message_rate <= 1000.0) {
        return Err("--message-rate must be above 0 and at most 1000 per connection".into());
    }
    if duration.is_zero() || timeout.is_zero() {
        return Err("--duration and --timeout must be longer than zero".into());
    }
    // The SSE transport holds two sockets a connection: its stream and its POSTs'.
    crate::check_descriptors(2 * u64::from(connections))
}

pub fn transport_name(t: StreamTransport) -> &'static str {
    match t {
        StreamTransport::Sse => "sse",
        StreamTransport::WebSocket => "websocket",
    }
}

/// Runs `plan` until its window ends or `stop` resolves (then the messages in flight are
/// counted aborted and the connections closed).
pub async fn run<S>(plan: StreamPlan, stop: S) -> Result<StreamResults, String>
where
    S: std::future::Future<Output = ::cli::Signal>,
{
    plan.validate()?;
    let plan = Arc::new(plan);
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let end = start + plan.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..plan.connections {
        let clock = Clock::new(&plan, index, end);
        tasks.spawn(hold(Arc::clone(&plan), Arc::clone(&shared), clock));
    }
    let sampler = tokio::spawn(results::sample_each_second(Arc::clone(&shared), start));
    // Every task ends by `end + timeout` (one connect or one reply still awaited); the grace
    // past that only guards against a bug turning into a hang.
    let bound = end + plan.timeout + Duration::from_secs(5);
    let mut stopped_by = None;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            joined = tasks.join_next() => if joined.is_none() { break },
            signal = &mut stop, if stopped_by.is_none() => {
                stopped_by = Some(signal);
                shared.stop.store(true, Ordering::Relaxed);
            }
            () = tokio::time::sleep_until(bound) => { tasks.abort_all(); break }
        }
    }
    sampler.abort();
    let series = results::last_point(&shared, start);
    Ok(StreamResults::assemble(
        &plan,
        &shared,
        series,
        start.elapsed(),
        stopped_by,
    ))
}

/// A connection's message schedule: every `interval`, offset by its index so that N
/// connections spread their messages over the interval instead of sending in a burst.
struct Clock {
    phase: Duration,
    interval: Duration,
    end: Instant,
}

impl Clock {
    fn new(plan: &StreamPlan, index: u32, end: Instant) -> Clock {
        let interval = plan.interval();
        Clock {
            phase: interval.mul_f64(f64::from(index) / f64::from(plan.connections)),
            interval,
            end,
        }
    }

    /// The first slot at or after `at`, on the grid anchored at `origin`.
    fn slot_at_or_after(&self, origin: Instant, at: Instant) -> Instant {
        let first = origin + self.phase;
        if at <= first {
            return first;
        }
        let behind = (at - first).as_secs_f64() / self.interval.as_secs_f64();
        first + self.interval.mul_f64(behind.ceil())
    }

    /// Slots in `[from, to)` (messages that were intended while the connection was down).
    fn slots_between(&self, from: Instant, to: Instant) -> u64 {
        let to = to.min(self.end);
        if to <= from {
            return 0;
        }
        ((to - from).as_secs_f64() / self.interval.as_secs_f64()).ceil() as u64
    }
}

/// What every connection task writes into; read once a second and at the end.
#[derive(Default)]
struct Shared {
    held: AtomicI64,
    stop: AtomicBool,
    tally: Mutex<results::Tally>,
    series: Mutex<Vec<StreamPoint>>,
}

impl Shared {
    fn record(&self, f: impl FnOnce(&mut results::Tally)) {
        f(&mut self.tally.lock().expect("tally lock"));
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// One connection for the whole window: connect, exchange messages on schedule, and after a
/// drop reconnect (backing off while the target refuses), until the window ends.
async fn hold(plan: Arc<StreamPlan>, shared: Arc<Shared>, clock: Clock) {
    let mut origin = None;
    let mut down_since: Option<Instant> = None;
    let mut next_slot = Instant::now();
    let mut backoff = BACKOFF_FIRST;
    let mut id = 0u64;
    while Instant::now() < clock.end && !shared.stopped() {
        let began = Instant::now();
        let link = tokio::time::timeout(
            plan.timeout,
            Link::connect(plan.transport, &plan.url, &plan.headers),
        )
        .await
        .unwrap_or_else(|_| Err(format!("no usable connection within {:?}", plan.timeout)));
        let mut link = match link {
            Ok(link) => link,
            Err(why) => {
                shared.record(|t| t.connect_failed(&why));
                let wake = (Instant::now() + backoff).min(clock.end);
                tokio::time::sleep_until(wake).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let connected = Instant::now();
        backoff = BACKOFF_FIRST;
        let origin = *origin.get_or_insert(connected);
        let resumed = clock.slot_at_or_after(origin, connected);
        let missed = down_since.map_or(0, |_| clock.slots_between(next_slot, resumed));
        next_slot = resumed;
        shared.held.fetch_add(1, Ordering::Relaxed);
        shared.record(|t| t.connected(connected - began, down_since.is_some(), missed));
        let lost = converse(&plan, &shared, &clock, &mut link, &mut next_slot, &mut id).await;
        shared.held.fetch_sub(1, Ordering::Relaxed);
        match lost {
            Some(why) => {
                shared.record(|t| t.dropped(&why));
                down_since = Some(Instant::now());
            }
            None => return,
        }
    }
    // Down at the end: what was intended meanwhile was missed.
    if down_since.is_some() {
        let missed = clock.slots_between(next_slot, Instant::now());
        shared.record(|t| t.messages.missed_disconnected += missed);
    }
}

/// Messages on schedule until the window ends (`None`) or the connection goes (`Some(why)`).
async fn converse(
    plan: &StreamPlan,
    shared: &Shared,
    clock: &Clock,
    link: &mut Link,
    next_slot: &mut Instant,
    id: &mut u64,
) -> Option<String> {
    while *next_slot < clock.end {
        if shared.stopped() {
            return None;
        }
        if Instant::now() >= clock.end {
            // Still waiting on earlier replies when the window closed: these were never sent.
            let unsent = clock.slots_between(*next_slot, clock.end);
            shared.record(|t| t.messages.unsent_at_end += unsent);
            return None;
        }
        if let Err(e) = idle(link, *next_slot, shared).await {
            return Some(e.to_string());
        }
        let intended = *next_slot;
        *next_slot += clock.interval;
        *id += 1;
        let exchange = link.exchange(plan.message.request(*id), *id);
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(plan.timeout, exchange) => outcome,
            () = wait_for_stop(shared) => {
                shared.record(|t| t.messages.aborted += 1);
                return None;
            }
        };
        match outcome {
            Ok(Ok(reply)) => match plan.message.judge(&reply) {
                Ok(()) => shared.record(|t| t.answered(Instant::now() - intended)),
                Err(why) => shared.record(|t| t.failed(why)),
            },
            Ok(Err(LinkError::Refused(why))) => shared.record(|t| t.failed_with(&why)),
            Ok(Err(LinkError::Lost(why))) => {
                shared.record(|t| t.messages.lost += 1);
                return Some(why);
            }
            Err(_) => shared.record(|t| t.messages.timed_out += 1),
        }
    }
    // No message is due before the window ends, but the connection is held to the end (a
    // drop meanwhile is seen and the connection reopened), as the plan says.
    idle(link, clock.end, shared)
        .await
        .err()
        .map(|e| e.to_string())
}

/// The link idle until `until` (reading, so a drop is seen when it happens), or until a stop.
async fn idle(link: &mut Link, until: Instant, shared: &Shared) -> Result<(), LinkError> {
    tokio::select! {
        idle = link.idle_until(until) => idle,
        () = wait_for_stop(shared) => Ok(()),
    }
}

async fn wait_for_stop(shared: &Shared) {
    while !shared.stopped() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate: f64) -> StreamPlan {
        StreamPlan {
            transport: StreamTransport::Sse,
            url: Url::parse("http://127.0.0.1:1/sse").unwrap(),
            connections: 4,
            message_rate: rate,
            duration: Duration::from_secs(10),
            message: StreamMessage::Ping,
            timeout: Duration::from_secs(1),
            headers: Headers::default(),
        }
    }

    #[test]
    fn connections_spread_over_the_interval_and_missed_slots_are_counted() {
        let p = plan(2.0);
        let origin = Instant::now();
        let end = origin + p.duration;
        let c1 = Clock::new(&p, 1, end);
        assert_eq!(
            c1.slot_at_or_after(origin, origin),
            origin + Duration::from_millis(125)
        );
        assert_eq!(
            c1.slot_at_or_after(origin, origin + Duration::from_millis(130)),
            origin + Duration::from_millis(625)
        );
        // Down from the 625 ms slot until 1.7 s: the slots at 625 ms, 1125 ms and 1625 ms.
        let resumed = c1.slot_at_or_after(origin, origin + Duration::from_millis(1700));
        assert_eq!(
            c1.slots_between(origin + Duration::from_millis(625), resumed),
            3
        );
        assert_eq!(c1.slots_between(end, end + Duration::from_secs(1)), 0);
    }

    #[test]
    fn a_plan_refuses_a_url_of_the_other_transport_and_a_zero_rate() {
        let mut p = plan(1.0);
        assert!(p.validate().is_ok());
        p.transport = StreamTransport::WebSocket;
        assert!(p.validate().unwrap_err().contains("ws://"));
        p.transport = StreamTransport::Sse;
        p.message_rate = 0.0;
        assert!(p.validate().is_err());
    }

    #[test]
    fn a_tool_reply_without_content_or_with_an_error_is_a_failure() {
        let call = StreamMessage::ToolCall("echo".into());
        assert_eq!(
            call.judge(&json!({"id": 1, "result": {}})),
            Err("no content")
        );
        assert_eq!(
            call.judge(&json!({"id": 1, "result": {"content": [], "isError": true}})),
            Err("tool error")
        );
        assert_eq!(
            call.judge(&json!({"id": 1, "result": {"content": []}})),
            Ok(())
        );
        assert_eq!(
            StreamMessage::Ping.judge(&json!({"id": 1, "error": {"code": -1}})),
            Err("json-rpc error")
        );
    }
}
