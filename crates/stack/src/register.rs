//! Registration behind the gateway, the same for both runtimes: each bench server as a gateway
//! (`contextforge::naming::bench_gateway_name`), a wait until all their benchmark tools are
//! listed, and one virtual server bundling them.

use std::time::{Duration, Instant};

use contextforge::naming::{bench_gateway_name, BENCHMARK_TOOL_PREFIX};

use crate::{StackError, UpOptions, VIRTUAL_SERVER_NAME};

/// How long the gateway may take to list every benchmark tool after registration.
const TOOLS_WITHIN: Duration = Duration::from_secs(120);

fn infra(e: impl std::fmt::Display) -> StackError {
    StackError::Infrastructure(e.to_string())
}

/// What registration did.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The virtual server bundling every benchmark tool, resource and prompt.
    pub server_id: String,
    pub summary: String,
}

/// Registers every bench server, waits until all their benchmark tools are listed, and bundles
/// their tools, resources and prompts into one virtual server (replacing an earlier stack's).
pub async fn register(
    options: &UpOptions,
    jwt_secret: &str,
    gateway_url: &str,
) -> Result<Registered, StackError> {
    let token = contextforge::jwt::admin_token(jwt_secret, 60).map_err(infra)?;
    let api = contextforge::api::Client::new(gateway_url, &token);
    let names: Vec<String> = options.ports().map(bench_gateway_name).collect();
    let bar = indicatif::ProgressBar::new(u64::from(options.count))
        .with_message("registering bench servers");
    for (name, port) in names.iter().zip(options.ports()) {
        api.register_gateway(name, &format!("http://127.0.0.1:{port}/mcp"))
            .await
            .map_err(infra)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let wanted = u64::from(options.count) * u64::from(options.tools_per_server);
    let start = Instant::now();
    loop {
        let tools = api.tools().await.map_err(infra)?;
        let ours = tools
            .iter()
            .filter(|t| {
                t.original_name.starts_with(BENCHMARK_TOOL_PREFIX)
                    && t.gateway_slug.as_ref().is_some_and(|g| names.contains(g))
            })
            .count();
        if ours as u64 >= wanted {
            break;
        }
        if start.elapsed() > TOOLS_WITHIN {
            return Err(infra(format!(
                "only {ours} of {wanted} benchmark tools visible through the gateway after {} s",
                TOOLS_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let bundle = api.bundle_of(&names).await.map_err(infra)?;
    let server_id = api
        .replace_server(VIRTUAL_SERVER_NAME, &bundle)
        .await
        .map_err(infra)?;
    let summary = format!(
        "registered {} bench servers, {wanted} tools; virtual server {server_id} bundles {} tools, {} resources, {} prompts",
        options.count,
        bundle.tools.len(),
        bundle.resources.len(),
        bundle.prompts.len()
    );
    Ok(Registered { server_id, summary })
}
