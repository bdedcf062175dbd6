//! `report.html`: one self-contained page rendered with tera (autoescaped) from the run
//! document — verdict and banners, tier, overhead, threshold, operation, error, tiers that did
//! not run (skipped or failed) and environment tables, and the inline SVG charts. No script,
//! font or network asset.

use loadgen::OperationResult;
use serde::Serialize;

use crate::charts;
use crate::document::{AddedLatency, OverheadRow, OverheadRun, TierRun};
use crate::format;
use crate::notices;

const TEMPLATE: &str = include_str!("../templates/report.html.tera");
/// Registered under an `.html` name so tera's autoescaping applies.
const TEMPLATE_NAME: &str = "report.html";

#[derive(Serialize)]
struct View<'a> {
    /// A single-target run (`load`, `hey`): no overhead section, titled by its tool.
    single: bool,
    run_id: &'a str,
    started_at: &'a str,
    finished_at: &'a str,
    tool_version: &'a str,
    command_line: String,
    profile: &'a crate::document::ProfileInfo,
    measured: String,
    verdict: VerdictView<'a>,
    banners: Vec<notices::Banner>,
    headline: String,
    tiers: Vec<TierView<'a>>,
    not_run_count: usize,
    overhead: Vec<OverheadView<'a>>,
    attribution_title: &'static str,
    attribution: TableView,
    /// A repeated run's rounds: heading and table.
    repeats: Option<(String, TableView)>,
    operations: Vec<OperationView<'a>>,
    thresholds: Vec<ThresholdView<'a>>,
    errors: Vec<ErrorView<'a>>,
    warnings: Vec<String>,
    environment: Vec<(&'static str, String)>,
    charts: Charts,
    /// Per tier and service: CPU and memory (empty when nothing was sampled).
    usage_summary: TableView,
    /// The host's sockets: the limits line and the per-tier peaks (None when not sampled).
    sockets: Option<SocketsView>,
    /// `--profile-gateway`'s section, when asked for.
    gateway_profile: Option<ProfileView>,
}

#[derive(Serialize)]
struct SocketsView {
    limits: String,
    peaks: TableView,
}

#[derive(Serialize)]
struct ProfileView {
    tier: String,
    sampler: String,
    flame_graph: Option<String>,
    not_recorded: Option<String>,
    top_frames: Option<TableView>,
    counters: Option<TableView>,
    counters_notes: Vec<String>,
}

fn profile_view(run: &OverheadRun) -> Option<ProfileView> {
    let profile = run.gateway_profile.as_ref()?;
    Some(ProfileView {
        tier: profile.tier.to_string(),
        sampler: profile.sampler.clone(),
        flame_graph: profile.flame_graph(),
        not_recorded: match &profile.stacks {
            crate::profile::Stacks::NotRecorded { reason } => Some(reason.clone()),
            crate::profile::Stacks::Recorded { .. } => None,
        },
        top_frames: profile
            .recorded()
            .map(|stacks| crate::profile::top_frames_table(stacks).into()),
        counters: crate::profile::counters_table(run, profile).map(Into::into),
        counters_notes: crate::profile::counters_notes(profile),
    })
}

#[derive(Serialize)]
struct VerdictView<'a> {
    label: &'static str,
    /// `pass`, `fail`, `saturated`, `interrupted`: the banner's style.
    class: String,
    exit_code: i32,
    reasons: &'a [String],
}

#[derive(Serialize)]
struct TierView<'a> {
    name: &'static str,
    description: String,
    target: &'a str,
    /// `skipped: …` or `FAILED: …`; None when it ran.
    not_run: Option<String>,
    failed: bool,
    has_numbers: bool,
    requests: u64,
    rps: String,
    error_rate: String,
    p50: String,
    p95: String,
    p99: String,
    max: String,
    saturated: bool,
    schedule: String,
}

#[derive(Serialize)]
struct OverheadView<'a> {
    tier: &'static str,
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
    added_path_p50: String,
    added_path_p95: String,
    error_rate: String,
    direct_error_rate: String,
}

/// A table the text views share ([`crate::tables`]), cell by cell.
#[derive(Serialize)]
pub(crate) struct TableView {
    columns: Vec<Cell>,
    rows: Vec<Vec<Cell>>,
}

#[derive(Serialize)]
struct Cell {
    text: String,
    num: bool,
}

