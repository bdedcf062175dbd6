//! The tiers of an overhead run — the same MCP workload straight at the bench server, through
//! the gateway, through nginx in front of it — and the REST classes on the gateway. One type
//! for the pipeline that runs them and every view that shows them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The bench server directly: the baseline every MCP tier is measured against.
    Direct,
    /// The gateway's virtual server (gateway → bench server).
    Gateway,
    /// nginx → gateway → bench server.
    Nginx,
    /// The REST, `/rpc` and admin user classes on the gateway: a different workload, never
    /// compared with direct.
    Rest,
}

impl Tier {
    /// Run order.
    pub const ALL: [Tier; 4] = [Tier::Direct, Tier::Gateway, Tier::Nginx, Tier::Rest];
    /// The tiers a threshold without `tier=` applies to: the MCP workload through the gateway.
    pub const JUDGED_BY_DEFAULT: [Tier; 2] = [Tier::Gateway, Tier::Nginx];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Direct => "direct",
            Tier::Gateway => "gateway",
            Tier::Nginx => "nginx",
            Tier::Rest => "rest",
        }
    }

    /// What the tier measures, in a line.
    pub fn description(self) -> &'static str {
        match self {
            Tier::Direct => "bench-server directly (the baseline)",
            Tier::Gateway => "ContextForge virtual server (gateway → bench-server)",
            Tier::Nginx => "nginx → gateway → bench-server",
            Tier::Rest => "REST, /rpc and admin user classes on the gateway",
        }
    }

    /// A tier measured against direct (the MCP workload through something).
    pub fn has_overhead(self) -> bool {
        matches!(self, Tier::Gateway | Tier::Nginx)
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
    }
}
