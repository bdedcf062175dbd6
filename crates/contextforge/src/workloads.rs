//! ContextForge's Locust user classes as load-engine scenarios: each class with its weight, wait
//! and weighted tasks, on the same endpoints (`tests/loadtest/locustfile*.py` at the gateway's
//! HEAD; see `docs/contextforge.md`). MCP-protocol classes run on any Streamable HTTP endpoint —
//! a bench server directly or a virtual server's `/servers/{id}/mcp` — so one workload can be
//! measured on every tier; the REST classes need the gateway itself.

use loadgen::{
    Era, Expect, Header, HttpStep, McpCall, McpEndpoint, McpTransport, Scenario, SessionMode, Step,
    Task, Template, ToolPick, UserClass, Wait,
};

/// Which side of the gateway a class exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    /// MCP over Streamable HTTP: runs on every tier.
    Mcp,
    /// The gateway's REST, `/rpc` and admin endpoints.
    Rest,
}

/// A user class: its Locust name, weight and wait.
#[derive(Debug, Clone, Copy)]
pub struct ClassInfo {
    pub name: &'static str,
    pub kind: ClassKind,
    pub weight: u32,
    pub wait: WaitSpec,
    /// Only meaningful with the admin UI on (`MCPGATEWAY_UI_ENABLED=true`).
    pub needs_ui: bool,
}

/// Locust's `wait_time` functions, as constants.
#[derive(Debug, Clone, Copy)]
pub enum WaitSpec {
    Between(f64, f64),
    ConstantThroughput(f64),
}

impl WaitSpec {
    pub fn to_wait(self) -> Wait {
        match self {
            WaitSpec::Between(min_secs, max_secs) => Wait::Between { min_secs, max_secs },
            WaitSpec::ConstantThroughput(per_sec) => Wait::ConstantThroughput { per_sec },
        }
    }
}

const fn class(
    name: &'static str,
    kind: ClassKind,
    weight: u32,
    wait: WaitSpec,
    needs_ui: bool,
) -> ClassInfo {
    ClassInfo {
        name,
        kind,
        weight,
        wait,
        needs_ui,
    }
}

use ClassKind::{Mcp, Rest};
use WaitSpec::{Between, ConstantThroughput};

/// Every class this module can build, with the Locust files' weights and waits.
pub const CLASSES: &[ClassInfo] = &[
    class("MCPAgentUser", Mcp, 10, Between(0.05, 0.3), false),
    class("MCPToolCallerUser", Mcp, 5, Between(0.02, 0.1), false),
    class("MCPDiscoveryUser", Mcp, 3, Between(0.05, 0.2), false),
    class("MCPSessionChurnUser", Mcp, 2, Between(0.1, 0.3), false),
    class("MCPStressUser", Mcp, 1, ConstantThroughput(5.0), false),
    class("HealthCheckUser", Rest, 1, Between(1.0, 3.0), false),
    class("ReadOnlyAPIUser", Rest, 5, Between(0.3, 1.5), false),
    class("AdminUIUser", Rest, 3, Between(1.0, 3.0), true),
    class("MCPJsonRpcUser", Rest, 4, Between(0.2, 1.0), false),
    class("WriteAPIUser", Rest, 1, Between(2.0, 5.0), false),
    class("StressTestUser", Rest, 1, ConstantThroughput(2.0), false),
    class("FastTimeUser", Rest, 5, Between(0.1, 0.5), false),
    class("RealisticUser", Rest, 10, Between(0.5, 2.0), false),
    class(
        "HighThroughputUser",
        Rest,
        1,
        ConstantThroughput(2.0),
        false,
    ),
];

/// The seed's "User Classes" table (`performance-testing.md`): its weights, which differ from
/// the locustfile's. `HighThroughputUser` has none there ("-", a file of its own) and the
/// MCP-protocol classes are not in it: they keep their locustfile weight under either table.
pub const SEED_WEIGHTS: &[(&str, u32)] = &[
    ("HealthCheckUser", 5),
    ("ReadOnlyAPIUser", 30),
    ("AdminUIUser", 10),
    ("MCPJsonRpcUser", 15),
    ("WriteAPIUser", 5),
    ("StressTestUser", 1),
    ("FastTimeUser", 20),
    ("RealisticUser", 10),
];

/// Which table a class's default weight comes from (`--class-weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightTable {
    /// The gateway's current locustfiles ([`CLASSES`]).
    #[default]
    Locustfile,
    /// The seed's table ([`SEED_WEIGHTS`]) where it lists the class.
    Seed,
}

