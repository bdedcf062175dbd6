//! A virtual user: its connections, its MCP sessions, its random stream, and the execution of one
//! iteration — every request timed from its intended send time and recorded once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::check::{self, judge_http, judge_jsonrpc, Failure};
use crate::client::{Connection, Exchange, HttpOptions, Origin, Tls};
use crate::recorder::{ErrorClass, Recorder, Sample};
use crate::scenario::{
    Header, McpCall, McpTransport, Scenario, SessionMode, Step, ToolPick, CAPTURED_PLACEHOLDER,
    SESSION_DELETE_OP, SESSION_SETUP_OP,
};
use crate::template::RenderContext;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const ACCEPT_MCP: &str = "application/json, text/event-stream";

/// What discovery found behind one MCP endpoint, with request parameters pre-rendered.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// (tool name, `{"name":…,"arguments":…}` params JSON)
    pub tools: Vec<(String, String)>,
    /// `{"uri":…}` params JSON
    pub resources: Vec<String>,
    /// `{"name":…,"arguments":…}` params JSON
    pub prompts: Vec<String>,
}

/// A step's fixed parts, computed once per run rather than per request.
struct StepSlot {
    origin: usize,
    op: usize,
    uri: Uri,
    /// The request target around a [`CAPTURED_PLACEHOLDER`] in the path: sent as
    /// prefix + captured value + suffix.
    captured_target: Option<(String, String)>,
    /// The body, when its template has no placeholders.
    fixed_body: Option<Bytes>,
}

/// The request target: origin form for HTTP/1.1 (with a Host header), absolute for HTTP/2.
fn request_uri(url: &url::Url, http2: bool) -> Result<Uri, String> {
    let text = if http2 {
        url.as_str().to_string()
    } else {
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    };
    text.parse()
        .map_err(|e| format!("{url} is not a valid request target: {e}"))
}

/// Everything users share during a run.
pub struct RunContext {
    pub scenario: Scenario,
    pub origins: Vec<Origin>,
    /// Host header value per origin.
    authorities: Vec<HeaderValue>,
    /// Per task, per step: what a request needs that does not change between requests.
    step_slots: Vec<Vec<StepSlot>>,
    /// Per MCP endpoint: origin index and request URI.
    endpoint_origin: Vec<usize>,
    endpoint_uri: Vec<Uri>,
    pub catalogs: Vec<Catalog>,
    setup_op: Option<usize>,
    delete_op: Option<usize>,
    classes: Vec<ClassSlot>,
    /// User id → class, repeating: the classes interleaved in proportion to their weights.
    class_cycle: Vec<usize>,
    pub recorder: Recorder,
    pub http: HttpOptions,
    pub tls: Option<Tls>,
    pub seed: u64,
    /// Process-wide request sequence (templates' `{{seq}}`).
    seq: AtomicU64,
    /// Measured requests still allowed (`max_requests`), or u64::MAX.
    budget: AtomicU64,
    stop: AtomicBool,
    /// Wakes users parked in a wait when the run stops.
    pub stop_signal: tokio::sync::watch::Sender<bool>,
    /// Samples of requests intended before this instant are warm-up and not recorded.
    pub measured_from: Instant,
}

