//! What the tiers address on a running stack: each tier's endpoint, the admin token, the
//! virtual server bundling exactly the direct tier's catalog, the entities the REST classes
//! use — and the health of the services each tier goes through, checked before and after it,
//! so a service that dies during a tier fails that tier instead of passing it.

use std::time::Duration;

use contextforge::workloads::GatewayEntities;
use report::Tier;

/// Where each tier's traffic goes, read from the stack and prepared on the gateway.
pub struct Targets {
    /// A bench server's `/mcp`.
    pub direct: url::Url,
    /// The gateway's base URL.
    pub gateway: url::Url,
    /// nginx's base URL (the front door, `LOADTEST_HOST`), or why there is none.
    pub nginx: Result<url::Url, String>,
    /// The virtual server the gateway tiers address.
    pub virtual_server_id: String,
    pub token: String,
    /// What the REST classes address (empty when the REST tier does not run).
    pub entities: GatewayEntities,
    pub health: Health,
}

fn loopback(port: u16, path: &str) -> url::Url {
    url::Url::parse(&format!("http://127.0.0.1:{port}{path}")).expect("a loopback URL")
}

/// Mints the token, bundles the direct tier's catalog into a virtual server, and reads the
/// REST classes' entities when `rest` runs.
pub async fn prepare(
    state: &stack::StackState,
    host: Option<&url::Url>,
    rest: bool,
) -> Result<Targets, String> {
    let token = contextforge::jwt::admin_token(
        &state.jwt_secret,
        contextforge::jwt::DEFAULT_EXPIRY_MINUTES,
    )
    .map_err(|e| format!("minting a token: {e}"))?;
    let gateway = loopback(state.gateway_port, "/");
    let direct_server = contextforge::naming::bench_gateway_name(state.bench_start_port);
    let api = contextforge::api::Client::new(gateway.as_str(), &token);
    let bundle = api
        .bundle_of(std::slice::from_ref(&direct_server))
        .await
        .map_err(|e| e.to_string())?;
    if bundle.tools.is_empty() {
        return Err(format!(
            "the gateway lists no tools of {direct_server}: run benchmark-down, then benchmark-up"
        ));
    }
    let virtual_server_id = api
        .replace_server(
            &contextforge::naming::overhead_server_name(&direct_server),
            &bundle,
        )
        .await
        .map_err(|e| e.to_string())?;
    let entities = if rest {
        api.entities(&direct_server, state.virtual_server_id.clone())
            .await
            .map_err(|e| e.to_string())?
    } else {
        GatewayEntities::default()
    };
    let nginx = match (host, state.nginx_port) {
        (Some(host), _) => Ok(host.clone()),
        (None, Some(port)) => Ok(loopback(port, "/")),
        (None, None) => Err("nginx is not part of the stack (it was not found when the stack came up): install nginx (apt-get install nginx-light) and run benchmark-down, then benchmark-up".to_string()),
    };
    let health = Health {
        bench_server: loopback(state.bench_start_port, "/health"),
        gateway: gateway
            .join(contextforge::naming::HEALTH_PATH.trim_start_matches('/'))
            .expect("a health URL"),
        nginx: nginx
            .as_ref()
            .ok()
            .map(|n| n.join("health").expect("a health URL")),
    };
    Ok(Targets {
        direct: loopback(state.bench_start_port, "/mcp"),
        gateway,
        nginx,
        virtual_server_id,
        token,
        entities,
        health,
    })
}

/// The health endpoints of the services the tiers go through.
pub struct Health {
    pub bench_server: url::Url,
    pub gateway: url::Url,
    pub nginx: Option<url::Url>,
}

/// How long a service may take to answer its health endpoint after a tier's load.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

impl Health {
    /// The services a tier's requests pass through.
    fn path_of(&self, tier: Tier) -> Vec<(&'static str, &url::Url)> {
        let mut path = vec![("the bench server", &self.bench_server)];
        if tier != Tier::Direct {
            path.push(("the gateway", &self.gateway));
        }
        if let (Tier::Nginx, Some(nginx)) = (tier, &self.nginx) {
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
            bench_server: loopback(9000, "/health"),
            gateway: loopback(4444, "/health"),
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
        assert_eq!(names(Tier::Rest), ["the bench server", "the gateway"]);
    }
}
