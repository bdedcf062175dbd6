//! What one iteration of a virtual user does: a weighted pick among tasks, each a list of steps —
//! plain HTTP requests or MCP calls over Streamable HTTP (sessions, JSON or SSE responses) or a
//! gateway's JSON-RPC `/rpc` endpoint — and how each response is judged.

use serde::Serialize;

use crate::template::{Template, TemplateError};

/// The MCP revision the engine offers in `initialize` unless told otherwise (the server answers
/// with the one it speaks).
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";
/// The revision of the stateless era the engine speaks: no handshake, every request carries its
/// version and the client's capabilities.
pub const STATELESS_PROTOCOL_VERSION: &str = "2026-07-28";

/// Operation name under which MCP session setup (initialize + notifications/initialized) is
/// reported; a churn scenario pays it every iteration.
pub const SESSION_SETUP_OP: &str = "mcp session setup";
/// Operation name of the DELETE that ends a churned session.
pub const SESSION_DELETE_OP: &str = "mcp session delete";

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub tasks: Vec<Task>,
    pub endpoints: Vec<McpEndpoint>,
    /// Locust-style user classes: each user belongs to one (in proportion to the weights) and
    /// runs only that class's tasks, with its own wait. Empty: one class of every task, waiting
    /// as the plan says.
    pub classes: Vec<UserClass>,
}

#[derive(Debug, Clone)]
pub struct UserClass {
    pub name: String,
    pub weight: u32,
    /// Replaces the plan's wait for this class's users (closed model).
    pub wait: Option<crate::plan::Wait>,
    /// Indexes into `Scenario::tasks`.
    pub tasks: Vec<usize>,
}

/// The path placeholder an [`HttpStep`] URL may hold (`/tools/{captured}`): replaced by the value
/// an earlier step of the same iteration captured; without one, the step is not sent.
pub const CAPTURED_PLACEHOLDER: &str = "{captured}";

#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    pub weight: u32,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub enum Step {
    Http(Box<HttpStep>),
    /// An MCP call on `scenario.endpoints[endpoint]`.
    Mcp {
        endpoint: usize,
        call: McpCall,
    },
}

#[derive(Debug, Clone)]
pub struct HttpStep {
    /// Reported operation name, e.g. `GET /health` or `POST /rpc`.
    pub op: String,
    pub method: hyper::Method,
    pub url: url::Url,
    pub headers: Vec<Header>,
    pub body: Option<Template>,
    pub expect: Expect,
    /// Keep this top-level field of a successful JSON response (e.g. a created entity's `id`)
    /// for later steps of the iteration (see [`CAPTURED_PLACEHOLDER`]).
    pub capture: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Header {
    pub name: hyper::header::HeaderName,
    pub value: Template,
    /// The value, built once, when the template has no placeholders (the usual case).
    pub fixed: Option<hyper::header::HeaderValue>,
}

impl Header {
    /// Parses `Name: value` (the value may hold template placeholders).
    pub fn parse(line: &str) -> Result<Header, String> {
        let (name, value) = line
            .split_once(':')
            // Only the first word is echoed: a malformed line may still carry a secret.
            .ok_or_else(|| {
                format!(
                    "invalid header starting '{}': use 'Name: value'",
                    line.split_whitespace().next().unwrap_or("")
                )
            })?;
        let name = hyper::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("invalid header name '{}'", name.trim()))?;
        let value = Template::parse(value.trim())
            .map_err(|e: TemplateError| format!("header {name}: {}", e.reason))?;
        let fixed = value
            .literal()
            .map(|text| {
                hyper::header::HeaderValue::from_str(text).map_err(|_| {
                    format!("header {name}: the value has characters a header cannot carry")
                })
            })
            .transpose()?;
        Ok(Header { name, value, fixed })
    }
}

/// What a response must be to count as a success.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Expect {
    /// Accepted status codes; empty means any 2xx.
    pub status: Vec<u16>,
    /// Judge the body as JSON-RPC: an `error` member or `result.isError` is a failure.
    pub jsonrpc: bool,
    /// The body must contain this text.
    pub body_contains: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McpTransport {
    /// MCP Streamable HTTP (JSON or SSE responses), in either protocol era.
    StreamableHttp(Protocol),
    /// A gateway's plain JSON-RPC endpoint (ContextForge `POST /rpc`): no session.
    JsonRpc,
}

/// How the engine speaks MCP on a Streamable HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// The session era (2025-11-25 and before): `initialize` offering `offered` (the server
    /// answers with the revision it speaks), then requests in its session.
    Session {
        offered: String,
        session: SessionMode,
    },
    /// The stateless era ([`STATELESS_PROTOCOL_VERSION`]): no handshake; every request carries
    /// `_meta` and the revision's headers.
    Stateless,
}

/// The two protocol eras, as runs and reports name them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Era {
    Session,
    Stateless,
}

impl Era {
    pub const ALL: [Era; 2] = [Era::Session, Era::Stateless];