impl RunContext {
    /// A context with empty catalogs and the measured start far away: the engine fills both in
    /// after discovery, before any user starts.
    pub fn new(
        scenario: Scenario,
        recorder: Recorder,
        http: HttpOptions,
        tls: Option<Tls>,
        seed: u64,
        max_requests: Option<u64>,
    ) -> Result<RunContext, String> {
        let mut origins: Vec<Origin> = Vec::new();
        let mut origin_of = |url: &url::Url| -> Result<usize, String> {
            let o = Origin::of(url)?;
            Ok(match origins.iter().position(|x| *x == o) {
                Some(i) => i,
                None => {
                    origins.push(o);
                    origins.len() - 1
                }
            })
        };
        let endpoint_origin = scenario
            .endpoints
            .iter()
            .map(|e| origin_of(&e.url))
            .collect::<Result<Vec<_>, _>>()?;
        let op = |name: &str| {
            recorder
                .op_index(name)
                .ok_or_else(|| format!("operation {name} not registered"))
        };
        let endpoint_uri = scenario
            .endpoints
            .iter()
            .map(|e| request_uri(&e.url, http.http2))
            .collect::<Result<Vec<_>, _>>()?;
        let mut step_slots = Vec::new();
        for task in &scenario.tasks {
            let mut slots = Vec::new();
            for step in &task.steps {
                slots.push(match step {
                    Step::Http(h) => StepSlot {
                        origin: origin_of(&h.url)?,
                        op: op(&h.op)?,
                        uri: request_uri(&h.url, http.http2)?,
                        captured_target: captured_target(&h.url, http.http2),
                        fixed_body: match &h.body {
                            None => Some(Bytes::new()),
                            Some(t) => t.literal().map(|text| Bytes::from(text.to_string())),
                        },
                    },
                    Step::Mcp { endpoint, call } => StepSlot {
                        origin: endpoint_origin[*endpoint],
                        op: op(call.method())?,
                        uri: endpoint_uri[*endpoint].clone(),
                        captured_target: None,
                        fixed_body: None,
                    },
                });
            }
            step_slots.push(slots);
        }
        let authorities = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(&o.authority()).map_err(|e| format!("host {}: {e}", o.host))
            })
            .collect::<Result<_, _>>()?;
        let classes: Vec<ClassSlot> = if scenario.classes.is_empty() {
            vec![ClassSlot::new(
                &scenario,
                (0..scenario.tasks.len()).collect(),
                None,
            )]
        } else {
            scenario
                .classes
                .iter()
                .map(|c| ClassSlot::new(&scenario, c.tasks.clone(), c.wait.clone()))
                .collect()
        };
        let class_weights: Vec<u32> = if scenario.classes.is_empty() {
            vec![1]
        } else {
            scenario.classes.iter().map(|c| c.weight).collect()
        };
        Ok(RunContext {
            setup_op: recorder.op_index(SESSION_SETUP_OP),
            delete_op: recorder.op_index(SESSION_DELETE_OP),
            catalogs: vec![Catalog::default(); scenario.endpoints.len()],
            scenario,
            origins,
            authorities,
            step_slots,
            endpoint_origin,
            endpoint_uri,
            classes,
            class_cycle: interleave(&class_weights),
            recorder,
            http,
            tls,
            seed,
            seq: AtomicU64::new(0),
            budget: AtomicU64::new(max_requests.unwrap_or(u64::MAX)),
            stop: AtomicBool::new(false),
            stop_signal: tokio::sync::watch::Sender::new(false),
            measured_from: Instant::now() + Duration::from_secs(365 * 24 * 3600),
        })
    }

    /// The class user `id` belongs to.
    pub fn class_of(&self, id: u32) -> usize {
        self.class_cycle[id as usize % self.class_cycle.len()]
    }

    /// The wait of a user class, when it has its own.
    pub fn class_wait(&self, class: usize) -> Option<&crate::plan::Wait> {
        self.classes[class].wait.as_ref()
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.stop_signal.send_replace(true);
    }

    /// Takes one request from the measured budget; false (and the run stops) when it is spent.
    fn take_budget(&self) -> bool {
        let took = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .is_ok();
        if !took || self.budget.load(Ordering::Relaxed) == 0 {
            self.request_stop();
        }
        took
    }

    fn record(&self, op: usize, intended: Instant, sample: &Sample) {
        if intended >= self.measured_from {
            self.recorder.record(op, sample);
        }
    }
}

/// A user class as the users see it: its tasks and their cumulative weights.
struct ClassSlot {
    tasks: Vec<usize>,
    cumulative_weights: Vec<u64>,
    wait: Option<crate::plan::Wait>,
}

impl ClassSlot {
    fn new(scenario: &Scenario, tasks: Vec<usize>, wait: Option<crate::plan::Wait>) -> Self {
        let cumulative_weights = tasks
            .iter()
            .scan(0u64, |acc, &t| {
                *acc += u64::from(scenario.tasks[t].weight);
                Some(*acc)
            })
            .collect();
        ClassSlot {
            tasks,
            cumulative_weights,
            wait,
        }
    }
}

