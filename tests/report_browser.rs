//! `report.html` in a real browser: a tiered run with realistic synthetic numbers is written,
//! opened in headless Chromium (Debian's `chromium`), and the DOM it rendered must hold every
//! chart with drawn lines or bars and every table with rows; the screenshot is kept as a test
//! artifact (`target/test-artifacts/report.png`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use loadgen::threshold::Threshold;
use loadgen::{
    Environment, OpStats, OperationResult, RunResults, Saturation, SeriesOp, SeriesPoint,
};
use mcpbench::harness::{target_dir, ChildGuard};
use report::{OverheadRun, ProfileInfo, ResourceSample, StackInfo, TierRun};

const SECONDS: u64 = 30;
/// (operation, share of iterations, latency multiplier): an MCP tool caller's mix.
const MIX: [(&str, u64, f64); 3] = [
    ("tools/call", 8, 1.0),
    ("tools/list", 1, 1.6),
    ("resources/read", 1, 0.8),
];

/// A deterministic stream of uniform numbers in (0, 1) (xorshift), so the data is the same on
/// every run without a random-number dependency.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A long-tailed latency around `median_ms`: log-normal body, rare slow outliers.
    fn latency_us(&mut self, median_ms: f64) -> u64 {
        let normal = (-2.0 * self.next().ln()).sqrt() * (std::f64::consts::TAU * self.next()).cos();
        let outlier = if self.next() < 0.003 { 8.0 } else { 1.0 };
        (median_ms * 1000.0 * (0.35 * normal).exp() * outlier) as u64
    }
}

/// One tier: `rps` iterations a second for SECONDS, each operation's latency drawn around
/// `median_ms`; per-second percentiles come from per-second histograms, as the engine's do.
fn tier_results(seed: u64, rps: u64, median_ms: f64, error_every: u64) -> RunResults {
    let mut uniform = Uniform(seed);
    let mut totals: Vec<OpStats> = MIX.iter().map(|_| OpStats::default()).collect();
    let mut series = Vec::new();
    let weight_sum: u64 = MIX.iter().map(|m| m.1).sum();
    for second in 1..=SECONDS {
        // A short ramp, then steady load.
        let iterations = rps * second.min(5) / 5;
        let mut interval: Vec<OpStats> = MIX.iter().map(|_| OpStats::default()).collect();
        for i in 0..iterations {
            let pick = i % weight_sum;
            let (index, _) = MIX
                .iter()
                .enumerate()
                .scan(0, |acc, (index, m)| {
                    *acc += m.1;
                    Some((index, *acc))
                })
                .find(|(_, upto)| pick < *upto)
                .expect("the weights cover every pick");
            let us = uniform.latency_us(median_ms * MIX[index].2).max(1);
            let stats = &mut interval[index];
            stats.requests += 1;
            stats.bytes += 1200;
            stats.corrected.saturating_record(us);
            stats.uncorrected.saturating_record(us);
            stats.ttfb.saturating_record(us * 9 / 10);
            *stats.status_codes.entry(200).or_default() += 1;
            if error_every > 0 && (second * rps + i).is_multiple_of(error_every) {
                stats.failures += 1;
                let tally = stats
                    .errors
                    .entry(loadgen::ErrorClass::Jsonrpc)
                    .or_default();
                tally.count += 1;
                if tally.samples.is_empty() {
                    tally
                        .samples
                        .push("code -32603: Internal error <upstream timeout>".into());
                }
            }
        }
        series.push(SeriesPoint {
            t: second as f64,
            target: 10.0,
            active: 10,
            ops: interval
                .iter()
                .map(|s| {
                    let l = OperationResult::from_stats("", s, 1.0).latency;
                    SeriesOp {
                        requests: s.requests,
                        failures: s.failures,
                        p50_ms: l.p50_ms,
                        p95_ms: l.p95_ms,
                        p99_ms: l.p99_ms,
                        max_ms: l.max_ms,
                    }
                })
                .collect(),
        });
        for (total, s) in totals.iter_mut().zip(&interval) {
            total.merge(s);
        }
    }
    let duration = SECONDS as f64;
    let mut all = OpStats::default();
    for s in &totals {
        all.merge(s);
    }
    RunResults {
        schema: loadgen::SCHEMA.into(),
        tool: "mcpbench".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: "2026-11-27T03:00:00Z".into(),
        finished_at: "2026-11-27T03:00:30Z".into(),
        duration_secs: duration,
        warmup_secs: 5.0,
        interrupted: false,
        command_line: vec![],
        seed: 1,
        model: "closed".into(),
        config: serde_json::Value::Null,
        environment: Environment::capture(),
        saturation: Saturation {
            generator_cpu_utilisation: 0.35,
            ..Saturation::default()
        },
        operations: MIX
            .iter()
            .zip(&totals)
            .map(|((name, ..), s)| OperationResult::from_stats(name, s, duration))
            .collect(),
        total: OperationResult::from_stats("Aggregated", &all, duration),
        series,
        warnings: vec![],
        thresholds: vec![],
    }
}