impl WeightTable {
    pub fn parse(text: &str) -> Result<WeightTable, String> {
        match text.trim() {
            "locustfile" => Ok(WeightTable::Locustfile),
            "seed" => Ok(WeightTable::Seed),
            other => Err(format!(
                "unknown --class-weights '{other}': locustfile (the gateway's locustfiles) or seed (the seed's User Classes table)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WeightTable::Locustfile => "locustfile",
            WeightTable::Seed => "seed",
        }
    }

    /// The class's weight in this table.
    pub fn weight(self, class: &ClassInfo) -> u32 {
        match self {
            WeightTable::Locustfile => class.weight,
            WeightTable::Seed => SEED_WEIGHTS
                .iter()
                .find(|(name, _)| *name == class.name)
                .map_or(class.weight, |&(_, w)| w),
        }
    }
}

pub fn find_class(name: &str) -> Option<&'static ClassInfo> {
    CLASSES.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// A class picked for a run, with its weight (the class's own unless overridden).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassPick {
    pub name: &'static str,
    pub weight: u32,
}

/// Parses Locust's class picker as a list: `MCPToolCallerUser,MCPAgentUser:3` (`:N` overrides
/// the weight; else `table`'s). Every class must be of `kind`.
pub fn parse_class_picks(
    text: &str,
    kind: ClassKind,
    table: WeightTable,
) -> Result<Vec<ClassPick>, String> {
    let mut picks = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, weight) = match item.split_once(':') {
            Some((n, w)) => (
                n.trim(),
                Some(w.trim().parse::<u32>().map_err(|_| {
                    format!("user class '{item}': weight '{w}' is not a whole number")
                })?),
            ),
            None => (item, None),
        };
        let info = find_class(name).ok_or_else(|| {
            format!(
                "unknown user class '{name}' (known: {})",
                CLASSES
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if info.kind != kind {
            return Err(format!(
                "user class '{}' is a {} class and cannot go in the {} list",
                info.name,
                kind_name(info.kind),
                kind_name(kind)
            ));
        }
        picks.push(ClassPick {
            name: info.name,
            weight: weight.unwrap_or(table.weight(info)),
        });
    }
    if picks.is_empty() {
        return Err(format!("no {} user class given", kind_name(kind)));
    }
    if picks.iter().all(|p| p.weight == 0) {
        return Err("every picked user class has weight 0".into());
    }
    Ok(picks)
}

fn kind_name(kind: ClassKind) -> &'static str {
    match kind {
        Mcp => "MCP",
        Rest => "REST",
    }
}

/// The default picks: every class of `kind` (the UI classes only when the UI is on), weighted
/// by `table`.
pub fn default_picks(kind: ClassKind, ui_enabled: bool, table: WeightTable) -> Vec<ClassPick> {
    CLASSES
        .iter()
        .filter(|c| c.kind == kind && (ui_enabled || !c.needs_ui))
        .map(|c| ClassPick {
            name: c.name,
            weight: table.weight(c),
        })
        .collect()
}

/// Builds the MCP workload on one Streamable HTTP endpoint, spoken in `era`. `headers` go with
/// every request (the bearer token through the gateway; nothing for a bench server). The
/// stateless era has no sessions (the churn class's lifecycle is its two requests) and no
/// `ping`: its tasks send `server/discover`, the era's cheapest round trip, instead.
pub fn mcp_scenario(
    url: url::Url,
    headers: Vec<Header>,
    picks: &[ClassPick],
    era: Era,
) -> Result<Scenario, String> {
    let endpoint = |session| McpEndpoint {
        url: url.clone(),
        transport: McpTransport::StreamableHttp(era.protocol(session)),
        headers: headers.clone(),
    };
    // Endpoint 0 keeps a session per user; endpoint 1 opens one per iteration (churn).
    let endpoints = vec![
        endpoint(SessionMode::PerUser),
        endpoint(SessionMode::PerIteration),
    ];
    let mcp = |call: McpCall| Step::Mcp { endpoint: 0, call };
    let call = || mcp(McpCall::ToolsCall(ToolPick::Random));
    let ping = || match era {
        Era::Session => mcp(McpCall::Ping),
        Era::Stateless => mcp(McpCall::Discover),
    };
    let mut builder = ScenarioBuilder::default();
    for pick in picks {
        let tasks: Vec<(&str, u32, Vec<Step>)> = match pick.name {
            "MCPAgentUser" => vec![
                ("agent_call_tool", 15, vec![call()]),
                // randint(2, 3) tools per turn: half of the turns each.
                ("agent_multi_tool_turn[2]", 4, vec![call(), call()]),
                ("agent_multi_tool_turn[3]", 4, vec![call(), call(), call()]),
                ("agent_list_tools", 5, vec![mcp(McpCall::ToolsList)]),
                ("agent_list_resources", 2, vec![mcp(McpCall::ResourcesList)]),
                ("agent_list_prompts", 2, vec![mcp(McpCall::PromptsList)]),
                ("agent_read_resource", 1, vec![mcp(McpCall::ResourcesRead)]),
                ("agent_get_prompt", 1, vec![mcp(McpCall::PromptsGet)]),
                ("agent_ping", 1, vec![ping()]),
            ],
            "MCPToolCallerUser" => vec![
                ("call_tool", 20, vec![call()]),
                ("list_tools", 1, vec![mcp(McpCall::ToolsList)]),
            ],
            "MCPDiscoveryUser" => vec![
                ("list_tools", 10, vec![mcp(McpCall::ToolsList)]),
                ("list_resources", 8, vec![mcp(McpCall::ResourcesList)]),
                ("list_prompts", 8, vec![mcp(McpCall::PromptsList)]),
                (
                    "list_resource_templates",
                    5,
                    vec![mcp(McpCall::ResourceTemplatesList)],
                ),
                ("read_resource", 3, vec![mcp(McpCall::ResourcesRead)]),
                ("get_prompt", 3, vec![mcp(McpCall::PromptsGet)]),
            ],
            "MCPSessionChurnUser" => vec![(
                "full_lifecycle",
                10,
                vec![
                    Step::Mcp {
                        endpoint: 1,
                        call: McpCall::ToolsList,
                    },
                    Step::Mcp {
                        endpoint: 1,
                        call: McpCall::ToolsCall(ToolPick::Random),
                    },
                ],
            )],
            "MCPStressUser" => vec![
                ("stress_call_tool", 10, vec![call()]),
                ("stress_list_tools", 3, vec![mcp(McpCall::ToolsList)]),
                ("stress_ping", 1, vec![ping()]),
            ],
            other => return Err(format!("'{other}' is not an MCP user class")),
        };
        builder.add_class(pick, tasks);
    }
    builder.finish("mcp", endpoints)
}

/// What the REST classes address: ids and names read from the gateway before the run (Locust's
/// classes pick them at start too). A task whose entity is missing is left out, with a note.
#[derive(Debug, Clone, Default)]
pub struct GatewayEntities {
    pub tool_id: Option<String>,
    /// A namespaced benchmark tool (`benchmark-9000-benchmark-tool-0`).
    pub tool_name: Option<String>,
    /// The time tools of a bench server behind the gateway (FastTimeUser's targets).
    pub time_tool_name: Option<String>,
    pub convert_tool_name: Option<String>,
    pub server_id: Option<String>,
    pub gateway_id: Option<String>,
    pub resource_id: Option<String>,
    pub resource_uri: Option<String>,
    pub prompt_id: Option<String>,
    pub prompt_name: Option<String>,
}

impl GatewayEntities {
    /// Every entity present (with stand-in values): the full REST workload's operations.
    fn every_kind() -> GatewayEntities {
        let some = || Some("placeholder".to_string());
        GatewayEntities {
            tool_id: some(),
            tool_name: some(),
            time_tool_name: some(),
            convert_tool_name: some(),
            server_id: some(),
            gateway_id: some(),
            resource_id: some(),
            resource_uri: some(),
            prompt_id: some(),
            prompt_name: some(),
        }
    }
}

/// The operations a workload of these classes reports (every task's, as if every entity were
/// there, in either era), for checking thresholds' operation scopes before anything runs.
/// Operation names do not depend on where the workload goes, so it is built against a stand-in
/// address that is never contacted.
pub fn operation_names(kind: ClassKind, picks: &[ClassPick]) -> Result<Vec<String>, String> {
    let nowhere = url::Url::parse("http://127.0.0.1:9/").expect("a valid URL");
    let scenarios = match kind {
        ClassKind::Mcp => Era::ALL
            .into_iter()
            .map(|era| mcp_scenario(nowhere.clone(), vec![], picks, era))
            .collect::<Result<Vec<_>, _>>()?,
        ClassKind::Rest => {
            vec![rest_scenario(&nowhere, "-", picks, &GatewayEntities::every_kind())?.0]
        }
    };
    let mut names: Vec<String> = Vec::new();
    for name in scenarios.iter().flat_map(Scenario::operation_names) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The REST workload against the gateway at `base`, authenticated with `token`. Returns the
/// scenario and notes on tasks left out for want of an entity.
pub fn rest_scenario(
    base: &url::Url,
    token: &str,
    picks: &[ClassPick],
    entities: &GatewayEntities,
) -> Result<(Scenario, Vec<String>), String> {
    let auth = Header::parse(&format!("Authorization: Bearer {token}"))?;
    let json = Header::parse("Content-Type: application/json")?;
    let mut notes = Vec::new();
    let mut builder = ScenarioBuilder::default();
    let rest = RestSteps {
        base,
        headers: vec![auth, json],
    };
    for pick in picks {
        let mut tasks: Vec<(&str, u32, Vec<Step>)> = Vec::new();
        let mut add =
            |name: &'static str, weight: u32, steps: Result<Vec<Step>, String>| match steps {
                Ok(steps) => tasks.push((name, weight, steps)),
                Err(missing) => notes.push(format!("{}.{name} left out: {missing}", pick.name)),
            };
        let e = entities;
        match pick.name {
            "HealthCheckUser" => health_check_user(&rest, e, &mut add),
            "ReadOnlyAPIUser" => read_only_api_user(&rest, e, &mut add),
            "AdminUIUser" => admin_ui_user(&rest, e, &mut add),
            "MCPJsonRpcUser" => mcp_json_rpc_user(&rest, e, &mut add),
            "WriteAPIUser" => write_api_user(&rest, e, &mut add),
            "StressTestUser" => stress_test_user(&rest, e, &mut add),
            "FastTimeUser" => fast_time_user(&rest, e, &mut add),
            "RealisticUser" => realistic_user(&rest, e, &mut add),
            "HighThroughputUser" => high_throughput_user(&rest, e, &mut add),
            other => return Err(format!("'{other}' is not a REST user class")),
        }
        builder.add_class(pick, tasks);
    }
    Ok((builder.finish("rest", vec![])?, notes))
}

/// Adds a task of a REST class (or notes why it is left out).
type AddTask<'a> = dyn FnMut(&'static str, u32, Result<Vec<Step>, String>) + 'a;

