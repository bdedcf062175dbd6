//! A Debian root filesystem for the local runtime, when the host's Python is too old for the
//! chosen ContextForge release: made once with debootstrap (Python and venv support included),
//! cached beside the venvs, and run through `unshare --mount` + `chroot`. The mounts a program
//! needs (`/dev`, `/proc`, its data directory, the host's CA bundles) are made in a private mount
//! namespace, so they vanish with the program's last process: nothing is left to unmount after
//! `down`, a crash or a kill. The network is the host's, so the gateway still reaches loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::debian::Suite;
use crate::{infra, StackError};

/// Marks a finished tree: an interrupted debootstrap leaves a directory without it.
const READY: &str = ".mcpbench-ready";

/// The files of CA certificates pip may be pointed at; each is mounted at its own path inside, so
/// the settings naming it keep working there.
const CA_BUNDLE_VARIABLES: [&str; 3] = ["PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"];
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Mounts `$1 → root$2` pairs up to `--`, then `/proc`, then runs the rest in the root. Paths
/// travel as arguments, never inside the script, so no quoting can break them.
const ENTER: &str = r#"root=$1; shift
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mkdir -p "$root$2"
  else mkdir -p "$(dirname "$root$2")"; [ -e "$root$2" ] || : > "$root$2"; fi
  mount --bind "$1" "$root$2"; shift 2
done
shift
mount -t proc proc "$root/proc"
exec chroot "$root" "$@""#;

/// A Debian tree with Python, ready to run programs in.
#[derive(Debug, Clone)]
pub struct Rootfs {
    dir: PathBuf,
}

impl Rootfs {
    /// Why this process cannot run programs in a root filesystem, if it cannot: it takes root
    /// (debootstrap, chroot) and a mount namespace of its own.
    pub fn unusable() -> Option<String> {
        // SAFETY: geteuid(2) has no arguments and no memory effects.
        if unsafe { libc::geteuid() } != 0 {
            return Some("it takes root to run a Debian root filesystem".into());
        }
        let Some(unshare) = crate::which("unshare") else {
            return Some("unshare (util-linux) is not installed".into());
        };
        let works = Command::new(unshare)
            .args(["--mount", "--propagation", "private", "true"])
            .status()
            .is_ok_and(|s| s.success());
        (!works).then(|| "this machine refuses a private mount namespace (unshare --mount)".into())
    }

    /// The tree of `suite` in `cache`, made with debootstrap on first use (a minute or more)
    /// under a lock, so concurrent stacks make it once. Blocking.
    pub fn ensure(cache: &Path, suite: Suite) -> Result<Rootfs, StackError> {
        let dir = cache.join(format!("debian-{}-rootfs", suite.name()));
        let rootfs = Rootfs { dir };
        if rootfs.dir.join(READY).is_file() {
            return Ok(rootfs);
        }
        std::fs::create_dir_all(cache).map_err(|e| infra(format!("{}: {e}", cache.display())))?;
        let lock_path = cache.join(format!("debian-{}-rootfs.lock", suite.name()));
        let _lock = crate::lock::FileLock::acquire(&lock_path)
            .map_err(|e| infra(format!("cannot lock {}: {e}", lock_path.display())))?;
        if rootfs.dir.join(READY).is_file() {
            return Ok(rootfs);
        }
        let packages = ["python3", "python3-venv", "ca-certificates"];
        crate::debian::debootstrap(suite, &rootfs.dir, &packages)?;
        std::fs::write(rootfs.dir.join(READY), suite.name())
            .map_err(|e| infra(format!("{}: {e}", rootfs.dir.display())))?;
        Ok(rootfs)
    }

    /// Where `inside` (an absolute path in the root) is on the host.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        self.dir.join(inside.trim_start_matches('/'))
    }

    /// Where `host` (a path in the tree) is inside the root.
    pub fn inside_path(&self, host: &Path) -> Option<String> {
        let relative = host.strip_prefix(&self.dir).ok()?;
        Some(format!("/{}", relative.display()))
    }

    /// `program args…` run in the root with `binds` (host directory or file → absolute path
    /// inside) mounted, in the working directory `workdir` inside; the environment is this
    /// process's plus what the caller adds.
    pub fn command(&self, binds: &[(PathBuf, String)], workdir: &str, program: &str) -> Command {
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(ENTER)
            .arg("sh")
            .arg(&self.dir)
            .args(["/dev", "/dev"]);
        for (host, inside) in binds.iter().chain(&ca_bundles()) {
            command.arg(host).arg(inside);
        }
        command
            .arg("--")
            .args(["env", &format!("--chdir={workdir}"), program]);
        command
    }
}

/// The host's CA bundles that exist, each at its own path inside: pip in the root then trusts
/// what the host trusts (a TLS-inspecting proxy's CA included).
fn ca_bundles() -> Vec<(PathBuf, String)> {
    let mut paths: Vec<String> = CA_BUNDLE_VARIABLES
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .chain([HOST_CA_BUNDLE.to_string()])
        .filter(|p| p.starts_with('/') && Path::new(p).is_file())
        .collect();
    paths.sort();
    paths.dedup();
    paths.into_iter().map(|p| (PathBuf::from(&p), p)).collect()
}