fn tier(name: &str, description: &str, target: &str, results: RunResults) -> TierRun {
    TierRun {
        name: name.into(),
        description: description.into(),
        target: target.into(),
        skipped: None,
        failed: false,
        results: Some(results),
    }
}

fn synthetic_run() -> OverheadRun {
    let tiers = vec![
        tier(
            "direct",
            "bench-server directly",
            "http://127.0.0.1:9000/mcp",
            tier_results(1, 400, 0.6, 0),
        ),
        tier(
            "gateway",
            "ContextForge gateway",
            "http://127.0.0.1:4444/servers/1/mcp",
            tier_results(2, 300, 14.0, 450),
        ),
        tier(
            "nginx",
            "nginx → gateway",
            "http://127.0.0.1:8080/servers/1/mcp",
            tier_results(3, 280, 15.5, 450),
        ),
        TierRun {
            name: "rest".into(),
            description: "REST and admin classes against the gateway".into(),
            target: "http://127.0.0.1:4444".into(),
            skipped: Some("the profile selects no REST or admin classes".into()),
            failed: false,
            results: None,
        },
    ];
    let thresholds = [
        "p95{tier=gateway}<300ms",
        "error_rate{tier=gateway}<0.1%",
        "p99{tier=nginx}<500ms",
    ]
    .iter()
    .map(|text| {
        let threshold = Threshold::parse(text).unwrap();
        let tier = tiers
            .iter()
            .find(|t| Some(&t.name) == threshold.tier.as_ref())
            .unwrap();
        threshold.evaluate(tier.results.as_ref().unwrap())
    })
    .collect::<Vec<_>>();
    OverheadRun {
        schema: report::SCHEMA.into(),
        run_id: "20261127-030000-light".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: "2026-11-27T03:00:00Z".into(),
        finished_at: "2026-11-27T03:02:10Z".into(),
        command_line: vec!["cargo".into(), "xtask".into(), "load-test-light".into()],
        profile: ProfileInfo {
            name: "light".into(),
            sla_class: "baseline".into(),
            description: "10 users, spawn 2/s, 30 s".into(),
            model: "closed".into(),
            duration_secs: SECONDS as f64,
            warmup_secs: 5.0,
            seed: 1,
            mcp_classes: vec!["MCPToolCallerUser:8".into(), "MCPDiscoveryUser:2".into()],
            rest_classes: vec![],
        },
        stack: StackInfo {
            runtime: "local".into(),
            reused: true,
            bench_servers: 10,
            gateway_version: "1.0.7.post20260921".into(),
            gateway_workers: 1,
            nginx_cache: false,
        },
        environment: Environment::capture(),
        overhead: report::overhead_rows(&tiers),
        verdict: report::verdict(&tiers, &thresholds, false),
        gateway_rss: (0..=20)
            .map(|i| ResourceSample {
                t: f64::from(i) * 5.0,
                tier: if i < 7 { "direct" } else { "gateway" }.into(),
                rss_mib: 270.0 + f64::from(i) * 0.4,
            })
            .collect(),
        warnings: vec!["the stack was already up: reused, not restarted".into()],
        tiers,
        thresholds,
    }
}

fn chromium() -> PathBuf {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    // Never a silent skip: this test is the only check that the report renders.
    found.unwrap_or_else(|| {
        panic!(
            "chromium is not installed{}: apt-get install chromium (Debian's headless-capable browser)",
            if std::env::var_os("CI").is_some() { " on this CI machine" } else { "" }
        )
    })
}

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
    let run = synthetic_run();
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
        ("table-skipped", 1),
        ("table-environment", 8),
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
