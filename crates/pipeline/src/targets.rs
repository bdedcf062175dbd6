//! What the tiers address on a running stack: each tier's endpoint, the admin token, the
//! virtual server bundling exactly the direct tier's catalog, the entities the REST classes
//! use — and the health of the services each tier goes through, checked before and after it,
//! so a service that dies during a tier fails that tier instead of passing it.

use std::time::Duration;

use contextforge::workloads::GatewayEntities;
use report::Tier;

/// Where each tier's traffic goes, read from the stack (or the flags) and prepared on the gateway.
pub struct Targets {
    /// The backend's MCP endpoint (a bench server's `/mcp`), or why the direct tier has none.
    pub direct: Result<url::Url, String>,
    /// The gateway's base URL.
    pub gateway: url::Url,
    /// nginx's base URL, or why there is none.
    pub nginx: Result<url::Url, String>,
    /// nginx's TLS listener, or why there is none.
    pub nginx_tls: Result<TlsTarget, String>,
    /// The virtual server the gateway tiers address.
    pub virtual_server_id: String,
    pub token: String,
    /// What the REST classes address (empty when the REST tier does not run).
    pub entities: GatewayEntities,
    pub health: Health,
}

/// An https base URL and the CA its certificate comes from.
#[derive(Debug, Clone)]
pub struct TlsTarget {
    pub base: url::Url,
    pub ca_cert: std::path::PathBuf,
}

/// A gateway this tool did not start, as `--gateway-url` and its flags name it.
#[derive(Debug)]
pub struct Existing {
    /// Its base URL (path ending in `/`).
    pub gateway: url::Url,
    pub auth: Auth,
    /// The virtual server to address; None: mcpbench's own, created or replaced.
    pub server_id: Option<String>,
    /// A backend behind it, for the direct tier.
    pub direct: Option<url::Url>,
}

/// How to authenticate to an existing gateway (never printed: no `Debug` of the values).
#[derive(PartialEq, Eq)]
pub enum Auth {
    Token(String),
    /// Its `JWT_SECRET_KEY`: an admin token is minted with it.
    Secret(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Token(_) => "Token(<redacted>)",
            Auth::Secret(_) => "Secret(<redacted>)",
        })
    }
}

fn loopback(port: u16, path: &str) -> url::Url {
    url::Url::parse(&format!("http://127.0.0.1:{port}{path}")).expect("a loopback URL")
}

fn admin_token(secret: &str) -> Result<String, String> {
    contextforge::jwt::admin_token(secret, contextforge::jwt::DEFAULT_EXPIRY_MINUTES)
        .map_err(|e| format!("minting a token: {e}"))
}

/// On the stack: mints the token, bundles the direct tier's catalog into a virtual server,
/// and reads the REST classes' entities when `rest` runs.
pub async fn prepare(state: &stack::StackState, rest: bool) -> Result<Targets, String> {
    let token = admin_token(&state.jwt_secret)?;
    let gateway = loopback(state.gateway_port, "/");
    let direct_server = contextforge::naming::bench_gateway_name(state.bench_start_port);
    let api = contextforge::api::Client::new(gateway.as_str(), &token);
    let virtual_server_id =
        overhead_server(&api, std::slice::from_ref(&direct_server), &direct_server).await?;
    let entities = if rest {
        api.entities(&direct_server, state.virtual_server_id.clone())
            .await
            .map_err(|e| e.to_string())?
    } else {
        GatewayEntities::default()
    };
    let nginx = state
        .nginx_port
        .map(|port| loopback(port, "/"))
        .ok_or_else(|| {
            "nginx is not part of the stack (it came up with MCPBENCH_NGINX empty): run \
         benchmark-down, then benchmark-up without it"
                .to_string()
        });
    let nginx_tls = match (&nginx, &state.nginx_tls) {
        (Err(why), _) => Err(why.clone()),
        (Ok(_), Some(tls)) => Ok(TlsTarget {
            base: url::Url::parse(&format!("https://127.0.0.1:{}/", tls.port))
                .expect("a loopback URL"),
            ca_cert: tls.ca_cert.clone(),
        }),
        (Ok(_), None) => Err(
            "the stack's nginx has no TLS listener: run benchmark-down, then \
             benchmark-up --nginx-tls (load-test turns it on for this tier when it brings the \
             stack up)"
                .to_string(),
        ),
    };
    let health = Health {
        backend: Some(loopback(state.bench_start_port, "/health")),
        gateway: Some(health_url(&gateway)),
        nginx: nginx.as_ref().ok().map(health_url),
    };
    Ok(Targets {
        direct: Ok(loopback(state.bench_start_port, "/mcp")),
        gateway,
        nginx,
        nginx_tls,
        virtual_server_id,
        token,
        entities,
        health,
    })
}