/// HealthCheckUser's tasks.
fn health_check_user(rest: &RestSteps<'_>, _: &GatewayEntities, add: &mut AddTask<'_>) {
    add("health_check", 10, rest.get("/health", "/health"));
    add("readiness_check", 5, rest.get("/ready", "/ready"));
    add("metrics_endpoint", 2, rest.get("/metrics", "/metrics"));
    add(
        "openapi_schema",
        1,
        rest.get("/openapi.json", "/openapi.json"),
    );
}

/// ReadOnlyAPIUser's tasks.
fn read_only_api_user(rest: &RestSteps<'_>, e: &GatewayEntities, add: &mut AddTask<'_>) {
    add("list_tools", 10, rest.get("/tools", "/tools"));
    add("list_servers", 8, rest.get("/servers", "/servers"));
    add("list_gateways", 6, rest.get("/gateways", "/gateways"));
    add("list_resources", 5, rest.get("/resources", "/resources"));
    add("list_prompts", 5, rest.get("/prompts", "/prompts"));
    add("list_a2a_agents", 4, rest.get("/a2a", "/a2a"));
    add("list_tags", 3, rest.get("/tags", "/tags"));
    add("get_metrics", 2, rest.get("/metrics", "/metrics [api]"));
    add(
        "get_single_tool",
        3,
        rest.get_entity("/tools/", &e.tool_id, "", "/tools/[id]"),
    );
    add(
        "get_single_server",
        3,
        rest.get_entity("/servers/", &e.server_id, "", "/servers/[id]"),
    );
    add(
        "get_single_gateway",
        2,
        rest.get_entity("/gateways/", &e.gateway_id, "", "/gateways/[id]"),
    );
    add("list_roots", 2, rest.get("/roots", "/roots"));
    add(
        "get_single_resource",
        2,
        rest.get_entity("/resources/", &e.resource_id, "", "/resources/[id]"),
    );
    add(
        "get_single_prompt",
        2,
        rest.get_entity("/prompts/", &e.prompt_id, "", "/prompts/[id]"),
    );
    add(
        "get_server_tools",
        2,
        rest.get_entity("/servers/", &e.server_id, "/tools", "/servers/[id]/tools"),
    );
    add(
        "get_server_resources",
        2,
        rest.get_entity(
            "/servers/",
            &e.server_id,
            "/resources",
            "/servers/[id]/resources",
        ),
    );
    add(
        "well_known_robots",
        1,
        rest.get_any("/.well-known/robots.txt", "/.well-known/robots.txt"),
    );
    add(
        "well_known_security",
        1,
        rest.get_any("/.well-known/security.txt", "/.well-known/security.txt"),
    );
}

