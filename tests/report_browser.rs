//! `report.html` in a real browser: a tiered run with realistic synthetic numbers is written,
//! opened in headless Chromium (Debian's `chromium`), and the DOM it rendered must hold every
//! chart with drawn lines or bars and every table with rows; the screenshot is kept as a test
//! artifact (`target/test-artifacts/report.png`).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mcpbench::browser::chromium;
use mcpbench::harness::{target_dir, ChildGuard};

/// Runs Chromium headless on `page` with `args`, stdout into `stdout`, within a minute.
fn run_chromium(browser: &Path, page: &Path, args: &[String], stdout: &Path) {
    let profile = page.with_file_name("chromium-profile");
    let mut command = Command::new(browser);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(stdout).unwrap())
        .stderr(File::create(stdout.with_extension("stderr")).unwrap());
    let mut child = ChildGuard::spawn(&mut command).unwrap();
    let status = child.wait_timeout(Duration::from_secs(90)).unwrap();
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}): {}",
        std::fs::read_to_string(stdout.with_extension("stderr")).unwrap_or_default()
    );
}

/// The markup of the element that starts at `id="…"`, up to its closing tag.
fn element<'a>(dom: &'a str, id: &str, closing: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} is not in the rendered DOM"));
    let end = dom[start..]
        .find(closing)
        .unwrap_or_else(|| panic!("#{id} is not closed"))
        + start;
    &dom[start..end]
}

#[test]
fn the_report_renders_its_charts_and_tables_in_headless_chromium() {
    let browser = chromium();
    let dir = target_dir().join("test-artifacts").join("report");
    let _ = std::fs::remove_dir_all(&dir);
    let run = report::fixture::realistic_run();
    run.write_to_dir(&dir).unwrap();
    let page = dir.join("report.html").canonicalize().unwrap();

    let dom_file = dir.join("dom.html");
    run_chromium(&browser, &page, &["--dump-dom".into()], &dom_file);
    let dom = std::fs::read_to_string(&dom_file).unwrap();

    for (chart, drawn, at_least) in [
        ("chart-throughput", "<path class=\"line\"", 3),
        ("chart-spectrum", "<path class=\"line\"", 3),
        ("chart-overhead", "<rect class=\"bar\"", 6),
        ("chart-latency-direct", "<path class=\"line\"", 3),
        ("chart-latency-gateway", "<path class=\"line\"", 3),
        ("chart-latency-nginx", "<path class=\"line\"", 3),
        ("chart-gateway-rss", "<path class=\"line\"", 1),
        ("chart-sockets", "<path class=\"line\"", 3),
    ] {
        let svg = element(&dom, chart, "</svg>");
        let count = svg.matches(drawn).count();
        assert!(
            count >= at_least,
            "#{chart} has {count} × {drawn}, expected ≥ {at_least}"
        );
        assert!(!svg.contains("no data"), "#{chart} says no data");
    }
    for (table, rows) in [
        ("table-tiers", 4),
        ("table-overhead", 8),
        ("table-operations", 12),
        ("table-thresholds", 3),
        ("table-errors", 2),
        ("table-not-run", 1),
        ("table-environment", 8),
        ("table-sockets", 2),
    ] {
        let table_markup = element(&dom, table, "</table>");
        let body = &table_markup[table_markup.find("<tbody>").expect("a tbody")..];
        let count = body.matches("<tr").count();
        assert!(
            count >= rows,
            "#{table} has {count} rows, expected ≥ {rows}"
        );
    }
    assert!(dom.contains("the profile selects no REST or admin classes"));
    assert!(
        dom.contains("&lt;upstream timeout&gt;"),
        "error samples are escaped"
    );

    let screenshot = target_dir().join("test-artifacts").join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &browser,
        &page,
        &[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,4000".into(),
        ],
        &dir.join("screenshot.log"),
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1400, 4000));
    // A blank 1400×4000 page compresses to a few KB; charts and tables make it far larger.
    assert!(
        png.len() > 100_000,
        "screenshot is only {} bytes",
        png.len()
    );
}