/// Smooth weighted round-robin (nginx's): one cycle of length Σweights in which each class
/// appears `weight` times, spread out — so ten users of weights 10:5:3:2 are not all class 0.
fn interleave(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut cycle = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += i64::from(w);
        }
        let best = (0..current.len())
            .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
            .expect("at least one class");
        current[best] -= total;
        cycle.push(best);
    }
    cycle
}

/// A top-level string or number field of a JSON body, as text.
fn captured_field(body: &[u8], field: &str) -> Option<String> {
    match serde_json::from_slice::<Value>(body).ok()?.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Splits a request target at [`CAPTURED_PLACEHOLDER`] (percent-encoded by the URL parser).
fn captured_target(url: &url::Url, http2: bool) -> Option<(String, String)> {
    let text = request_uri(url, http2).ok()?.to_string();
    // The URL parser percent-encodes the braces.
    let encoded = CAPTURED_PLACEHOLDER.replace('{', "%7B").replace('}', "%7D");
    let (prefix, suffix) = text.split_once(&encoded)?;
    Some((prefix.to_string(), suffix.to_string()))
}

struct Session {
    id: Option<HeaderValue>,
    version: HeaderValue,
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
}

/// Whether the user may go on after an iteration.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    Stop,
}

impl VirtualUser {
    pub fn new(id: u32, ctx: &RunContext) -> Self {
        VirtualUser {
            id,
            // Each user's stream is derived from the run's seed, so a rerun makes the same choices.
            rng: SmallRng::seed_from_u64(
                ctx.seed ^ (u64::from(id) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            connections: (0..ctx.origins.len()).map(|_| None).collect(),
            sessions: (0..ctx.scenario.endpoints.len()).map(|_| None).collect(),
            next_rpc_id: 1,
            iteration: 0,
            round_robin: id as usize,
            class: ctx.class_of(id),
            captured: None,
        }
    }

    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    /// One iteration: a weighted task, its steps in order. `intended` is when the schedule
    /// wanted it to start; the first request's latency counts from there.
    pub async fn iteration(&mut self, ctx: &RunContext, intended: Instant) -> Next {
        self.iteration += 1;
        self.captured = None;
        let class = &ctx.classes[self.class];
        let total = *class.cumulative_weights.last().unwrap_or(&0);
        let pick = self.rng.gen_range(0..total.max(1));
        let task_index = class.tasks[class.cumulative_weights.partition_point(|&w| w <= pick)];
        let task = &ctx.scenario.tasks[task_index];
        let mut intended = intended;
        let mut churned = Vec::new();
        for (step, slot) in task.steps.iter().zip(&ctx.step_slots[task_index]) {
            let (origin, op) = (slot.origin, slot.op);
            if ctx.stopped() {
                break;
            }
            match step {
                Step::Http(h) => {
                    let Some(uri) = self.step_uri(slot) else {
                        // What it needed was not captured (its create step failed).
                        continue;
                    };
                    if intended >= ctx.measured_from && !ctx.take_budget() {
                        return Next::Stop;
                    }
                    let request = self.http_request(ctx, slot, h, uri);
                    let (sample, exchange) = self
                        .timed(ctx, origin, intended, request, |ex| {
                            judge_http(ex, &h.expect)
                        })
                        .await;
                    if let (Some(field), Some(ex), None) = (&h.capture, &exchange, &sample.error) {
                        self.captured = captured_field(&ex.body, field);
                    }
                    ctx.record(op, intended, &sample);
                }
                Step::Mcp { endpoint, call } => {
                    let ep = &ctx.scenario.endpoints[*endpoint];
                    if ep.session != SessionMode::None && self.sessions[*endpoint].is_none() {
                        let opened = self.open_session(ctx, *endpoint, intended).await;
                        intended = Instant::now();
                        if opened.is_err() {
                            continue;
                        }
                        if ep.session == SessionMode::PerIteration {
                            churned.push(*endpoint);
                        }
                    }
                    if intended >= ctx.measured_from && !ctx.take_budget() {
                        return Next::Stop;
                    }
                    self.mcp_call(ctx, *endpoint, call, op, intended).await;
                }
            }
            intended = Instant::now();
        }
        for endpoint in churned {
            self.close_session(ctx, endpoint).await;
        }
        if ctx.stopped() {
            Next::Stop
        } else {
            Next::Continue
        }
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
        ctx: &RunContext,
        slot: &StepSlot,
        step: &crate::scenario::HttpStep,
        uri: Uri,
    ) -> Request<Bytes> {
        let body = match (&slot.fixed_body, &step.body) {
            (Some(fixed), _) => fixed.clone(),
            (None, Some(template)) => Bytes::from(self.render(ctx, template)),
            (None, None) => Bytes::new(),
        };
        let mut req = self.base_request(ctx, slot.origin, step.method.clone(), uri, body);
        self.apply_headers(ctx, &mut req, &step.headers);
        req
    }

    fn render(&mut self, ctx: &RunContext, t: &crate::template::Template) -> String {
        let seq = ctx.seq.fetch_add(1, Ordering::Relaxed);
        t.render(&mut RenderContext {
            rng: &mut self.rng,
            seq,
            user: self.id,
            iteration: self.iteration,
        })
    }

    fn apply_headers(&mut self, ctx: &RunContext, req: &mut Request<Bytes>, headers: &[Header]) {
        for h in headers {
            if let Some(fixed) = &h.fixed {
                req.headers_mut().insert(h.name.clone(), fixed.clone());
                continue;
            }
            let value = self.render(ctx, &h.value);
            if let Ok(v) = HeaderValue::from_str(&value) {
                req.headers_mut().insert(h.name.clone(), v);
            }
        }
    }

    fn base_request(
        &self,
        ctx: &RunContext,
        origin: usize,
        method: Method,
        uri: Uri,
        body: Bytes,
    ) -> Request<Bytes> {
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        if !ctx.http.http2 {
            req.headers_mut()
                .insert(HOST, ctx.authorities[origin].clone());
        }
        req
    }

    /// Sends a request on this user's connection to `origin` (opening it if needed), within the
    /// run's timeout, and judges the response.
    async fn timed(
        &mut self,
        ctx: &RunContext,
        origin: usize,
        intended: Instant,
        request: Request<Bytes>,
        judge: impl FnOnce(&Exchange) -> Result<(), Failure>,
    ) -> (Sample, Option<Exchange>) {
        let start = Instant::now();
        let result = tokio::time::timeout(ctx.http.timeout, self.send(ctx, origin, request)).await;
        let end = Instant::now();
        let (exchange, error) = match result {
            Ok(Ok(ex)) => {
                let verdict = judge(&ex).err();
                (Some(ex), verdict)
            }
            Ok(Err(failure)) => (None, Some(failure)),
            Err(_) => {
                self.connections[origin] = None;
                (
                    None,
                    Some((
                        ErrorClass::Timeout,
                        format!("no complete response within {:?}", ctx.http.timeout),
                    )),
                )
            }
        };
        let sample = Sample {
            corrected: end.saturating_duration_since(intended.min(start)),
            uncorrected: end - start,
            ttfb: exchange.as_ref().map(|e| e.ttfb),
            status: exchange.as_ref().map(|e| e.status),
            bytes: exchange.as_ref().map_or(0, |e| e.body.len() as u64),
            error,
        };
        (sample, exchange)
    }

    async fn send(
        &mut self,
        ctx: &RunContext,
        origin: usize,
        request: Request<Bytes>,
    ) -> Result<Exchange, Failure> {
        let mut conn = match self.connections[origin].take().filter(Connection::is_open) {
            Some(c) => c,
            None => Connection::open(&ctx.origins[origin], &ctx.http, ctx.tls.as_ref()).await?,
        };
        let result = conn.exchange(request).await;
        if result.is_ok() && ctx.http.keep_alive {
            self.connections[origin] = Some(conn);
        }
        result
    }

    fn mcp_request(&mut self, ctx: &RunContext, endpoint: usize, body: String) -> Request<Bytes> {
        let ep = &ctx.scenario.endpoints[endpoint];
        let mut req = self.base_request(
            ctx,
            ctx.endpoint_origin[endpoint],
            Method::POST,
            ctx.endpoint_uri[endpoint].clone(),
            Bytes::from(body),
        );
        let h = req.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(ACCEPT, HeaderValue::from_static(ACCEPT_MCP));
        if let Some(session) = &self.sessions[endpoint] {
            if let Some(id) = &session.id {
                h.insert(HeaderName::from_static(SESSION_HEADER), id.clone());
            }
            h.insert(
                HeaderName::from_static(VERSION_HEADER),
                session.version.clone(),
            );
        }
        self.apply_headers(ctx, &mut req, &ep.headers);
        req
    }

    fn rpc_id(&mut self) -> u64 {
        self.next_rpc_id += 1;
        self.next_rpc_id
    }

    async fn mcp_call(
        &mut self,
        ctx: &RunContext,
        endpoint: usize,
        call: &McpCall,
        op: usize,
        intended: Instant,
    ) {
        let catalog = &ctx.catalogs[endpoint];
        let params: Result<&str, String> = match call {
            McpCall::ToolsCall(pick) => {
                let index = match pick {
                    ToolPick::Named(name) => catalog.tools.iter().position(|(n, _)| n == name),
                    ToolPick::RoundRobin if !catalog.tools.is_empty() => {
                        self.round_robin = self.round_robin.wrapping_add(1);
                        Some(self.round_robin % catalog.tools.len())
                    }
                    ToolPick::Random if !catalog.tools.is_empty() => {
                        Some(self.rng.gen_range(0..catalog.tools.len()))
                    }
                    _ => None,
                };
                index
                    .map(|i| catalog.tools[i].1.as_str())
                    .ok_or_else(|| "no such tool was discovered".to_string())
            }
            McpCall::ResourcesRead => self
                .pick(&catalog.resources)
                .ok_or_else(|| "no resources were discovered".into()),
            McpCall::PromptsGet => self
                .pick(&catalog.prompts)
                .ok_or_else(|| "no prompts were discovered".into()),
            _ => Ok("{}"),
        };
        let params = match params {
            Ok(p) => p.to_string(),
            Err(reason) => {
                let sample = Sample {
                    corrected: Duration::ZERO,
                    uncorrected: Duration::ZERO,
                    ttfb: None,
                    status: None,
                    bytes: 0,
                    error: Some((ErrorClass::Check, reason)),
                };
                ctx.record(op, intended, &sample);
                return;
            }
        };
        let id = self.rpc_id();
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{}","params":{params}}}"#,
            call.method()
        );
        let request = self.mcp_request(ctx, endpoint, body);
        let id_text = id.to_string();
        let tool_call = matches!(call, McpCall::ToolsCall(_));
        let origin = ctx.endpoint_origin[endpoint];
        let (sample, exchange) = self
            .timed(ctx, origin, intended, request, |ex| {
                judge_http(ex, &Default::default())?;
                judge_jsonrpc(ex, Some(&id_text), tool_call)
            })
            .await;
        // A server that forgot our session answers 404: open a new one next time.
        if exchange.is_some_and(|e| e.status == 404) {
            self.sessions[endpoint] = None;
        }
        ctx.record(op, intended, &sample);
    }

    fn pick<'c>(&mut self, items: &'c [String]) -> Option<&'c str> {
        (!items.is_empty()).then(|| items[self.rng.gen_range(0..items.len())].as_str())
    }

    /// initialize + notifications/initialized, recorded together as one operation.
    async fn open_session(
        &mut self,
        ctx: &RunContext,
        endpoint: usize,
        intended: Instant,
    ) -> Result<(), String> {
        let ep = &ctx.scenario.endpoints[endpoint];
        let origin = ctx.endpoint_origin[endpoint];
        let id = self.rpc_id();
        let init = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": ep.protocol_version,
            "capabilities": {},
            "clientInfo": {"name": "mcpbench", "version": env!("CARGO_PKG_VERSION")},
        }});
        let request = self.mcp_request(ctx, endpoint, init.to_string());
        let id_text = id.to_string();
        let (mut sample, exchange) = self
            .timed(ctx, origin, intended, request, |ex| {
                judge_http(ex, &Default::default())?;
                judge_jsonrpc(ex, Some(&id_text), false)
            })
            .await;
        if let (None, Some(ex)) = (&sample.error, &exchange) {
            let version = check::jsonrpc_message(ex, Some(&id_text))
                .and_then(|m| serde_json::from_str::<Value>(&m).ok())
                .and_then(|v| v["result"]["protocolVersion"].as_str().map(str::to_string))
                .unwrap_or_else(|| ep.protocol_version.clone());
            self.sessions[endpoint] = Some(Session {
                id: ex.headers.get(SESSION_HEADER).cloned(),
                version: HeaderValue::from_str(&version)
                    .unwrap_or(HeaderValue::from_static("2025-03-26")),
            });
            let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string();
            let request = self.mcp_request(ctx, endpoint, note);
            let (second, _) = self
                .timed(ctx, origin, Instant::now(), request, |ex| {
                    judge_http(ex, &Default::default())
                })
                .await;
            sample.uncorrected += second.uncorrected;
            sample.corrected += second.uncorrected;
            sample.bytes += second.bytes;
            sample.error = second.error;
            if sample.error.is_some() {
                self.sessions[endpoint] = None;
            }
        }
        if let Some(op) = ctx.setup_op {
            ctx.record(op, intended, &sample);
        }
        match sample.error {
            None => Ok(()),
            Some((_, why)) => Err(why),
        }
    }

    /// Ends a churned session with DELETE (405 means the server keeps no sessions: fine).
    async fn close_session(&mut self, ctx: &RunContext, endpoint: usize) {
        let Some(session) = self.sessions[endpoint].take() else {
            return;
        };
        let Some(id) = session.id else { return };
        let ep = &ctx.scenario.endpoints[endpoint];
        let origin = ctx.endpoint_origin[endpoint];
        let mut req = self.base_request(
            ctx,
            origin,
            Method::DELETE,
            ctx.endpoint_uri[endpoint].clone(),
            Bytes::new(),
        );
        req.headers_mut()
            .insert(HeaderName::from_static(SESSION_HEADER), id);
        self.apply_headers(ctx, &mut req, &ep.headers);
        let start = Instant::now();
        let expect = crate::scenario::Expect {
            status: vec![200, 202, 204, 405],
            ..Default::default()
        };
        let (sample, _) = self
            .timed(ctx, origin, start, req, |ex| judge_http(ex, &expect))
            .await;
        if let Some(op) = ctx.delete_op {
            ctx.record(op, start, &sample);
        }
    }
}

