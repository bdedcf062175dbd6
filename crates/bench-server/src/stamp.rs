//! Who answered a request and how long its handler took, in forms that survive a gateway.
//!
//! A gateway makes its own call to the backend and does not forward the backend's HTTP headers,
//! but it does return the tool's result content. So a benchmark tool's JSON text ends with a
//! `"served"` member ([`SERVED_KEY`]: who, handler time, the server's tools/call counter), and
//! every reply sent whole also carries a standard `Server-Timing` header ([`SERVER_TIMING_METRIC`])
//! for calls made straight at the server. This module owns both formats: bench-server writes
//! them, the load engine reads them back with [`from_tool_text`] and [`from_server_timing`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The member of a benchmark tool's JSON text that carries its [`Stamp`].
pub const SERVED_KEY: &str = "served";
/// [`SERVED_KEY`] as it appears in the text, quoted.
const SERVED_MEMBER: &str = "\"served\"";
/// The `Server-Timing` metric of the handler's time (`mcpbench-backend;dur=0.042;desc="0@…"`).
pub const SERVER_TIMING_METRIC: &str = "mcpbench-backend";

/// What a backend says about one reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// `<server index>@<process instance>`: the server of its fleet, and which start of it.
    pub by: String,
    /// From the request's arrival to its result being ready (injected latency included).
    pub handler_us: u64,
    /// This server's tools/call counter after this call (tools/call replies only): the span
    /// of counters a client saw, against the replies it got, tells duplicated backend work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<u64>,
}

impl Stamp {
    pub fn handler(&self) -> Duration {
        Duration::from_micros(self.handler_us)
    }

    /// The server part of `by` (the same server whatever process instance answered).
    pub fn server(&self) -> &str {
        self.by
            .split_once('@')
            .map_or(&self.by, |(server, _)| server)
    }
}

/// One server's identity and its tools/call counter.
#[derive(Debug)]
pub struct Identity {
    by: String,
    tool_calls: AtomicU64,
}

impl Identity {
    /// Server `index` of a process whose start is told apart by `instance` (random per start).
    pub fn new(index: u32, instance: u32) -> Self {
        Identity {
            by: format!("{index}@{instance:08x}"),
            tool_calls: AtomicU64::new(0),
        }
    }

    /// Counts a tools/call and stamps it as of now.
    pub fn stamp_tool_call(&self, arrived: Instant) -> Stamp {
        let call = self.tool_calls.fetch_add(1, Ordering::Relaxed) + 1;
        Stamp {
            call: Some(call),
            ..self.stamp(arrived)
        }
    }

    pub fn stamp(&self, arrived: Instant) -> Stamp {
        Stamp {
            by: self.by.clone(),
            handler_us: arrived.elapsed().as_micros() as u64,
            call: None,
        }
    }

    /// The `Server-Timing` header value for a reply to a request that arrived at `arrived`.
    pub fn server_timing(&self, arrived: Instant) -> String {
        let ms = arrived.elapsed().as_secs_f64() * 1000.0;
        format!("{SERVER_TIMING_METRIC};dur={ms:.3};desc=\"{}\"", self.by)
    }
}

/// The stamp at the end of a tool's JSON text, if it has one.
pub fn from_tool_text(text: &str) -> Option<Stamp> {
    let key = text.rfind(SERVED_MEMBER)?;
    let value = text[key + SERVED_MEMBER.len()..]
        .trim_start()
        .strip_prefix(':')?;
    serde_json::Deserializer::from_str(value)
        .into_iter::<Stamp>()
        .next()?
        .ok()
}

/// The stamp in a `Server-Timing` header value, if it has our metric (no call counter there).
pub fn from_server_timing(header: &str) -> Option<Stamp> {
    let metric = header
        .split(',')
        .map(str::trim)
        .find(|m| m.split(';').next().map(str::trim) == Some(SERVER_TIMING_METRIC))?;
    let mut dur = None;
    let mut by = String::new();
    for param in metric.split(';').skip(1) {
        match param.trim().split_once('=') {
            Some(("dur", ms)) => dur = ms.parse::<f64>().ok(),
            Some(("desc", text)) => by = text.trim_matches('"').to_string(),
            _ => {}
        }
    }
    Some(Stamp {
        by,
        handler_us: (dur? * 1000.0).round() as u64,
        call: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_from_a_tools_text_and_from_the_header() {
        let id = Identity::new(3, 0xabc);
        let arrived = Instant::now() - Duration::from_millis(5);
        let stamp = id.stamp_tool_call(arrived);
        let text = format!(
            r#"{{"tool":"t","data":"x \"served\": no","{SERVED_KEY}":{}}}"#,
            serde_json::to_string(&stamp).unwrap()
        );
        assert_eq!(from_tool_text(&text), Some(stamp.clone()));
        assert_eq!(stamp.by, "3@00000abc");
        assert_eq!(stamp.server(), "3");
        assert_eq!(stamp.call, Some(1));
        assert!(stamp.handler() >= Duration::from_millis(5));
        assert_eq!(id.stamp_tool_call(arrived).call, Some(2));

        let header = format!("cache;desc=x, {}", id.server_timing(arrived));
        let read = from_server_timing(&header).unwrap();
        assert_eq!(read.by, "3@00000abc");
        assert!(read.handler() >= Duration::from_millis(5));
        assert_eq!(read.call, None);
    }

    #[test]
    fn the_quoted_member_is_the_key() {
        assert_eq!(SERVED_MEMBER, format!("\"{SERVED_KEY}\""));
    }

    #[test]
    fn text_and_headers_without_a_stamp_have_none() {
        assert_eq!(from_tool_text("2025-01-15T17:00:00Z"), None);
        assert_eq!(from_tool_text(r#"{"served": 3}"#), None);
        assert_eq!(from_server_timing("app;dur=3.2"), None);
        assert_eq!(from_server_timing("mcpbench-backend;desc=\"0@1\""), None);
    }
}
