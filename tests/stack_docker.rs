//! The docker runtime end to end through bollard against a real engine (Podman's Docker API in
//! CI), containers on host networking with images built here: `benchmark-up --runtime docker`
//! (registered tools visible, tools/call answered through `/rpc` and through nginx →
//! `/servers/{id}/mcp`), status showing the containers, idempotence, logs, and `benchmark-down`
//! leaving no container with the stack's label, also without the state file; a service failing
//! during `up` (its log lines shown, everything removed; with `--keep-on-failure` kept, and found
//! by `down` without the state file), Ctrl-C during `up`, a missing engine named with exit
//! code 3; and two ContextForge releases (the newest for Python 3.11, whose image `up` builds
//! itself, and the newest) measured by `load-test` and compared side by side.
//! Without an engine the tests fail in CI (CI=true) and are skipped elsewhere, each saying so
//! (`cargo xtask test` lists the skips at the end).

mod stack_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mcpbench::harness::{
    binary, container_engine, container_images, contextforge_checkout, engine_get,
    labelled_containers, remove_image, skip,
};
use stack_common::{
    all_free, down_again_and_clean_leave_nothing, down_says, gateway_logs_are_shown,
    gateway_recorded, ports, state, status_finds_the_stack_saying, status_rows_all_healthy,
    stop_up_while_the_gateway_starts, text, tool_calls_are_answered, up_again_finds_it_up, up_args,
    up_registers_both_servers, workdir, xtask, Ports,
};

fn engine_or_skip(test: &str) -> Option<PathBuf> {
    let engine = container_engine();
    if engine.is_none() {
        skip(
            test,
            "no container engine answers (`cargo xtask test` starts Podman's service when \
             Podman is installed: `cargo xtask provision podman` as root)",
        );
    }
    engine
}

/// `benchmark-up` on the docker runtime (the default gateway: the newest release, its image
/// built here by `images build`, the official one being out of reach).
fn docker_up_args(p: &Ports) -> Vec<String> {
    up_args(p, &["--runtime", "docker"])
}

