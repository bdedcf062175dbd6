//! The gateway's REST calls a benchmark stack needs: register an MCP server as a gateway, list
//! tools, bundle them into a virtual server. Shapes verified in `docs/contextforge.md`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

/// A gateway's base URL plus the bearer token every call carries (never logged).
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tool {
    pub id: String,
    pub name: String,
    #[serde(rename = "originalName", default)]
    pub original_name: String,
    #[serde(rename = "gatewaySlug", default)]
    pub gateway_slug: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{what}: cannot reach the gateway: {source}")]
    Unreachable {
        what: String,
        source: reqwest::Error,
    },
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{what}: unexpected response: {detail}")]
    Shape { what: String, detail: String },
}

/// What a virtual server bundles (ids).
#[derive(Debug, Default)]
pub struct ServerBundle {
    pub tools: Vec<String>,
    pub resources: Vec<String>,
    pub prompts: Vec<String>,
}

/// What registering one MCP server did.
#[derive(Debug, PartialEq, Eq)]
pub enum Registration {
    Created,
    /// 409: a gateway of that name (or URL) is already registered.
    AlreadyThere,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        }
    }

    async fn send(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, String), ApiError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| ApiError::Unreachable {
                what: what.into(),
                source,
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Ok((status, body))
    }

    /// `POST /gateways` (transport STREAMABLEHTTP); a 409 means it is already registered.
    pub async fn register_gateway(&self, name: &str, url: &str) -> Result<Registration, ApiError> {
        let what = format!("registering {name}");
        let body = json!({"name": name, "url": url, "transport": "STREAMABLEHTTP"});
        match self
            .send(
                &what,
                self.http
                    .post(format!("{}/gateways", self.base))
                    .json(&body),
            )
            .await?
        {
            (200 | 201, _) => Ok(Registration::Created),
            (409, _) => Ok(Registration::AlreadyThere),
            (status, body) => Err(ApiError::Status {
                what,
                status,
                body: excerpt(&body),
            }),
        }
    }

    /// Every item of a collection (`tools`, `servers`, `gateways`, `resources`, `prompts`):
    /// `GET /<collection>?limit=0`, since the default page is 50.
    pub async fn list(&self, collection: &str) -> Result<Vec<serde_json::Value>, ApiError> {
        let what = format!("listing {collection}");
        match self
            .send(
                &what,
                self.http.get(format!("{}/{collection}?limit=0", self.base)),
            )
            .await?
        {
            (200, body) => serde_json::from_str(&body).map_err(|e| ApiError::Shape {
                what,
                detail: e.to_string(),
            }),
            (status, body) => Err(ApiError::Status {
                what,
                status,
                body: excerpt(&body),
            }),
        }
    }

    /// Every tool the gateway lists.
    pub async fn tools(&self) -> Result<Vec<Tool>, ApiError> {
        self.list("tools")
            .await?
            .into_iter()
            .map(|t| {
                serde_json::from_value(t).map_err(|e| ApiError::Shape {
                    what: "listing tools".into(),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// `POST /servers` bundling tools, resources and prompts by id; returns its id.
    pub async fn create_server(
        &self,
        name: &str,
        bundle: &ServerBundle,
    ) -> Result<String, ApiError> {
        let what = format!("creating virtual server {name}");
        let body = json!({"server": {
            "name": name,
            "description": "mcpbench: every benchmark tool, resource and prompt",
            "associated_tools": bundle.tools,
            "associated_resources": bundle.resources,
            "associated_prompts": bundle.prompts,
        }});
        match self
            .send(
                &what,
                self.http.post(format!("{}/servers", self.base)).json(&body),
            )
            .await?
        {
            (200 | 201, body) => serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string))
                .ok_or(ApiError::Shape {
                    what,
                    detail: "no id in the response".into(),
                }),
            (status, body) => Err(ApiError::Status {
                what,
                status,
                body: excerpt(&body),
            }),
        }
    }

    /// Every tool, resource and prompt of the gateways (registered MCP servers) named.
    pub async fn bundle_of(&self, gateway_names: &[String]) -> Result<ServerBundle, ApiError> {
        let ours: Vec<serde_json::Value> = self
            .list("gateways")
            .await?
            .into_iter()
            .filter(|g| {
                g["name"]
                    .as_str()
                    .is_some_and(|n| gateway_names.iter().any(|x| x == n))
            })
            .map(|g| g["id"].clone())
            .collect();
        let ids_of_ours = |items: Vec<serde_json::Value>| -> Vec<String> {
            items
                .into_iter()
                .filter(|i| ours.contains(&i["gatewayId"]))
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect()
        };
        Ok(ServerBundle {
            tools: ids_of_ours(self.list("tools").await?),
            resources: ids_of_ours(self.list("resources").await?),
            prompts: ids_of_ours(self.list("prompts").await?),
        })
    }

    /// The virtual server `name` bundling exactly `bundle`: one left by an earlier stack (which
    /// bundles that stack's servers) is deleted first. Returns the new server's id.
    pub async fn replace_server(
        &self,
        name: &str,
        bundle: &ServerBundle,
    ) -> Result<String, ApiError> {
        if let Some(stale) = self.find_server(name).await? {
            self.delete_server(&stale).await?;
        }
        self.create_server(name, bundle).await
    }

    /// `DELETE /servers/{id}`.
    pub async fn delete_server(&self, id: &str) -> Result<(), ApiError> {
        let what = format!("deleting virtual server {id}");
        match self
            .send(
                &what,
                self.http.delete(format!("{}/servers/{id}", self.base)),
            )
            .await?
        {
            (200 | 204 | 404, _) => Ok(()),
            (status, body) => Err(ApiError::Status {
                what,
                status,
                body: excerpt(&body),
            }),
        }
    }

    /// The ids and names the REST classes address (what Locust's classes discover at start),
    /// read from the gateway: the benchmark tools of the bench server registered as
    /// `bench_gateway`, its gateway, and the first resource and prompt.
    pub async fn entities(
        &self,
        bench_gateway: &str,
        server_id: Option<String>,
    ) -> Result<crate::workloads::GatewayEntities, ApiError> {
        let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_string);
        let tools = self.list("tools").await?;
        let tool_named = |tool: &str| {
            let name = crate::naming::federated_tool_name(bench_gateway, tool);
            tools.iter().find(|t| t["name"] == name.as_str())
        };
        let benchmark_tool = tool_named(&format!("{}0", crate::naming::BENCHMARK_TOOL_PREFIX));
        let gateways = self.list("gateways").await?;
        let resources = self.list("resources").await?;
        let prompts = self.list("prompts").await?;
        Ok(crate::workloads::GatewayEntities {
            tool_id: benchmark_tool.and_then(|t| text(t, "id")),
            tool_name: benchmark_tool.and_then(|t| text(t, "name")),
            time_tool_name: tool_named("get_system_time").and_then(|t| text(t, "name")),
            convert_tool_name: tool_named("convert_time").and_then(|t| text(t, "name")),
            server_id,
            gateway_id: gateways
                .iter()
                .find(|g| g["name"] == bench_gateway)
                .and_then(|g| text(g, "id")),
            resource_id: resources.first().and_then(|r| text(r, "id")),
            resource_uri: resources.first().and_then(|r| text(r, "uri")),
            prompt_id: prompts.first().and_then(|p| text(p, "id")),
            prompt_name: prompts.first().and_then(|p| text(p, "name")),
        })
    }

    /// The id of the virtual server named `name`, if there is one.
    pub async fn find_server(&self, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self
            .list("servers")
            .await?
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["id"].as_str().map(str::to_string)))
    }
}