/// mcpbench's virtual server bundling every tool, resource and prompt of `backends`
/// (registered gateway names), replaced on every run; named after `named_for`.
async fn overhead_server(
    api: &contextforge::api::Client,
    backends: &[String],
    named_for: &str,
) -> Result<String, String> {
    let bundle = api.bundle_of(backends).await.map_err(|e| e.to_string())?;
    if bundle.tools.is_empty() {
        return Err(format!(
            "the gateway lists no tools of {}: register an MCP server first (or, for a stack, \
             run benchmark-down, then benchmark-up)",
            backends.join(", ")
        ));
    }
    api.replace_server(
        &contextforge::naming::overhead_server_name(named_for),
        &bundle,
    )
    .await
    .map_err(|e| e.to_string())
}

fn health_url(base: &url::Url) -> url::Url {
    base.join(contextforge::naming::HEALTH_PATH.trim_start_matches('/'))
        .expect("a health URL")
}

/// Why an existing gateway has no nginx tiers.
const NOT_IN_FRONT: &str = "an existing gateway is measured as it is reached (--gateway-url): no \
                            nginx of mcpbench's stands in front of it";

/// On a gateway this tool did not start: the token (given or minted), the virtual server
/// (`--server-id`, checked to exist; else mcpbench's own bundling the `--direct-url` backend's
/// catalog when the gateway has it registered, or every backend's), the REST entities. No
/// nginx tier: the gateway is measured as it is reached. Returns what the report records.
pub async fn existing(
    existing: &Existing,
    rest: bool,
) -> Result<(Targets, report::ExistingGateway), String> {
    let token = match &existing.auth {
        Auth::Token(token) => token.clone(),
        Auth::Secret(secret) => admin_token(secret)?,
    };
    let gateway = existing.gateway.clone();
    let api = contextforge::api::Client::new(gateway.as_str(), &token);
    let backends = registered_backends(&api).await?;
    let behind_direct = existing.direct.as_ref().and_then(|direct| {
        backends
            .iter()
            .find(|(_, url)| url.trim_end_matches('/') == direct.as_str().trim_end_matches('/'))
            .map(|(name, _)| name.clone())
    });
    let virtual_server_id = match &existing.server_id {
        Some(id) => checked_server(&api, id).await?,
        None => match &behind_direct {
            Some(name) => overhead_server(&api, std::slice::from_ref(name), name).await?,
            None => {
                let names: Vec<String> = backends.iter().map(|(n, _)| n.clone()).collect();
                overhead_server(&api, &names, "every-backend").await?
            }
        },
    };
    let entities = match (
        rest,
        behind_direct.or_else(|| backends.first().map(|b| b.0.clone())),
    ) {
        (true, Some(name)) => api
            .entities(&name, Some(virtual_server_id.clone()))
            .await
            .map_err(|e| e.to_string())?,
        _ => GatewayEntities::default(),
    };
    let measured = report::ExistingGateway {
        gateway_url: gateway.to_string(),
        server_id: virtual_server_id.clone(),
        direct_url: existing.direct.as_ref().map(url::Url::to_string),
    };
    let targets = Targets {
        direct: existing.direct.clone().ok_or_else(|| {
            "no --direct-url: the backend behind an existing gateway is not known".to_string()
        }),
        nginx: Err(NOT_IN_FRONT.into()),
        nginx_tls: Err(NOT_IN_FRONT.into()),
        health: Health {
            backend: None,
            gateway: Some(health_url(&gateway)),
            nginx: None,
        },
        gateway,
        virtual_server_id,
        token,
        entities,
    };
    Ok((targets, measured))
}