/// AdminUIUser's tasks.
fn admin_ui_user(rest: &RestSteps<'_>, _: &GatewayEntities, add: &mut AddTask<'_>) {
    for (name, weight, path) in [
        ("admin_dashboard", 10, "/admin/"),
        ("admin_tools_page", 8, "/admin/tools"),
        ("admin_servers_page", 7, "/admin/servers"),
        ("admin_gateways_page", 6, "/admin/gateways"),
        ("admin_resources_page", 5, "/admin/resources"),
        ("admin_prompts_page", 5, "/admin/prompts"),
        ("admin_performance", 3, "/admin/performance/stats"),
        ("admin_metrics", 2, "/admin/metrics"),
    ] {
        add(name, weight, rest.get(path, path));
    }
}

/// MCPJsonRpcUser's tasks.
fn mcp_json_rpc_user(rest: &RestSteps<'_>, e: &GatewayEntities, add: &mut AddTask<'_>) {
    add(
        "rpc_list_tools",
        10,
        rest.rpc("tools/list", "{}", "/rpc tools/list"),
    );
    add(
        "rpc_list_resources",
        8,
        rest.rpc("resources/list", "{}", "/rpc resources/list"),
    );
    add(
        "rpc_list_prompts",
        8,
        rest.rpc("prompts/list", "{}", "/rpc prompts/list"),
    );
    add(
        "rpc_call_tool",
        5,
        rest.rpc_call(&e.tool_name, "{}", "/rpc tools/call"),
    );
    add(
        "rpc_read_resource",
        4,
        need(&e.resource_uri, "a resource").and_then(|uri| {
            rest.rpc(
                "resources/read",
                &format!(r#"{{"uri":{}}}"#, json_string(uri)),
                "/rpc resources/read",
            )
        }),
    );
    add(
        "rpc_get_prompt",
        4,
        need(&e.prompt_name, "a prompt").and_then(|name| {
            rest.rpc(
                "prompts/get",
                &format!(r#"{{"name":{},"arguments":{{}}}}"#, json_string(name)),
                "/rpc prompts/get",
            )
        }),
    );
    add(
        "rpc_initialize",
        3,
        rest.rpc(
            "initialize",
            &format!(r#"{{"protocolVersion":"{}","capabilities":{{}},"clientInfo":{{"name":"mcpbench","version":"1"}}}}"#, loadgen::DEFAULT_PROTOCOL_VERSION),
            "/rpc initialize",
        ),
    );
    add("rpc_ping", 2, rest.rpc("ping", "{}", "/rpc ping"));
    add(
        "rpc_list_resource_templates",
        3,
        rest.rpc(
            "resources/templates/list",
            "{}",
            "/rpc resources/templates/list",
        ),
    );
    add(
        "protocol_initialize",
        2,
        rest.post(
            "/protocol/initialize",
            &format!(r#"{{"protocol_version":"{}","capabilities":{{}},"client_info":{{"name":"mcpbench","version":"1"}}}}"#, loadgen::DEFAULT_PROTOCOL_VERSION),
            "/protocol/initialize",
            false,
        ),
    );
    add(
        "protocol_ping",
        2,
        rest.post(
            "/protocol/ping",
            r#"{"jsonrpc":"2.0","id":"1","method":"ping"}"#,
            "/protocol/ping",
            false,
        ),
    );
}

/// WriteAPIUser's tasks.
fn write_api_user(rest: &RestSteps<'_>, e: &GatewayEntities, add: &mut AddTask<'_>) {
    add(
        "create_and_delete_tool",
        5,
        rest.create_and_delete(
            "/tools",
            r#"{"tool":{"name":"mcpbench-write-{{uuid}}","url":"http://127.0.0.1:9/none","description":"mcpbench write test","integration_type":"REST","request_type":"GET","input_schema":{"type":"object","properties":{}}}}"#,
            "/tools [create]",
            "/tools/[id] [delete]",
        ),
    );
    add(
        "create_and_delete_server",
        3,
        rest.create_and_delete(
            "/servers",
            r#"{"server":{"name":"mcpbench-write-{{uuid}}","description":"mcpbench write test"}}"#,
            "/servers [create]",
            "/servers/[id] [delete]",
        ),
    );
    add(
        "set_server_state",
        2,
        rest.set_state("/servers/", &e.server_id, "/servers/[id]/state"),
    );
    add(
        "set_tool_state",
        2,
        rest.set_state("/tools/", &e.tool_id, "/tools/[id]/state"),
    );
    add(
        "set_resource_state",
        2,
        rest.set_state("/resources/", &e.resource_id, "/resources/[id]/state"),
    );
    add(
        "set_prompt_state",
        2,
        rest.set_state("/prompts/", &e.prompt_id, "/prompts/[id]/state"),
    );
    add(
        "set_gateway_state",
        2,
        rest.set_state("/gateways/", &e.gateway_id, "/gateways/[id]/state"),
    );
}

/// StressTestUser's tasks.
fn stress_test_user(rest: &RestSteps<'_>, _: &GatewayEntities, add: &mut AddTask<'_>) {
    add(
        "rapid_health_check",
        10,
        rest.get("/health", "/health [stress]"),
    );
    add("rapid_tools_list", 8, rest.get("/tools", "/tools [stress]"));
    add(
        "rapid_rpc_ping",
        5,
        rest.rpc("ping", "{}", "/rpc ping [stress]"),
    );
}

/// FastTimeUser's tasks.
fn fast_time_user(rest: &RestSteps<'_>, e: &GatewayEntities, add: &mut AddTask<'_>) {
    add(
        "call_get_system_time",
        10,
        rest.rpc_call(
            &e.time_tool_name,
            r#"{"timezone":"Europe/Dublin"}"#,
            "/rpc get-system-time",
        ),
    );
    add(
        "call_get_system_time_utc",
        5,
        rest.rpc_call(
            &e.time_tool_name,
            r#"{"timezone":"UTC"}"#,
            "/rpc get-system-time [UTC]",
        ),
    );
    add(
        "call_convert_time",
        3,
        rest.rpc_call(
            &e.convert_tool_name,
            r#"{"time":"2025-01-15T10:30:00Z","source_timezone":"UTC","target_timezone":"Asia/Tokyo"}"#,
            "/rpc convert-time",
        ),
    );
    add(
        "list_tools",
        2,
        rest.rpc("tools/list", "{}", "/rpc tools/list [fasttime]"),
    );
}

/// RealisticUser's tasks.
fn realistic_user(rest: &RestSteps<'_>, e: &GatewayEntities, add: &mut AddTask<'_>) {
    add("health_check", 15, rest.get("/health", "/health"));
    add("list_tools", 20, rest.get("/tools", "/tools"));
    add("list_servers", 15, rest.get("/servers", "/servers"));
    add("list_gateways", 10, rest.get("/gateways", "/gateways"));
    add("list_resources", 10, rest.get("/resources", "/resources"));
    add(
        "rpc_list_tools",
        10,
        rest.rpc("tools/list", "{}", "/rpc tools/list"),
    );
    add(
        "get_single_tool",
        5,
        rest.get_entity("/tools/", &e.tool_id, "", "/tools/[id]"),
    );
    add(
        "get_single_server",
        5,
        rest.get_entity("/servers/", &e.server_id, "", "/servers/[id]"),
    );
}

/// HighThroughputUser's tasks.
fn high_throughput_user(rest: &RestSteps<'_>, _: &GatewayEntities, add: &mut AddTask<'_>) {
    add("health_check", 30, rest.get("/health", "/health"));
    add("list_tools", 25, rest.get("/tools", "/tools"));
    add("list_servers", 20, rest.get("/servers", "/servers"));
    add("list_gateways", 15, rest.get("/gateways", "/gateways"));
    add("list_resources", 10, rest.get("/resources", "/resources"));
    add("list_prompts", 10, rest.get("/prompts", "/prompts"));
    add("list_tags", 5, rest.get("/tags", "/tags"));
    add(
        "openapi_schema",
        5,
        rest.get("/openapi.json", "/openapi.json"),
    );
}

fn need<'a>(value: &'a Option<String>, what: &str) -> Result<&'a str, String> {
    value
        .as_deref()
        .ok_or_else(|| format!("the gateway has no {what} to address"))
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Builds the HTTP steps of the REST classes.
struct RestSteps<'a> {
    base: &'a url::Url,
    headers: Vec<Header>,
}

impl RestSteps<'_> {
    fn step(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<&str>,
        op: &str,
        expect: Expect,
    ) -> Result<Step, String> {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| format!("{path}: {e}"))?;
        let body = body
            .map(|b| Template::parse(b).map_err(|e| e.to_string()))
            .transpose()?;
        Ok(Step::Http(Box::new(HttpStep {
            op: op.to_string(),
            method,
            url,
            headers: self.headers.clone(),
            body,
            expect,
            capture: None,
        })))
    }

    fn get(&self, path: &str, op: &str) -> Result<Vec<Step>, String> {
        Ok(vec![self.step(
            hyper::Method::GET,
            path,
            None,
            op,
            Expect::default(),
        )?])
    }

    /// A GET whose 404 is an answer too (optional well-known files).
    fn get_any(&self, path: &str, op: &str) -> Result<Vec<Step>, String> {
        let expect = Expect {
            status: vec![200, 404],
            ..Expect::default()
        };
        Ok(vec![self.step(
            hyper::Method::GET,
            path,
            None,
            op,
            expect,
        )?])
    }

    fn get_entity(
        &self,
        prefix: &str,
        id: &Option<String>,
        suffix: &str,
        op: &str,
    ) -> Result<Vec<Step>, String> {
        let id = need(id, prefix.trim_matches('/').trim_end_matches('s'))?;
        self.get(&format!("{prefix}{id}{suffix}"), op)
    }

    fn post(&self, path: &str, body: &str, op: &str, jsonrpc: bool) -> Result<Vec<Step>, String> {
        let expect = Expect {
            jsonrpc,
            ..Expect::default()
        };
        Ok(vec![self.step(
            hyper::Method::POST,
            path,
            Some(body),
            op,
            expect,
        )?])
    }

    /// `POST /rpc` with a JSON-RPC request; an `error` inside HTTP 200 is a failure.
    fn rpc(&self, method: &str, params: &str, op: &str) -> Result<Vec<Step>, String> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":"{{{{seq}}}}","method":"{method}","params":{params}}}"#
        );
        self.post("/rpc", &body, op, true)
    }

    fn rpc_call(
        &self,
        tool: &Option<String>,
        arguments: &str,
        op: &str,
    ) -> Result<Vec<Step>, String> {
        let tool = need(tool, "tool")?;
        self.rpc(
            "tools/call",
            &format!(
                r#"{{"name":{},"arguments":{arguments}}}"#,
                json_string(tool)
            ),
            op,
        )
    }

    /// Create an entity, keep its id, delete it: the write path without leaving anything behind.
    fn create_and_delete(
        &self,
        collection: &str,
        body: &str,
        create_op: &str,
        delete_op: &str,
    ) -> Result<Vec<Step>, String> {
        let mut create = self.step(
            hyper::Method::POST,
            collection,
            Some(body),
            create_op,
            Expect::default(),
        )?;
        if let Step::Http(h) = &mut create {
            h.capture = Some("id".into());
        }
        let delete = self.step(
            hyper::Method::DELETE,
            &format!("{collection}/{}", loadgen::CAPTURED_PLACEHOLDER),
            None,
            delete_op,
            Expect::default(),
        )?;
        Ok(vec![create, delete])
    }

    /// Re-activates an entity (`?activate=true` leaves the benchmark's entities usable).
    fn set_state(&self, prefix: &str, id: &Option<String>, op: &str) -> Result<Vec<Step>, String> {
        let id = need(id, prefix.trim_matches('/').trim_end_matches('s'))?;
        Ok(vec![self.step(
            hyper::Method::POST,
            &format!("{prefix}{id}/state?activate=true"),
            None,
            op,
            Expect::default(),
        )?])
    }
}

