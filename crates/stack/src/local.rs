//! The local runtime: each service a process group of this machine, started with the stack's
//! mark (see `process.rs`), logging to `<state dir>/logs/<service>.log`; the gateway from a
//! cached venv of the pinned release, nginx from this machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cli::Signal;

use crate::backend::Backend;
use contextforge::release::{Python, Release};
use contextforge::settings::{Cache, Database};
use contextforge::source::Checkout;

use crate::debian::Suite;
use crate::process::{self, ProcessId};
use crate::python::PythonHome;
use crate::rootfs::Rootfs;
use crate::services::{
    self, NginxPaths, ServiceSpec, BENCH_SERVERS, GATEWAY, NGINX, POSTGRES, REDIS, SERVICES,
};
use crate::state::{path_id, private_dir, GatewayRun, Runtime, Service, StackState, Started};
use crate::{
    infra, tail, which, GatewayCode, LogRequest, ServiceStatus, StackError, UpOptions, STOP_GRACE,
};

/// The variable naming the nginx binary (empty: run without nginx).
const NGINX_VARIABLE: &str = "MCPBENCH_NGINX";

/// The nginx the local stack runs, or why it runs without.
#[derive(Debug, Clone)]
pub enum Nginx {
    At(PathBuf),
    Without(String),
    /// Not on this machine: `prepare` provisions it (see the `provision` crate).
    NotInstalled,
}