#[test]
fn the_docker_stack_comes_up_registered_answers_and_goes_down_completely() {
    let Some(engine) = engine_or_skip(
        "stack_docker::the_docker_stack_comes_up_registered_answers_and_goes_down_completely",
    ) else {
        return;
    };
    container_images();
    let dir = workdir("docker");
    let p = ports();
    // The seed's limits for a benchmark container: 2 CPUs, 1 GB.
    let mut args = docker_up_args(&p);
    args.extend(["--cpus", "2", "--memory", "1g"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let recorded = up_registers_both_servers(&dir, &args);
    assert_eq!(recorded["runtime"], "docker");
    let label = stack_label(&dir);
    let containers = labelled_containers(&engine, &label).unwrap();
    assert_eq!(containers.len(), 3);
    for id in &containers {
        let inspected = engine_get(&engine, &format!("/containers/{id}/json"))
            .unwrap()
            .json()
            .unwrap();
        let host = &inspected["HostConfig"];
        assert_eq!(host["NanoCpus"].as_i64(), Some(2_000_000_000), "{host}");
        assert_eq!(host["Memory"].as_i64(), Some(1 << 30), "{host}");
    }

    let rows = status_rows_all_healthy(&dir);
    assert!(
        rows.iter().all(|r| r["container"]
            .as_str()
            .is_some_and(|c| c.starts_with("mcpbench-"))
            && r["pid"].as_u64().is_some()),
        "{rows:?}"
    );

    up_again_finds_it_up(&dir, &args);
    assert_eq!(labelled_containers(&engine, &label).unwrap().len(), 3);

    tool_calls_are_answered(&dir, &p);

    gateway_logs_are_shown(&dir);

    down_says(&dir, &p, "removed 3 container(s)");
    assert!(
        labelled_containers(&engine, &label).unwrap().is_empty(),
        "no container of the stack remains"
    );

    // The state file deleted under a running stack: status and down find it by its labels.
    up_registers_both_servers(&dir, &args);
    std::fs::remove_file(dir.join(".mcpbench/stack.json")).unwrap();
    status_finds_the_stack_saying(&dir, "stack.json is missing");
    down_says(&dir, &p, "removed 3 container(s)");
    assert!(
        labelled_containers(&engine, &label).unwrap().is_empty(),
        "no container of the stack remains"
    );
    down_again_and_clean_leave_nothing(&dir);
}

/// The `io.mcpbench.state-dir` label of the stack whose work directory is `dir`.
fn stack_label(dir: &Path) -> String {
    let state_dir = std::path::absolute(dir.join(".mcpbench")).unwrap();
    format!("io.mcpbench.state-dir={}", state_dir.display())
}

#[test]
fn a_service_failing_during_up_is_shown_and_everything_removed_unless_kept() {
    let Some(engine) = engine_or_skip(
        "stack_docker::a_service_failing_during_up_is_shown_and_everything_removed_unless_kept",
    ) else {
        return;
    };
    container_images();
    let dir = workdir("docker-failure");
    let p = ports();
    // nginx's image as the gateway: it exits at once, its config missing.
    let args = up_args(
        &p,
        &[
            "--runtime",
            "docker",
            "--gateway-image",
            stack::images::NGINX,
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = xtask(&dir, &args);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("gateway exited during start-up; its last log lines:")
            && text(&out).contains("/etc/mcpbench/nginx.conf"),
        "{}",
        text(&out)
    );
    assert!(
        labelled_containers(&engine, &stack_label(&dir))
            .unwrap()
            .is_empty(),
        "{}",
        text(&out)
    );
    assert!(all_free(&p));

    // With --keep-on-failure the containers stay; `down` finds them by label even when the
    // state file is gone.
    let keep: Vec<&str> = args.iter().copied().chain(["--keep-on-failure"]).collect();
    let out = xtask(&dir, &keep);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        labelled_containers(&engine, &stack_label(&dir))
            .unwrap()
            .len(),
        2,
        "the bench servers and the exited gateway are kept"
    );
    std::fs::remove_file(dir.join(".mcpbench/stack.json")).unwrap();
    down_says(&dir, &p, "removed 2 container(s)");
    assert!(labelled_containers(&engine, &stack_label(&dir))
        .unwrap()
        .is_empty());
}

#[test]
fn ctrl_c_during_up_leaves_no_container() {
    let Some(engine) = engine_or_skip("stack_docker::ctrl_c_during_up_leaves_no_container") else {
        return;
    };
    container_images();
    let dir = workdir("docker-interrupt");
    let p = ports();
    let args = docker_up_args(&p);
    // Interrupted once the gateway's container is recorded in the state file.
    stop_up_while_the_gateway_starts(&dir, &args, libc::SIGINT, || gateway_recorded(&dir));
    assert!(labelled_containers(&engine, &stack_label(&dir))
        .unwrap()
        .is_empty());
    assert!(state(&dir)["containers"]
        .as_array()
        .is_none_or(Vec::is_empty));
    assert!(all_free(&p));
}

/// `load-test` (a short light profile, no thresholds) on the docker runtime with `release`;
/// returns the run's results.json and what the command said.
fn load_test_on_docker(dir: &Path, p: &Ports, release: Option<&str>) -> (PathBuf, String) {
    let mut args = up_args(p, &["--runtime", "docker"]);
    args[0] = "load-test".into();
    args.extend(
        ["--users", "3", "--spawn-rate", "3", "--run-time", "3s"]
            .into_iter()
            .chain(["--warmup", "1s", "--progress", "plain", "--no-sla"])
            .map(String::from),
    );
    if let Some(release) = release {
        args.extend(["--gateway-version".into(), release.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = xtask(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    let run = std::fs::read_link(dir.join("reports/latest")).unwrap();
    (
        dir.join("reports").join(run).join("results.json"),
        text(&out),
    )
}

#[test]
fn two_gateway_releases_run_on_docker_and_compare_side_by_side() {
    let test = "stack_docker::two_gateway_releases_run_on_docker_and_compare_side_by_side";
    let Some(engine) = engine_or_skip(test) else {
        return;
    };
    container_images();
    let dir = workdir("docker-releases");
    let p = ports();
    let older = contextforge::release::Release::newest_for_python_3_11();
    let newest = contextforge::release::Release::newest();
    // Neither its official image (no registry here) nor one built before: `up` builds it.
    remove_image(&engine, &stack::images::gateway(&older)).unwrap();
    let (first, said) = load_test_on_docker(&dir, &p, Some(older.as_str()));
    let built = format!("built {} here", stack::images::gateway(&older));
    assert!(said.contains(&built), "{said}");
    let (second, _) = load_test_on_docker(&dir, &p, None);
    let version = |run: &Path| {
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run).unwrap()).unwrap();
        results["measured"]["gateway_version"].clone()
    };
    assert_eq!(version(&first), older.as_str());
    assert_eq!(
        version(&second),
        newest.as_str(),
        "the default is the newest"
    );
    let baseline = first.to_str().unwrap();
    let out = xtask(
        &dir,
        &[
            "compare-baseline",
            "--baseline",
            baseline,
            "--budget",
            "rps=-100%",
        ]
        .into_iter()
        .chain(["--budget", "p95=off", "--budget", "p99=off"])
        .chain(["--budget", "error_rate=+100pt"])
        .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let versions = format!("gateway version: {older} vs {newest}");
    assert!(text(&out).contains(&versions), "{}", text(&out));
    assert!(all_free(&p), "load-test took its stacks down");
    assert!(
        labelled_containers(&engine, &stack_label(&dir))
            .unwrap()
            .is_empty(),
        "no container left"
    );
}

#[test]
fn a_checkout_runs_on_docker_from_an_image_built_of_it() {
    let test = "stack_docker::a_checkout_runs_on_docker_from_an_image_built_of_it";
    let Some(engine) = engine_or_skip(test) else {
        return;
    };
    container_images();
    let dir = workdir("docker-source");
    let release = contextforge::release::Release::newest_for_python_3_11();
    let checkout = contextforge_checkout(release.as_str(), &dir.join("checkout")).unwrap();
    let p = ports();
    let source = checkout.to_str().unwrap();
    let args = up_args(&p, &["--runtime", "docker", "--gateway-source", source]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let recorded = up_registers_both_servers(&dir, &args);
    assert_eq!(recorded["gateway_source"]["path"], source);
    assert_eq!(recorded["gateway_source"]["dirty"], false);
    assert!(recorded["gateway_source"]["revision"].is_string());
    tool_calls_are_answered(&dir, &p);
    down_says(&dir, &p, "removed 3 container(s)");
    assert!(labelled_containers(&engine, &stack_label(&dir))
        .unwrap()
        .is_empty());
}

#[test]
fn a_missing_engine_is_named_with_what_to_install() {
    let dir = workdir("no-engine");
    let p = ports();
    let args = up_args(&p, &["--runtime", "docker"]);
    let out = Command::new(binary("xtask"))
        .args(&args)
        .current_dir(&dir)
        .env("DOCKER_HOST", "unix:///nonexistent/engine.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("no container engine answers at unix:///nonexistent/engine.sock")
            && stderr.contains("install Docker, or Podman"),
        "{stderr}"
    );
    assert!(all_free(&p), "nothing started");
}
