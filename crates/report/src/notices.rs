//! What a reader must not miss, worded once for every view: banners (nginx caching, a
//! saturated or interrupted run) and the warnings of the run and of each tier.

use serde::Serialize;

use loadgen::Era;

use crate::document::{OverheadRow, OverheadRun, Tier, VerdictStatus};
use crate::format;

#[derive(Serialize)]
pub struct Banner {
    /// `cache`, `saturated` or `interrupted` (the HTML styles by it).
    pub kind: &'static str,
    pub text: &'static str,
}

pub fn banners(run: &OverheadRun) -> Vec<Banner> {
    let mut out = Vec::new();
    if run.measured.nginx_cache() {
        out.push(Banner {
            kind: "cache",
            text: "nginx caching was on (--nginx-cache): list and admin pages through nginx were served from its cache, so the nginx tier's numbers are not the gateway's.",
        });
    }
    match run.verdict.status {
        VerdictStatus::Saturated => out.push(Banner {
            kind: "saturated",
            text: "The load generator saturated: it could not keep its schedule, so these latencies understate the truth. Repeat with fewer users or more generator CPU.",
        }),
        VerdictStatus::Interrupted => out.push(Banner {
            kind: "interrupted",
            text: "The run was stopped by a signal: the numbers cover only the time until then.",
        }),
        VerdictStatus::Error => out.push(Banner {
            kind: "error",
            text: "ERROR: a tier's target failed (unreachable, or down during the tier): its numbers are no baseline for anything, and the run cannot pass.",
        }),
        VerdictStatus::Pass | VerdictStatus::Fail => {}
    }
    out
}

/// The one line every view opens with, before the verdict: what the gateway adds to a request
/// (aggregated, successful requests) and the share of direct's throughput it carries, and what
/// nginx in front adds on top of the gateway — or why there is nothing to say.
pub fn headline(run: &OverheadRun) -> String {
    if let crate::document::Measured::Target(target) = &run.measured {
        return single_headline(run, &target.url);
    }
    let session = era_headline(run, Era::Session);
    let stateless = era_headline(run, Era::Stateless).map(|line| {
        let rest = line
            .strip_prefix("The gateway")
            .unwrap_or(&line)
            .to_string();
        format!("In the {}, the gateway{rest}", Era::Stateless.describe())
    });
    match (session, stateless) {
        (Some(s), Some(t)) => format!("{s} {t}"),
        (Some(line), None) | (None, Some(line)) => line,
        (None, None) => "No gateway overhead measured: the direct or the gateway tier did not \
                         complete a successful request."
            .into(),
    }
}

/// A single-target run's line: what its target did, all operations together.
fn single_headline(run: &OverheadRun, url: &str) -> String {
    let Some(results) = run.tiers.iter().find_map(|t| t.measured()) else {
        return format!("Nothing was measured on {url}.");
    };
    let (t, l) = (&results.total, &results.total.latency);
    if l.count == 0 {
        return format!(
            "{url}: {} requests, {} errors, no successful request.",
            t.requests,
            format::percent(t.error_rate)
        );
    }
    format!(
        "{url}: {} req/s, p50 {} ms, p95 {} ms, p99 {} ms, {} errors.",
        format::rps(t.rps),
        format::ms(l.p50_ms),
        format::ms(l.p95_ms),
        format::ms(l.p99_ms),
        format::percent(t.error_rate)
    )
}

/// The headline of one era's tiers, None when its gateway tier has no overhead to show.
fn era_headline(run: &OverheadRun, era: Era) -> Option<String> {
    let [_, gateway_tier, nginx_tier] = Tier::mcp_tiers(era);
    let aggregated = |tier| {
        run.overhead
            .iter()
            .find(|r| r.tier == tier && r.operation == loadgen::AGGREGATED)
    };
    let gateway = aggregated(gateway_tier)?;
    let added = gateway.latency.as_ref()?;
    let mut line = format!(
        "The gateway adds {} ms at p50, {} ms at p95, {} ms at p99, at {} direct's throughput",
        format::signed_ms(added.added_p50_ms),
        format::signed_ms(added.added_p95_ms),
        format::signed_ms(added.added_p99_ms),
        format::ratio(gateway.rps_ratio)
    );
    let nginx = aggregated(nginx_tier);
    if let Some(added) = nginx.and_then(|r| p50_over(r, gateway)) {
        line.push_str(&format!("; nginx in front adds {added} ms at p50 on top"));
    }
    // TLS's own cost: the nginx-tls tier (session era only) over plain nginx, else over the
    // gateway.
    let tls = (era == Era::Session)
        .then(|| aggregated(Tier::NginxTls))
        .flatten();
    match (tls, nginx) {
        (Some(tls), Some(nginx)) => {
            if let Some(added) = p50_over(tls, nginx) {
                line.push_str(&format!(
                    "; TLS at nginx adds {added} ms at p50 over plain nginx"
                ));
            }
        }
        (Some(tls), None) => {
            if let Some(added) = p50_over(tls, gateway) {
                line.push_str(&format!(
                    "; nginx over TLS in front adds {added} ms at p50 on top"
                ));
            }
        }
        (None, _) => {}
    }
    line.push('.');
    Some(line)
}

