//! The stream run's verdict and views on hand-made tiers.

use std::collections::BTreeMap;

use loadgen::stream::{Messages, StreamPoint, StreamResults, StreamTransport, STREAM_SCHEMA};
use loadgen::threshold::Threshold;
use loadgen::LatencySummary;

use super::*;
use crate::document::{ExistingGateway, VerdictStatus};

/// A tier's results: `held` of 10 connections at once, `drops` lost, round trips at `p50` ms.
fn results(held: i64, drops: u64, p50: f64) -> StreamResults {
    let latency = |p50: f64| LatencySummary {
        count: 40,
        p50_ms: p50,
        p95_ms: p50 * 2.0,
        p99_ms: p50 * 3.0,
        max_ms: p50 * 4.0,
        ..LatencySummary::default()
    };
    StreamResults {
        schema: STREAM_SCHEMA.into(),
        transport: StreamTransport::Sse,
        url: "http://127.0.0.1:1/sse".into(),
        connections: 10,
        message_rate: 1.0,
        message: "ping".into(),
        duration_secs: 4.0,
        timeout_secs: 5.0,
        elapsed_secs: 4.0,
        connect: latency(p50 / 2.0),
        connect_histogram: String::new(),
        connect_failures: BTreeMap::new(),
        round_trip: latency(p50),
        round_trip_histogram: String::new(),
        messages: Messages {
            intended: 40,
            answered: 39,
            unsent_at_end: 1,
            ..Messages::default()
        },
        drops: (drops > 0)
            .then(|| ("stream ended".to_string(), drops))
            .into_iter()
            .collect(),
        reconnects: drops,
        peak_held: held,
        series: vec![StreamPoint {
            second: 1,
            held,
            answered: 10,
            p99_ms: p50 * 3.0,
            ..StreamPoint::default()
        }],
        stopped_by: None,
    }
}

fn ran(tier: Tier, r: StreamResults) -> StreamTierRun {
    StreamTierRun {
        tier,
        target: r.url.clone(),
        outcome: StreamTierOutcome::Ran {
            results: Box::new(r),
        },
    }
}

fn run(tiers: Vec<StreamTierRun>, thresholds: Vec<ThresholdResult>) -> StreamRun {
    StreamRun {
        schema: STREAM_RUN_SCHEMA.into(),
        run_id: "r1".into(),
        tool_version: "0".into(),
        started_at: "t0".into(),
        finished_at: "t1".into(),
        command_line: vec!["load-test".into(), "--profile".into(), "sse".into()],
        plan: StreamPlanInfo {
            name: "sse".into(),
            transport: StreamTransport::Sse,
            connections: 10,
            message_rate: 1.0,
            duration_secs: 4.0,
            sla_class: "baseline".into(),
        },
        measured: Measured::ExistingGateway(ExistingGateway {
            gateway_url: "http://127.0.0.1:1/".into(),
            server_id: "s".into(),
            direct_url: None,
        }),
        verdict: stream_verdict(&tiers, &thresholds, None),
        tiers,
        thresholds,
        notes: vec![],
        service_usage: vec![],
        usage_summary: vec![],
        sockets: None,
    }
}

fn status(tiers: Vec<StreamTierRun>) -> (VerdictStatus, i32) {
    let v = stream_verdict(&tiers, &[], None);
    (v.status, v.exit_code)
}

#[test]
fn a_gateway_tier_passes_only_holding_every_connection_without_a_drop() {
    let direct = || ran(Tier::Direct, results(3, 2, 1.0));
    assert_eq!(
        status(vec![direct(), ran(Tier::Gateway, results(10, 0, 5.0))]),
        (VerdictStatus::Pass, 0),
        "the direct tier is the reference, not judged"
    );
    assert_eq!(
        status(vec![direct(), ran(Tier::Gateway, results(9, 0, 5.0))]),
        (VerdictStatus::Fail, 1)
    );
    assert_eq!(
        status(vec![ran(Tier::Nginx, results(10, 1, 5.0))]),
        (VerdictStatus::Fail, 1)
    );
    let failed = StreamTierRun {
        tier: Tier::Gateway,
        target: "x".into(),
        outcome: StreamTierOutcome::Failed {
            reason: "the gateway does not answer".into(),
            results: Some(Box::new(results(10, 0, 5.0))),
        },
    };
    assert_eq!(status(vec![failed]), (VerdictStatus::Error, 3));
}

#[test]
fn thresholds_are_judged_on_round_trips_and_unanswered_messages() {
    let r = results(10, 0, 5.0);
    let value = |t: &str| r.threshold_value(&Threshold::parse(t).unwrap()).unwrap();
    assert_eq!(
        value("p50<1s"),
        None,
        "no histogram recorded: nothing to judge"
    );
    assert_eq!(value("max<1s"), Some(20.0));
    assert_eq!(value("error_rate<1%"), Some(1.0 / 40.0));
    assert_eq!(value("dropped<1"), Some(1.0));
    assert_eq!(value("rps>1"), Some(39.0 / 4.0));
    assert!(r
        .threshold_value(&Threshold::parse("p95{op=tools/list}<1s").unwrap())
        .unwrap_err()
        .contains("sends only ping"));
    let failing = Threshold::parse("error_rate<1%")
        .unwrap()
        .judge(value("error_rate<1%"));
    let v = run(vec![ran(Tier::Gateway, r.clone())], vec![failing]);
    assert_eq!(
        (v.verdict.status, v.verdict.exit_code),
        (VerdictStatus::Fail, 1)
    );
}

#[test]
fn views_show_each_tier_the_gateways_cost_and_every_check() {
    let r = run(
        vec![
            ran(Tier::Direct, results(10, 0, 1.0)),
            ran(Tier::Gateway, results(9, 0, 5.0)),
            StreamTierRun {
                tier: Tier::Nginx,
                target: "-".into(),
                outcome: StreamTierOutcome::Skipped {
                    reason: "no nginx".into(),
                },
            },
        ],
        vec![],
    );
    let md = markdown(&r);
    assert!(md.contains("FAIL"), "{md}");
    assert!(md.contains("held at most 9 of its 10"), "{md}");
    // Round trip p50 5 ms against 1 ms direct.
    assert!(md.contains("+4.00"), "{md}");
    let xml = views::junit(&r);
    let elements = crate::xml::check_well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(elements.iter().any(|e| e == "skipped"), "{xml}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    let html = views::html(&r).unwrap();
    assert!(
        html.contains("id=\"verdict\"") && html.contains("<svg"),
        "{html}"
    );
    assert!(html.contains("held at most 9"), "{html}");
}
