//! The tiers of an overhead run — the same MCP workload straight at the bench server, through
//! the gateway, through nginx in front of it — and the REST classes on the gateway. One type
//! for the pipeline that runs them and every view that shows them.

use loadgen::Era;
use serde::{Deserialize, Serialize};

/// A tier is a place (direct, through the gateway, through nginx, or the REST classes) and, for
/// the MCP workload, the protocol era it is spoken in: the session era keeps the names tiers
/// always had, the stateless era's tiers are their own (`gateway-stateless`), so every view,
/// threshold scope and baseline tells the two apart. REST has no era.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// The bench server directly: the baseline every MCP tier is measured against.
    Direct,
    /// The gateway's virtual server (gateway → bench server).
    Gateway,
    /// nginx → gateway → bench server.
    Nginx,
    /// nginx's TLS listener (HTTPS, the stack's own CA) → gateway → bench server; the session
    /// era only.
    NginxTls,
    /// Direct, in the stateless era (2026-07-28).
    DirectStateless,
    /// The gateway, in the stateless era.
    GatewayStateless,
    /// nginx, in the stateless era.
    NginxStateless,
    /// The REST, `/rpc` and admin user classes on the gateway: a different workload, never
    /// compared with direct.
    Rest,
    /// The one endpoint of a single-target run (`load`, `hey`): never part of a tiered run
    /// (not in [`Tier::ALL`], so no flag or threshold scope names it), measured against nothing.
    Target,
}

impl Tier {
    /// Run order: the MCP tiers of the session era, then of the stateless era, then REST.
    pub const ALL: [Tier; 8] = [
        Tier::Direct,
        Tier::Gateway,
        Tier::Nginx,
        Tier::NginxTls,
        Tier::DirectStateless,
        Tier::GatewayStateless,
        Tier::NginxStateless,
        Tier::Rest,
    ];
    /// The tiers a threshold without `tier=` applies to: the MCP workload through the gateway.
    pub const JUDGED_BY_DEFAULT: [Tier; 5] = [
        Tier::Gateway,
        Tier::Nginx,
        Tier::NginxTls,
        Tier::GatewayStateless,
        Tier::NginxStateless,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Direct => "direct",
            Tier::Gateway => "gateway",
            Tier::Nginx => "nginx",
            Tier::NginxTls => "nginx-tls",
            Tier::DirectStateless => "direct-stateless",
            Tier::GatewayStateless => "gateway-stateless",
            Tier::NginxStateless => "nginx-stateless",
            Tier::Rest => "rest",
            Tier::Target => "target",
        }
    }

    /// The MCP tiers of `era`, in run order.
    pub fn mcp_tiers(era: Era) -> [Tier; 3] {
        match era {
            Era::Session => [Tier::Direct, Tier::Gateway, Tier::Nginx],
            Era::Stateless => [
                Tier::DirectStateless,
                Tier::GatewayStateless,
                Tier::NginxStateless,
            ],
        }
    }

    /// The era the tier's MCP workload is spoken in; None for REST.
    pub fn era(self) -> Option<Era> {
        match self {
            Tier::Direct | Tier::Gateway | Tier::Nginx | Tier::NginxTls => Some(Era::Session),
            Tier::DirectStateless | Tier::GatewayStateless | Tier::NginxStateless => {
                Some(Era::Stateless)
            }
            Tier::Rest | Tier::Target => None,
        }
    }

    /// The same place in the session era (what colours and places charts and notices).
    pub fn place(self) -> Tier {
        match self {
            Tier::DirectStateless => Tier::Direct,
            Tier::GatewayStateless => Tier::Gateway,
            Tier::NginxStateless => Tier::Nginx,
            other => other,
        }
    }

    /// What the tier measures, in a line.
    pub fn description(self) -> String {
        let place = match self.place() {
            Tier::Direct => "bench-server directly (the baseline)",
            Tier::Gateway => "ContextForge virtual server (gateway → bench-server)",
            Tier::Nginx => "nginx → gateway → bench-server",
            Tier::NginxTls => "nginx over HTTPS (the stack's own CA) → gateway → bench-server",
            Tier::Target => return "the URL a single-target run was pointed at".into(),
            _ => return "REST, /rpc and admin user classes on the gateway".into(),
        };
        match self.era() {
            Some(Era::Stateless) => format!("{place}, {}", Era::Stateless.describe()),
            _ => place.to_string(),
        }
    }

    /// A tier measured against direct (the MCP workload through something).
    pub fn has_overhead(self) -> bool {
        matches!(self.place(), Tier::Gateway | Tier::Nginx | Tier::NginxTls)
    }

    /// The prefix of the tier's Locust CSVs (`<prefix>_stats.csv`, …): its name, or for a
    /// single-target run `locust`, as `cargo xtask load` and ContextForge's Makefile name them.
    pub fn csv_prefix(self) -> &'static str {
        match self {
            Tier::Target => loadgen::locust::LOAD_PREFIX,
            other => other.name(),
        }
    }

    /// The tier this one's overhead is measured against: direct, in the same era.
    pub fn baseline(self) -> Option<Tier> {
        self.has_overhead()
            .then(|| Tier::mcp_tiers(self.era().unwrap_or(Era::Session))[0])
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Tier {
    type Err = String;

    fn from_str(text: &str) -> Result<Tier, String> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name() == text.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Tier::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "unknown tier '{}' (known: {})",
                    text.trim(),
                    known.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_by_name_and_refuse_others() {
        for tier in Tier::ALL {
            assert_eq!(tier.name().parse::<Tier>(), Ok(tier));
        }
        assert!("proxy"
            .parse::<Tier>()
            .unwrap_err()
            .contains("unknown tier 'proxy'"));
        assert_eq!(
            serde_json::to_string(&Tier::Nginx).unwrap(),
            "\"nginx\"",
            "the document spells tiers as before"
        );
        for tier in Tier::ALL {
            let json = serde_json::to_string(&tier).unwrap();
            assert_eq!(json, format!("\"{}\"", tier.name()));
        }
    }

    #[test]
    fn each_era_has_its_own_tiers_measured_against_its_own_direct() {
        assert_eq!(
            Tier::GatewayStateless.baseline(),
            Some(Tier::DirectStateless)
        );
        assert_eq!(Tier::Nginx.baseline(), Some(Tier::Direct));
        assert_eq!(Tier::NginxTls.baseline(), Some(Tier::Direct));
        assert_eq!(Tier::NginxTls.era(), Some(Era::Session));
        assert_eq!("nginx-tls".parse::<Tier>(), Ok(Tier::NginxTls));
        assert_eq!(Tier::Rest.baseline(), None);
        assert_eq!(Tier::DirectStateless.baseline(), None);
        assert_eq!(Tier::Rest.era(), None);
        assert!(Tier::NginxStateless
            .description()
            .ends_with("stateless era (2026-07-28)"));
    }
}