/// How long the gateway took on one route since it started, as its Prometheus middleware
/// counts (`GET /metrics/prometheus`, on with `settings::Tracking::Performance`). Per route,
/// not per MCP operation: every MCP call is one `POST /mcp` (the route a virtual server's
/// `/servers/{id}/mcp` is served by). With several
/// workers each keeps its own, and the one that answers is read. (ContextForge 1.1.0's
/// `/admin/performance/requests` reads the same middleware, but its request counts are always
/// 0 — it looks for a family named `http_requests_total`, which prometheus_client names
/// `http_requests` — so its totals are of no use.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteTiming {
    /// `POST /mcp`.
    pub route: String,
    pub requests: u64,
    /// Every request's time inside the gateway together, in seconds.
    pub seconds: f64,
}

/// The path of the gateway's Prometheus metrics.
pub const PROMETHEUS_PATH: &str = "/metrics/prometheus";
const DURATION_FAMILY: &str = "http_request_duration_seconds";

impl Client {
    /// Every route's count and total time; why not, in one line, when the gateway does not
    /// keep them.
    pub async fn route_timings(&self) -> Result<Vec<RouteTiming>, String> {
        let what = format!("GET {PROMETHEUS_PATH}");
        let request = self.http.get(format!("{}{PROMETHEUS_PATH}", self.base));
        match self.send(&what, request).await.map_err(|e| e.to_string())? {
            (200, body) => Ok(parse_route_timings(&body)),
            (404, _) => Err(format!(
                "{what}: HTTP 404 (the gateway was not started with ENABLE_METRICS=true; a stack \
                 brought up by `load-test --profile-gateway` is)"
            )),
            (status, body) => Err(format!("{what}: HTTP {status}: {}", excerpt(&body))),
        }
    }
}