/// What the `outer` tier adds over the `inner` one at p50 (nginx's own cost: the nginx tier's
/// p50 minus the gateway tier's).
fn p50_over(outer: &OverheadRow, inner: &OverheadRow) -> Option<String> {
    let (o, i) = (outer.latency.as_ref()?, inner.latency.as_ref()?);
    Some(format::signed_ms(o.p50_ms - i.p50_ms))
}

/// The run's warnings, then each tier's own, prefixed with the tier.
pub fn warnings(run: &OverheadRun) -> Vec<String> {
    let tier_warnings = run
        .tiers
        .iter()
        .filter_map(|t| t.measured().map(|r| (t, r)))
        .flat_map(|(t, r)| r.warnings.iter().map(move |w| format!("{}: {w}", t.tier)));
    run.warnings.iter().cloned().chain(tier_warnings).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn tier_warnings_follow_the_runs_with_their_tier() {
        let mut run = fixture::run();
        run.warnings.push("stack reused".into());
        let crate::document::TierOutcome::Ran { results } = &mut run.tiers[1].outcome else {
            panic!()
        };
        results.warnings.push("3 tools skipped".into());
        assert_eq!(warnings(&run), ["stack reused", "gateway: 3 tools skipped"]);
        assert!(banners(&run).is_empty());
        let crate::Measured::Stack(stack) = &mut run.measured else {
            panic!("the fixture measures a stack")
        };
        stack.nginx_cache = true;
        assert_eq!(banners(&run)[0].kind, "cache");
    }

    #[test]
    fn the_headline_says_what_the_gateway_and_nginx_add_or_why_nothing() {
        let run = fixture::realistic_run();
        let line = headline(&run);
        let row = |tier| {
            run.overhead
                .iter()
                .find(|r| r.tier == tier && r.operation == loadgen::AGGREGATED)
                .and_then(|r| r.latency.clone())
                .unwrap()
        };
        let (gateway, nginx) = (row(Tier::Gateway), row(Tier::Nginx));
        let expected = format!(
            "The gateway adds {} ms at p50, {} ms at p95, {} ms at p99, at ",
            format::signed_ms(gateway.added_p50_ms),
            format::signed_ms(gateway.added_p95_ms),
            format::signed_ms(gateway.added_p99_ms)
        );
        assert!(line.starts_with(&expected), "{line}");
        let on_top = format::signed_ms(nginx.p50_ms - gateway.p50_ms);
        assert!(
            line.ends_with(&format!("; nginx in front adds {on_top} ms at p50 on top.")),
            "{line}"
        );
        let mut without_direct = fixture::run();
        without_direct.overhead.clear();
        assert!(headline(&without_direct).starts_with("No gateway overhead measured"));
    }

    #[test]
    fn the_headline_says_what_tls_adds_over_plain_nginx() {
        let mut run = fixture::realistic_run();
        let mut tls = run
            .overhead
            .iter()
            .find(|r| r.tier == Tier::Nginx && r.operation == loadgen::AGGREGATED)
            .unwrap()
            .clone();
        tls.tier = Tier::NginxTls;
        let latency = tls.latency.as_mut().unwrap();
        let plain = latency.p50_ms;
        latency.p50_ms += 0.25;
        run.overhead.push(tls.clone());
        let added = format::signed_ms(0.25);
        assert!(
            headline(&run).ends_with(&format!(
                "; TLS at nginx adds {added} ms at p50 over plain nginx."
            )),
            "{}",
            headline(&run)
        );
        // Without the plain nginx tier, TLS's nginx is measured over the gateway.
        run.overhead.retain(|r| r.tier != Tier::Nginx);
        let gateway = run
            .overhead
            .iter()
            .find(|r| r.tier == Tier::Gateway && r.operation == loadgen::AGGREGATED)
            .and_then(|r| r.latency.clone())
            .unwrap();
        let on_top = format::signed_ms(plain + 0.25 - gateway.p50_ms);
        assert!(
            headline(&run).ends_with(&format!(
                "; nginx over TLS in front adds {on_top} ms at p50 on top."
            )),
            "{}",
            headline(&run)
        );
    }
}
