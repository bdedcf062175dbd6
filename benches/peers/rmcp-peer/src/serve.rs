//! rmcp's Streamable HTTP server with the benchmark catalog, served over hyper.

use std::sync::Arc;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, Prompt, PromptArgument, PromptMessage,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, Role, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::json;

const STATUS_URI: &str = "bench://status";
/// The filler every tool result carries, as bench-server's default 1,000-byte payload.
const PAYLOAD_BYTES: usize = 1000;

#[derive(clap::Args)]
pub struct Options {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0 picks a free port; the `ready` line names the real one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value_t = 100)]
    tools: u32,
    /// How replies travel: plain JSON bodies or a text/event-stream.
    #[arg(long, value_enum, default_value = "json")]
    response: Response,
    /// Serve the session era (initialize + Mcp-Session-Id) with real sessions; without it,
    /// session-era requests are served one by one. The 2026-07-28 era is stateless either way.
    #[arg(long)]
    sessions: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Response {
    Json,
    Sse,
}

/// The benchmark catalog, built once and shared by every request's handler.
struct Catalog {
    tools: Vec<Tool>,
    payload: String,
}

#[derive(Clone)]
struct BenchHandler(Arc<Catalog>);

impl BenchHandler {
    fn new(tool_count: u32) -> Self {
        let schema = json!({"type": "object", "properties": {
            "param1": {"type": "string"}, "param2": {"type": "string"}}});
        let schema = Arc::new(schema.as_object().expect("an object").clone());
        let tools = (0..tool_count)
            .map(|i| {
                Tool::new(
                    format!("benchmark_tool_{i}"),
                    format!("Benchmark tool {i}"),
                    schema.clone(),
                )
            })
            .collect();
        BenchHandler(Arc::new(Catalog {
            tools,
            payload: "x".repeat(PAYLOAD_BYTES),
        }))
    }
}

impl ServerHandler for BenchHandler {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("rmcp-peer", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.0.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.0.tools.iter().any(|tool| tool.name == request.name) {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {}", request.name),
                None,
            ));
        }
        let arguments = request.arguments.unwrap_or_default();
        let document = json!({
            "tool": request.name,
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "arguments": arguments,
            "data": self.0.payload,
        });
        let text = ContentBlock::text(document.to_string());
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            text,
        ])))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let status = Resource::new(STATUS_URI, "status");
        Ok(ListResourcesResult::with_all_items(vec![status]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != STATUS_URI {
            return Err(ErrorData::resource_not_found(
                format!("no resource {}", request.uri),
                None,
            ));
        }
        let contents = ResourceContents::text("ok", STATUS_URI);
        Ok(ReadResourceResponse::Complete(ReadResourceResult::new(
            vec![contents],
        )))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let name = PromptArgument::new("name").with_required(true);
        let greet = Prompt::new("greet", Some("Greet someone by name"), Some(vec![name]));
        Ok(ListPromptsResult::with_all_items(vec![greet]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != "greet" {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt {}", request.name),
                None,
            ));
        }
        let who = request
            .arguments
            .and_then(|arguments| arguments.get("name").cloned())
            .unwrap_or_else(|| "world".into());
        let message = PromptMessage::new_text(Role::User, format!("Hello, {who}!"));
        Ok(GetPromptResponse::Complete(GetPromptResult::new(vec![
            message,
        ])))
    }
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let handler = BenchHandler::new(options.tools);
    let mut config = StreamableHttpServerConfig::default();
    config.legacy_session_mode = options.sessions;
    config.json_response = matches!(options.response, Response::Json);
    config.sse_keep_alive = None;
    let mcp = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port))
        .await
        .with_context(|| format!("binding {}:{}", options.host, options.port))?;
    let address = listener.local_addr()?;
    println!("ready http://{address}/mcp");
    loop {
        let (stream, _) = listener.accept().await?;
        // As bench-server: an SSE reply goes out as headers, then events; with Nagle on, the
        // second small write waits for the client's delayed ACK (~40 ms).
        stream.set_nodelay(true)?;
        let mcp = mcp.clone();
        let service = hyper::service::service_fn(move |request| {
            let mcp = mcp.clone();
            async move {
                if request.uri().path() == "/health" {
                    let body = Full::new(Bytes::from_static(br#"{"status":"healthy"}"#));
                    return Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        body.map_err(|never| match never {}).boxed(),
                    ));
                }
                Ok(mcp.handle(request).await)
            }
        });
        tokio::spawn(async move {
            // A client that goes away mid-request ends its connection; nothing to report.
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