/// Collects tasks class by class into one scenario with its user classes.
#[derive(Default)]
struct ScenarioBuilder {
    tasks: Vec<Task>,
    classes: Vec<UserClass>,
}

impl ScenarioBuilder {
    fn add_class(&mut self, pick: &ClassPick, tasks: Vec<(&str, u32, Vec<Step>)>) {
        let info = find_class(pick.name).expect("picks name known classes");
        let first = self.tasks.len();
        for (name, weight, steps) in tasks {
            self.tasks.push(Task {
                name: format!("{}.{name}", pick.name),
                weight,
                steps,
            });
        }
        self.classes.push(UserClass {
            name: pick.name.to_string(),
            weight: pick.weight,
            wait: Some(info.wait.to_wait()),
            tasks: (first..self.tasks.len()).collect(),
        });
    }

    fn finish(self, name: &str, endpoints: Vec<McpEndpoint>) -> Result<Scenario, String> {
        // A class all of whose tasks were left out cannot run: drop it rather than fail.
        let tasks = self.tasks;
        let classes: Vec<UserClass> = self
            .classes
            .into_iter()
            .filter(|c| !c.tasks.is_empty())
            .collect();
        let scenario = Scenario {
            name: name.into(),
            tasks,
            endpoints,
            classes,
        };
        scenario.validate()?;
        Ok(scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_picks_parse_with_weight_overrides_and_refuse_unknown_names() {
        let picks = parse_class_picks(
            "MCPToolCallerUser, mcpagentuser:3",
            Mcp,
            WeightTable::Locustfile,
        )
        .unwrap();
        assert_eq!(
            picks,
            vec![
                ClassPick {
                    name: "MCPToolCallerUser",
                    weight: 5
                },
                ClassPick {
                    name: "MCPAgentUser",
                    weight: 3
                },
            ]
        );
        assert!(
            parse_class_picks("NoSuchUser", Mcp, WeightTable::Locustfile)
                .unwrap_err()
                .contains("unknown user class 'NoSuchUser'")
        );
        assert!(
            parse_class_picks("HealthCheckUser", Mcp, WeightTable::Locustfile)
                .unwrap_err()
                .contains("REST class")
        );
        assert!(
            parse_class_picks("MCPAgentUser:x", Mcp, WeightTable::Locustfile)
                .unwrap_err()
                .contains("not a whole number")
        );
        assert!(
            parse_class_picks("MCPAgentUser:0", Mcp, WeightTable::Locustfile)
                .unwrap_err()
                .contains("weight 0")
        );
    }

    #[test]
    fn the_mcp_workload_has_every_class_with_its_wait_and_task_weights() {
        let url = url::Url::parse("http://127.0.0.1:9000/mcp").unwrap();
        let s = mcp_scenario(
            url,
            vec![],
            &default_picks(Mcp, false, WeightTable::Locustfile),
            Era::Session,
        )
        .unwrap();
        let names: Vec<&str> = s.classes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "MCPAgentUser",
                "MCPToolCallerUser",
                "MCPDiscoveryUser",
                "MCPSessionChurnUser",
                "MCPStressUser"
            ]
        );
        let caller = &s.classes[1];
        assert_eq!(caller.weight, 5);
        assert!(
            matches!(caller.wait, Some(Wait::Between { min_secs, max_secs }) if min_secs == 0.02 && max_secs == 0.1)
        );
        let weights: Vec<u32> = caller.tasks.iter().map(|&t| s.tasks[t].weight).collect();
        assert_eq!(weights, [20, 1]);
        let ops = s.operation_names();
        for op in [
            "tools/call",
            "tools/list",
            "resources/read",
            "prompts/get",
            "ping",
            loadgen::SESSION_DELETE_OP,
        ] {
            assert!(ops.iter().any(|o| o == op), "{op} missing from {ops:?}");
        }
    }

