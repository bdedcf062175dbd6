//! A virtual user: its connections, its MCP sessions, its random stream, and the execution of one
//! iteration — every request timed and recorded once.
//!
//! Latency belongs to the operation the user was scheduled for: an iteration's first scheduled
//! request is measured from the iteration's intended time — the wait for a free user and a
//! session setup before it included — while the session setup (under churn, every iteration) is
//! also its own operation, measured from its own start. Later steps are measured from their own
//! start (they follow the previous step at once).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bench_server::stamp::Stamp;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::attribution::Attributed;
use crate::check::{self, judge_http, judge_jsonrpc, Failure};
use crate::client::{Connection, Exchange};
use crate::context::{RunContext, StepSlot, Wire};
use crate::discovery::Catalog;
use crate::recorder::{ErrorClass, Sample, Trace};
use crate::scenario::{Header, McpCall, McpTransport, Protocol, SessionMode, Step, ToolPick};
use crate::stateless::{self, VERSION_HEADER};
use crate::template::RenderContext;

const SESSION_HEADER: &str = "mcp-session-id";
const ACCEPT_MCP: &str = "application/json, text/event-stream";

/// Connect failures back off this long at first, doubling up to [`MAX_BACKOFF`], jittered.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A top-level string or number field of a JSON body, as text.
fn captured_field(body: &[u8], field: &str) -> Option<String> {
    match serde_json::from_slice::<Value>(body).ok()?.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

struct Session {
    id: Option<HeaderValue>,
    version: HeaderValue,
}

/// An MCP session's setup (initialize + notifications/initialized): its sample, and whether a
/// session came of it.
pub(crate) struct Setup {
    pub sample: Sample,
    pub opened: bool,
}

pub struct VirtualUser {
    pub id: u32,
    rng: SmallRng,
    connections: Vec<Option<Connection>>,
    sessions: Vec<Option<Session>>,
    next_rpc_id: u64,
    iteration: u64,
    round_robin: usize,
    /// This user's class (index into the context's classes).
    pub class: usize,
    /// What a step of the current iteration captured for later steps.
    captured: Option<String>,
    /// Consecutive iterations that could not connect: how long to back off.
    connect_failures: u32,
    /// Per endpoint, the process start of each server that first answered its session.
    bound: Vec<BTreeMap<String, String>>,
}

impl VirtualUser {
    pub fn new(id: u32, wire: &Wire, class: usize) -> Self {
        VirtualUser {
            id,
            // Each user's stream is derived from the run's seed, so a rerun makes the same choices.
            rng: SmallRng::seed_from_u64(
                wire.seed ^ (u64::from(id) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            connections: (0..wire.origins.len()).map(|_| None).collect(),
            sessions: (0..wire.scenario.endpoints.len()).map(|_| None).collect(),
            next_rpc_id: 1,
            iteration: 0,
            round_robin: id as usize,
            class,
            captured: None,
            connect_failures: 0,
            bound: (0..wire.scenario.endpoints.len())
                .map(|_| BTreeMap::new())
                .collect(),
        }
    }

    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    /// One iteration intended at `intended`: a weighted task, its steps in order, each request
    /// recorded (when the iteration is inside the measured window). A measured iteration runs
    /// to its end, in the drain too; after a connect failure the user backs off.
    pub async fn iteration(&mut self, ctx: &RunContext, intended: Instant) {
        let measured = ctx.window.contains(intended);
        self.iteration += 1;
        self.captured = None;
        let task_index = self.pick_task(ctx);
        let task = &ctx.wire.scenario.tasks[task_index];
        // The first scheduled request is measured from here; later ones from their own start.
        let mut measured_from = Some(intended);
        let mut refused = false;
        let mut churned = Vec::new();
        for (step, slot) in task.steps.iter().zip(&ctx.wire.step_slots[task_index]) {
            let sample = match step {
                Step::Http(h) => {
                    let Some(uri) = self.step_uri(slot) else {
                        // What it needed was not captured (its create step failed).
                        continue;
                    };
                    let request = self.http_request(&ctx.wire, slot, h, uri);
                    let (sample, exchange) = self
                        .timed(
                            ctx.wire_and_cutoff(),
                            slot.origin,
                            measured_from,
                            request,
                            |ex| judge_http(ex, &h.expect),
                        )
                        .await;
                    if let (Some(field), Some(ex), None) = (&h.capture, &exchange, &sample.error) {
                        self.captured = captured_field(&ex.body, field);
                    }
                    sample
                }
                Step::Mcp { endpoint, call } => {
                    let ep = &ctx.wire.scenario.endpoints[*endpoint];
                    if ep.session() != SessionMode::None && self.sessions[*endpoint].is_none() {
                        let setup = self.open_session(ctx.wire_and_cutoff(), *endpoint).await;
                        refused |= is_refused(&setup.sample);
                        if let Some(op) = ctx.setup_op {
                            ctx.record(op, measured, setup.sample.clone());
                        }
                        if !setup.opened {
                            // The call it was for cannot be sent: a failure of that call.
                            let since = measured_from.take().unwrap_or_else(Instant::now);
                            ctx.record(slot.op, measured, unsent(since.elapsed(), &setup.sample));
                            continue;
                        }
                        if ep.session() == SessionMode::PerIteration {
                            churned.push(*endpoint);
                        }
                    }
                    self.mcp_call(ctx, *endpoint, call, measured_from).await
                }
            };
            measured_from = None;
            refused |= is_refused(&sample);
            ctx.record(slot.op, measured, sample);
        }
        for endpoint in churned {
            let sample = self.close_session(ctx.wire_and_cutoff(), endpoint).await;
            if let (Some(op), Some(sample)) = (ctx.delete_op, sample) {
                ctx.record(op, measured, sample);
            }
        }
        self.back_off_if(ctx, refused).await;
    }

    /// A user whose target refuses connections waits before trying again (bounded, jittered),
    /// instead of spinning at tens of thousands of failed connects a second.
    async fn back_off_if(&mut self, ctx: &RunContext, refused: bool) {
        if !refused {
            self.connect_failures = 0;
            return;
        }
        let doublings = self.connect_failures.min(16);
        self.connect_failures = self.connect_failures.saturating_add(1);
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF);
        let jittered = backoff.mul_f64(self.rng.gen_range(0.5..1.5));
        ctx.sleep_unless_stopping(jittered).await;
    }

    fn pick_task(&mut self, ctx: &RunContext) -> usize {
        let class = &ctx.classes[self.class];
        let total = *class.cumulative_weights.last().unwrap_or(&0);
        let pick = self.rng.gen_range(0..total.max(1));
        class.tasks[class.cumulative_weights.partition_point(|&w| w <= pick)]
    }

    /// The step's request target; None when it needs a captured value the iteration lacks.
    fn step_uri(&self, slot: &StepSlot) -> Option<Uri> {
        match &slot.captured_target {
            None => Some(slot.uri.clone()),
            Some((prefix, suffix)) => {
                let value = self.captured.as_deref()?;
                format!("{prefix}{value}{suffix}").parse().ok()
            }
        }
    }

    fn http_request(
        &mut self,
        wire: &Wire,
        slot: &StepSlot,
        step: &crate::scenario::HttpStep,
        uri: Uri,
    ) -> Request<Bytes> {
        let body = match (&slot.fixed_body, &step.body) {
            (Some(fixed), _) => fixed.clone(),
            (None, Some(template)) => Bytes::from(self.render(wire, template)),
            (None, None) => Bytes::new(),
        };
        let mut req = self.base_request(wire, slot.origin, step.method.clone(), uri, body);
        self.apply_headers(wire, &mut req, &step.headers);
        req
    }

    fn render(&mut self, wire: &Wire, t: &crate::template::Template) -> String {
        t.render(&mut RenderContext {
            rng: &mut self.rng,
            seq: wire.next_seq(),
            user: self.id,
            iteration: self.iteration,
        })
    }

    fn apply_headers(&mut self, wire: &Wire, req: &mut Request<Bytes>, headers: &[Header]) {
        for h in headers {
            if let Some(fixed) = &h.fixed {
                req.headers_mut().insert(h.name.clone(), fixed.clone());
                continue;
            }
            let value = self.render(wire, &h.value);
            if let Ok(v) = HeaderValue::from_str(&value) {
                req.headers_mut().insert(h.name.clone(), v);
            }
        }
    }

    fn base_request(
        &self,
        wire: &Wire,
        origin: usize,
        method: Method,
        uri: Uri,
        body: Bytes,
    ) -> Request<Bytes> {
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        if !wire.http.http2 {
            req.headers_mut()
                .insert(HOST, wire.authorities[origin].clone());
        }
        req
    }

    /// Sends a request on this user's connection to `origin` (opening it if needed) and judges
    /// the response. It may take the request timeout, and never runs past the drain's
    /// `cutoff`: still unanswered then, it is a timeout with its latency so far. Its corrected
    /// latency counts from `measured_from` (the iteration's intended time), else from its send.
    pub(crate) async fn timed(
        &mut self,
        (wire, cutoff): (&Wire, Option<Instant>),
        origin: usize,
        measured_from: Option<Instant>,
        request: Request<Bytes>,
        judge: impl FnOnce(&Exchange) -> Result<Option<Stamp>, Failure>,
    ) -> (Sample, Option<Exchange>) {
        let start = Instant::now();
        let own_deadline = start + wire.http.timeout;
        let deadline = cutoff.map_or(own_deadline, |c| c.min(own_deadline));
        let result = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            self.send(wire, origin, request),
        )
        .await;
        let end = Instant::now();
        let (exchange, error, stamp) = match result {
            Ok(Ok(ex)) => match judge(&ex) {
                Ok(stamp) => (Some(ex), None, stamp),
                Err(failure) => (Some(ex), Some(failure), None),
            },
            Ok(Err(failure)) => (None, Some(failure), None),
            Err(_) => {
                self.connections[origin] = None;
                let why = if deadline < own_deadline {
                    "no complete response when the run ended (the drain after the window waits up to the request timeout)".to_string()
                } else {
                    format!("no complete response within {:?}", wire.http.timeout)
                };
                (None, Some((ErrorClass::Timeout, why)), None)
            }
        };
        let sample = Sample {
            corrected: end.saturating_duration_since(measured_from.map_or(start, |m| m.min(start))),
            uncorrected: end - start,
            ttfb: exchange.as_ref().map(|e| e.ttfb),
            status: exchange.as_ref().map(|e| e.status),
            bytes: exchange.as_ref().map_or(0, |e| e.body.len() as u64),
            error,
            backend: stamp.map(|stamp| Attributed {
                stamp,
                rebound: false,
            }),
            trace: exchange.as_ref().map(|e| Trace {
                sent: start,
                phases: e.phases,
            }),
        };
        (sample, exchange)
    }

    async fn send(
        &mut self,
        wire: &Wire,
        origin: usize,
        request: Request<Bytes>,
    ) -> Result<Exchange, Failure> {
        let reusable = self.connections[origin]
            .take()
            .and_then(|mut c| c.is_open().then_some(c));
        let mut conn = match reusable {
            Some(c) => c,
            None => Connection::open(&wire.origins[origin], &wire.http, wire.tls.as_ref()).await?,
        };
        let result = conn.exchange(request).await;
        if result.is_ok() && wire.http.keep_alive {
            self.connections[origin] = Some(conn);
        }
        result
    }

    /// A POST of `body` (a request of `method`; `name` what it names, for the stateless era's
    /// `Mcp-Name`) with the headers of the endpoint's era: the session's, or the stateless
    /// era's.
    pub(crate) fn mcp_request(
        &mut self,
        wire: &Wire,
        endpoint: usize,
        method: &str,
        name: Option<&HeaderValue>,
        body: String,
    ) -> Request<Bytes> {
        let ep = &wire.scenario.endpoints[endpoint];
        let mut req = self.base_request(
            wire,
            wire.endpoint_origin[endpoint],
            Method::POST,
            wire.endpoint_uri[endpoint].clone(),
            Bytes::from(body),
        );
        let h = req.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(ACCEPT, HeaderValue::from_static(ACCEPT_MCP));
        if ep.is_stateless() {
            stateless::insert_headers(h, method, name);
        } else if let Some(session) = &self.sessions[endpoint] {
            if let Some(id) = &session.id {
                h.insert(HeaderName::from_static(SESSION_HEADER), id.clone());
            }
            h.insert(
                HeaderName::from_static(VERSION_HEADER),
                session.version.clone(),
            );
        }
        self.apply_headers(wire, &mut req, &ep.headers);
        req
    }

    pub(crate) fn rpc_id(&mut self) -> u64 {
        self.next_rpc_id += 1;
        self.next_rpc_id
    }

    /// The params of `call` and the name it calls, read, or gets; discovery made sure the
    /// catalog has what every call needs.
    fn call_params<'c>(
        &mut self,
        catalog: &'c Catalog,
        call: &McpCall,
    ) -> (&'c str, Option<&'c HeaderValue>) {
        let index = match call {
            McpCall::ToolsCall(ToolPick::Named(name)) => catalog
                .tool_index(name)
                .expect("discovery found every named tool"),
            McpCall::ToolsCall(ToolPick::RoundRobin) => {
                self.round_robin = self.round_robin.wrapping_add(1);
                self.round_robin % catalog.tools.len()
            }
            McpCall::ToolsCall(ToolPick::Random) => self.rng.gen_range(0..catalog.tools.len()),
            McpCall::ResourcesRead => self.rng.gen_range(0..catalog.resources.len()),
            McpCall::PromptsGet => self.rng.gen_range(0..catalog.prompts.len()),
            _ => return (&catalog.bare_params, None),
        };
        let item = match call {
            McpCall::ResourcesRead => &catalog.resources[index],
            McpCall::PromptsGet => &catalog.prompts[index],
            _ => &catalog.tools[index],
        };
        (&item.params, Some(&item.name_header))
    }

    async fn mcp_call(
        &mut self,
        ctx: &RunContext,
        endpoint: usize,
        call: &McpCall,
        measured_from: Option<Instant>,
    ) -> Sample {
        let (params, name) = self.call_params(&ctx.catalogs[endpoint], call);
        let id = self.rpc_id();
        let method = call.method();
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#);
        let request = self.mcp_request(&ctx.wire, endpoint, method, name, body);
        let id_text = id.to_string();
        let tool_call = matches!(call, McpCall::ToolsCall(_));
        let origin = ctx.wire.endpoint_origin[endpoint];
        let (mut sample, exchange) = self
            .timed(
                ctx.wire_and_cutoff(),
                origin,
                measured_from,
                request,
                |ex| {
                    judge_http(ex, &Default::default())?;
                    judge_jsonrpc(ex, Some(&id_text), tool_call)
                },
            )
            .await;
        // A server that forgot our session answers 404: open a new one next time.
        if exchange.is_some_and(|e| e.status == 404) {
            self.sessions[endpoint] = None;
        }
        if let Some(seen) = &mut sample.backend {
            seen.rebound = self.rebound(endpoint, &seen.stamp);
        }
        sample
    }

    /// Whether `stamp` comes from another start of its server than the first reply this
    /// session had from that server (which binds it).
    fn rebound(&mut self, endpoint: usize, stamp: &Stamp) -> bool {
        let bound = &mut self.bound[endpoint];
        match bound.get(stamp.server()) {
            Some(by) => *by != stamp.by,
            None => {
                bound.insert(stamp.server().to_string(), stamp.by.clone());
                false
            }
        }
    }

    /// initialize + notifications/initialized, measured together from their own start.
    pub(crate) async fn open_session(
        &mut self,
        wire_and_cutoff: (&Wire, Option<Instant>),
        endpoint: usize,
    ) -> Setup {
        let wire = wire_and_cutoff.0;
        let ep = &wire.scenario.endpoints[endpoint];
        let McpTransport::StreamableHttp(Protocol::Session { offered, .. }) = &ep.transport else {
            unreachable!("only the session era opens sessions");
        };
        let origin = wire.endpoint_origin[endpoint];
        let id = self.rpc_id();
        let init = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": offered,
            "capabilities": {},
            "clientInfo": {"name": "mcpbench", "version": env!("CARGO_PKG_VERSION")},
        }});
        let request = self.mcp_request(wire, endpoint, "initialize", None, init.to_string());
        let id_text = id.to_string();
        let (mut sample, exchange) = self
            .timed(wire_and_cutoff, origin, None, request, |ex| {
                judge_http(ex, &Default::default())?;
                judge_jsonrpc(ex, Some(&id_text), false)
            })
            .await;
        if let (None, Some(ex)) = (&sample.error, &exchange) {
            let version = check::jsonrpc_message(ex, Some(&id_text))
                .and_then(|m| serde_json::from_str::<Value>(&m).ok())
                .and_then(|v| v["result"]["protocolVersion"].as_str().map(str::to_string))
                .and_then(|v| HeaderValue::from_str(&v).ok())
                .or_else(|| HeaderValue::from_str(offered).ok());
            self.bound[endpoint].clear();
            self.sessions[endpoint] = version.map(|version| Session {
                id: ex.headers.get(SESSION_HEADER).cloned(),
                version,
            });
            let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string();
            let request = self.mcp_request(wire, endpoint, "notifications/initialized", None, note);
            let (second, _) = self
                .timed(wire_and_cutoff, origin, None, request, |ex| {
                    judge_http(ex, &Default::default())
                })
                .await;
            // Two requests timed as one: no single handler time to take from them.
            sample.backend = None;
            sample.trace = None;
            sample.uncorrected += second.uncorrected;
            sample.corrected += second.uncorrected;
            sample.bytes += second.bytes;
            sample.error = second.error;
            if sample.error.is_some() {
                self.sessions[endpoint] = None;
            }
        }
        Setup {
            opened: self.sessions[endpoint].is_some(),
            sample,
        }
    }

    /// Ends a churned session with DELETE (405 means the server keeps no sessions: fine); None
    /// when there was no session id to end.
    pub(crate) async fn close_session(
        &mut self,
        wire_and_cutoff: (&Wire, Option<Instant>),
        endpoint: usize,
    ) -> Option<Sample> {
        let wire = wire_and_cutoff.0;
        let id = self.sessions[endpoint].take()?.id?;
        let ep = &wire.scenario.endpoints[endpoint];
        let origin = wire.endpoint_origin[endpoint];
        let mut req = self.base_request(
            wire,
            origin,
            Method::DELETE,
            wire.endpoint_uri[endpoint].clone(),
            Bytes::new(),
        );
        req.headers_mut()
            .insert(HeaderName::from_static(SESSION_HEADER), id);
        self.apply_headers(wire, &mut req, &ep.headers);
        let expect = crate::scenario::Expect {
            status: vec![200, 202, 204, 405],
            ..Default::default()
        };
        let (sample, _) = self
            .timed(wire_and_cutoff, origin, None, req, |ex| {
                judge_http(ex, &expect)
            })
            .await;
        Some(sample)
    }
}