impl From<cli::Table> for TableView {
    fn from(table: cli::Table) -> Self {
        let numeric: Vec<bool> = table.columns().map(|(_, num)| num).collect();
        TableView {
            columns: table
                .columns()
                .map(|(name, num)| Cell {
                    text: name.into(),
                    num,
                })
                .collect(),
            rows: table
                .rows()
                .iter()
                .map(|row| {
                    row.iter()
                        .zip(&numeric)
                        .map(|(text, num)| Cell {
                            text: text.clone(),
                            num: *num,
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct OperationView<'a> {
    tier: &'static str,
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
    tier: &'static str,
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
    service_cpu: Option<String>,
    service_rss: Option<String>,
    sockets: Option<String>,
}

/// The whole page. Fails only if the embedded template is broken (a bug, covered by tests).
pub fn render_html(run: &OverheadRun) -> Result<String, String> {
    let mut tera = tera::Tera::default();
    // A table of the text views ([`TableView`]), included by the page wherever it shows one.
    tera.add_raw_template("table.html", include_str!("../templates/table.html.tera"))
        .map_err(|e| error_chain(&e))?;
    tera.add_raw_template(TEMPLATE_NAME, TEMPLATE)
        .map_err(|e| error_chain(&e))?;
    let context = tera::Context::from_serialize(view(run)).map_err(|e| error_chain(&e))?;
    tera.render(TEMPLATE_NAME, &context)
        .map_err(|e| error_chain(&e))
}

/// Tera's own message is often "failed to render"; the cause is further down the chain.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
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
    let measured = || {
        run.tiers
            .iter()
            .filter_map(|t| t.measured().map(|r| (t, r)))
    };
    View {
        single: matches!(run.measured, crate::document::Measured::Target(_)),
        run_id: &run.run_id,
        started_at: &run.started_at,
        finished_at: &run.finished_at,
        tool_version: &run.tool_version,
        command_line: run.command_line.join(" "),
        profile: &run.profile,
        measured: run.measured.describe(),
        verdict: VerdictView {
            label: run.verdict.status.label(),
            class: run.verdict.status.label().to_ascii_lowercase(),
            exit_code: run.verdict.exit_code,
            reasons: &run.verdict.reasons,
        },
        banners: notices::banners(run),
        headline: notices::headline(run),
        tiers: run.tiers.iter().map(tier_view).collect(),
        not_run_count: run.tiers.iter().filter(|t| t.not_run().is_some()).count(),
        overhead: run.overhead.iter().map(overhead_view).collect(),
        attribution_title: crate::tables::ATTRIBUTION_TITLE,
        attribution: crate::tables::attribution(run).into(),
        repeats: run.repeats.as_ref().map(|r| (r.title(), r.table().into())),
        operations: measured()
            .flat_map(|(t, r)| r.operations.iter().chain([&r.total]).map(move |o| (t, o)))
            .map(|(t, o)| operation_view(t.tier.name(), o))
            .collect(),
        thresholds: run
            .thresholds
            .iter()
            .map(|t| ThresholdView {
                tier: t.tier.as_deref().unwrap_or("all"),
                expression: &t.expression,
                actual: format::threshold_actual(t),
                limit: format::threshold_value(&t.expression, t.limit),
                passed: t.passed,
            })
            .collect(),
        errors: measured()
            .flat_map(|(t, r)| r.operations.iter().map(move |o| (t, o)))
            .flat_map(|(t, o)| {
                o.errors.iter().map(move |(class, tally)| ErrorView {
                    tier: t.tier.name(),
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
            latency: measured()
                .map(|(t, r)| charts::latency_over_time(t, r))
                .collect(),
            gateway_rss: charts::gateway_rss(run),
            service_cpu: crate::usage::cpu_chart(&run.service_usage),
            service_rss: crate::usage::rss_chart(&run.service_usage),
            sockets: crate::sockets::chart(run.sockets.as_ref()),
        },
        usage_summary: crate::usage::table(&run.usage_summary).into(),
        sockets: crate::sockets::limits_line(run.sockets.as_ref())
            .zip(crate::sockets::table(run.sockets.as_ref()))
            .map(|(limits, peaks)| SocketsView {
                limits,
                peaks: peaks.into(),
            }),
        gateway_profile: profile_view(run),
    }
}

fn tier_view(tier: &TierRun) -> TierView<'_> {
    let results = tier.measured();
    let total = results.map(|r| &r.total);
    let latency = |pick: fn(&loadgen::LatencySummary) -> f64| {
        total.map_or_else(String::new, |o| format::ms(pick(&o.latency)))
    };
    TierView {
        name: tier.tier.name(),
        description: tier.tier.description(),
        target: &tier.target,
        not_run: tier.not_run(),
        failed: matches!(tier.outcome, crate::document::TierOutcome::Failed { .. }),
        has_numbers: results.is_some(),
        requests: total.map_or(0, |o| o.requests),
        rps: total.map_or_else(String::new, |o| format::rps(o.rps)),
        error_rate: total.map_or_else(String::new, |o| format::percent(o.error_rate)),
        p50: latency(|l| l.p50_ms),
        p95: latency(|l| l.p95_ms),
        p99: latency(|l| l.p99_ms),
        max: latency(|l| l.max_ms),
        saturated: results.is_some_and(|r| r.schedule.generator_saturated()),
        schedule: results.map_or_else(String::new, schedule_text),
    }
}

/// The accounting and the schedule's verdict of a tier, in one line.
fn schedule_text(r: &loadgen::RunResults) -> String {
    let a = &r.schedule.accounting;
    let cpu = format!(
        "generator CPU {:.0}%",
        r.schedule.lateness.generator_cpu_utilisation * 100.0
    );
    let books = format!(
        "intended {} = recorded {} + dropped {}",
        a.intended,
        a.recorded,
        a.dropped.total()
    );
    let verdict = match &r.schedule.verdict {
        loadgen::ScheduleVerdict::Kept => "kept up".to_string(),
        loadgen::ScheduleVerdict::TargetStalled { reason } => format!("TARGET STALLED: {reason}"),
        loadgen::ScheduleVerdict::GeneratorSaturated { reasons } => {
            format!("SATURATED: {}", reasons.join("; "))
        }
    };
    let down = r
        .target_down
        .as_ref()
        .map_or_else(String::new, |d| format!("; TARGET DOWN: {}", d.reason));
    format!("{verdict}; {books}; {cpu}{down}")
}

fn overhead_view(row: &OverheadRow) -> OverheadView<'_> {
    let l = row.latency.as_ref();
    let value = |pick: fn(&AddedLatency) -> f64| l.map_or("-".to_string(), |l| format::ms(pick(l)));
    let added = |pick: fn(&AddedLatency) -> f64| format::added_ms(l.map(pick));
    OverheadView {
        tier: row.tier.name(),
        operation: &row.operation,
        requests: row.requests,
        rps: format::rps(row.rps),
        direct_rps: format::rps(row.direct_rps),
        rps_ratio: format::ratio(row.rps_ratio),
        p50: value(|l| l.p50_ms),
        direct_p50: value(|l| l.direct_p50_ms),
        added_p50: added(|l| l.added_p50_ms),
        p95: value(|l| l.p95_ms),
        direct_p95: value(|l| l.direct_p95_ms),
        added_p95: added(|l| l.added_p95_ms),
        p99: value(|l| l.p99_ms),
        direct_p99: value(|l| l.direct_p99_ms),
        added_p99: added(|l| l.added_p99_ms),
        added_path_p50: format::added_ms(row.path.as_ref().map(|p| p.added_p50_ms)),
        added_path_p95: format::added_ms(row.path.as_ref().map(|p| p.added_p95_ms)),
        error_rate: format::percent(row.error_rate),
        direct_error_rate: format::percent(row.direct_error_rate),
    }
}

fn operation_view<'a>(tier: &'static str, op: &'a OperationResult) -> OperationView<'a> {
    OperationView {
        tier,
        name: &op.name,
        requests: op.requests,
        failures: op.failures,
        error_rate: format::percent(op.error_rate),
        rps: format::rps(op.rps),
        p50: format::ms(op.latency.p50_ms),
        p95: format::ms(op.latency.p95_ms),
        p99: format::ms(op.latency.p99_ms),
        p999: format::ms(op.latency.p999_ms),
        max: format::ms(op.latency.max_ms),
        p99_uncorrected: format::ms(op.uncorrected.p99_ms),
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
            "table-attribution",
            "table-thresholds",
            "table-operations",
            "table-errors",
            "table-not-run",
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
        assert!(html.contains("skipped: MCPBENCH_NGINX is empty: the stack runs without nginx"));
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
        run.tiers[0].target = "<script>alert(1)</script>".into();
        run.warnings.push("a & b <c>".into());
        let html = render_html(&run).unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
        assert!(html.contains("a &amp; b &lt;c&gt;"));
        // The error sample `<internal> & "quoted"` from the fixture.
        assert!(html.contains("&lt;internal&gt; &amp; &quot;quoted&quot;"));
    }

    #[test]
    fn a_failed_tier_is_an_error_with_its_reason_and_its_partial_numbers() {
        let mut run = fixture::run();
        let partial = fixture::results(vec![fixture::op("tools/call", 1..=10, 90, 10.0)], 10.0);
        run.tiers[1] = fixture::failed(
            crate::document::Tier::Gateway,
            "the gateway died during the tier",
            Some(partial),
        );
        run.overhead = crate::overhead_rows(&run.tiers);
        run.verdict = crate::verdict(&run.tiers, &run.thresholds, None);
        let html = render_html(&run).unwrap();
        assert!(html.contains("ERROR (exit 3)"), "verdict");
        assert!(html.contains("FAILED: the gateway died during the tier"));
        assert!(html.contains("a tier&#x27;s target failed"), "banner");
    }

    #[test]
    fn cache_and_saturation_get_a_banner() {
        let mut run = fixture::run();
        let crate::Measured::Stack(stack) = &mut run.measured else {
            panic!("the fixture measures a stack")
        };
        stack.nginx_cache = true;
        run.verdict.status = crate::VerdictStatus::Saturated;
        let html = render_html(&run).unwrap();
        assert!(html.contains("nginx caching was on"));
        assert!(html.contains("The load generator saturated"));
    }
}
