//! `report.html`: one self-contained page rendered with tera (autoescaped) from the run
//! document — verdict and banners, tier, overhead, threshold, operation, error, skipped-tier
//! and environment tables, and the inline SVG charts. No script, font or network asset.

use serde::Serialize;

use crate::charts;
use crate::document::{OverheadRun, VerdictStatus};
use crate::format;
use crate::notices;

const TEMPLATE: &str = include_str!("../templates/report.html.tera");
/// Registered under an `.html` name so tera's autoescaping applies.
const TEMPLATE_NAME: &str = "report.html";

#[derive(Serialize)]
struct View<'a> {
    run_id: &'a str,
    started_at: &'a str,
    finished_at: &'a str,
    tool_version: &'a str,
    command_line: String,
    profile: &'a crate::document::ProfileInfo,
    stack: &'a crate::document::StackInfo,
    verdict: VerdictView<'a>,
    banners: Vec<notices::Banner>,
    tiers: Vec<TierView<'a>>,
    skipped_count: usize,
    overhead: Vec<OverheadView<'a>>,
    operations: Vec<OperationView<'a>>,
    thresholds: Vec<ThresholdView<'a>>,
    errors: Vec<ErrorView<'a>>,
    warnings: Vec<String>,
    environment: Vec<(&'static str, String)>,
    charts: Charts,
}

#[derive(Serialize)]
struct VerdictView<'a> {
    label: &'static str,
    class: &'static str,
    exit_code: i32,
    reasons: &'a [String],
}

#[derive(Serialize)]
struct TierView<'a> {
    name: &'a str,
    description: &'a str,
    target: &'a str,
    skipped: Option<&'a str>,
    requests: u64,
    rps: String,
    error_rate: String,
    p50: String,
    p95: String,
    p99: String,
    max: String,
    saturated: bool,
    saturation: String,
}

#[derive(Serialize)]
struct OverheadView<'a> {
    tier: &'a str,
    operation: &'a str,
    requests: u64,
    rps: String,
    direct_rps: String,
    rps_ratio: String,
    p50: String,
    direct_p50: String,
    added_p50: String,
    p95: String,
    direct_p95: String,
    added_p95: String,
    p99: String,
    direct_p99: String,
    added_p99: String,
    error_rate: String,
    direct_error_rate: String,
}

#[derive(Serialize)]
struct OperationView<'a> {
    tier: &'a str,
    name: &'a str,
    requests: u64,
    failures: u64,
    error_rate: String,
    rps: String,
    p50: String,
    p95: String,
    p99: String,
    p999: String,
    max: String,
    p99_uncorrected: String,
}

#[derive(Serialize)]
struct ThresholdView<'a> {
    tier: &'a str,
    expression: &'a str,
    actual: String,
    limit: String,
    passed: bool,
}

#[derive(Serialize)]
struct ErrorView<'a> {
    tier: &'a str,
    operation: &'a str,
    class: &'a str,
    count: u64,
    samples: &'a [String],
}

#[derive(Serialize)]
struct Charts {
    throughput: String,
    spectrum: String,
    overhead: String,
    latency: Vec<String>,
    gateway_rss: Option<String>,
}

/// The whole page. Fails only if the embedded template is broken (a bug, covered by tests).
pub fn render_html(run: &OverheadRun) -> Result<String, String> {
    let mut tera = tera::Tera::default();
    tera.add_raw_template(TEMPLATE_NAME, TEMPLATE)
        .map_err(|e| error_chain(&e))?;
    let context = tera::Context::from_serialize(view(run)).map_err(|e| error_chain(&e))?;
    tera.render(TEMPLATE_NAME, &context)
        .map_err(|e| error_chain(&e))
}

