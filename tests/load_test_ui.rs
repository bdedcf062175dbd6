//! `cargo xtask load-test-ui` in a real browser: the UI brings up the stack (local runtime), and
//! headless Chromium, driven over the DevTools protocol, refuses bad input inline, starts a run
//! against bench-server, sees the request counter and the chart advance, changes the users, stops,
//! downloads the report, then compares the tiers. The screenshot is kept
//! (`target/test-artifacts/load-test-ui.png`). SIGTERM ends the UI and takes the stack down.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcpbench::browser::{chromium, Browser};
use mcpbench::harness::{
    binary, free_port_range, http_request, target_dir, test_workdir, ChildGuard,
};

/// The UI with its stack on ports of its own, and everything it printed.
struct Ui {
    child: ChildGuard,
    url: String,
    dir: PathBuf,
    ports: [u16; 4],
    printed: Arc<Mutex<Vec<String>>>,
}

impl Ui {
    fn start() -> Ui {
        let dir = test_workdir("load-test-ui");
        let (bench, gateway, nginx) = (free_port_range(2), free_port_range(1), free_port_range(1));
        let mut command = Command::new(binary("xtask"));
        command
            .current_dir(&dir)
            .args(["load-test-ui", "--port", "0", "--runtime", "local"])
            .args(["--count", "2", "--start-port", &bench.to_string()])
            .args(["--gateway-port", &gateway.to_string()])
            .args(["--nginx-port", &nginx.to_string(), "--warmup", "0s"])
            .env_remove("LOADTEST_USERS")
            .env_remove("LOADTEST_SPAWN_RATE")
            .env_remove("LOADTEST_RUN_TIME")
            .env_remove("LOADTEST_HOST")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = ChildGuard::spawn(&mut command).unwrap();
        let stdout = child.child.stdout.take().unwrap();
        let printed = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let lines = printed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("load-test-ui: http://") {
                    let _ = url_tx.send(format!("http://{}", url.split(' ').next().unwrap()));
                }
                lines.lock().unwrap().push(line);
            }
        });
        // The first start may install nginx and make the gateway's venv.
        let url = url_rx
            .recv_timeout(Duration::from_secs(600))
            .unwrap_or_else(|_| panic!("no URL printed: {:?}", printed.lock().unwrap()));
        Ui {
            child,
            url,
            dir,
            ports: [bench, bench + 1, gateway, nginx],
            printed,
        }
    }

    fn ports_free(&self) -> bool {
        self.ports
            .iter()
            .all(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
    }
}

fn number(browser: &mut Browser, id: &str) -> u64 {
    let text = browser
        .eval(&format!("document.getElementById('{id}').textContent"))
        .unwrap();
    text.as_str()
        .unwrap_or_default()
        .replace(',', "")
        .parse()
        .unwrap_or(0)
}

fn text(browser: &mut Browser, id: &str) -> String {
    browser
        .eval(&format!("document.getElementById('{id}').textContent"))
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Line segments drawn in a chart's first series.
fn segments(browser: &mut Browser, chart: &str) -> u64 {
    let d = browser
        .eval(&format!(
            "(document.querySelector('#{chart} path.line') || {{getAttribute: () => ''}}).getAttribute('d')"
        ))
        .unwrap();
    d.as_str().unwrap_or_default().matches('L').count() as u64
}

/// The file the browser saved in `dir` whose name ends with `suffix`, once complete.
fn downloaded(dir: &Path, suffix: &str, within: Duration) -> PathBuf {
    let deadline = Instant::now() + within;
    loop {
        let found = std::fs::read_dir(dir).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(suffix))
        });
        if let Some(path) = found {
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "no {suffix} downloaded into {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_for_phase(browser: &mut Browser, phase: &str, within: Duration) {
    let phase = format!("document.getElementById('phase').textContent === '{phase}'");
    browser.wait_for(&phase, within).unwrap();
}

/// Waits until the page counts a request.
fn wait_for_requests(browser: &mut Browser) {
    let counted =
        "Number(document.getElementById('stat-requests').textContent.replace(/,/g, '')) > 0";
    browser.wait_for(counted, LONG).unwrap();
}

fn fill_form(browser: &mut Browser, tier: &str, classes: &str, users: &str, run_time: &str) {
    browser.fill("tier", tier).unwrap();
    browser.fill("classes", classes).unwrap();
    browser.fill("users", users).unwrap();
    browser.fill("spawn_rate", "10").unwrap();
    browser.fill("rate", "").unwrap();
    browser.fill("run_time", run_time).unwrap();
}