/// `http_request_duration_seconds_{count,sum}{handler="…",method="…"} N` lines, by route.
fn parse_route_timings(text: &str) -> Vec<RouteTiming> {
    let mut routes: Vec<RouteTiming> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(DURATION_FAMILY) else {
            continue;
        };
        let (kind, rest) = match (rest.strip_prefix("_count{"), rest.strip_prefix("_sum{")) {
            (Some(rest), _) => ("count", rest),
            (_, Some(rest)) => ("sum", rest),
            _ => continue,
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
            let end = labels[start..].find('"')? + start;
            Some(labels[start..end].to_string())
        };
        let (Some(handler), Some(method), Ok(value)) = (
            label("handler"),
            label("method"),
            value.trim().parse::<f64>(),
        ) else {
            continue;
        };
        let route = format!("{method} {handler}");
        let at = match routes.iter().position(|r| r.route == route) {
            Some(at) => at,
            None => {
                routes.push(RouteTiming {
                    route,
                    requests: 0,
                    seconds: 0.0,
                });
                routes.len() - 1
            }
        };
        match kind {
            "count" => routes[at].requests = value as u64,
            _ => routes[at].seconds = value,
        }
    }
    routes
}

fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_timings_are_read_from_the_prometheus_text() {
        let text = "# HELP http_request_duration_seconds x\n\
http_request_duration_seconds_bucket{handler=\"/mcp\",le=\"0.1\",method=\"POST\"} 3.0\n\
http_request_duration_seconds_count{handler=\"/servers/{server_id}/mcp\",method=\"POST\"} 212.0\n\
http_request_duration_seconds_sum{handler=\"/servers/{server_id}/mcp\",method=\"POST\"} 31.5\n\
http_request_duration_seconds_count{handler=\"/health\",method=\"GET\"} 7.0\n\
http_requests_total{handler=\"/health\",method=\"GET\",status=\"200\"} 7.0\n";
        let routes = parse_route_timings(text);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].route, "POST /servers/{server_id}/mcp");
        assert_eq!((routes[0].requests, routes[0].seconds), (212, 31.5));
        assert_eq!((routes[1].requests, routes[1].seconds), (7, 0.0));
    }
}
