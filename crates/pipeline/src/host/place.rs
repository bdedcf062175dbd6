//! Where the generator runs — WSL2, a container, or neither — and what cannot be tuned from
//! there, so `tune` says so instead of failing without a reason.

use std::path::Path;

/// The facts `tune` adapts its advice to. Both can hold at once (a container on WSL2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    /// WSL2: the kernel's release names Microsoft's build.
    pub wsl2: Option<String>,
    /// A container, with the evidence (a marker file or the init process's cgroup).
    pub container: Option<String>,
}

impl Place {
    /// Reads the markers under `root` (`/` outside tests) and the kernel release under
    /// `proc_sys`.
    pub fn detect(root: &Path, proc_sys: &Path) -> Place {
        let release =
            std::fs::read_to_string(proc_sys.join("kernel/osrelease")).unwrap_or_default();
        let lower = release.to_lowercase();
        let wsl2 = (lower.contains("microsoft") || lower.contains("wsl"))
            .then(|| format!("kernel {}", release.trim()));
        Place {
            wsl2,
            container: container_evidence(root),
        }
    }

    /// What cannot be tuned from here and what to do instead; empty on a plain host.
    pub fn limitations(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(evidence) = &self.container {
            out.push(format!(
                "running inside a container ({evidence}): net.* settings belong to its network namespace (with host networking, the host's) and can be written only by a privileged container — else set them at start (`docker run --sysctl net.core.somaxconn=65535 …`) or on the host; vm.swappiness, fs.file-max and fs.aio-max-nr are the host kernel's: set them on the host; limits.conf is not read (no login): start the container with `--ulimit nofile=65536:65536 --ulimit nproc=65536:65536`"
            ));
        }
        if let Some(kernel) = &self.wsl2 {
            out.push(format!(
                "WSL2 ({kernel}): `sysctl -w` lasts until `wsl --shutdown`; the sysctl.d file is read at boot only with `systemd=true` under [boot] in /etc/wsl.conf (else add `command = sysctl --system` there); limits.conf takes effect after `wsl --shutdown` from Windows"
            ));
        }
        out
    }
}

/// Docker's `/.dockerenv`, Podman's `/run/.containerenv`, or a container engine in the init
/// process's cgroup path.
fn container_evidence(root: &Path) -> Option<String> {
    for marker in [".dockerenv", "run/.containerenv"] {
        if root.join(marker).exists() {
            return Some(format!("/{marker}"));
        }
    }
    let cgroup = std::fs::read_to_string(root.join("proc/1/cgroup")).unwrap_or_default();
    ["docker", "libpod", "containerd", "kubepods", "lxc"]
        .into_iter()
        .find(|engine| cgroup.contains(engine))
        .map(|engine| format!("'{engine}' in /proc/1/cgroup"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsl2_and_containers_are_told_apart_from_a_plain_host() {
        let dir = std::env::temp_dir().join(format!("mcpbench-place-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let proc_sys = dir.join("sys");
        std::fs::create_dir_all(proc_sys.join("kernel")).unwrap();
        std::fs::create_dir_all(dir.join("proc/1")).unwrap();
        std::fs::write(proc_sys.join("kernel/osrelease"), "6.1.0-13-amd64\n").unwrap();
        std::fs::write(dir.join("proc/1/cgroup"), "0::/init.scope\n").unwrap();
        let plain = Place::detect(&dir, &proc_sys);
        assert_eq!(plain, Place::default());
        assert!(plain.limitations().is_empty());

        std::fs::write(
            proc_sys.join("kernel/osrelease"),
            "5.15.153.1-microsoft-standard-WSL2\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("proc/1/cgroup"),
            "0::/system.slice/docker-ab12.scope\n",
        )
        .unwrap();
        let both = Place::detect(&dir, &proc_sys);
        assert!(both.wsl2.as_deref().unwrap().contains("microsoft"));
        assert_eq!(
            both.container.as_deref(),
            Some("'docker' in /proc/1/cgroup")
        );
        let said = both.limitations().join("\n");
        assert!(
            said.contains("wsl --shutdown") && said.contains("--sysctl"),
            "{said}"
        );

        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::write(dir.join("run/.containerenv"), "").unwrap();
        let podman = Place::detect(&dir, &proc_sys);
        assert_eq!(podman.container.as_deref(), Some("/run/.containerenv"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
