//! rmcp's client against an MCP server: every list paged through, one call, read and get each,
//! in the protocol era asked for.

use anyhow::{bail, ensure, Context};
use rmcp::model::{
    CallToolRequestParams, GetPromptRequestParams, ProtocolVersion, ReadResourceRequestParams,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt};
use serde_json::json;

#[derive(clap::Args)]
pub struct Options {
    /// The server's MCP endpoint.
    url: String,
    /// How the client starts: `initialize` (the session era), `discover` (the 2026-07-28 era) or
    /// `auto` (rmcp's probe with server/discover, falling back to initialize).
    #[arg(long, value_enum, default_value = "auto")]
    lifecycle: Lifecycle,
    /// The protocol revision the connection must end up on.
    #[arg(long)]
    expect_version: Option<String>,
    /// The tool to call with `{"param1": "alpha", "param2": "beta"}`; the first listed if not set.
    #[arg(long)]
    tool: Option<String>,
    /// How many tools, resources and prompts the server must list in all (paged through).
    #[arg(long)]
    expect_tools: Option<usize>,
    #[arg(long)]
    expect_resources: Option<usize>,
    #[arg(long)]
    expect_prompts: Option<usize>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Lifecycle {
    Initialize,
    Discover,
    Auto,
}

impl Lifecycle {
    fn mode(self) -> ClientLifecycleMode {
        let newest = vec![ProtocolVersion::V_2026_07_28];
        match self {
            Lifecycle::Initialize => ClientLifecycleMode::Initialize,
            Lifecycle::Discover => ClientLifecycleMode::Discover {
                preferred_versions: newest,
            },
            Lifecycle::Auto => ClientLifecycleMode::Auto {
                preferred_versions: newest,
                legacy_version: None,
            },
        }
    }
}

fn expect_count(what: &str, found: usize, expected: Option<usize>) -> anyhow::Result<()> {
    if let Some(expected) = expected {
        ensure!(
            found == expected,
            "{found} {what} listed, expected {expected}"
        );
    }
    Ok(())
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let transport = StreamableHttpClientTransport::from_uri(options.url.as_str());
    let client = ()
        .serve_with_lifecycle(transport, options.lifecycle.mode())
        .await
        .with_context(|| format!("connecting to {}", options.url))?;
    let version = client
        .peer_info()
        .context("no server info after connecting")?
        .protocol_version
        .to_string();
    if let Some(expected) = &options.expect_version {
        ensure!(
            &version == expected,
            "negotiated {version}, expected {expected}"
        );
    }

    let tools = client.list_all_tools().await?;
    expect_count("tools", tools.len(), options.expect_tools)?;
    let tool = match &options.tool {
        Some(name) => tools.iter().find(|tool| tool.name == name.as_str()),
        None => tools.first(),
    }
    .context("the server does not list the tool to call")?;
    let arguments = json!({"param1": "alpha", "param2": "beta"});
    let call = CallToolRequestParams::new(tool.name.clone())
        .with_arguments(arguments.as_object().expect("an object").clone());
    let result = client.call_tool(call).await?;
    if result.is_error == Some(true) || result.content.is_empty() {
        bail!("tools/call {} failed: {result:?}", tool.name);
    }

    let resources = client.list_all_resources().await?;
    expect_count("resources", resources.len(), options.expect_resources)?;
    let resource = resources.first().context("the server lists no resources")?;
    let read = client
        .read_resource(ReadResourceRequestParams::new(resource.uri.clone()))
        .await?;
    ensure!(!read.contents.is_empty(), "{} read empty", resource.uri);

    let prompts = client.list_all_prompts().await?;
    expect_count("prompts", prompts.len(), options.expect_prompts)?;
    let prompt = prompts.first().context("the server lists no prompts")?;
    let mut get = GetPromptRequestParams::new(prompt.name.clone());
    let required = prompt
        .arguments
        .iter()
        .flatten()
        .filter(|a| a.required == Some(true));
    let values = required.map(|a| (a.name.clone(), json!("rmcp")));
    get = get.with_arguments(values.collect());
    let got = client.get_prompt(get).await?;
    ensure!(
        !got.messages.is_empty(),
        "prompt {} has no messages",
        prompt.name
    );

    println!(
        "rmcp conformance ok: {version}, {} tools, {} resources, {} prompts",
        tools.len(),
        resources.len(),
        prompts.len()
    );
    client.cancel().await?;
    Ok(())
}
