//! The stack's state file: what `up` started and where, and the secrets it generated. Written
//! 0600 (it holds the gateway's secrets) so that `status`, `down`, `clean`, `logs` and `jwt` find
//! exactly what this stack made and nothing else.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::process::ProcessId;

pub const STATE_FILE: &str = "stack.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackState {
    pub runtime: String,
    pub created_at: String,
    /// The gateway's JWT_SECRET_KEY and AUTH_ENCRYPTION_SECRET (never printed).
    pub jwt_secret: String,
    pub auth_secret: String,
    pub bench_count: u16,
    pub bench_start_port: u16,
    pub gateway_port: u16,
    /// None when nginx was not available.
    pub nginx_port: Option<u16>,
    pub nginx_cache: bool,
    pub virtual_server_id: Option<String>,
    /// The local runtime's processes.
    pub services: Vec<Service>,
    /// The docker runtime's containers (also labelled with the stack, see `docker.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerService>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub process: ProcessId,
    /// Base URL and health path.
    pub endpoint: String,
    pub health_path: String,
    pub log: PathBuf,
}

/// A service the docker runtime created, recorded before it is started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerService {
    pub name: String,
    pub container_id: String,
    pub container_name: String,
    /// Base URL and health path.
    pub endpoint: String,
    pub health_path: String,
}

impl StackState {
    /// A new stack on `runtime` with fresh CSPRNG secrets and nothing started yet.
    pub fn new(runtime: &str, options: &crate::UpOptions) -> StackState {
        StackState {
            runtime: runtime.into(),
            created_at: chrono::Utc::now().to_rfc3339(),
            jwt_secret: contextforge::secrets::generate(),
            auth_secret: contextforge::secrets::generate(),
            bench_count: options.count,
            bench_start_port: options.start_port,
            gateway_port: options.gateway_port,
            nginx_port: None,
            nginx_cache: options.nginx_cache,
            virtual_server_id: None,
            services: vec![],
            containers: vec![],
        }
    }

    pub fn load(dir: &Path) -> Result<Option<StackState>, String> {
        let path = dir.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                format!(
                    "{} is not a stack state file ({e}): remove it or run benchmark-clean",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(self).expect("state serialises");
        contextforge::secrets::write_private(&dir.join(STATE_FILE), &text)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(STATE_FILE).display()))
    }

    /// The runtime this recorded stack still runs on, if any of it runs: a later `up` keeps
    /// that runtime and reports the stack already up.
    pub fn running_on(&self) -> Option<crate::Runtime> {
        if self.runtime == "docker" && !self.containers.is_empty() {
            Some(crate::Runtime::Docker)
        } else if self.runtime == "local" && self.services.iter().any(|p| p.process.is_alive()) {
            Some(crate::Runtime::Local)
        } else {
            None
        }
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}
