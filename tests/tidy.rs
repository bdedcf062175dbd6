//! The codebase polices its own habits (after rust-analyzer's tidy): every Rust file says what it
//! is for, no stubs ship, and the README documents every `cargo xtask` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use mcpbench::harness::{binary, workspace_root};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() && name != "target" && !name.starts_with('.') {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "xtask", "crates"] {
        rust_files(&workspace_root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    files
}

#[test]
fn every_rust_file_starts_with_a_doc_comment_saying_what_it_is_for() {
    let missing: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! comment: {missing:?}"
    );
}

#[test]
fn no_stubs_ship() {
    // Built from pieces so this file does not match itself.
    let stubs = [["todo", "!("].concat(), ["unimplemented", "!("].concat()];
    let offenders: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            stubs.iter().any(|s| text.contains(s.as_str()))
        })
        .collect();
    assert!(offenders.is_empty(), "stubs in {offenders:?}");
}

#[test]
fn the_readme_documents_every_xtask_command() {
    let help = Command::new(binary("xtask"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 5, "{help}");
    for c in commands {
        assert!(
            readme.contains(&format!("`{c}")),
            "README does not document `cargo xtask {c}`"
        );
    }
}

/// The Rust files under `dir` (relative to the workspace), with their text.
fn sources_under(dir: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&workspace_root().join(dir), &mut files);
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// Files under `dirs` that contain any of `needles`, outside the files `allowed`.
fn spelled_outside(dirs: &[&str], needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let root = workspace_root();
    dirs.iter()
        .flat_map(|d| sources_under(d))
        .filter(|(f, _)| {
            let rel = f.strip_prefix(&root).unwrap().to_string_lossy().to_string();
            !allowed.iter().any(|a| rel.starts_with(a))
        })
        .filter_map(|(f, text)| {
            let found: Vec<&&str> = needles.iter().filter(|n| text.contains(**n)).collect();
            (!found.is_empty()).then(|| format!("{}: {found:?}", f.display()))
        })
        .collect()
}

#[test]
fn contextforge_facts_are_spelled_only_in_the_contextforge_crate() {
    // ARCHITECTURE: no other crate spells a ContextForge claim, setting or endpoint.
    let facts = [
        "\"admin@example.com\"",
        "\"benchmark-{",
        "benchmark-{port}",
        "\"mcpgateway\"",
        "\"mcpgateway-api\"",
        "\"JWT_SECRET_KEY\"",
        "\"AUTH_ENCRYPTION_SECRET\"",
        "\"/ready\"",
        "servers/{",
        "mcpgateway.main:app",
        "\"gatewaySlug\"",
        "\"originalName\"",
    ];
    let found = spelled_outside(
        &["crates", "xtask", "src"],
        &facts,
        &["crates/contextforge/"],
    );
    assert!(
        found.is_empty(),
        "ContextForge facts outside its crate: {found:#?}"
    );
}

#[test]
fn one_exit_status_type_and_no_exit_numbers_elsewhere() {
    let numbers = [
        "mod exit_code",
        "ExitCode::from(1)",
        "ExitCode::from(2)",
        "ExitCode::from(3)",
        "ExitCode::from(4)",
        "ExitCode::from(130)",
        "ExitCode::FAILURE",
        "process::exit(1",
        "process::exit(2",
        "process::exit(3",
    ];
    let found = spelled_outside(&["crates", "xtask", "src"], &numbers, &["crates/cli/"]);
    assert!(
        found.is_empty(),
        "exit statuses outside cli::Exit: {found:#?}"
    );
}

#[test]
fn each_protocol_and_report_fact_has_one_home() {
    // MCP revisions: the server's negotiated list (bench-server) and the client's default
    // (loadgen); tests may spell what they send.
    let revisions = ["\"2025-11-25\"", "\"2025-06-18\"", "\"2025-03-26\""];
    let found = spelled_outside(
        &["crates", "xtask"],
        &revisions,
        &[
            "crates/bench-server/src/mcp.rs",
            "crates/loadgen/src/scenario.rs",
        ],
    );
    assert!(
        found.is_empty(),
        "protocol revisions spelled twice: {found:#?}"
    );
    let found = spelled_outside(
        &["crates", "xtask"],
        &["\"Aggregated\""],
        &["crates/loadgen/src/results.rs"],
    );
    assert!(found.is_empty(), "\"Aggregated\" spelled twice: {found:#?}");
}

#[test]
fn only_the_provision_crate_installs_system_packages() {
    // ARCHITECTURE: what to install, and how, is known in one place.
    let found = spelled_outside(
        &["crates", "xtask", "src"],
        &["apt-get", "dpkg", "nginx-light"],
        &["crates/provision/"],
    );
    assert!(
        found.is_empty(),
        "package installs outside provision: {found:#?}"
    );
}

#[test]
fn the_stack_library_returns_what_happened_and_the_command_prints_it() {
    let found = spelled_outside(&["crates/stack"], &["println!(", "eprintln!("], &[]);
    assert!(found.is_empty(), "the stack library prints: {found:#?}");
}

#[test]
fn no_test_fixture_is_copied_into_an_integration_test() {
    // Fixtures are shared through the `fixtures` features, never rebuilt by hand. Built from
    // pieces so this file does not match itself.
    let documents = [
        ["schema: loadgen::", "SCHEMA"].concat(),
        ["schema: report::", "SCHEMA"].concat(),
    ];
    let documents: Vec<&str> = documents.iter().map(String::as_str).collect();
    let found = spelled_outside(&["tests"], &documents, &[]);
    assert!(
        found.is_empty(),
        "a run built by hand in tests/: {found:#?}"
    );
}
