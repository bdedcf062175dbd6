//! The tiers of an overhead run and the workload each gets: the same MCP workload (same seed,
//! same class mix) on the bench server directly, on the gateway's virtual server, and through
//! nginx; then the REST classes on the gateway.

use contextforge::workloads::{self, ClassKind, ClassPick, GatewayEntities};
use loadgen::{Header, Scenario};

pub const DIRECT: &str = "direct";
pub const GATEWAY: &str = "gateway";
pub const NGINX: &str = "nginx";
pub const REST: &str = "rest";
/// Run order.
pub const ALL: &[&str] = &[DIRECT, GATEWAY, NGINX, REST];
/// The tiers a threshold without `tier=` applies to: the MCP workload through the gateway
/// (direct is the reference the others are measured against).
pub const DEFAULT_THRESHOLD_TIERS: &[&str] = &[GATEWAY, NGINX];

/// Where each tier's traffic goes, read from the stack.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// A bench server's `/mcp`.
    pub direct: url::Url,
    /// The gateway's base URL.
    pub gateway: url::Url,
    /// The virtual server the gateway tiers address: it bundles exactly the direct tier's
    /// bench server's tools, resources and prompts.
    pub virtual_server_id: String,
    /// nginx's base URL (the front door, `LOADTEST_HOST`), or why there is none.
    pub nginx: Result<url::Url, String>,
    pub token: String,
}

impl Endpoints {
    /// Loopback stand-ins, to plan the tiers (and check operation names) before the stack is up.
    pub fn placeholder() -> Endpoints {
        let url = |u: &str| url::Url::parse(u).expect("a valid URL");
        Endpoints {
            direct: url("http://127.0.0.1:9000/mcp"),
            gateway: url("http://127.0.0.1:4444/"),
            virtual_server_id: "placeholder".into(),
            nginx: Ok(url("http://127.0.0.1:8080/")),
            token: "placeholder".into(),
        }
    }
}

/// One tier, ready to run (or the reason it cannot).
pub struct PlannedTier {
    pub name: &'static str,
    pub description: String,
    pub target: String,
    pub scenario: Result<Scenario, String>,
}

fn bearer(token: &str) -> Result<Vec<Header>, String> {
    Ok(vec![Header::parse(&format!(
        "Authorization: Bearer {token}"
    ))?])
}

fn virtual_server_mcp(base: &url::Url, id: &str) -> Result<url::Url, String> {
    base.join(&format!("servers/{id}/mcp"))
        .map_err(|e| format!("{base}: {e}"))
}

/// Plans the selected tiers. Notes (REST tasks left out for want of an entity) go to `notes`.
pub fn plan_tiers(
    selected: &[&'static str],
    endpoints: &Endpoints,
    mcp_picks: &[ClassPick],
    rest_picks: Option<&[ClassPick]>,
    entities: &GatewayEntities,
    notes: &mut Vec<String>,
) -> Result<Vec<PlannedTier>, String> {
    // The MCP workload on the virtual server behind `base` (the gateway, or nginx before it).
    let mcp_through = |name: &'static str,
                       description: &str,
                       base: Result<&url::Url, &String>|
     -> Result<PlannedTier, String> {
        let description = description.to_string();
        Ok(match base {
            Ok(base) => {
                let url = virtual_server_mcp(base, &endpoints.virtual_server_id)?;
                PlannedTier {
                    name,
                    description,
                    target: url.to_string(),
                    scenario: Ok(workloads::mcp_scenario(
                        url,
                        bearer(&endpoints.token)?,
                        mcp_picks,
                    )?),
                }
            }
            Err(why) => PlannedTier {
                name,
                description,
                target: "-".into(),
                scenario: Err(why.clone()),
            },
        })
    };
    let mut tiers = Vec::new();
    for &name in ALL.iter().filter(|t| selected.contains(t)) {
        let tier = match name {
            DIRECT => PlannedTier {
                name,
                description: "bench-server directly (the baseline)".into(),
                target: endpoints.direct.to_string(),
                scenario: Ok(workloads::mcp_scenario(
                    endpoints.direct.clone(),
                    vec![],
                    mcp_picks,
                )?),
            },
            GATEWAY => mcp_through(
                name,
                "ContextForge virtual server (gateway → bench-server)",
                Ok(&endpoints.gateway),
            )?,
            NGINX => mcp_through(
                name,
                "nginx → gateway → bench-server",
                endpoints.nginx.as_ref(),
            )?,
            _ => {
                let Some(picks) = rest_picks else {
                    continue;
                };
                let (scenario, left_out) = workloads::rest_scenario(
                    &endpoints.gateway,
                    &endpoints.token,
                    picks,
                    entities,
                )?;
                notes.extend(left_out);
                PlannedTier {
                    name,
                    description: "REST, /rpc and admin user classes on the gateway".into(),
                    target: endpoints.gateway.to_string(),
                    scenario: Ok(scenario),
                }
            }
        };
        tiers.push(tier);
    }
    Ok(tiers)
}

/// `direct,gateway` → the tier names, checked.
pub fn parse_tiers(text: &str) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let tier = ALL
            .iter()
            .find(|t| **t == item)
            .ok_or_else(|| format!("unknown tier '{item}' (known: {})", ALL.join(", ")))?;
        if !out.contains(tier) {
            out.push(*tier);
        }
    }
    if out.is_empty() {
        return Err("no tier selected".into());
    }
    Ok(out)
}