/// Lists everything behind an MCP endpoint before the run (all pages), and pre-renders the
/// params of each call with arguments synthesised from the tools' input schemas.
pub async fn discover(ctx: &RunContext, endpoint: usize) -> Result<Catalog, String> {
    let ep = &ctx.scenario.endpoints[endpoint];
    let mut user = VirtualUser::new(u32::MAX, ctx);
    if ep.transport == McpTransport::StreamableHttp {
        // Discovery always opens a session: a stateless server simply sends no id.
        user.open_session(ctx, endpoint, Instant::now())
            .await
            .map_err(|why| format!("initialize at {} failed: {why}", ep.url))?;
    }
    let tools = list_all(&mut user, ctx, endpoint, "tools/list", "tools").await?;
    let mut catalog = Catalog::default();
    for tool in tools {
        let Some(name) = tool["name"].as_str() else {
            continue;
        };
        let args = crate::schema::synthesize_arguments(&tool["inputSchema"]);
        catalog.tools.push((
            name.to_string(),
            serde_json::json!({"name": name, "arguments": args}).to_string(),
        ));
    }
    let needs =
        |want: &McpCall| {
            ctx.scenario.tasks.iter().flat_map(|t| &t.steps).any(
                |s| matches!(s, Step::Mcp { endpoint: e, call } if *e == endpoint && call == want),
            )
        };
    if needs(&McpCall::ResourcesRead) {
        for r in list_all(&mut user, ctx, endpoint, "resources/list", "resources").await? {
            if let Some(uri) = r["uri"].as_str() {
                catalog
                    .resources
                    .push(serde_json::json!({"uri": uri}).to_string());
            }
        }
    }
    if needs(&McpCall::PromptsGet) {
        for p in list_all(&mut user, ctx, endpoint, "prompts/list", "prompts").await? {
            let Some(name) = p["name"].as_str() else {
                continue;
            };
            let args: serde_json::Map<String, Value> = p["arguments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["name"].as_str())
                .map(|n| (n.to_string(), Value::String("mcpbench".into())))
                .collect();
            catalog
                .prompts
                .push(serde_json::json!({"name": name, "arguments": args}).to_string());
        }
    }
    user.close_session(ctx, endpoint).await;
    Ok(catalog)
}

const MAX_DISCOVERY_PAGES: usize = 10_000;

async fn list_all(
    user: &mut VirtualUser,
    ctx: &RunContext,
    endpoint: usize,
    method: &str,
    key: &str,
) -> Result<Vec<Value>, String> {
    let ep_url = ctx.scenario.endpoints[endpoint].url.clone();
    let origin = ctx.endpoint_origin[endpoint];
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_DISCOVERY_PAGES {
        let id = user.rpc_id();
        let params = match &cursor {
            Some(c) => serde_json::json!({"cursor": c}),
            None => serde_json::json!({}),
        };
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
                .to_string();
        let request = user.mcp_request(ctx, endpoint, body);
        let id_text = id.to_string();
        let (sample, exchange) = user
            .timed(ctx, origin, Instant::now(), request, |ex| {
                judge_http(ex, &Default::default())?;
                judge_jsonrpc(ex, Some(&id_text), false)
            })
            .await;
        if let Some((_, why)) = sample.error {
            return Err(format!("{method} at {ep_url} failed: {why}"));
        }
        let ex = exchange.expect("a response without error has an exchange");
        let page: Value = check::jsonrpc_message(&ex, Some(&id_text))
            .and_then(|m| serde_json::from_str(&m).ok())
            .ok_or_else(|| format!("{method} at {ep_url}: unreadable response"))?;
        let result = &page["result"];
        items.extend(result[key].as_array().cloned().unwrap_or_default());
        match result["nextCursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
            _ => return Ok(items),
        }
    }
    Err(format!(
        "{method} at {ep_url}: more than {MAX_DISCOVERY_PAGES} pages"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_interleave_in_proportion_to_their_weights() {
        let cycle = interleave(&[10, 5, 3, 2]);
        assert_eq!(cycle.len(), 20);
        for (class, weight) in [(0, 10), (1, 5), (2, 3), (3, 2)] {
            assert_eq!(cycle.iter().filter(|&&c| c == class).count(), weight);
        }
        // The first ten users already cover every class.
        let mut first: Vec<usize> = cycle[..10].to_vec();
        first.sort();
        first.dedup();
        assert_eq!(first, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_captured_path_splits_around_the_placeholder() {
        let url = url::Url::parse("http://127.0.0.1:1/servers/{captured}/state?x=1").unwrap();
        assert_eq!(
            captured_target(&url, false),
            Some(("/servers/".into(), "/state?x=1".into()))
        );
        assert_eq!(
            captured_target(&url::Url::parse("http://h/tools").unwrap(), false),
            None
        );
        assert_eq!(
            captured_field(br#"{"id":"abc","n":3}"#, "id").as_deref(),
            Some("abc")
        );
        assert_eq!(captured_field(br#"{"n":3}"#, "n").as_deref(), Some("3"));
        assert_eq!(captured_field(b"not json", "id"), None);
    }
}
