//! The stack's state file and its identity. `.mcpbench/stack.json` (0600: it holds the gateway's
//! secrets) records what `up` started and where, so that `status`, `down`, `logs` and `jwt` find
//! it; the stack id — a hash of the state directory's absolute path — is what every container's
//! label and every process's mark carry, so the stack is found without the file too.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use contextforge::release::Release;
use contextforge::settings::{Cache, Database, DatabaseAt, Login, Storage};
use contextforge::source::SourceRevision;
use serde::{Deserialize, Serialize};

use crate::process::ProcessId;

pub const STATE_FILE: &str = "stack.json";

/// Where a stack's services run (as recorded; `--runtime` is [`crate::RuntimeChoice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// Containers through the Docker Engine API (Docker, or Podman's compatible service).
    Docker,
    /// Process groups of this machine.
    Local,
}

impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Runtime::Docker => "docker",
            Runtime::Local => "local",
        })
    }
}

/// The id of the stack kept in `state_dir`: a hash (FNV-1a) of the directory's absolute path, 16
/// hex digits. The docker runtime labels its containers with it and the local runtime marks its
/// processes with it.
pub fn stack_id(state_dir: &Path) -> String {
    path_id(state_dir)
}

/// A directory's id: a hash (FNV-1a) of its absolute path, 16 hex digits.
pub fn path_id(dir: &Path) -> String {
    let path = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Creates `dir` (and its parents) readable by its owner only, and narrows an existing one to
/// 0700: the state directory holds the secrets, the gateway's database and the logs.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The ContextForge code a stack's gateway runs, once installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRun {
    pub release: Release,
    /// The checkout it came from, when it is not a release from PyPI.
    pub source: Option<SourceRevision>,
}

impl GatewayRun {
    pub fn release(release: Release) -> GatewayRun {
        GatewayRun {
            release,
            source: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackState {
    pub runtime: Runtime,
    pub created_at: String,
    /// The gateway's JWT_SECRET_KEY and AUTH_ENCRYPTION_SECRET (never printed).
    pub jwt_secret: String,
    pub auth_secret: String,
    /// The ContextForge release the gateway runs (stacks recorded before it was chosen ran the
    /// newest for Python 3.11).
    #[serde(default = "Release::newest_for_python_3_11")]
    pub gateway_release: Release,
    /// The checkout the gateway was installed from (`--gateway-source`); its version is
    /// `gateway_release`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_source: Option<SourceRevision>,
    /// Gateway worker processes (stacks recorded before it was: one).
    #[serde(default = "one_worker")]
    pub gateway_workers: u32,
    /// The stack's PostgreSQL server (`--database postgres`); without one, the gateway's SQLite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<ServerLogin>,
    /// What the gateway caches in; [`Cache::Redis`] exactly when `redis` is set.
    #[serde(default)]
    pub cache: Cache,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<ServerLogin>,
    /// The gateway's settings that shape its performance, as it was started with them (no
    /// secrets; see `contextforge::settings::performance_settings`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_settings: Vec<(String, String)>,
    pub bench_count: u16,
    pub bench_start_port: u16,
    pub gateway_port: u16,
    /// None when nginx was not available.
    pub nginx_port: Option<u16>,
    pub nginx_cache: bool,
    /// nginx's TLS listener, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx_tls: Option<NginxTls>,
    /// Set once every bench server is registered: the stack is complete.
    pub virtual_server_id: Option<String>,
    /// The local runtime's processes.
    pub services: Vec<Service>,
    /// The docker runtime's containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerService>,
    /// `--cpus`/`--memory` on every container (docker runtime).
    #[serde(default, skip_serializing_if = "crate::ContainerLimits::is_unlimited")]
    pub container_limits: crate::ContainerLimits,
}

fn one_worker() -> u32 {
    1
}

/// nginx's TLS listener: its port on loopback and the certificate of the CA that signed its
/// certificate (what a client trusts: `load --cacert`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxTls {
    pub port: u16,
    pub ca_cert: PathBuf,
}

/// A database or cache server of the stack: its port on loopback and the gateway's password
/// (CSPRNG, never printed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLogin {
    pub port: u16,
    pub password: String,
}

impl ServerLogin {
    fn new(port: u16) -> ServerLogin {
        ServerLogin {
            port,
            password: contextforge::secrets::generate(),
        }
    }

    pub fn login(&self) -> Login<'_> {
        Login {
            port: self.port,
            password: &self.password,
        }
    }
}

/// A service the local runtime started: the leader of its own process group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub process: ProcessId,
    /// Base URL and health path.
    pub endpoint: String,
    pub health_path: String,
    pub log: PathBuf,
}

/// A service the docker runtime started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerService {
    pub name: String,
    pub container_id: String,
    pub container_name: String,
    /// Base URL and health path.
    pub endpoint: String,
    pub health_path: String,
}

/// What a runtime reports having started, for the state file.
#[derive(Debug, Clone)]
pub enum Started {
    Process(Service),
    Container(ContainerService),
}

impl StackState {
    /// A new stack on `runtime` with fresh CSPRNG secrets and nothing started yet.
    pub fn new(runtime: Runtime, options: &crate::UpOptions, code: GatewayRun) -> StackState {
        StackState {
            runtime,
            gateway_release: code.release,
            gateway_source: code.source,
            created_at: chrono::Utc::now().to_rfc3339(),
            jwt_secret: contextforge::secrets::generate(),
            auth_secret: contextforge::secrets::generate(),
            gateway_workers: options.workers,
            postgres: (options.database() == Database::Postgres)
                .then(|| ServerLogin::new(options.postgres_port)),
            cache: options.cache(),
            redis: (options.cache() == Cache::Redis).then(|| ServerLogin::new(options.redis_port)),
            gateway_settings: vec![],
            bench_count: options.count,
            bench_start_port: options.start_port,
            gateway_port: options.gateway_port,
            nginx_port: None,
            nginx_cache: options.nginx_cache,
            nginx_tls: None,
            virtual_server_id: None,
            services: vec![],
            containers: vec![],
            container_limits: options.limits,
        }
    }

