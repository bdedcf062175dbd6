//! Registration behind the gateway, the same for both runtimes: each bench server as a gateway
//! `benchmark-<port>`, a wait until all their benchmark tools are listed, and one virtual server
//! bundling them.

use std::time::{Duration, Instant};

use crate::{StackError, UpOptions, VIRTUAL_SERVER_NAME};

fn infra(e: impl std::fmt::Display) -> StackError {
    StackError::Infrastructure(e.to_string())
}

/// Registers every bench server, waits until all their benchmark tools are listed, and bundles
/// their tools, resources and prompts into one virtual server (replacing an earlier stack's),
/// whose id is returned.
pub async fn register(
    options: &UpOptions,
    jwt_secret: &str,
    gateway_url: &str,
) -> Result<String, StackError> {
    let token = contextforge::jwt::mint(
        &contextforge::jwt::TokenRequest {
            username: "admin@example.com".into(),
            expires_in_minutes: 60,
            admin: true,
            teams: None,
        },
        jwt_secret,
    )
    .map_err(infra)?;
    let api = contextforge::api::Client::new(gateway_url, &token);
    let bar = indicatif::ProgressBar::new(u64::from(options.count))
        .with_message("registering bench servers");
    for port in options.ports() {
        api.register_gateway(
            &format!("benchmark-{port}"),
            &format!("http://127.0.0.1:{port}/mcp"),
        )
        .await
        .map_err(infra)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let wanted = u64::from(options.count) * u64::from(options.tools_per_server);
    let names: Vec<String> = options.ports().map(|p| format!("benchmark-{p}")).collect();
    let start = Instant::now();
    loop {
        let tools = api.tools().await.map_err(infra)?;
        let ours = tools
            .iter()
            .filter(|t| {
                t.original_name.starts_with("benchmark_tool_")
                    && t.gateway_slug.as_ref().is_some_and(|g| names.contains(g))
            })
            .count();
        if ours as u64 >= wanted {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            return Err(infra(format!(
                "only {ours} of {wanted} benchmark tools visible through the gateway after 120 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let bundle = api.bundle_of(&names).await.map_err(infra)?;
    let id = api
        .replace_server(VIRTUAL_SERVER_NAME, &bundle)
        .await
        .map_err(infra)?;
    println!(
        "registered {} bench servers, {wanted} tools; virtual server {id} bundles {} tools, {} resources, {} prompts",
        options.count,
        bundle.tools.len(),
        bundle.resources.len(),
        bundle.prompts.len()
    );
    Ok(id)
}