/// The sample of a call that could not be sent because its session could not be set up:
/// a failure of the call, of the setup's class, with its latency so far.
fn unsent(latency: Duration, setup: &Sample) -> Sample {
    let (class, why) = setup
        .error
        .clone()
        .unwrap_or((ErrorClass::Check, "no session".into()));
    Sample {
        corrected: latency,
        uncorrected: Duration::ZERO,
        ttfb: None,
        status: None,
        bytes: 0,
        error: Some((class, format!("not sent: session setup failed: {why}"))),
        backend: None,
        trace: None,
    }
}

/// A connection the target refused or broke.
fn is_refused(sample: &Sample) -> bool {
    matches!(sample.error, Some((ErrorClass::Connect, _)))
}

impl RunContext {
    /// What [`VirtualUser::timed`] needs: the wire and the drain's cutoff.
    pub(crate) fn wire_and_cutoff(&self) -> (&Wire, Option<Instant>) {
        (&self.wire, self.drain_deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_captured_field_is_read_as_text() {
        assert_eq!(
            captured_field(br#"{"id":"abc","n":3}"#, "id").as_deref(),
            Some("abc")
        );
        assert_eq!(captured_field(br#"{"n":3}"#, "n").as_deref(), Some("3"));
        assert_eq!(captured_field(b"not json", "id"), None);
    }

    #[test]
    fn an_unsent_call_fails_with_its_setups_class_and_carries_the_wait() {
        let setup = Sample {
            corrected: Duration::from_millis(3),
            uncorrected: Duration::from_millis(3),
            ttfb: None,
            status: None,
            bytes: 0,
            error: Some((
                ErrorClass::Connect,
                "connect to 127.0.0.1:1: refused".into(),
            )),
            backend: None,
            trace: None,
        };
        let call = unsent(Duration::from_millis(800), &setup);
        let (class, why) = call.error.unwrap();
        assert_eq!(class, ErrorClass::Connect);
        assert!(why.starts_with("not sent: session setup failed"), "{why}");
        assert_eq!(call.corrected, Duration::from_millis(800));
    }
}