/// The MCP servers registered on the gateway: (name, url). Also proves the token works.
async fn registered_backends(
    api: &contextforge::api::Client,
) -> Result<Vec<(String, String)>, String> {
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_string);
    Ok(api
        .list("gateways")
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|g| Some((text(g, "name")?, text(g, "url").unwrap_or_default())))
        .collect())
}

/// `id` when the gateway has a virtual server of that id.
async fn checked_server(api: &contextforge::api::Client, id: &str) -> Result<String, String> {
    let servers = api.list("servers").await.map_err(|e| e.to_string())?;
    if servers.iter().any(|s| s["id"] == id) {
        Ok(id.to_string())
    } else {
        Err(format!(
            "--server-id {id}: the gateway has no virtual server of that id"
        ))
    }
}

/// The health endpoints of the services the tiers go through.
pub struct Health {
    /// The backend's health endpoint, when it is known to have one (a bench server's).
    pub backend: Option<url::Url>,
    /// None when no gateway is measured (`capacity --url`: an MCP endpoint alone).
    pub gateway: Option<url::Url>,
    pub nginx: Option<url::Url>,
}

/// How long a service may take to answer its health endpoint after a tier's load.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

impl Health {
    /// The services a tier's requests pass through.
    fn path_of(&self, tier: Tier) -> Vec<(&'static str, &url::Url)> {
        let tier = tier.place();
        let mut path: Vec<(&'static str, &url::Url)> = self
            .backend
            .iter()
            .map(|b| ("the bench server", b))
            .collect();
        if let (false, Some(gateway)) = (tier == Tier::Direct, &self.gateway) {
            path.push(("the gateway", gateway));
        }
        // The TLS listener is nginx's too: its plain health endpoint answers for the process.
        if let (Tier::Nginx | Tier::NginxTls, Some(nginx)) = (tier, &self.nginx) {
            path.push(("nginx", nginx));
        }
        path
    }

    /// Every service `tier` goes through answers its health endpoint; else which one does not.
    pub async fn check(&self, tier: Tier) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .timeout(HEALTH_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        for (service, url) in self.path_of(tier) {
            let answer = client.get(url.clone()).send().await;
            match answer {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => return Err(format!("{service} answers {url} with HTTP {}", r.status())),
                Err(e) => {
                    let why = if e.is_timeout() {
                        format!("no answer within {} s", HEALTH_TIMEOUT.as_secs())
                    } else if e.is_connect() {
                        "connection refused".to_string()
                    } else {
                        e.to_string()
                    };
                    return Err(format!("{service} does not answer {url}: {why}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tier_is_checked_through_the_services_it_passes() {
        let health = Health {
            backend: Some(loopback(9000, "/health")),
            gateway: Some(loopback(4444, "/health")),
            nginx: Some(loopback(8080, "/health")),
        };
        let names = |tier| {
            health
                .path_of(tier)
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Tier::Direct), ["the bench server"]);
        assert_eq!(names(Tier::Gateway), ["the bench server", "the gateway"]);
        assert_eq!(
            names(Tier::Nginx),
            ["the bench server", "the gateway", "nginx"]
        );
        assert_eq!(names(Tier::NginxTls), names(Tier::Nginx));
        assert_eq!(names(Tier::Rest), ["the bench server", "the gateway"]);
    }
}