const LONG: Duration = Duration::from_secs(90);

fn bad_input_is_said_inline_and_starts_nothing(browser: &mut Browser) {
    fill_form(browser, "direct", "NoSuchUser", "-5", "60s");
    browser.click("start").unwrap();
    browser
        .wait_for("document.getElementById('users-error').textContent", LONG)
        .unwrap();
    assert!(
        text(browser, "users-error").contains("from 1"),
        "{}",
        text(browser, "users-error")
    );
    assert!(
        text(browser, "classes-error").contains("unknown user class 'NoSuchUser'"),
        "{}",
        text(browser, "classes-error")
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(text(browser, "phase"), "idle");
    assert_eq!(number(browser, "stat-requests"), 0);
}

/// A page on another site can post a form or text here without asking the browser, but not
/// JSON: such a post is refused and nothing starts.
fn another_sites_form_cannot_start_a_run(ui: &Ui, browser: &mut Browser) {
    let addr: std::net::SocketAddr = ui
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let form = br#"{"tier":"direct","classes":"MCPToolCallerUser","users":"1","spawn_rate":"1","rate":"","run_time":"5s"}"#;
    let response = http_request(
        "POST",
        addr,
        "/api/start",
        &[("Content-Type", "text/plain")],
        form,
    )
    .unwrap();
    assert_eq!(response.status, 415);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(text(browser, "phase"), "idle");
}

/// Starts a run on bench-server, watches it advance, changes the users and stops it.
fn a_run_advances_takes_new_users_and_stops(browser: &mut Browser) {
    fill_form(browser, "direct", "MCPToolCallerUser:5", "3", "120s");
    browser.click("start").unwrap();
    wait_for_phase(browser, "running", LONG);
    assert_eq!(
        text(browser, "users-error"),
        "",
        "the good form still shows an error"
    );
    wait_for_requests(browser);
    let (requests, drawn) = (
        number(browser, "stat-requests"),
        segments(browser, "chart-rps"),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        number(browser, "stat-requests") > requests,
        "the counter stood still"
    );
    assert!(
        segments(browser, "chart-rps") > drawn,
        "the chart did not advance"
    );

    browser.fill("target", "7").unwrap();
    browser.click("apply").unwrap();
    browser
        .wait_for(
            "document.getElementById('stat-users').textContent === '7'",
            LONG,
        )
        .unwrap();
    let ops = browser
        .eval("document.querySelectorAll('#ops tbody tr').length")
        .unwrap();
    assert!(ops.as_u64().unwrap() >= 2, "operations table: {ops}");

    browser.click("stop").unwrap();
    wait_for_phase(browser, "finished", LONG);
    browser
        .wait_for("document.getElementById('download-report-html')", LONG)
        .unwrap();
}

/// The report downloaded from the page is the run just made, stopped early with 7 users.
fn the_report_downloads(browser: &mut Browser, dir: &Path) {
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    browser.allow_downloads(&downloads).unwrap();
    browser.click("download-report-html").unwrap();
    let report = downloaded(&downloads, "-report.html", LONG);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("<html") && html.contains("direct"),
        "{}",
        report.display()
    );
    browser.click("download-results-json").unwrap();
    let results = downloaded(&downloads, "-results.json", LONG);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results).unwrap()).unwrap();
    let tier = &results["tiers"][0];
    assert_eq!(tier["tier"], "direct");
    let run = &tier["outcome"]["results"];
    assert!(run["total"]["requests"].as_u64().unwrap() > 0, "{tier}");
    let warnings = run["warnings"].to_string();
    assert!(warnings.contains("ended early"), "{warnings}");
    let peak = run["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["active"].as_u64().unwrap());
    assert_eq!(
        peak.max(),
        Some(7),
        "the series holds the users set from the page"
    );
    for csv in [
        "download-direct-stats-csv",
        "download-direct-stats-history-csv",
    ] {
        let present = browser
            .eval(&format!("!!document.getElementById('{csv}')"))
            .unwrap();
        assert_eq!(present, serde_json::json!(true), "{csv}");
    }
}