/// Tera's own message is often "failed to render"; the cause is further down the chain.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn view(run: &OverheadRun) -> View<'_> {
    let ran = || run.tiers.iter().filter_map(|t| t.ran().map(|r| (t, r)));
    View {
        run_id: &run.run_id,
        started_at: &run.started_at,
        finished_at: &run.finished_at,
        tool_version: &run.tool_version,
        command_line: run.command_line.join(" "),
        profile: &run.profile,
        stack: &run.stack,
        verdict: VerdictView {
            label: run.verdict.status.label(),
            class: match run.verdict.status {
                VerdictStatus::Pass => "pass",
                VerdictStatus::Fail => "fail",
                VerdictStatus::Saturated => "saturated",
                VerdictStatus::Interrupted => "interrupted",
            },
            exit_code: run.verdict.exit_code,
            reasons: &run.verdict.reasons,
        },
        banners: notices::banners(run),
        tiers: run
            .tiers
            .iter()
            .map(|t| {
                let results = t.ran();
                let total = results.map(|r| &r.total);
                let latency = |pick: fn(&loadgen::LatencySummary) -> f64| {
                    total.map_or_else(String::new, |o| format::ms(pick(&o.latency)))
                };
                let saturation = results.map(|r| &r.saturation);
                TierView {
                    name: &t.name,
                    description: &t.description,
                    target: &t.target,
                    skipped: t.skipped.as_deref(),
                    requests: total.map_or(0, |o| o.requests),
                    rps: total.map_or_else(String::new, |o| format::rps(o.rps)),
                    error_rate: total.map_or_else(String::new, |o| format::percent(o.error_rate)),
                    p50: latency(|l| l.p50_ms),
                    p95: latency(|l| l.p95_ms),
                    p99: latency(|l| l.p99_ms),
                    max: latency(|l| l.max_ms),
                    saturated: saturation.is_some_and(|s| s.saturated),
                    saturation: saturation.map_or_else(String::new, |s| {
                        let cpu =
                            format!("generator CPU {:.0}%", s.generator_cpu_utilisation * 100.0);
                        if s.saturated {
                            format!("SATURATED: {}; {cpu}", s.reasons.join("; "))
                        } else {
                            format!("kept up ({} late starts); {cpu}", s.late_starts)
                        }
                    }),
                }
            })
            .collect(),
        skipped_count: run.tiers.iter().filter(|t| t.skipped.is_some()).count(),
        overhead: run
            .overhead
            .iter()
            .map(|r| OverheadView {
                tier: &r.tier,
                operation: &r.operation,
                requests: r.requests,
                rps: format::rps(r.rps),
                direct_rps: format::rps(r.direct_rps),
                rps_ratio: format::ratio(r.rps_ratio),
                p50: format::ms(r.p50_ms),
                direct_p50: format::ms(r.direct_p50_ms),
                added_p50: format::signed_ms(r.added_p50_ms),
                p95: format::ms(r.p95_ms),
                direct_p95: format::ms(r.direct_p95_ms),
                added_p95: format::signed_ms(r.added_p95_ms),
                p99: format::ms(r.p99_ms),
                direct_p99: format::ms(r.direct_p99_ms),
                added_p99: format::signed_ms(r.added_p99_ms),
                error_rate: format::percent(r.error_rate),
                direct_error_rate: format::percent(r.direct_error_rate),
            })
            .collect(),
        operations: ran()
            .flat_map(|(t, r)| r.operations.iter().chain([&r.total]).map(move |o| (t, o)))
            .map(|(t, o)| OperationView {
                tier: &t.name,
                name: &o.name,
                requests: o.requests,
                failures: o.failures,
                error_rate: format::percent(o.error_rate),
                rps: format::rps(o.rps),
                p50: format::ms(o.latency.p50_ms),
                p95: format::ms(o.latency.p95_ms),
                p99: format::ms(o.latency.p99_ms),
                p999: format::ms(o.latency.p999_ms),
                max: format::ms(o.latency.max_ms),
                p99_uncorrected: format::ms(o.uncorrected.p99_ms),
            })
            .collect(),
        thresholds: run
            .thresholds
            .iter()
            .map(|t| ThresholdView {
                tier: t.tier.as_deref().unwrap_or("all"),
                expression: &t.expression,
                actual: format::threshold_value(&t.expression, t.actual),
                limit: format::threshold_value(&t.expression, t.limit),
                passed: t.passed,
            })
            .collect(),
        errors: ran()
            .flat_map(|(t, r)| r.operations.iter().map(move |o| (t, o)))
            .flat_map(|(t, o)| {
                o.errors.iter().map(move |(class, tally)| ErrorView {
                    tier: &t.name,
                    operation: &o.name,
                    class,
                    count: tally.count,
                    samples: &tally.samples,
                })
            })
            .collect(),
        warnings: notices::warnings(run),
        environment: environment_rows(&run.environment),
        charts: Charts {
            throughput: charts::throughput(run),
            spectrum: charts::spectrum(run),
            overhead: charts::overhead_bars(run),
            latency: ran()
                .map(|(t, r)| charts::latency_over_time(t, r))
                .collect(),
            gateway_rss: charts::gateway_rss(run),
        },
    }
}

fn environment_rows(e: &loadgen::Environment) -> Vec<(&'static str, String)> {
    vec![
        ("CPU", e.cpu_model.clone()),
        ("cores", e.cores.to_string()),
        ("kernel", e.kernel.clone()),
        ("OS", e.os.clone()),
        ("ulimit -n", e.ulimit_nofile.to_string()),
        ("mcpbench", e.tool_version.clone()),
        (
            "git revision",
            e.git_revision.clone().unwrap_or_else(|| "unknown".into()),
        ),
        ("host", e.hostname.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn the_page_has_every_table_and_chart_and_no_network_asset() {
        let html = render_html(&fixture::run()).unwrap();
        for id in [
            "table-tiers",
            "table-overhead",
            "table-thresholds",
            "table-operations",
            "table-errors",
            "table-skipped",
            "table-environment",
            "chart-throughput",
            "chart-spectrum",
            "chart-overhead",
            "chart-latency-direct",
            "chart-latency-gateway",
            "chart-latency-rest",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
        }
        assert!(
            !html.contains("chart-latency-nginx"),
            "a skipped tier has no chart"
        );
        assert!(html.contains("skipped: nginx is not on PATH (apt-get install nginx-light)"));
        assert!(html.contains("FAIL (exit 1)"));
        for remote in ["http://", "https://", "<script", "<link"] {
            let outside_targets = html
                .replace("http://127.0.0.1:9000", "")
                .replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_targets.contains(remote), "found {remote}");
        }
    }

    #[test]
    fn text_from_the_run_is_escaped() {
        let mut run = fixture::run();
        run.tiers[0].description = "<script>alert(1)</script>".into();
        run.warnings.push("a & b <c>".into());
        let html = render_html(&run).unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
        assert!(html.contains("a &amp; b &lt;c&gt;"));
        // The error sample `<internal> & "quoted"` from the fixture.
        assert!(html.contains("&lt;internal&gt; &amp; &quot;quoted&quot;"));
    }

    #[test]
    fn cache_and_saturation_get_a_banner() {
        let mut run = fixture::run();
        run.stack.nginx_cache = true;
        run.verdict.status = VerdictStatus::Saturated;
        let html = render_html(&run).unwrap();
        assert!(html.contains("nginx caching was on"));
        assert!(html.contains("The load generator saturated"));
    }
}