/// nginx from `MCPBENCH_NGINX` (a path to an executable file; empty: run without nginx), else
/// from PATH or the system directories. A variable naming anything but an executable file is a
/// usage error.
pub fn find_nginx() -> Result<Nginx, StackError> {
    use std::os::unix::fs::PermissionsExt;
    match std::env::var_os(NGINX_VARIABLE) {
        Some(path) if path.is_empty() => Ok(Nginx::Without(format!(
            "{NGINX_VARIABLE} is empty: the stack runs without nginx"
        ))),
        Some(path) => {
            let path = PathBuf::from(path);
            let executable = std::fs::metadata(&path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if executable {
                Ok(Nginx::At(path))
            } else {
                Err(StackError::Usage(format!(
                    "{NGINX_VARIABLE}={} is not an executable file (unset it to look on PATH, or \
                     set it empty to run without nginx)",
                    path.display()
                )))
            }
        }
        None => Ok(which("nginx").map_or(Nginx::NotInstalled, Nginx::At)),
    }
}

/// The stack in one state directory as process groups.
pub struct Processes {
    state_dir: PathBuf,
    stack: String,
    nginx: Nginx,
    /// The gateway's installation, once prepared.
    gateway: Option<GatewayInstall>,
}

impl Processes {
    /// The local stack in `state_dir`, to find, inspect and stop.
    pub fn new(state_dir: &Path) -> Processes {
        Processes {
            state_dir: state_dir.to_path_buf(),
            stack: crate::state::stack_id(state_dir),
            // Inspecting and stopping never start nginx.
            nginx: Nginx::Without("this command starts nothing".into()),
            gateway: None,
        }
    }

    /// The local stack in `state_dir`, to bring up with `nginx`.
    pub fn with_nginx(state_dir: &Path, nginx: Nginx) -> Processes {
        Processes {
            nginx,
            ..Processes::new(state_dir)
        }
    }

    /// Python's venv support, PostgreSQL and Redis when the stack runs them, and, unless the
    /// user chose one or none, nginx: installed when absent and this process may (an install may
    /// take minutes, so off the async threads).
    async fn provision(&mut self, options: &UpOptions) -> Result<(), StackError> {
        let mut pieces = vec![provision::Piece::PythonVenv];
        if matches!(self.nginx, Nginx::NotInstalled) {
            pieces.push(provision::Piece::Nginx);
        }
        if options.database() == Database::Postgres {
            pieces.push(provision::Piece::Postgres);
        }
        if options.cache() == Cache::Redis {
            pieces.push(provision::Piece::Redis);
        }
        tokio::task::spawn_blocking(move || provision::ensure(&pieces))
            .await
            .map_err(|e| infra(format!("provisioning: {e}")))?
            .map_err(StackError::Missing)?;
        if matches!(self.nginx, Nginx::NotInstalled) {
            let nginx =
                which("nginx").ok_or_else(|| infra("nginx was installed, yet is not found"))?;
            self.nginx = Nginx::At(nginx);
        }
        Ok(())
    }

    fn log(&self, service: &str) -> PathBuf {
        self.state_dir.join("logs").join(format!("{service}.log"))
    }

    /// A private (0700) directory of the stack, as an absolute path: the services run in other
    /// working directories, where a relative one would not reach it.
    fn private_subdir(&self, name: &str) -> Result<PathBuf, StackError> {
        let dir =
            std::path::absolute(self.state_dir.join(name)).map_err(|e| infra(e.to_string()))?;
        private_dir(&dir).map_err(|e| infra(format!("{}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// The gateway: `mcpgateway` (uvicorn) or gunicorn for several workers, configured through
    /// its environment, its database in its own owner-only directory.
    fn gateway_command(
        &self,
        options: &UpOptions,
        state: &StackState,
    ) -> Result<Command, StackError> {
        let install = self
            .gateway
            .as_ref()
            .expect("prepared before anything starts");
        let gateway_dir = self.private_subdir(GATEWAY)?;
        let (database, program) = install.place(&gateway_dir);
        let env = contextforge::settings::load_test_env(
            &state.jwt_secret,
            &state.auth_secret,
            &state.storage(&database),
            options.tracking,
            options.admin_ui,
        );
        let port = options.gateway_port.to_string();
        let mut command = if options.workers > 1 {
            let mut c = program("gunicorn");
            c.args(["-k", "uvicorn.workers.UvicornWorker"])
                .args(["-w", &options.workers.to_string()])
                .args(["-b", &format!("127.0.0.1:{port}"), "--timeout", "600"])
                .args(["--no-control-socket", "--access-logfile", "/dev/null"])
                .args(["--error-logfile", "-", contextforge::settings::ASGI_APP]);
            c
        } else {
            let mut c = program(contextforge::settings::SERVER_BINARY);
            c.args(["--host", "127.0.0.1", "--port", &port]);
            c
        };
        // No .env may sit in its working directory: pydantic would read it.
        command
            .current_dir(&gateway_dir)
            .envs(env)
            .env(contextforge::settings::PORT_ENV, &port);
        Ok(command)
    }

    /// PostgreSQL through `compose/postgres-start.sh`, its cluster in the stack's directory. The
    /// server refuses to run as root: run by root, it gets a user namespace of its own in which
    /// it is `nobody` — and owns the stack's files, which stay root's outside.
    fn postgres_command(
        &self,
        options: &UpOptions,
        state: &StackState,
    ) -> Result<Command, StackError> {
        let login = state.postgres.as_ref().expect("recorded with the stack");
        let bin = provision::postgres_bin_dir()
            .ok_or_else(|| infra("PostgreSQL was installed, yet its programs are not found"))?;
        let dir = self.private_subdir(POSTGRES)?;
        let data = dir.join("data").display().to_string();
        let mut command = if is_root() {
            let mut c = Command::new("unshare");
            c.args([
                "--user",
                "--map-user=65534",
                "--map-group=65534",
                "sh",
                "-c",
            ]);
            c
        } else {
            let mut c = Command::new("sh");
            c.arg("-c");
            c
        };
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin];
        paths.extend(std::env::split_paths(&path));
        command
            .arg(services::POSTGRES_SCRIPT)
            .current_dir(&dir)
            .env(
                "PATH",
                std::env::join_paths(paths).map_err(|e| infra(e.to_string()))?,
            )
            .envs(services::postgres_env(options, &login.password, &data));
        Ok(command)
    }

    /// Redis through `compose/redis-start.sh`, its configuration in the stack's directory.
    fn redis_command(
        &self,
        options: &UpOptions,
        state: &StackState,
    ) -> Result<Command, StackError> {
        let login = state.redis.as_ref().expect("recorded with the stack");
        let dir = self.private_subdir(REDIS)?;
        let mut command = Command::new("sh");
        command
            .args(["-c", services::REDIS_SCRIPT])
            .current_dir(&dir)
            .envs(services::redis_env(
                options,
                &login.password,
                &dir.display().to_string(),
            ));
        Ok(command)
    }

    /// nginx with its configuration rendered into the stack's directory. Its workers run as root
    /// when the master does (they must reach the owner-only directory), and it carries the mark
    /// on its command line as well: nginx overwrites its environment with its process title.
    fn nginx_command(&self, options: &UpOptions, nginx: &Path) -> Result<Command, StackError> {
        let dir = self.private_subdir(NGINX)?;
        let error_log =
            std::path::absolute(self.log("nginx-error")).map_err(|e| infra(e.to_string()))?;
        let root = is_root();
        let tls_dir = std::path::absolute(self.state_dir.join(crate::tls::TLS_DIR))
            .map_err(|e| infra(e.to_string()))?;
        let text = services::nginx_config(
            options,
            &NginxPaths {
                dir: &dir.display().to_string(),
                error_log: &error_log.display().to_string(),
                user: root.then_some("root"),
                tls_dir: &tls_dir.display().to_string(),
            },
        )?;
        let conf = dir.join("nginx.conf");
        contextforge::secrets::write_private(&conf, text.as_bytes())
            .map_err(|e| infra(format!("{}: {e}", conf.display())))?;
        let mark: Vec<String> = process::marks(&self.stack, NGINX)
            .iter()
            .map(|(name, value)| format!("env {name}={value};"))
            .collect();
        let mut command = Command::new(nginx);
        command
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&dir)
            .arg("-g")
            .arg(mark.join(" "));
        Ok(command)
    }
}

impl Backend for Processes {
    const RUNTIME: Runtime = Runtime::Local;

    async fn prepare(
        &mut self,
        options: &UpOptions,
        notes: &mut Vec<String>,
    ) -> Result<GatewayRun, StackError> {
        if !options.bench_server.path.is_file() {
            return Err(infra(format!(
                "{} is missing: build it with `cargo build --release -p bench-server`",
                options.bench_server.path.display()
            )));
        }
        self.provision(options).await?;
        if let Nginx::Without(why) = &self.nginx {
            notes.push(why.clone());
        }
        self.private_subdir("logs")?;
        let (run, install) = install_gateway(options, notes).await?;
        self.gateway = Some(install);
        Ok(run)
    }

    fn runs_nginx(&self) -> bool {
        matches!(self.nginx, Nginx::At(_))
    }

    async fn start(
        &self,
        service: &ServiceSpec,
        options: &UpOptions,
        state: &StackState,
    ) -> Result<Started, StackError> {
        let mut command = match (service.name, &self.nginx) {
            (BENCH_SERVERS, _) => {
                let mut c = Command::new(&options.bench_server.path);
                c.args(&options.bench_server.leading_args)
                    .args(services::bench_server_args(options));
                c
            }
            (POSTGRES, _) => self.postgres_command(options, state)?,
            (REDIS, _) => self.redis_command(options, state)?,
            (GATEWAY, _) => self.gateway_command(options, state)?,
            (NGINX, Nginx::At(nginx)) => self.nginx_command(options, nginx)?,
            (other, _) => return Err(infra(format!("the local runtime cannot start {other}"))),
        };
        let log = self.log(service.name);
        let process = process::spawn(&mut command, &log, &self.stack, service.name)
            .map_err(|e| infra(format!("cannot start {}: {e}", service.name)))?;
        Ok(Started::Process(Service {
            name: service.name.into(),
            process,
            endpoint: service.endpoint(),
            health_path: service.health_path.into(),
            log,
        }))
    }

    async fn has_exited(&self, state: &StackState, service: &str) -> bool {
        state.service(service).is_none_or(|s| !s.process.is_alive())
    }

    async fn last_lines(&self, state: &StackState, service: &str, lines: usize) -> String {
        state
            .service(service)
            .map_or_else(String::new, |s| tail(&s.log, lines))
    }

    async fn all_running(&self, state: &StackState) -> bool {
        !state.services.is_empty() && state.services.iter().all(|s| s.process.is_alive())
    }

    async fn stop_all(&self, recorded: Option<&StackState>) -> Result<usize, StackError> {
        let stack = self.stack.clone();
        let processes: Vec<ProcessId> = recorded
            .map(|s| s.services.iter().map(|s| s.process.clone()).collect())
            .unwrap_or_default();
        tokio::task::spawn_blocking(move || process::stop_stack(&stack, &processes, STOP_GRACE))
            .await
            .map_err(|e| infra(format!("stopping the stack's processes: {e}")))
    }

    async fn still_there(&self) -> Result<usize, StackError> {
        let mut groups: Vec<u32> = process::marked(&self.stack)
            .iter()
            .map(|m| m.group)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        Ok(groups.len())
    }

    async fn status(
        &self,
        recorded: Option<&StackState>,
    ) -> Result<Vec<ServiceStatus>, StackError> {
        let Some(state) = recorded else {
            return Ok(found_by_mark(&self.stack));
        };
        let client = crate::health::probe_client();
        let mut rows = Vec::new();
        for s in &state.services {
            let alive = s.process.is_alive();
            let health = if alive {
                crate::health::probe(&client, &format!("{}{}", s.endpoint, s.health_path)).await
            } else {
                "-".to_string()
            };
            rows.push(ServiceStatus {
                service: s.name.clone(),
                state: if alive { "running" } else { "stopped" }.into(),
                endpoint: s.endpoint.clone(),
                health,
                pid: alive.then_some(s.process.pid),
                container: None,
            });
        }
        Ok(rows)
    }

    async fn logs(
        &self,
        request: LogRequest<'_>,
        mut line: impl FnMut(&str, &str),
        stop: impl std::future::Future<Output = Signal>,
    ) -> Result<(), StackError> {
        let files: Vec<(&str, PathBuf)> = SERVICES
            .iter()
            .filter(|n| request.wants(n))
            .map(|n| (*n, self.log(n)))
            .filter(|(_, p)| p.exists())
            .collect();
        let mut offsets = Vec::new();
        for (name, path) in &files {
            for text in tail(path, request.lines).lines() {
                line(name, text);
            }
            offsets.push(std::fs::metadata(path).map_or(0, |m| m.len()));
        }
        if !request.follow {
            return Ok(());
        }
        tokio::pin!(stop);
        loop {
            tokio::select! {
                signal = &mut stop => return Err(StackError::Interrupted(signal)),
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            for ((name, path), offset) in files.iter().zip(offsets.iter_mut()) {
                let Ok(bytes) = std::fs::read(path) else {
                    continue;
                };
                if (bytes.len() as u64) > *offset {
                    for text in String::from_utf8_lossy(&bytes[*offset as usize..]).lines() {
                        line(name, text);
                    }
                    *offset = bytes.len() as u64;
                }
            }
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no arguments and no memory effects.
    unsafe { libc::geteuid() == 0 }
}

/// One row per service of the stack found by its mark (no state file to say more): its process
/// group's leader, running; endpoint and health unknown.
fn found_by_mark(stack: &str) -> Vec<ServiceStatus> {
    let mut groups: Vec<(u32, String)> = process::marked(stack)
        .into_iter()
        .map(|m| (m.group, m.service.unwrap_or_else(|| "?".into())))
        .collect();
    groups.sort_by_key(|(group, service)| (SERVICES.iter().position(|s| s == service), *group));
    groups.dedup_by_key(|(group, _)| *group);
    groups
        .into_iter()
        .map(|(group, service)| ServiceStatus {
            service,
            state: "running".into(),
            endpoint: "-".into(),
            health: "-".into(),
            pid: Some(group),
            container: None,
        })
        .collect()
}

/// Where the gateway is installed and so how it runs.
enum GatewayInstall {
    /// A venv of the host's Python.
    Host { venv: PathBuf },
    /// A venv inside a Debian root filesystem (the host's Python is too old for the code), with
    /// the host paths it needs mounted (a checkout, for an editable install).
    Rootfs {
        rootfs: Rootfs,
        venv: String,
        binds: Vec<(PathBuf, String)>,
    },
}

/// Where the root filesystem sees the gateway's directory, and a checkout.
const GATEWAY_DIR_INSIDE: &str = "/data";
const SOURCE_INSIDE: &str = "/src";

impl GatewayInstall {
    /// Its database path, and how to start one of its venv's programs, for `gateway_dir`.
    fn place<'a>(&'a self, gateway_dir: &'a Path) -> (PathBuf, impl Fn(&str) -> Command + 'a) {
        let database = match self {
            GatewayInstall::Host { .. } => gateway_dir.join("mcp.db"),
            GatewayInstall::Rootfs { .. } => Path::new(GATEWAY_DIR_INSIDE).join("mcp.db"),
        };
        let program = move |name: &str| match self {
            GatewayInstall::Host { venv } => Command::new(venv.join("bin").join(name)),
            GatewayInstall::Rootfs {
                rootfs,
                venv,
                binds,
            } => {
                let data = (gateway_dir.to_path_buf(), GATEWAY_DIR_INSIDE.to_string());
                let binds: Vec<_> = binds.iter().cloned().chain([data]).collect();
                rootfs.command(&binds, GATEWAY_DIR_INSIDE, &format!("{venv}/bin/{name}"))
            }
        };
        (database, program)
    }
}

/// What pip installs: a release, or a checkout in editable mode (its code changes apply at the
/// next start; a changed `pyproject.toml` installs again).
enum Package {
    Release(Release),
    Checkout(Checkout),
}

impl Package {
    fn python(&self) -> Python {
        match self {
            Package::Release(release) => release.minimum_python(),
            Package::Checkout(checkout) => checkout.minimum_python,
        }
    }

    /// Its venv's directory name: one per release, one per checkout directory.
    fn venv_name(&self) -> String {
        match self {
            Package::Release(release) => format!("contextforge-{release}"),
            Package::Checkout(c) => format!("contextforge-source-{}", path_id(&c.dir)),
        }
    }

    fn run(&self) -> GatewayRun {
        match self {
            Package::Release(release) => GatewayRun::release(release.clone()),
            Package::Checkout(checkout) => GatewayRun {
                release: checkout.version.clone(),
                source: Some(checkout.revision.clone()),
            },
        }
    }

    /// pip's arguments with the checkout at `source` as the installing Python sees it, and what
    /// marks the venv as holding them.
    fn pip(&self, source: &str) -> (Vec<String>, String) {
        match self {
            Package::Release(release) => {
                let requirement = release.pip_requirement();
                let driver = contextforge::settings::POSTGRES_DRIVER;
                (
                    vec![requirement.clone(), driver.into()],
                    format!("{requirement} {driver}"),
                )
            }
            Package::Checkout(checkout) => {
                let pyproject =
                    std::fs::read(checkout.dir.join("pyproject.toml")).unwrap_or_default();
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(&pyproject, &mut hasher);
                let driver = contextforge::settings::POSTGRES_DRIVER;
                let fingerprint = format!(
                    "editable {} {:016x} {driver}",
                    checkout.dir.display(),
                    std::hash::Hasher::finish(&hasher)
                );
                (vec!["-e".into(), source.into(), driver.into()], fingerprint)
            }
        }
    }

    /// Host paths a root filesystem must see: the checkout.
    fn binds(&self) -> Vec<(PathBuf, String)> {
        match self {
            Package::Release(_) => vec![],
            Package::Checkout(c) => vec![(c.dir.clone(), SOURCE_INSIDE.into())],
        }
    }
}

/// The code to run — the checkout or release asked for, else the newest release this machine can
/// run — installed in a cached venv (a spinner while pip runs the first time): with the host's
/// Python when it is new enough, else in a Debian root filesystem that has it.
async fn install_gateway(
    options: &UpOptions,
    notes: &mut Vec<String>,
) -> Result<(GatewayRun, GatewayInstall), StackError> {
    let code = options.gateway.clone();
    let cache = options.cache_dir.clone();
    let (package, install, note) =
        tokio::task::spawn_blocking(move || install_package(&code, &cache))
            .await
            .map_err(|e| infra(format!("installing the gateway: {e}")))??;
    notes.extend(note);
    Ok((package.run(), install))
}

/// [`install_gateway`]'s work: the package chosen and installed in its venv. Blocking.
fn install_package(
    code: &GatewayCode,
    cache: &Path,
) -> Result<(Package, GatewayInstall, Option<String>), StackError> {
    let (package, install, note) = choose_install(code, cache)?;
    let what = match &package {
        Package::Release(release) => format!("ContextForge {release}"),
        Package::Checkout(c) => format!("ContextForge from {}", c.dir.display()),
    };
    let bar = indicatif::ProgressBar::new_spinner().with_message(format!(
        "preparing {what} (the first time takes a minute or two)"
    ));
    bar.enable_steady_tick(Duration::from_millis(200));
    let (venv, home, source) = match &install {
        GatewayInstall::Host { venv } => (venv.clone(), PythonHome::Host, package_dir(&package)),
        GatewayInstall::Rootfs {
            rootfs,
            venv,
            binds,
        } => (
            rootfs.host_path(venv),
            PythonHome::Rootfs(rootfs, binds),
            SOURCE_INSIDE.to_string(),
        ),
    };
    let (pip_args, fingerprint) = package.pip(&source);
    let result = crate::python::ensure_venv(&venv, &pip_args, &fingerprint, home);
    bar.finish_and_clear();
    result.map_err(|e| infra(format!("cannot install {what}: {e}")))?;
    Ok((package, install, note))
}

/// The gateway's own Python: the venv `benchmark-up --runtime local` runs the gateway from.
pub struct GatewayPython {
    /// The release installed there (a checkout's own version for a checkout).
    pub release: Release,
    /// Why it is not the release asked for, when it is not.
    pub note: Option<String>,
    install: GatewayInstall,
    work_dir: PathBuf,
}

impl GatewayPython {
    /// Its venv, installed as `benchmark-up --runtime local` would when absent, for programs
    /// that work in `work_dir` (a host directory they see, in a root filesystem too). Blocking.
    pub fn ensure(
        code: &GatewayCode,
        cache: &Path,
        work_dir: &Path,
    ) -> Result<GatewayPython, StackError> {
        provision::ensure(&[provision::Piece::PythonVenv]).map_err(StackError::Missing)?;
        let (package, install, note) = install_package(code, cache)?;
        Ok(GatewayPython {
            release: package.run().release,
            note,
            install,
            work_dir: work_dir.to_path_buf(),
        })
    }

    /// `python` of the venv, ready for its arguments, in the work directory.
    pub fn command(&self) -> Command {
        let (_, program) = self.install.place(&self.work_dir);
        let mut python = program("python");
        if let GatewayInstall::Host { .. } = self.install {
            python.current_dir(&self.work_dir);
        }
        python
    }
}

/// A checkout's directory as the host sees it (empty for a release).
fn package_dir(package: &Package) -> String {
    match package {
        Package::Release(_) => String::new(),
        Package::Checkout(c) => c.dir.display().to_string(),
    }
}

/// What is installed, where, and a note when it is not the newest release for want of a Python.
/// Blocking: the first root filesystem takes debootstrap a minute or more.
fn choose_install(
    code: &GatewayCode,
    cache: &Path,
) -> Result<(Package, GatewayInstall, Option<String>), StackError> {
    let package = match code {
        GatewayCode::Source(dir) => {
            Package::Checkout(Checkout::inspect(dir).map_err(StackError::Usage)?)
        }
        GatewayCode::Release(release) => {
            Package::Release(release.clone().unwrap_or_else(Release::newest))
        }
    };
    let host = crate::python::host_python();
    let host_can = |python: Python| host.is_some_and(|p| p >= python);
    let on_host = |package: Package| {
        let venv = cache.join(package.venv_name());
        (package, GatewayInstall::Host { venv })
    };
    let needed = package.python();
    if host_can(needed) {
        let (package, install) = on_host(package);
        return Ok((package, install, None));
    }
    let host_text = host.map_or("none".to_string(), |p| p.to_string());
    let fallback = Release::newest_for_python_3_11();
    match Rootfs::unusable() {
        None => {
            let rootfs = Rootfs::ensure(cache, Suite::for_python(needed))?;
            let venv = format!("/opt/{}", package.venv_name());
            let binds = package.binds();
            Ok((
                package,
                GatewayInstall::Rootfs {
                    rootfs,
                    venv,
                    binds,
                },
                None,
            ))
        }
        Some(why) if *code == GatewayCode::Release(None) && host_can(fallback.minimum_python()) => {
            let note = format!(
                "ContextForge {} needs Python {needed} and this machine has {host_text} \
                 ({why}): running {fallback}; `--runtime docker` runs any release",
                Release::newest()
            );
            let (package, install) = on_host(Package::Release(fallback));
            Ok((package, install, Some(note)))
        }
        Some(why) => Err(infra(format!(
            "the gateway needs Python {needed} and this machine has {host_text}, and {why}: run \
             as root, or use `--runtime docker`"
        ))),
    }
}

/// The gateway's own venv — where `up` installed the code `state` records — with `requirement`
/// installed in it as well (once: cached with the venv, a spinner while pip runs); returns the
/// venv's `bin/` as the host sees it.
pub(crate) async fn ensure_in_gateway_venv(
    state: &StackState,
    cache: &Path,
    name: &'static str,
    requirement: &'static str,
) -> Result<PathBuf, StackError> {
    let code = match &state.gateway_source {
        Some(source) => GatewayCode::Source(PathBuf::from(&source.path)),
        None => GatewayCode::Release(Some(state.gateway_release.clone())),
    };
    let cache = cache.to_path_buf();
    let bar = indicatif::ProgressBar::new_spinner().with_message(format!(
        "installing {requirement} into the gateway's venv (once)"
    ));
    bar.enable_steady_tick(Duration::from_millis(200));
    let installed = tokio::task::spawn_blocking(move || {
        let (_, install, _) = choose_install(&code, &cache)?;
        let (venv, result) = match &install {
            GatewayInstall::Host { venv } => (
                venv.clone(),
                crate::python::ensure_package(venv, name, requirement, PythonHome::Host),
            ),
            GatewayInstall::Rootfs {
                rootfs,
                venv,
                binds,
            } => {
                let host = rootfs.host_path(venv);
                let home = PythonHome::Rootfs(rootfs, binds);
                let result = crate::python::ensure_package(&host, name, requirement, home);
                (host, result)
            }
        };
        result
            .map(|()| venv.join("bin"))
            .map_err(|e| infra(format!("cannot install {requirement}: {e}")))
    })
    .await
    .map_err(|e| infra(format!("installing {requirement}: {e}")))?;
    bar.finish_and_clear();
    installed
}
