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