/// The class picks for one kind: the given picker, or every class of that kind.
pub fn picks(text: Option<&str>, kind: ClassKind) -> Result<Vec<ClassPick>, String> {
    match text {
        Some(t) => workloads::parse_class_picks(t, kind),
        // The stack runs the gateway without its admin UI, so the UI classes stay out.
        None => Ok(workloads::default_picks(kind, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(nginx: Result<url::Url, String>) -> Endpoints {
        Endpoints {
            direct: url::Url::parse("http://127.0.0.1:9000/mcp").unwrap(),
            gateway: url::Url::parse("http://127.0.0.1:4444/").unwrap(),
            virtual_server_id: "abc".into(),
            nginx,
            token: "tok".into(),
        }
    }

    #[test]
    fn every_mcp_tier_gets_the_same_workload_on_its_own_endpoint() {
        let mcp = picks(None, ClassKind::Mcp).unwrap();
        let rest = picks(Some("HealthCheckUser"), ClassKind::Rest).unwrap();
        let mut notes = vec![];
        let tiers = plan_tiers(
            ALL,
            &endpoints(Ok(url::Url::parse("http://127.0.0.1:8080/").unwrap())),
            &mcp,
            Some(&rest),
            &GatewayEntities::default(),
            &mut notes,
        )
        .unwrap();
        let targets: Vec<&str> = tiers.iter().map(|t| t.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "http://127.0.0.1:9000/mcp",
                "http://127.0.0.1:4444/servers/abc/mcp",
                "http://127.0.0.1:8080/servers/abc/mcp",
                "http://127.0.0.1:4444/"
            ]
        );
        let ops = |i: usize| tiers[i].scenario.as_ref().unwrap().operation_names();
        assert_eq!(ops(0), ops(1));
        assert_eq!(ops(1), ops(2));
        assert!(ops(3).contains(&"/health".to_string()));
    }

    #[test]
    fn a_tier_without_its_component_is_planned_as_skipped_with_the_reason() {
        let mcp = picks(Some("MCPToolCallerUser"), ClassKind::Mcp).unwrap();
        let tiers = plan_tiers(
            &[DIRECT, NGINX],
            &endpoints(Err("nginx is not on PATH".into())),
            &mcp,
            None,
            &GatewayEntities::default(),
            &mut vec![],
        )
        .unwrap();
        assert_eq!(tiers.len(), 2);
        assert_eq!(
            tiers[1].scenario.as_ref().err().map(String::as_str),
            Some("nginx is not on PATH")
        );
        assert!(parse_tiers("direct,proxy")
            .unwrap_err()
            .contains("unknown tier 'proxy'"));
        assert_eq!(
            parse_tiers("gateway, direct").unwrap(),
            vec![GATEWAY, DIRECT]
        );
    }
}
