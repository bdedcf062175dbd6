//! What the stack's commands return — `Up`, `Down`, `Clean`, `Status` and its rows — worded for
//! people by their `Display`, so that a command line only prints them.

use std::path::PathBuf;

use serde::Serialize;

use crate::StackState;

/// What `up` did.
#[derive(Debug, Clone)]
pub struct Up {
    pub state: StackState,
    /// The stack was up already (this call started nothing).
    pub already_up: bool,
    /// What it chose or noticed on the way (the runtime, nginx missing, the registration).
    pub notes: Vec<String>,
}

impl std::fmt::Display for Up {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        let state = &self.state;
        if self.already_up {
            writeln!(
                f,
                "the stack is already up ({} services, {}); `benchmark-down` stops it",
                state.service_count(),
                state.runtime
            )?;
        }
        writeln!(f, "gateway: http://127.0.0.1:{}", state.gateway_port)?;
        if let Some(port) = state.nginx_port {
            let cached = if state.nginx_cache {
                " (list pages cached)"
            } else {
                ""
            };
            writeln!(f, "nginx:   http://127.0.0.1:{port}{cached}")?;
        }
        if let Some(tls) = &state.nginx_tls {
            writeln!(
                f,
                "nginx:   https://127.0.0.1:{} (its CA: {}, for --cacert)",
                tls.port,
                tls.ca_cert.display()
            )?;
        }
        if let Some(id) = &state.virtual_server_id {
            writeln!(
                f,
                "MCP:     http://127.0.0.1:{}/{}",
                state.gateway_port,
                contextforge::naming::virtual_server_mcp_path(id)
            )?;
        }
        write!(
            f,
            "token:   cargo xtask jwt --admin   (signed with this stack's secret)"
        )
    }
}

/// What `down` did.
#[derive(Debug, Clone, Default)]
pub struct Down {
    /// Process groups (local services) stopped.
    pub stopped: usize,
    /// Containers removed.
    pub removed: usize,
    /// What it noticed about the state file.
    pub notes: Vec<String>,
}

impl Down {
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.stopped > 0 {
            parts.push(format!("stopped {} service(s)", self.stopped));
        }
        if self.removed > 0 {
            parts.push(format!("removed {} container(s)", self.removed));
        }
        if parts.is_empty() {
            parts.push("nothing is up".into());
        }
        parts.join("; ")
    }
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())?;
        self.notes.iter().try_for_each(|n| write!(f, "\n{n}"))
    }
}

/// What `clean` did.
#[derive(Debug, Clone)]
pub struct Clean {
    pub down: Down,
    /// The state directory removed (None: there was none).
    pub removed: Option<PathBuf>,
}

impl std::fmt::Display for Clean {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.down.summary())?;
        if let Some(dir) = &self.removed {
            write!(f, "; removed {}", dir.display())?;
        }
        self.down.notes.iter().try_for_each(|n| write!(f, "\n{n}"))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub state: String,
    pub endpoint: String,
    pub health: String,
    /// The main process (for a container: as the host sees it).
    pub pid: Option<u32>,
    /// The container's name (docker runtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// What `status` found.
#[derive(Debug, Clone)]
pub struct Status {
    /// One per service (empty: nothing is up).
    pub rows: Vec<ServiceStatus>,
    /// What it noticed about the state file.
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_says_what_it_stopped_or_that_nothing_is_up() {
        let nothing = Down::default();
        assert_eq!(nothing.to_string(), "nothing is up");
        let both = Down {
            stopped: 3,
            removed: 2,
            notes: vec!["stack.json was missing".into()],
        };
        assert_eq!(
            both.to_string(),
            "stopped 3 service(s); removed 2 container(s)\nstack.json was missing"
        );
        let clean = Clean {
            down: both,
            removed: Some(PathBuf::from(".mcpbench")),
        };
        assert!(clean
            .to_string()
            .starts_with("stopped 3 service(s); removed 2 container(s); removed .mcpbench\n"));
    }
}