    #[test]
    fn rest_tasks_without_their_entity_are_left_out_with_a_note() {
        let base = url::Url::parse("http://127.0.0.1:4444/").unwrap();
        let picks = parse_class_picks(
            "ReadOnlyAPIUser,WriteAPIUser,FastTimeUser",
            Rest,
            WeightTable::Locustfile,
        )
        .unwrap();
        let (s, notes) = rest_scenario(&base, "t", &picks, &GatewayEntities::default()).unwrap();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("ReadOnlyAPIUser.get_single_tool")),
            "{notes:?}"
        );
        assert!(notes
            .iter()
            .any(|n| n.contains("FastTimeUser.call_get_system_time")));
        // FastTimeUser keeps only its tools/list; the write user keeps its create/delete pairs.
        assert_eq!(s.classes.len(), 3);
        let ops = s.operation_names();
        assert!(
            ops.contains(&"/tools [create]".to_string())
                && ops.contains(&"/tools/[id] [delete]".to_string())
        );
        let entities = GatewayEntities {
            tool_id: Some("abc".into()),
            ..GatewayEntities::default()
        };
        let (s, _) = rest_scenario(&base, "t", &picks, &entities).unwrap();
        let urls: Vec<String> = s
            .tasks
            .iter()
            .flat_map(|t| &t.steps)
            .filter_map(|st| match st {
                Step::Http(h) => Some(h.url.to_string()),
                _ => None,
            })
            .collect();
        assert!(urls.contains(&"http://127.0.0.1:4444/tools/abc".to_string()));
        assert!(urls.contains(&"http://127.0.0.1:4444/tools/abc/state?activate=true".to_string()));
        // Secrets stay out of the description written into results.
        assert!(!s.describe().to_string().contains("Bearer t"));
    }

    #[test]
    fn the_seed_table_weights_the_classes_it_lists_and_leaves_the_rest() {
        let weight = |table, name| {
            default_picks(Rest, true, table)
                .into_iter()
                .chain(default_picks(Mcp, true, table))
                .find(|p| p.name == name)
                .unwrap()
                .weight
        };
        assert_eq!(weight(WeightTable::Locustfile, "ReadOnlyAPIUser"), 5);
        assert_eq!(weight(WeightTable::Seed, "ReadOnlyAPIUser"), 30);
        assert_eq!(weight(WeightTable::Seed, "FastTimeUser"), 20);
        assert_eq!(
            weight(WeightTable::Seed, "MCPAgentUser"),
            10,
            "not in the seed's table"
        );
        assert_eq!(weight(WeightTable::Seed, "HighThroughputUser"), 1);
        let picked = parse_class_picks("HealthCheckUser,WriteAPIUser:2", Rest, WeightTable::Seed);
        assert_eq!(
            picked.unwrap().iter().map(|p| p.weight).collect::<Vec<_>>(),
            [5, 2],
            "an explicit :N still wins"
        );
        assert!(WeightTable::parse("jmeter")
            .unwrap_err()
            .contains("locustfile"));
        for name in SEED_WEIGHTS.iter().map(|(n, _)| n) {
            assert!(find_class(name).is_some(), "{name} is a class here");
        }
    }
}