    pub fn name(self) -> &'static str {
        match self {
            Era::Session => "session",
            Era::Stateless => "stateless",
        }
    }

    /// The era in a line: its name and its revision(s).
    pub fn describe(self) -> String {
        match self {
            Era::Session => format!("session era (initialize, {DEFAULT_PROTOCOL_VERSION} offered)"),
            Era::Stateless => format!("stateless era ({STATELESS_PROTOCOL_VERSION})"),
        }
    }

    /// The protocol a workload uses in this era: sessions kept as `session` says in the session
    /// era, none in the stateless one.
    pub fn protocol(self, session: SessionMode) -> Protocol {
        match self {
            Era::Session => Protocol::Session {
                offered: DEFAULT_PROTOCOL_VERSION.to_string(),
                session,
            },
            Era::Stateless => Protocol::Stateless,
        }
    }
}

impl std::fmt::Display for Era {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Era {
    type Err = String;

    fn from_str(text: &str) -> Result<Era, String> {
        match text.trim() {
            "session" => Ok(Era::Session),
            "stateless" | STATELESS_PROTOCOL_VERSION => Ok(Era::Stateless),
            other => Err(format!(
                "unknown protocol era '{other}' (known: session, stateless)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionMode {
    /// One session per user, opened on first use and reopened if the server forgets it.
    PerUser,
    /// A fresh session every iteration, deleted at its end (session churn).
    PerIteration,
    /// No initialize at all (stateless servers; the `/rpc` transport).
    None,
}

#[derive(Debug, Clone)]
pub struct McpEndpoint {
    pub url: url::Url,
    pub transport: McpTransport,
    /// Sent with every request (Authorization, typically).
    pub headers: Vec<Header>,
}

impl McpEndpoint {
    /// How sessions are kept: never on the JSON-RPC transport or in the stateless era.
    pub fn session(&self) -> SessionMode {
        match &self.transport {
            McpTransport::StreamableHttp(Protocol::Session { session, .. }) => *session,
            _ => SessionMode::None,
        }
    }

    pub fn is_stateless(&self) -> bool {
        self.transport == McpTransport::StreamableHttp(Protocol::Stateless)
    }

    /// The era the endpoint is spoken in (the JSON-RPC transport has no handshake, like the
    /// session era without sessions).
    pub fn era(&self) -> Era {
        if self.is_stateless() {
            Era::Stateless
        } else {
            Era::Session
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolPick {
    Named(String),
    /// Each user walks the catalog in order.
    RoundRobin,
    /// Uniformly at random, from the run's seed.
    Random,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpCall {
    ToolsCall(ToolPick),
    ToolsList,
    ResourcesList,
    ResourcesRead,
    ResourceTemplatesList,
    PromptsList,
    PromptsGet,
    Ping,
    /// `server/discover`, the stateless era's own request.
    Discover,
}

impl McpCall {
    pub fn method(&self) -> &'static str {
        match self {
            McpCall::ToolsCall(_) => "tools/call",
            McpCall::ToolsList => "tools/list",
            McpCall::ResourcesList => "resources/list",
            McpCall::ResourcesRead => "resources/read",
            McpCall::ResourceTemplatesList => "resources/templates/list",
            McpCall::PromptsList => "prompts/list",
            McpCall::PromptsGet => "prompts/get",
            McpCall::Ping => "ping",
            McpCall::Discover => "server/discover",
        }
    }

    /// Whether `era` has this method: `ping` is gone from the stateless era, and
    /// `server/discover` is new in it.
    pub fn exists_in(&self, era: Era) -> bool {
        match self {
            McpCall::Ping => era == Era::Session,
            McpCall::Discover => era == Era::Stateless,
            _ => true,
        }
    }

    /// `tools/call`, `tools/call:NAME`, `tools/list`, … as written on a command line.
    pub fn parse(text: &str) -> Result<McpCall, String> {
        Ok(match text {
            "tools/call" | "tools/call:random" => McpCall::ToolsCall(ToolPick::Random),
            "tools/call:round-robin" => McpCall::ToolsCall(ToolPick::RoundRobin),
            t if t.starts_with("tools/call:") => McpCall::ToolsCall(ToolPick::Named(t["tools/call:".len()..].to_string())),
            "tools/list" => McpCall::ToolsList,
            "resources/list" => McpCall::ResourcesList,
            "resources/read" => McpCall::ResourcesRead,
            "resources/templates/list" => McpCall::ResourceTemplatesList,
            "prompts/list" => McpCall::PromptsList,
            "prompts/get" => McpCall::PromptsGet,
            "ping" => McpCall::Ping,
            "server/discover" => McpCall::Discover,
            other => {
                return Err(format!(
                    "unknown MCP operation '{other}' (known: tools/call[:NAME|:random|:round-robin], tools/list, resources/list, resources/read, resources/templates/list, prompts/list, prompts/get, ping, server/discover)"
                ))
            }
        })
    }
}

impl Scenario {
    /// Operation names in report order: each step's, then session setup/delete where used.
    pub fn operation_names(&self) -> Vec<String> {
        let mut ops: Vec<String> = Vec::new();
        let mut push = |name: &str| {
            if !ops.iter().any(|o| o == name) {
                ops.push(name.to_string());
            }
        };
        for step in self.tasks.iter().flat_map(|t| &t.steps) {
            match step {
                Step::Http(h) => push(&h.op),
                Step::Mcp { endpoint, call } => {
                    match self.endpoints[*endpoint].session() {
                        SessionMode::PerUser => push(SESSION_SETUP_OP),
                        SessionMode::PerIteration => {
                            push(SESSION_SETUP_OP);
                            push(SESSION_DELETE_OP);
                        }
                        SessionMode::None => {}
                    }
                    push(call.method());
                }
            }
        }
        ops
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.tasks.is_empty() || self.tasks.iter().all(|t| t.weight == 0) {
            return Err(format!(
                "scenario '{}' has no task with a positive weight",
                self.name
            ));
        }
        if !self.classes.is_empty() && self.classes.iter().all(|c| c.weight == 0) {
            return Err(format!(
                "scenario '{}' has no user class with a positive weight",
                self.name
            ));
        }
        for class in &self.classes {
            if class.tasks.iter().any(|&t| t >= self.tasks.len())
                || (class.weight > 0 && class.tasks.iter().all(|&t| self.tasks[t].weight == 0))
            {
                return Err(format!(
                    "user class '{}' has no task with a positive weight",
                    class.name
                ));
            }
        }
        for task in &self.tasks {
            if task.steps.is_empty() {
                return Err(format!("task '{}' has no steps", task.name));
            }
            for step in &task.steps {
                if let Step::Mcp { endpoint, call } = step {
                    let Some(ep) = self.endpoints.get(*endpoint) else {
                        return Err(format!(
                            "task '{}' names MCP endpoint #{endpoint}, which does not exist",
                            task.name
                        ));
                    };
                    if !call.exists_in(ep.era()) {
                        return Err(format!(
                            "{} does not exist in the {}",
                            call.method(),
                            ep.era().describe()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every secret header value the scenario sends as written (templated ones are scrubbed by
    /// their shape), for scrubbing error messages that echo them.
    pub fn scrubber(&self) -> cli::redact::Scrubber {
        let mut scrubber = cli::redact::Scrubber::default();
        let http_headers = self
            .tasks
            .iter()
            .flat_map(|t| &t.steps)
            .flat_map(|s| match s {
                Step::Http(h) => h.headers.as_slice(),
                Step::Mcp { .. } => &[],
            });
        let endpoint_headers = self.endpoints.iter().flat_map(|e| &e.headers);
        for header in http_headers.chain(endpoint_headers) {
            if let (true, Some(value)) = (
                cli::redact::is_secret_header(header.name.as_str()),
                header.value.literal(),
            ) {
                scrubber.add(value);
            }
        }
        scrubber
    }

    /// A description safe to write into results: header values that carry secrets redacted.
    pub fn describe(&self) -> serde_json::Value {
        let headers = |hs: &[Header]| -> Vec<String> {
            hs.iter()
                .map(|h| {
                    let value = if cli::redact::is_secret_header(h.name.as_str()) {
                        cli::redact::REDACTED
                    } else {
                        "…"
                    };
                    format!("{}: {value}", h.name)
                })
                .collect()
        };
        serde_json::json!({
            "name": self.name,
            "tasks": self.tasks.iter().map(|t| serde_json::json!({
                "name": t.name,
                "weight": t.weight,
                "steps": t.steps.iter().map(|s| match s {
                    Step::Http(h) => serde_json::json!({"op": h.op, "url": h.url.as_str(), "headers": headers(&h.headers), "expect": h.expect}),
                    Step::Mcp { endpoint, call } => serde_json::json!({"endpoint": endpoint, "call": format!("{call:?}")}),
                }).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "classes": self.classes.iter().map(|c| serde_json::json!({
                "name": c.name, "weight": c.weight, "wait": c.wait,
                "tasks": c.tasks.iter().map(|&t| &self.tasks[t].name).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "endpoints": self.endpoints.iter().map(|e| serde_json::json!({
                "url": e.url.as_str(), "transport": e.transport, "era": e.era(),
                "headers": headers(&e.headers),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_header_line_does_not_echo_its_secret() {
        let err = Header::parse("Authorization Bearer secret-value").unwrap_err();
        assert!(!err.contains("secret-value"), "{err}");
    }

    #[test]
    fn mcp_operations_parse_by_method_name() {
        assert_eq!(
            McpCall::parse("tools/call:echo").unwrap(),
            McpCall::ToolsCall(ToolPick::Named("echo".into()))
        );
        assert_eq!(
            McpCall::parse("tools/call").unwrap(),
            McpCall::ToolsCall(ToolPick::Random)
        );
        assert!(McpCall::parse("tools/cal")
            .unwrap_err()
            .contains("unknown MCP operation"));
    }
}