/// At phone width nothing scrolls sideways but the wide tables (in their own scroller), and
/// every control is a native, focusable element with a label a screen reader reads.
fn the_page_fits_a_narrow_window_and_every_control_is_labelled(browser: &mut Browser, dir: &Path) {
    let metrics =
        serde_json::json!({"width": 400, "height": 900, "deviceScaleFactor": 1, "mobile": false});
    browser
        .call("Emulation.setDeviceMetricsOverride", metrics)
        .unwrap();
    browser
        .wait_for(
            "document.documentElement.scrollWidth <= window.innerWidth",
            LONG,
        )
        .unwrap();
    browser
        .screenshot(&dir.join("load-test-ui-narrow.png"))
        .unwrap();
    let unlabelled = browser
        .eval(
            "[...document.querySelectorAll('input, select, button')].filter(e =>
               e.tabIndex < 0 || !(e.labels && e.labels.length || e.getAttribute('aria-label') || e.textContent.trim())
             ).map(e => e.id)",
        )
        .unwrap();
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "controls without a label or focus"
    );
    browser
        .call(
            "Emulation.clearDeviceMetricsOverride",
            serde_json::json!({}),
        )
        .unwrap();
}

/// "Compare tiers": the same settings on direct, gateway and nginx, the table filling in.
fn tiers_compare(browser: &mut Browser) {
    browser.click("reset").unwrap();
    wait_for_phase(browser, "idle", LONG);
    fill_form(
        browser,
        "direct,gateway,nginx",
        "MCPToolCallerUser",
        "2",
        "3s",
    );
    browser.click("start").unwrap();
    wait_for_phase(browser, "finished", Duration::from_secs(300));
    let rows = browser
        .eval("[...document.querySelectorAll('#tiers tbody tr')].map(r => [...r.cells].map(c => c.textContent))")
        .unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (row, tier) in rows.iter().zip(["direct", "gateway", "nginx"]) {
        assert_eq!(row[0], tier, "{rows:?}");
        assert_eq!(row[1], "ran", "{rows:?}");
    }
    assert!(
        rows[1][7].as_str().unwrap().starts_with('+'),
        "gateway's added p50: {rows:?}"
    );
}

#[test]
fn a_person_starts_watches_steers_stops_and_downloads_in_a_real_browser() {
    let browser_path = chromium();
    let mut ui = Ui::start();
    let mut browser =
        Browser::open(&browser_path, &ui.dir.join("chromium-profile"), &ui.url).unwrap();
    browser
        .wait_for(
            "document.querySelectorAll('#class-list input[type=checkbox]').length >= 5 && document.getElementById('phase').textContent === 'idle'",
            LONG,
        )
        .unwrap();
    bad_input_is_said_inline_and_starts_nothing(&mut browser);
    another_sites_form_cannot_start_a_run(&ui, &mut browser);
    a_run_advances_takes_new_users_and_stops(&mut browser);
    the_report_downloads(&mut browser, &ui.dir);

    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("load-test-ui.png");
    browser.screenshot(&screenshot).unwrap();
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert!(png.len() > 50_000, "screenshot is only {} bytes", png.len());

    the_page_fits_a_narrow_window_and_every_control_is_labelled(&mut browser, &artifacts);
    tiers_compare(&mut browser);
    sigterm_mid_run_writes_the_run_and_takes_the_stack_down(&mut browser, &mut ui);
}

/// SIGTERM while a run goes: the run is halted and writes what it measured, the UI takes down
/// the stack it brought up, and the UI's end is a normal one (0).
fn sigterm_mid_run_writes_the_run_and_takes_the_stack_down(browser: &mut Browser, ui: &mut Ui) {
    browser.click("reset").unwrap();
    wait_for_phase(browser, "idle", LONG);
    fill_form(browser, "direct", "MCPToolCallerUser", "2", "120s");
    browser.click("start").unwrap();
    wait_for_phase(browser, "running", LONG);
    wait_for_requests(browser);
    let status = ui
        .child
        .signal_and_wait(libc::SIGTERM, Duration::from_secs(120))
        .unwrap();
    let printed = ui.printed.lock().unwrap().join("\n");
    assert!(status.success(), "{status}: {printed}");
    assert!(printed.contains("stopped 3 service(s)"), "{printed}");
    assert!(
        ui.ports_free(),
        "the UI's stack is still listening: {printed}"
    );
    let latest = ui.dir.join("reports/latest/results.json");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&latest).unwrap()).unwrap();
    assert_eq!(results["verdict"]["status"], "interrupted", "{printed}");
    let measured = &results["tiers"][0]["outcome"]["results"]["total"]["requests"];
    assert!(measured.as_u64().unwrap_or(0) > 0, "{results}");
}
