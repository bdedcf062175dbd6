//! A fresh Debian machine, for real: a container from the stack's Debian base (no nginx, no
//! Python, no Chromium, nothing of ours but the `xtask` binary mounted in), on host networking.
//! - `provision` says exactly what is missing (exit 5), refuses without root or with
//!   `MCPBENCH_NO_INSTALL`, and as root installs it with one announced line.
//! - The main job, `load-test-light`, on that machine provisions nginx and Python's venv itself,
//!   runs bench-server from the xtask binary (nothing else was built), and measures the direct,
//!   gateway and nginx tiers.
//!
//! Needs a container engine's CLI (podman or docker); `cargo xtask test` provisions Podman.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mcpbench::harness::{
    binary, container_images, free_port_range, printed, target_dir, test_workdir, which,
};

const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The container CLI: this machine's podman, else docker. Never a silent skip.
fn engine_cli() -> PathBuf {
    which("podman")
        .or_else(|| which("docker"))
        .unwrap_or_else(|| {
            panic!("no container CLI: `cargo xtask provision podman` (as root) or install Docker")
        })
}

/// A fresh container of the Debian base running `script` (sh) as `user`, with `env`, the xtask
/// binary at /usr/local/bin/xtask, `work` at /work and pip's download cache at /pip-cache.
fn fresh_debian(work: &Path, user: &str, env: &[(&str, &str)], script: &str) -> Output {
    container_images();
    // pip's downloads are kept between runs; the rest of the machine is new each time.
    let pip_cache = target_dir().join("test-pip-cache");
    std::fs::create_dir_all(&pip_cache).unwrap();
    let mut cmd = Command::new(engine_cli());
    cmd.args(["run", "--rm", "--network", "host", "--user", user])
        .arg("-v")
        .arg(format!(
            "{}:/usr/local/bin/xtask:ro",
            binary("xtask").display()
        ))
        .arg("-v")
        .arg(format!("{}:/work", work.display()))
        .arg("-v")
        .arg(format!("{}:/pip-cache", pip_cache.display()))
        .args(["-e", "PIP_CACHE_DIR=/pip-cache"]);
    // This machine's own trust, as a fresh machine here has it: a TLS-inspecting proxy stands
    // between it and PyPI, and pip is told of its CA (PIP_CERT) in the machine's setup.
    if Path::new(HOST_CA_BUNDLE).is_file() {
        cmd.arg("-v")
            .arg(format!("{HOST_CA_BUNDLE}:/etc/host-ca.crt:ro"))
            .args(["-e", "PIP_CERT=/etc/host-ca.crt"]);
    }
    for (key, value) in env {
        cmd.args(["-e", &format!("{key}={value}")]);
    }
    let base = stack::debian::Suite::Bookworm.base_image();
    cmd.args([base.as_str(), "sh", "-c", script])
        .output()
        .expect("running a container")
}

fn workdir(name: &str) -> PathBuf {
    test_workdir(&format!("fresh-{name}"))
}

/// The lines of `out` that announce an install.
fn installs(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("mcpbench: installing "))
        .map(String::from)
        .collect()
}

#[test]
fn provision_names_what_is_missing_refuses_without_leave_and_installs_as_root() {
    let work = workdir("provision");
    // Each step prints its exit status after its output, nginx's presence is asked of the
    // file system, not of us.
    let script = "xtask provision --check nginx; echo \"check=$?\"; \
                  test -e /usr/sbin/nginx && echo nginx-before";
    let checked = fresh_debian(&work, "0", &[], script);
    let said = printed(&checked);
    assert!(said.contains("check=5"), "{said}");
    assert!(said.contains("missing nginx (the nginx tier)"), "{said}");
    assert!(said.contains("apt-get install nginx-light"), "{said}");
    assert!(
        !said.contains("nginx-before"),
        "the base image has nginx: {said}"
    );

    let refused = fresh_debian(&work, "65534", &[], "xtask provision nginx; echo \"rc=$?\"");
    let said = printed(&refused);
    assert!(
        said.contains("rc=5") && said.contains("sudo apt-get install nginx-light"),
        "{said}"
    );
    assert!(installs(&refused).is_empty(), "{said}");

    let opted_out = fresh_debian(
        &work,
        "0",
        &[("MCPBENCH_NO_INSTALL", "1")],
        "xtask provision nginx; echo \"rc=$?\"",
    );
    let said = printed(&opted_out);
    assert!(
        said.contains("rc=5") && said.contains("MCPBENCH_NO_INSTALL is set"),
        "{said}"
    );
    assert!(installs(&opted_out).is_empty(), "{said}");

    let script = "xtask provision nginx && /usr/sbin/nginx -v && xtask provision nginx";
    let installed = fresh_debian(&work, "0", &[], script);
    let said = printed(&installed);
    assert!(installed.status.success(), "{said}");
    assert_eq!(installs(&installed).len(), 1, "one announced line: {said}");
    assert!(
        said.contains("nginx: installed") && said.contains("nginx: present"),
        "{said}"
    );
    assert!(said.contains("nginx version:"), "{said}");
}

#[test]
fn the_main_job_runs_every_tier_on_a_fresh_machine_with_nothing_but_the_command() {
    let work = workdir("main-job");
    let (bench, gateway, nginx) = (free_port_range(2), free_port_range(1), free_port_range(1));
    let script = format!(
        "cd /work && xtask load-test-light \
         --runtime local --count 2 --start-port {bench} --gateway-port {gateway} \
         --nginx-port {nginx} --users 3 --spawn-rate 3 --run-time 3s --warmup 1s \
         --rest-classes HealthCheckUser --progress plain --no-sla; echo \"rc=$?\""
    );
    let out = fresh_debian(&work, "0", &[], &script);
    let said = printed(&out);
    assert!(said.contains("rc=0"), "{said}");
    let installed = installs(&out).join("\n");
    assert!(
        installed.contains("nginx-light"),
        "nginx provisioned: {said}"
    );
    assert!(
        installed.contains("python3-venv"),
        "venv provisioned: {said}"
    );
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.join("reports/latest/results.json")).unwrap(),
    )
    .unwrap();
    // A container gets no mount namespace of its own, so the newest release (Python 3.12, the
    // container's is 3.11) cannot run from a root filesystem: the newest for 3.11 runs, said so.
    let fallback = contextforge::release::Release::newest_for_python_3_11();
    assert_eq!(results["measured"]["gateway_version"], fallback.as_str());
    assert!(said.contains(&format!("running {fallback}")), "{said}");
    for name in ["direct", "gateway", "nginx"] {
        let tier = results["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tier"] == name)
            .unwrap_or_else(|| panic!("no tier {name}: {said}"));
        assert_eq!(tier["outcome"]["kind"], "ran", "{name}: {said}");
    }
}
