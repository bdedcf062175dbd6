//! `cargo xtask report DIR` end to end: a saved run's views are written again, the same as the
//! run first wrote them, beside its results or in `--out`; a path holding no mcpbench run is one
//! line and exit 2, with nothing written.

use std::process::Command;

use mcpbench::harness::{binary, printed, test_workdir};

const VIEWS: [&str; 3] = ["report.html", "report.md", "junit.xml"];

#[test]
fn a_saved_run_renders_again_as_it_was_first_written() {
    let dir = test_workdir("report-cli");
    let run_dir = dir.join("reports/20260101-000000-light");
    report::fixture::realistic_run()
        .write_to_dir(&run_dir)
        .unwrap();
    let first: Vec<String> = VIEWS
        .iter()
        .map(|v| std::fs::read_to_string(run_dir.join(v)).unwrap())
        .collect();
    let csvs: Vec<_> = std::fs::read_dir(&run_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    assert!(!csvs.is_empty());
    for view in VIEWS.iter().map(|v| run_dir.join(v)).chain(csvs.clone()) {
        std::fs::remove_file(view).unwrap();
    }

    let again = Command::new(binary("xtask"))
        .args(["report", run_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", printed(&again));
    assert!(
        printed(&again).contains("report.html"),
        "{}",
        printed(&again)
    );
    for (view, text) in VIEWS.iter().zip(&first) {
        assert_eq!(
            &std::fs::read_to_string(run_dir.join(view)).unwrap(),
            text,
            "{view}"
        );
    }
    assert!(
        csvs.iter().all(|c| c.exists()),
        "the CSVs are written again"
    );

    let out = dir.join("elsewhere");
    let results = run_dir.join("results.json");
    let elsewhere = Command::new(binary("xtask"))
        .args([
            "report",
            results.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(elsewhere.status.success(), "{}", printed(&elsewhere));
    assert!(VIEWS.iter().all(|v| out.join(v).exists()));

    let not_a_run = dir.join("not-a-run");
    std::fs::create_dir_all(&not_a_run).unwrap();
    std::fs::write(not_a_run.join("results.json"), r#"{"hello": 1}"#).unwrap();
    for bad in [dir.join("missing"), not_a_run.clone()] {
        let refused = Command::new(binary("xtask"))
            .args(["report", bad.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{}", printed(&refused));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("report: "), "{stderr}");
    }
    assert!(
        !not_a_run.join("report.html").exists(),
        "nothing written for a bad run"
    );
}