    /// The recorded stack, None when there is no state file; an error names a file that cannot
    /// be read or is not a state file.
    pub fn load(dir: &Path) -> Result<Option<StackState>, String> {
        let path = dir.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{} is corrupt ({e})", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the state file (0600, atomically).
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(self).expect("state serialises");
        contextforge::secrets::write_private(&dir.join(STATE_FILE), &text)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(STATE_FILE).display()))
    }

    /// Records a service that was just started.
    pub fn record(&mut self, started: Started) {
        match started {
            Started::Process(service) => self.services.push(service),
            Started::Container(container) => self.containers.push(container),
        }
    }

    /// Forgets every service (they were stopped): the secrets and the ports stay.
    pub fn forget_services(&mut self) {
        self.services.clear();
        self.containers.clear();
        self.virtual_server_id = None;
    }

    /// Where the gateway keeps its data.
    pub fn database(&self) -> Database {
        match self.postgres {
            Some(_) => Database::Postgres,
            None => Database::Sqlite,
        }
    }

    /// The gateway's storage settings, with its SQLite file (when it has no PostgreSQL) at
    /// `sqlite` as the gateway sees it.
    pub fn storage<'a>(&'a self, sqlite: &'a Path) -> Storage<'a> {
        Storage {
            database: match &self.postgres {
                Some(server) => DatabaseAt::Postgres(server.login()),
                None => DatabaseAt::Sqlite(sqlite),
            },
            cache: self.cache,
            redis: self.redis.as_ref().map(ServerLogin::login),
        }
    }

    /// How many services are recorded.
    pub fn service_count(&self) -> usize {
        self.services.len() + self.containers.len()
    }

    /// Every service started and every bench server registered: a stack `up` can find up.
    pub fn is_complete(&self) -> bool {
        self.service_count() > 0 && self.virtual_server_id.is_some()
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn container(&self, name: &str) -> Option<&ContainerService> {
        self.containers.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stack-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        private_dir(&dir).unwrap();
        dir
    }

    fn options() -> crate::UpOptions {
        crate::UpOptions::defaults_for_tests()
    }

    #[test]
    fn stack_ids_are_stable_and_differ_by_directory() {
        let a = stack_id(Path::new("/srv/one/.mcpbench"));
        assert_eq!(a, stack_id(Path::new("/srv/one/.mcpbench")));
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, stack_id(Path::new("/srv/two/.mcpbench")));
        let relative = stack_id(Path::new(".mcpbench"));
        let absolute = std::env::current_dir().unwrap().join(".mcpbench");
        assert_eq!(
            relative,
            stack_id(&absolute),
            "relative paths count from here"
        );
    }

    #[test]
    fn the_state_round_trips_owner_only_and_a_corrupt_or_missing_file_is_told_apart() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("roundtrip");
        assert!(StackState::load(&dir).unwrap().is_none(), "missing: None");

        let mut state = StackState::new(
            Runtime::Local,
            &options(),
            GatewayRun::release(Release::newest()),
        );
        state.record(Started::Container(ContainerService {
            name: crate::GATEWAY.into(),
            container_id: "c0ffee".into(),
            container_name: "mcpbench-x-gateway".into(),
            endpoint: "http://127.0.0.1:4444".into(),
            health_path: contextforge::naming::READY_PATH.into(),
        }));
        state.virtual_server_id = Some("vs".into());
        state.save(&dir).unwrap();
        let mode = std::fs::metadata(dir.join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = StackState::load(&dir).unwrap().unwrap();
        assert_eq!(loaded.runtime, Runtime::Local);
        assert_eq!(loaded.jwt_secret, state.jwt_secret);
        assert_eq!(
            loaded.container(crate::GATEWAY).unwrap().container_id,
            "c0ffee"
        );
        assert!(loaded.is_complete());

        std::fs::write(dir.join(STATE_FILE), b"{\"runtime\": \"loc").unwrap();
        let corrupt = StackState::load(&dir).unwrap_err();
        assert!(
            corrupt.ends_with(
                "stack.json is corrupt (EOF while parsing a string at line 1 column 16)"
            ),
            "{corrupt}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_state_file_of_the_earlier_string_runtime_still_loads() {
        let dir = temp_dir("compat");
        let text = r#"{"runtime":"docker","created_at":"2026-01-01T00:00:00Z","jwt_secret":"j",
            "auth_secret":"a","bench_count":2,"bench_start_port":9000,"gateway_port":4444,
            "nginx_port":8080,"nginx_cache":false,"virtual_server_id":null,"services":[]}"#;
        std::fs::write(dir.join(STATE_FILE), text).unwrap();
        let state = StackState::load(&dir).unwrap().unwrap();
        assert_eq!(state.runtime, Runtime::Docker);
        assert_eq!(state.runtime.to_string(), "docker");
        assert!(!state.is_complete());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn private_dirs_are_owner_only_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("private");
        let nested = dir.join("a/b");
        private_dir(&nested).unwrap();
        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&nested).unwrap();
        for d in [dir.join("a"), nested] {
            assert_eq!(
                std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
