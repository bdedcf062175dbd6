//! How ContextForge names what a benchmark stack registers and where it answers, in one place:
//! the admin identity the stack's tokens speak for, the gateway name of a bench server, the
//! gateway's own rule for the names of federated tools (`<gateway slug>-<tool slug>`,
//! underscores become hyphens), its probes and a virtual server's MCP endpoint.

/// The platform admin the stack creates (`PLATFORM_ADMIN_EMAIL`) and its tokens name.
pub const ADMIN_EMAIL: &str = "admin@example.com";

/// The gateway name under which the bench server on `port` is registered.
pub fn bench_gateway_name(port: u16) -> String {
    format!("benchmark-{port}")
}

/// The gateway's Python package: its own frames in a profile are this package's.
pub const GATEWAY_MODULE: &str = "mcpgateway";

/// The gateway's readiness probe: 200 once it can serve (migrations done).
pub const READY_PATH: &str = "/ready";
/// The gateway's liveness probe.
pub const HEALTH_PATH: &str = "/health";

/// A virtual server's MCP endpoint (Streamable HTTP), relative to the gateway's base URL.
pub fn virtual_server_mcp_path(id: &str) -> String {
    format!("servers/{id}/mcp")
}

/// A virtual server's SSE endpoint, relative to the gateway's base URL.
pub fn virtual_server_sse_path(id: &str) -> String {
    format!("servers/{id}/sse")
}

/// The gateway's WebSocket endpoint, relative to its base URL.
pub const WEBSOCKET_PATH: &str = "ws";

/// The virtual server an overhead run creates: it bundles exactly what the direct tier's bench
/// server (registered as `bench_gateway`) serves, so every tier lists and calls the same catalog.
pub fn overhead_server_name(bench_gateway: &str) -> String {
    format!("mcpbench-overhead-{bench_gateway}")
}

/// ContextForge's slug of a name: lower case, runs of anything but letters and digits as one
/// hyphen (`benchmark_tool_0` → `benchmark-tool-0`).
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The name under which the gateway lists tool `tool` of gateway `gateway`.
pub fn federated_tool_name(gateway: &str, tool: &str) -> String {
    format!("{}-{}", slug(gateway), slug(tool))
}

/// The bench server's own benchmark tools (`benchmark_tool_{i}`): registration waits for them.
pub const BENCHMARK_TOOL_PREFIX: &str = "benchmark_tool_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn federated_tools_are_named_by_the_gateways_slug_rule() {
        assert_eq!(bench_gateway_name(9000), "benchmark-9000");
        assert_eq!(
            federated_tool_name("benchmark-9000", "benchmark_tool_0"),
            "benchmark-9000-benchmark-tool-0"
        );
        assert_eq!(
            federated_tool_name("benchmark-9000", "get_system_time"),
            "benchmark-9000-get-system-time"
        );
        assert_eq!(slug("Convert Time!"), "convert-time");
    }
}
