//! A container engine's Docker API for the docker runtime's tests: the one that answers, or
//! Podman's service started for as long as the caller holds it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The unix socket of an engine that answers `GET /_ping`: `DOCKER_HOST` when it names one,
/// else Docker's and Podman's system sockets.
pub fn answering() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host
            .strip_prefix("unix://")
            .map(PathBuf::from)
            .into_iter()
            .collect(),
        _ => vec![
            "/var/run/docker.sock".into(),
            "/run/podman/podman.sock".into(),
        ],
    };
    candidates.into_iter().find(|socket| pings(socket))
}

fn pings(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reply = Vec::new();
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
        .and_then(|()| stream.read_to_end(&mut reply))
        .is_ok()
        && reply.starts_with(b"HTTP/1.")
        && reply.get(9..12) == Some(b"200")
}

/// Podman's Docker API service, started by this process and stopped when dropped — or when this
/// process dies, by the kernel (`PR_SET_PDEATHSIG`), so nothing is left running.
pub struct EngineService {
    child: Child,
    socket: PathBuf,
}

impl EngineService {
    /// Starts `podman system service` on root's system socket (a user's runtime directory when
    /// not root) and waits until it answers.
    pub fn start() -> Result<EngineService, String> {
        let socket = service_socket()?;
        if let Some(dir) = socket.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let podman = crate::which("podman").ok_or("podman is not installed")?;
        let mut command = Command::new(podman);
        command
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec the closure calls only prctl(2), which is
        // async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start podman's service: {e}"))?;
        let service = EngineService { child, socket };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pings(&service.socket) {
            if Instant::now() > deadline {
                return Err(format!(
                    "podman's service did not answer on {} within 20 s",
                    service.socket.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(service)
    }

    /// The `DOCKER_HOST` value that reaches it.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for EngineService {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn service_socket() -> Result<PathBuf, String> {
    // SAFETY: geteuid(2) has no arguments, cannot fail and touches no memory.
    if unsafe { libc::geteuid() } == 0 {
        return Ok("/run/podman/podman.sock".into());
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(|dir| PathBuf::from(dir).join("podman/podman.sock"))
        .ok_or_else(|| "XDG_RUNTIME_DIR is not set: podman's rootless service needs it".into())
}
