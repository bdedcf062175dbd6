//! Before any measured traffic: what each MCP endpoint offers (every page of `tools/list`, and
//! of `resources/list` and `prompts/list` when those are exercised), with each call's params
//! pre-rendered from the tools' input schemas — and a refusal, in one line, of an operation the
//! target cannot serve (an unknown tool, no resources, no prompts), which would otherwise fail
//! every iteration without ever waiting on the network.

use std::time::Instant;

use serde_json::Value;

use crate::check::{self, judge_http, judge_jsonrpc};
use crate::context::Wire;
use hyper::header::HeaderValue;

use crate::scenario::{
    Era, McpCall, McpTransport, Protocol, Step, ToolPick, STATELESS_PROTOCOL_VERSION,
};
use crate::vu::VirtualUser;

/// Something a call names — a tool, a resource, a prompt — with its params pre-rendered.
#[derive(Debug, Clone)]
pub struct Callable {
    pub name: String,
    /// The request's params JSON (`_meta` included in the stateless era).
    pub params: String,
    /// Its `Mcp-Name` header in the stateless era.
    pub name_header: HeaderValue,
}

/// What discovery found behind one MCP endpoint, with request parameters pre-rendered in the
/// endpoint's era.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// `{"name":…,"arguments":…}`
    pub tools: Vec<Callable>,
    /// `{"uri":…}`
    pub resources: Vec<Callable>,
    /// `{"name":…,"arguments":…}`
    pub prompts: Vec<Callable>,
    /// The params of a call that takes none: `{}`, or only `_meta` in the stateless era.
    pub bare_params: String,
    era: Era,
}

impl Catalog {
    pub fn new(era: Era) -> Catalog {
        let bare = serde_json::json!({});
        Catalog {
            tools: vec![],
            resources: vec![],
            prompts: vec![],
            bare_params: params_in(era, bare).to_string(),
            era,
        }
    }

    pub fn tool_index(&self, name: &str) -> Option<usize> {
        self.tools.iter().position(|t| t.name == name)
    }

    fn callable(&self, name: &str, params: Value) -> Callable {
        Callable {
            name: name.to_string(),
            params: params_in(self.era, params).to_string(),
            name_header: crate::stateless::name_header(name),
        }
    }
}

/// `params` as a request of `era` sends them.
pub(crate) fn params_in(era: Era, params: Value) -> Value {
    match era {
        Era::Session => params,
        Era::Stateless => crate::stateless::with_meta(params),
    }
}

/// The calls the scenario makes on `endpoint`.
fn calls_on(wire: &Wire, endpoint: usize) -> impl Iterator<Item = &McpCall> {
    wire.scenario
        .tasks
        .iter()
        .flat_map(|t| &t.steps)
        .filter_map(move |s| match s {
            Step::Mcp { endpoint: e, call } if *e == endpoint => Some(call),
            _ => None,
        })
}

/// A catalog per endpoint: discovered where a call needs one (tools/call, resources/read,
/// prompts/get), empty elsewhere; checked against every call the scenario makes.
pub async fn discover_all(wire: &Wire) -> Result<Vec<Catalog>, String> {
    let mut catalogs = Vec::new();
    for endpoint in 0..wire.scenario.endpoints.len() {
        let needed = calls_on(wire, endpoint).any(|c| {
            matches!(
                c,
                McpCall::ToolsCall(_) | McpCall::ResourcesRead | McpCall::PromptsGet
            )
        });
        let catalog = if needed {
            let catalog = discover(wire, endpoint).await?;
            check_calls(wire, endpoint, &catalog)?;
            catalog
        } else {
            Catalog::new(wire.scenario.endpoints[endpoint].era())
        };
        catalogs.push(catalog);
    }
    Ok(catalogs)
}

/// Every call the scenario makes on `endpoint` can be made with what the target offers.
fn check_calls(wire: &Wire, endpoint: usize, catalog: &Catalog) -> Result<(), String> {
    let url = &wire.scenario.endpoints[endpoint].url;
    for call in calls_on(wire, endpoint) {
        let missing = match call {
            McpCall::ToolsCall(ToolPick::Named(name)) if catalog.tool_index(name).is_none() => {
                let known: Vec<&str> = catalog
                    .tools
                    .iter()
                    .take(5)
                    .map(|t| t.name.as_str())
                    .collect();
                Some(format!(
                    "no tool named '{name}' (it lists {}: {}{})",
                    catalog.tools.len(),
                    known.join(", "),
                    if catalog.tools.len() > known.len() {
                        ", …"
                    } else {
                        ""
                    }
                ))
            }
            McpCall::ToolsCall(_) if catalog.tools.is_empty() => Some("no tools".to_string()),
            McpCall::ResourcesRead if catalog.resources.is_empty() => {
                Some("no resources to read".to_string())
            }
            McpCall::PromptsGet if catalog.prompts.is_empty() => {
                Some("no prompts to get".to_string())
            }
            _ => None,
        };
        if let Some(what) = missing {
            return Err(format!(
                "{url} has {what}: {} cannot be performed",
                call.method()
            ));
        }
    }
    Ok(())
}

/// Lists everything behind an MCP endpoint (all pages), and pre-renders the params of each call
/// with arguments synthesised from the tools' input schemas.
async fn discover(wire: &Wire, endpoint: usize) -> Result<Catalog, String> {
    let ep = &wire.scenario.endpoints[endpoint];
    let mut user = VirtualUser::new(u32::MAX, wire, 0);
    let scrub = |why: String| wire.scrubber.scrub(&why).into_owned();
    if matches!(
        ep.transport,
        McpTransport::StreamableHttp(Protocol::Session { .. })
    ) {
        // Discovery always opens a session: a server without sessions simply sends no id.
        let setup = user.open_session((wire, None), endpoint).await;
        if let Some((_, why)) = setup.sample.error {
            return Err(scrub(format!("initialize at {} failed: {why}", ep.url)));
        }
    }
    let mut catalog = Catalog::new(ep.era());
    for tool in list_all(&mut user, wire, endpoint, "tools/list", "tools")
        .await
        .map_err(scrub)?
    {
        let Some(name) = tool["name"].as_str() else {
            continue;
        };
        let args = crate::schema::synthesize_arguments(&tool["inputSchema"]);
        let tool = catalog.callable(name, serde_json::json!({"name": name, "arguments": args}));
        catalog.tools.push(tool);
    }
    let wants = |want: &McpCall| calls_on(wire, endpoint).any(|c| c == want);
    if wants(&McpCall::ResourcesRead) {
        for r in list_all(&mut user, wire, endpoint, "resources/list", "resources")
            .await
            .map_err(scrub)?
        {
            if let Some(uri) = r["uri"].as_str() {
                let resource = catalog.callable(uri, serde_json::json!({"uri": uri}));
                catalog.resources.push(resource);
            }
        }
    }
    if wants(&McpCall::PromptsGet) {
        for p in list_all(&mut user, wire, endpoint, "prompts/list", "prompts")
            .await
            .map_err(scrub)?
        {
            if let Some((name, params)) = prompt_params(&p) {
                let prompt = catalog.callable(name, params);
                catalog.prompts.push(prompt);
            }
        }
    }
    user.close_session((wire, None), endpoint).await;
    Ok(catalog)
}

/// A prompt's name and `prompts/get` params: every argument it declares, filled in.
fn prompt_params(prompt: &Value) -> Option<(&str, Value)> {
    let name = prompt["name"].as_str()?;
    let args: serde_json::Map<String, Value> = prompt["arguments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .map(|n| (n.to_string(), Value::String("mcpbench".into())))
        .collect();
    Some((name, serde_json::json!({"name": name, "arguments": args})))
}

const MAX_DISCOVERY_PAGES: usize = 10_000;

async fn list_all(
    user: &mut VirtualUser,
    wire: &Wire,
    endpoint: usize,
    method: &str,
    key: &str,
) -> Result<Vec<Value>, String> {
    let ep_url = &wire.scenario.endpoints[endpoint].url;
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_DISCOVERY_PAGES {
        let params = match &cursor {
            Some(c) => serde_json::json!({"cursor": c}),
            None => serde_json::json!({}),
        };
        let result = request_result(user, wire, endpoint, method, params).await?;
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

/// One request of `method` on `endpoint`, in the endpoint's era, and its JSON-RPC result — or
/// why there is none.
async fn request_result(
    user: &mut VirtualUser,
    wire: &Wire,
    endpoint: usize,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let ep = &wire.scenario.endpoints[endpoint];
    let id = user.rpc_id();
    let params = params_in(ep.era(), params);
    let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        .to_string();
    let request = user.mcp_request(wire, endpoint, method, None, body);
    let id_text = id.to_string();
    let origin = wire.endpoint_origin[endpoint];
    let (sample, exchange) = user
        .timed((wire, None), origin, None, request, |ex| {
            judge_http(ex, &Default::default())?;
            judge_jsonrpc(ex, Some(&id_text), false)
        })
        .await;
    if let Some((_, why)) = sample.error {
        return Err(format!("{method} at {} failed: {why}", ep.url));
    }
    let ex = exchange.expect("a response without error has an exchange");
    let mut page: Value = check::jsonrpc_message(&ex, Some(&id_text))
        .and_then(|m| serde_json::from_str(&m).ok())
        .ok_or_else(|| format!("{method} at {}: unreadable response", ep.url))?;
    Ok(page["result"].take())
}

/// The era an endpoint announces: the stateless one when it answers a stateless
/// `server/discover` listing [`STATELESS_PROTOCOL_VERSION`], else the session era — with what it
/// answered, for the one-line note of the choice. `wire` has the endpoint, stateless, as its
/// only one.
pub(crate) async fn announced_era(wire: &Wire) -> (Era, String) {
    let mut user = VirtualUser::new(u32::MAX, wire, 0);
    let url = &wire.scenario.endpoints[0].url;
    let result = request_result(&mut user, wire, 0, "server/discover", serde_json::json!({})).await;
    match result {
        Ok(result) => {
            let supported = result["supportedVersions"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v == STATELESS_PROTOCOL_VERSION));
            if supported {
                let why = format!("{url} lists {STATELESS_PROTOCOL_VERSION} in server/discover");
                (Era::Stateless, why)
            } else {
                let listed = result["supportedVersions"].to_string();
                let why = format!("{url} lists only {listed} in server/discover");
                (Era::Session, why)
            }
        }
        Err(why) => (Era::Session, wire.scrubber.scrub(&why).into_owned()),
    }
}

/// Opens (and drops) one TCP connection to every origin the scenario addresses, so a target
/// that is not there at all is one line and exit 3 before any traffic, not a run of failures.
pub async fn probe_origins(wire: &Wire) -> Result<(), String> {
    // Through a proxy, the proxy is what the users connect to.
    let dialled: Vec<&crate::client::Origin> = match &wire.http.proxy {
        Some(proxy) => vec![proxy],
        None => wire.origins.iter().collect(),
    };
    for origin in dialled {
        let started = Instant::now();
        let connect = tokio::net::TcpStream::connect((origin.host.as_str(), origin.port));
        match tokio::time::timeout(wire.http.connect_timeout, connect).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("cannot connect to {}: {e}", origin.authority())),
            Err(_) => {
                return Err(format!(
                    "cannot connect to {}: no answer within {:?}",
                    origin.authority(),
                    started.elapsed()
                ))
            }
        }
    }
    Ok(())
}
