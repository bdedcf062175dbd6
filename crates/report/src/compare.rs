//! A run against a baseline run: per tier and operation (and `Aggregated`), each judged metric
//! within its budget or a regression; operations and tiers only one run has are listed, not
//! judged; differing environments, profiles or an untrustworthy run are warnings, not verdicts.

use std::fmt;
use std::fmt::Write as _;

use cli::{markdown_cell, Align, Table};
use loadgen::{OperationResult, RunResults, AGGREGATED};

use crate::budget::{limit_text, BudgetMetric, Budgets, Limit};
use crate::document::{OverheadRun, Tier, TierRun, VerdictStatus};
use crate::format;
use crate::repeats::Figure;

/// Floating-point slack: a change exactly at the budget is within it.
const EPSILON: f64 = 1e-9;

#[derive(Debug, Clone, PartialEq)]
pub struct MetricCheck {
    pub metric: BudgetMetric,
    pub baseline: f64,
    pub current: f64,
    pub limit: Limit,
    /// Percent of the baseline under a relative budget, the metric's unit (ms, percentage
    /// points) under an absolute one; None when a relative change cannot be computed (the
    /// baseline was 0).
    pub change: Option<f64>,
    /// The smaller request count of the two runs, when below [`BudgetMetric::min_requests`]:
    /// the change is shown but not judged.
    pub too_few: Option<u64>,
    /// Run-to-run noise of the change, in its unit: the two runs' 95% intervals over their
    /// rounds combined (`--repeat`); None unless both runs were repeated.
    pub noise: Option<f64>,
    pub judgement: Judgement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Within the budget (or not judged).
    Within,
    /// Over the budget by more than the runs' noise.
    Regressed,
    /// Over the budget, but by less than the runs' noise: no evidence either way.
    Inconclusive,
}

impl MetricCheck {
    pub fn regressed(&self) -> bool {
        self.judgement == Judgement::Regressed
    }

    /// `noise` is the two runs' intervals combined, in the metric's own unit (ms, req/s, a
    /// fraction for the error rate).
    fn judge(
        metric: BudgetMetric,
        limit: Limit,
        (old, new): (&OperationResult, &OperationResult),
        noise: Option<f64>,
    ) -> MetricCheck {
        let (baseline, current) = (metric.value(old), metric.value(new));
        let samples = metric.samples(old).min(metric.samples(new));
        let too_few = (samples < metric.min_requests()).then_some(samples);
        let (change, allowed, noise) = match limit {
            Limit::Relative(allowed) if baseline > 0.0 => (
                Some((current - baseline) / baseline * 100.0),
                allowed,
                noise.map(|n| n / baseline * 100.0),
            ),
            Limit::Absolute(allowed) => (
                Some(metric.absolute_change(baseline, current)),
                allowed,
                noise.map(|n| metric.absolute_change(0.0, n)),
            ),
            Limit::Relative(_) | Limit::Off => (None, f64::INFINITY, None),
        };
        // How far the change went the harmful way (down for throughput, up for the rest).
        let harm = change.map(|c| if metric.worse_when_lower() { -c } else { c });
        let judgement = match harm {
            Some(h) if too_few.is_none() && h > allowed + EPSILON => {
                if noise.is_some_and(|n| h <= allowed + n + EPSILON) {
                    Judgement::Inconclusive
                } else {
                    Judgement::Regressed
                }
            }
            _ => Judgement::Within,
        };
        MetricCheck {
            metric,
            baseline,
            current,
            limit,
            change,
            too_few,
            noise,
            judgement,
        }
    }

    /// Whether the budget judged this metric (enough requests, a baseline to compare with).
    fn judged(&self) -> bool {
        self.change.is_some() && self.too_few.is_none()
    }

    /// The baseline's and the current value (latencies spelled by `ms`), and the change when
    /// there is one (none from a baseline of 0).
    fn parts(&self, ms: fn(f64) -> String) -> (String, String, Option<String>) {
        let value = |v: f64| match self.metric {
            BudgetMetric::Rps => format::rps(v),
            BudgetMetric::ErrorRate => format::percent(v),
            BudgetMetric::P50 | BudgetMetric::P95 | BudgetMetric::P99 => ms(v),
        };
        let change = self.change.map(|c| match self.limit {
            Limit::Absolute(_) => {
                format!("{c:+.2}{}", self.metric.absolute_unit().unwrap_or_default())
            }
            Limit::Relative(_) | Limit::Off => format!("{c:+.1}%"),
        });
        (value(self.baseline), value(self.current), change)
    }

    /// The terminal table's cell, short enough for an 80–120 column terminal: "1000→880 -12.0%",
    /// in parentheses when not judged (the legend below the table says why).
    fn compact(&self) -> String {
        let (baseline, current, change) = self.parts(format::ms_short);
        let cell = format!(
            "{baseline}→{current} {}",
            change.as_deref().unwrap_or("n/a")
        );
        if self.judged() {
            cell
        } else {
            format!("({cell})")
        }
    }

    /// "1000.0 → 880.0 (-12.0%)"
    fn cell(&self) -> String {
        let (baseline, current, change) = self.parts(format::ms);
        let change = change.unwrap_or_else(|| "baseline 0: not judged".into());
        let change = match self.too_few {
            Some(n) => format!(
                "{change}; n={n} < {}: not judged",
                self.metric.min_requests()
            ),
            None => change,
        };
        let change = match (self.noise, self.limit) {
            (Some(n), Limit::Absolute(_)) => format!(
                "{change}, noise ±{n:.2}{}",
                self.metric.absolute_unit().unwrap_or_default()
            ),
            (Some(n), _) => format!("{change}, noise ±{n:.1}%"),
            (None, _) => change,
        };
        format!("{baseline} → {current} ({change})")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComparedOperation {
    pub tier: Tier,
    pub operation: String,
    pub checks: Vec<MetricCheck>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub baseline_run: String,
    pub current_run: String,
    pub budgets: Budgets,
    pub rows: Vec<ComparedOperation>,
    /// "tier nginx (skipped in current: …)", "gateway / tools/list": present in one run only.
    pub only_in_baseline: Vec<String>,
    pub only_in_current: Vec<String>,
    /// Reasons the comparison may mislead; never a regression by themselves.
    pub warnings: Vec<String>,
}

/// One metric of one operation over its budget.
pub struct Regression<'a> {
    pub tier: Tier,
    pub operation: &'a str,
    pub check: &'a MetricCheck,
}

impl fmt::Display for Regression<'_> {
    /// "gateway tools/call: p95 1.20 → 1.50 (+25.0%), budget +15%"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} {}, budget {}",
            self.tier,
            self.operation,
            self.check.metric.name(),
            self.check.cell(),
            limit_text(self.check.metric, self.check.limit)
        )
    }
}

pub fn compare(baseline: &OverheadRun, current: &OverheadRun, budgets: &Budgets) -> Comparison {
    let mut comparison = Comparison {
        baseline_run: baseline.run_id.clone(),
        current_run: current.run_id.clone(),
        budgets: budgets.clone(),
        rows: Vec::new(),
        only_in_baseline: Vec::new(),
        only_in_current: Vec::new(),
        warnings: warnings(baseline, current),
    };
    let mut tiers: Vec<Tier> = baseline.tiers.iter().map(|t| t.tier).collect();
    tiers.extend(
        current
            .tiers
            .iter()
            .map(|t| t.tier)
            .filter(|t| find(baseline, *t).is_none()),
    );
    for tier in tiers {
        let (old, new) = (find(baseline, tier), find(current, tier));
        match (old.and_then(TierRun::ran), new.and_then(TierRun::ran)) {
            (Some(old), Some(new)) => {
                let noise = Noise { baseline, current };
                compare_tier(&mut comparison, tier, (old, new), noise)
            }
            (Some(_), None) => comparison
                .only_in_baseline
                .push(absent_tier(tier, new, "current")),
            (None, Some(_)) => comparison
                .only_in_current
                .push(absent_tier(tier, old, "baseline")),
            (None, None) => {}
        }
    }
    comparison
}

fn find(run: &OverheadRun, tier: Tier) -> Option<&TierRun> {
    run.tiers.iter().find(|t| t.tier == tier)
}

/// The two runs, for the noise of a figure both measured over repeated rounds.
#[derive(Clone, Copy)]
struct Noise<'a> {
    baseline: &'a OverheadRun,
    current: &'a OverheadRun,
}

impl Noise<'_> {
    /// The half-widths of the two runs' 95% intervals combined (as for a difference of means).
    fn of(&self, tier: Tier, operation: &str, metric: BudgetMetric) -> Option<f64> {
        let interval = |run: &OverheadRun| {
            run.repeats
                .as_ref()?
                .interval(tier, operation, Figure::Own(metric))
        };
        let (b, c) = (interval(self.baseline)?, interval(self.current)?);
        Some(b.half_width.hypot(c.half_width))
    }
}

fn compare_tier(
    comparison: &mut Comparison,
    tier: Tier,
    (old, new): (&RunResults, &RunResults),
    noise: Noise<'_>,
) {
    let (old_ops, new_ops) = (named_operations(old), named_operations(new));
    for (name, old_op) in &old_ops {
        match new_ops.iter().find(|(n, _)| n == name) {
            Some((_, new_op)) => comparison.rows.push(ComparedOperation {
                tier,
                operation: name.to_string(),
                checks: comparison
                    .budgets
                    .judged()
                    .map(|(metric, limit)| {
                        let noise = noise.of(tier, name, metric);
                        MetricCheck::judge(metric, limit, (old_op, new_op), noise)
                    })
                    .collect(),
            }),
            None => comparison.only_in_baseline.push(format!("{tier} / {name}")),
        }
    }
    for (name, _) in new_ops
        .iter()
        .filter(|(n, _)| !old_ops.iter().any(|(o, _)| o == n))
    {
        comparison.only_in_current.push(format!("{tier} / {name}"));
    }
}

/// The run's operations by name, then all of them together as `Aggregated`.
fn named_operations(results: &RunResults) -> Vec<(&str, &OperationResult)> {
    results
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o))
        .chain([(AGGREGATED, &results.total)])
        .collect()
}

/// "tier nginx (skipped in current: nginx is not on PATH)", "tier gateway (FAILED in current:
/// …)" or "tier rest (not in current)".
fn absent_tier(tier: Tier, other: Option<&TierRun>, other_run: &str) -> String {
    match other.and_then(TierRun::not_run) {
        Some(why) => {
            let (what, reason) = why.split_once(": ").unwrap_or((&why, ""));
            format!("tier {tier} ({what} in {other_run}: {reason})")
        }
        None => format!("tier {tier} (not in {other_run})"),
    }
}

fn warnings(baseline: &OverheadRun, current: &OverheadRun) -> Vec<String> {
    let mut out = Vec::new();
    let differences = baseline.environment.differences(&current.environment);
    if !differences.is_empty() {
        out.push(format!(
            "the runs' machines differ (baseline vs current), which moves numbers by itself: {}",
            differences.join("; ")
        ));
    }
    let measured = baseline.measured.differences(&current.measured);
    if !measured.is_empty() {
        out.push(format!(
            "the runs measured different systems (baseline vs current): {}",
            measured.join("; ")
        ));
    }
    if baseline.profile.name != current.profile.name {
        out.push(format!(
            "different profiles: baseline {}, current {}",
            baseline.profile.name, current.profile.name
        ));
    }
    for (which, run) in [("baseline", baseline), ("current", current)] {
        match run.verdict.status {
            VerdictStatus::Saturated => out.push(format!(
                "the {which} run saturated its generator: its latencies understate the truth"
            )),
            VerdictStatus::Interrupted => out.push(format!(
                "the {which} run was stopped by a signal: its numbers cover only part of the run"
            )),
            VerdictStatus::Error => out.push(format!(
                "a tier of the {which} run FAILED (its target was unreachable or died): it is missing from the comparison"
            )),
            VerdictStatus::Pass | VerdictStatus::Fail => {}
        }
    }
    out
}

impl Comparison {
    /// Every metric over its budget, in table order.
    pub fn regressions(&self) -> Vec<Regression<'_>> {
        self.rows
            .iter()
            .flat_map(|row| {
                row.checks
                    .iter()
                    .filter(|c| c.regressed())
                    .map(move |check| Regression {
                        tier: row.tier,
                        operation: &row.operation,
                        check,
                    })
            })
            .collect()
    }

    /// The rows a view shows: every one with `all`, else those with a metric judged.
    fn shown(&self, all: bool) -> impl Iterator<Item = &ComparedOperation> {
        self.rows
            .iter()
            .filter(move |row| all || row.checks.iter().any(MetricCheck::judged))
    }

    /// What the tables leave out and why the parenthesised cells were not judged.
    fn legend(&self, all: bool) -> String {
        let hidden = self.rows.len() - self.shown(all).count();
        let mut legend = "(…) not judged: too few requests (p50 10, p95 100, p99 500, req/s 100, \
                          errors 200) or a zero baseline"
            .to_string();
        if hidden > 0 {
            legend.push_str(&format!(
                "\n{hidden} operations with nothing judged are hidden (--all shows them)"
            ));
        }
        legend
    }

    fn table(&self, all: bool, cell: fn(&MetricCheck) -> String) -> Table {
        let mut columns = vec![("tier", Align::Left), ("operation", Align::Left)];
        columns.extend(
            self.budgets
                .judged()
                .map(|(m, _)| (m.column(), Align::Right)),
        );
        columns.push(("result", Align::Left));
        let mut table = Table::new(&columns);
        for row in self.shown(all) {
            let mut cells = vec![row.tier.to_string(), row.operation.clone()];
            cells.extend(row.checks.iter().map(cell));
            let names = |judgement: Judgement| -> Vec<&str> {
                row.checks
                    .iter()
                    .filter(|c| c.judgement == judgement)
                    .map(|c| c.metric.name())
                    .collect()
            };
            let (regressed, unsure) = (names(Judgement::Regressed), names(Judgement::Inconclusive));
            let mut result = Vec::new();
            if !regressed.is_empty() {
                result.push(format!("REGRESSION: {}", regressed.join(", ")));
            }
            if !unsure.is_empty() {
                result.push(format!("inconclusive: {}", unsure.join(", ")));
            }
            cells.push(if result.is_empty() {
                "ok".into()
            } else {
                result.join("; ")
            });
            table.push(cells);
        }
        table
    }

    fn summary(&self) -> String {
        let regressions = match self.regressions().len() {
            0 => "no regressions".to_string(),
            1 => "1 regression".into(),
            n => format!("{n} regressions"),
        };
        let unsure = self
            .rows
            .iter()
            .flat_map(|r| &r.checks)
            .filter(|c| c.judgement == Judgement::Inconclusive)
            .count();
        if unsure == 0 {
            regressions
        } else {
            format!("{regressions}; {unsure} inconclusive (over budget by less than the runs' round-to-round noise)")
        }
    }

    /// The terminal view: budgets, the table (rows with nothing judged only with `all`),
    /// one-run-only items, warnings, regressions.
    pub fn text(&self, all: bool) -> String {
        let mut out = format!(
            "baseline {} vs current {}\nbudgets: {}\n",
            self.baseline_run, self.current_run, self.budgets
        );
        out.push_str(&self.table(all, MetricCheck::compact).text());
        let _ = writeln!(out, "{}", self.legend(all));
        for (list, which) in [
            (&self.only_in_baseline, "baseline"),
            (&self.only_in_current, "current"),
        ] {
            for item in list {
                let _ = writeln!(out, "only in {which}: {item}");
            }
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "WARNING: {warning}");
        }
        let _ = writeln!(out, "{}", self.summary());
        for regression in self.regressions() {
            let _ = writeln!(out, "  {regression}");
        }
        out
    }

    /// The same for a Markdown step summary.
    pub fn markdown(&self, all: bool) -> String {
        let mut md = format!(
            "### Compared with the baseline: {}\n\nBaseline `{}` vs current `{}`; budgets: {}\n\n",
            self.summary(),
            markdown_cell(&self.baseline_run),
            markdown_cell(&self.current_run),
            self.budgets
        );
        for warning in &self.warnings {
            let _ = writeln!(md, "> **Warning:** {}\n", markdown_cell(warning));
        }
        md.push_str(&self.table(all, MetricCheck::cell).markdown());
        let _ = writeln!(md, "\n{}", markdown_cell(&self.legend(all)));
        for (list, which) in [
            (&self.only_in_baseline, "baseline"),
            (&self.only_in_current, "current"),
        ] {
            if !list.is_empty() {
                let items: Vec<String> = list.iter().map(|i| markdown_cell(i)).collect();
                let _ = write!(md, "\nOnly in {which}: {}\n", items.join("; "));
            }
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    /// A tier of one operation: `requests` requests over 10 s, latencies spread evenly over
    /// 1..=1000 µs times `latency_scale`, and `failures` failed ones besides.
    fn tier_run(tier: Tier, requests: u64, latency_scale: u64, failures: u64) -> TierRun {
        let op = fixture::op(
            "tools/call",
            (1..=requests).map(|i| (i * 1000 / requests).max(1) * latency_scale),
            failures,
            10.0,
        );
        fixture::tier(tier, fixture::results(vec![op], 10.0))
    }

    fn run_of(tiers: Vec<TierRun>) -> OverheadRun {
        OverheadRun {
            tiers,
            ..fixture::run()
        }
    }

    fn regressed(baseline: TierRun, current: TierRun) -> Vec<&'static str> {
        let comparison = compare(
            &run_of(vec![baseline]),
            &run_of(vec![current]),
            &Budgets::default(),
        );
        let mut names: Vec<&'static str> = comparison
            .regressions()
            .iter()
            .filter(|r| r.operation == "tools/call")
            .map(|r| r.check.metric.name())
            .collect();
        names.dedup();
        names
    }

    #[test]
    fn a_12_percent_throughput_drop_regresses_at_the_default_budget_and_8_percent_does_not() {
        assert_eq!(
            regressed(
                tier_run(Tier::Gateway, 1000, 1, 0),
                tier_run(Tier::Gateway, 880, 1, 0)
            ),
            ["rps"]
        );
        assert!(regressed(
            tier_run(Tier::Gateway, 1000, 1, 0),
            tier_run(Tier::Gateway, 920, 1, 0)
        )
        .is_empty());
    }

    /// An operation of `requests` requests whose `metric` reads `value`.
    fn with(metric: BudgetMetric, value: f64, requests: u64) -> OperationResult {
        let mut op = fixture::op("tools/call", [1], 0, 1.0);
        op.requests = requests;
        op.latency.count = requests;
        match metric {
            BudgetMetric::Rps => op.rps = value,
            BudgetMetric::P50 => op.latency.p50_ms = value,
            BudgetMetric::P95 => op.latency.p95_ms = value,
            BudgetMetric::P99 => op.latency.p99_ms = value,
            BudgetMetric::ErrorRate => op.error_rate = value,
        }
        op
    }

    #[test]
    fn too_few_requests_show_the_change_without_judging_it() {
        let p99 = |requests| {
            MetricCheck::judge(
                BudgetMetric::P99,
                Limit::Relative(20.0),
                (
                    &with(BudgetMetric::P99, 10.0, 1000),
                    &with(BudgetMetric::P99, 20.0, requests),
                ),
                None,
            )
        };
        let few = p99(499);
        assert!(!few.regressed());
        assert_eq!(few.too_few, Some(499));
        assert_eq!(
            few.cell(),
            "10.00 → 20.00 (+100.0%; n=499 < 500: not judged)"
        );
        assert_eq!(few.compact(), "(10.0→20.0 +100.0%)");
        assert!(p99(500).regressed());
        let rps = |requests| {
            MetricCheck::judge(
                BudgetMetric::Rps,
                Limit::Relative(10.0),
                (
                    &with(BudgetMetric::Rps, 10.0, requests),
                    &with(BudgetMetric::Rps, 5.0, requests),
                ),
                None,
            )
        };
        assert!(!rps(99).regressed() && rps(100).regressed());
    }

    #[test]
    fn repeated_runs_judge_with_their_rounds_noise() {
        // Three rounds each, spread by 0.3 ms: the current run's p95 is ~20% over the
        // baseline's, over the 15% budget but well within both runs' round-to-round noise.
        let repeated = |shift_us: u64| {
            let rounds: Vec<Vec<TierRun>> = [0, 300, 600]
                .iter()
                .map(|spread| {
                    let latencies = (1..=1000).map(move |v| v + spread + shift_us);
                    let op = fixture::op("tools/call", latencies, 0, 10.0);
                    vec![fixture::tier(
                        Tier::Direct,
                        fixture::results(vec![op], 10.0),
                    )]
                })
                .collect();
            let merged = rounds
                .iter()
                .map(|r| r[0].ran().unwrap().clone())
                .collect::<Vec<_>>();
            let tier = fixture::tier(Tier::Direct, RunResults::merge_rounds(&merged).unwrap());
            OverheadRun {
                repeats: Some(crate::repeats(&rounds)),
                ..run_of(vec![tier])
            }
        };
        let budgets = Budgets::default();
        let comparison = compare(&repeated(0), &repeated(260), &budgets);
        let p95 = comparison.rows[0]
            .checks
            .iter()
            .find(|c| c.metric == BudgetMetric::P95)
            .unwrap();
        assert!(p95.change.unwrap() > 15.0, "{p95:?}");
        assert_eq!(p95.judgement, Judgement::Inconclusive, "{p95:?}");
        assert!(comparison.regressions().is_empty());
        assert!(comparison.text(true).contains("inconclusive"));
        // The same change without the rounds is a regression.
        let plain = compare(
            &run_of(repeated(0).tiers),
            &run_of(repeated(260).tiers),
            &budgets,
        );
        assert!(plain
            .regressions()
            .iter()
            .any(|r| r.check.metric == BudgetMetric::P95));
    }

    #[test]
    fn over_budget_within_the_rounds_noise_is_inconclusive_and_beyond_it_a_regression() {
        let check = |current: f64, noise: Option<f64>| {
            let ops = (
                &with(BudgetMetric::P95, 100.0, 1000),
                &with(BudgetMetric::P95, current, 1000),
            );
            MetricCheck::judge(BudgetMetric::P95, Limit::Relative(15.0), ops, noise)
        };
        // +20% against a 15% budget: a regression without intervals, inconclusive when the
        // runs' noise is ±8 ms (8% of the baseline), a regression again at +25%.
        assert_eq!(check(120.0, None).judgement, Judgement::Regressed);
        let unsure = check(120.0, Some(8.0));
        assert_eq!(unsure.judgement, Judgement::Inconclusive);
        assert_eq!(unsure.cell(), "100.00 → 120.00 (+20.0%, noise ±8.0%)");
        assert_eq!(check(125.0, Some(8.0)).judgement, Judgement::Regressed);
        assert_eq!(check(110.0, Some(8.0)).judgement, Judgement::Within);
    }

    #[test]
    fn latency_and_error_rate_budgets() {
        let check = |metric, limit, b, c| {
            MetricCheck::judge(
                metric,
                limit,
                (&with(metric, b, 1000), &with(metric, c, 1000)),
                None,
            )
        };
        assert!(check(BudgetMetric::P95, Limit::Relative(15.0), 100.0, 116.0).regressed());
        assert!(!check(BudgetMetric::P95, Limit::Relative(15.0), 100.0, 115.0).regressed());
        assert!(check(BudgetMetric::P99, Limit::Relative(20.0), 10.0, 12.5).regressed());
        // 0.1% → 0.7% is +0.6 points: over the +0.5pt budget.
        let errors = check(BudgetMetric::ErrorRate, Limit::Absolute(0.5), 0.001, 0.007);
        assert!(errors.regressed());
        assert!((errors.change.unwrap() - 0.6).abs() < 1e-9);
        assert!(!check(BudgetMetric::ErrorRate, Limit::Absolute(0.5), 0.001, 0.005).regressed());
        // An absolute latency budget ignores a large relative move of a tiny latency.
        let tiny = check(BudgetMetric::P95, Limit::Absolute(2.0), 0.5, 1.4);
        assert!(!tiny.regressed());
        assert_eq!(tiny.cell(), "0.50 → 1.40 (+0.90ms)");
        assert!(check(BudgetMetric::P95, Limit::Absolute(2.0), 10.0, 12.5).regressed());
        // Faster or more throughput is never a regression; a zero baseline is not judged.
        assert!(!check(BudgetMetric::P95, Limit::Relative(15.0), 100.0, 50.0).regressed());
        assert!(!check(BudgetMetric::Rps, Limit::Relative(10.0), 100.0, 500.0).regressed());
        assert_eq!(
            check(BudgetMetric::Rps, Limit::Relative(10.0), 0.0, 5.0).change,
            None
        );

        // End to end through real histograms: the same requests, every latency doubled.
        assert_eq!(
            regressed(
                tier_run(Tier::Gateway, 1000, 1, 0),
                tier_run(Tier::Gateway, 1000, 2, 0)
            ),
            ["p95", "p99"]
        );
        // 1 of 1000 failed → 7 of 1000.
        assert_eq!(
            regressed(
                tier_run(Tier::Gateway, 1000, 1, 1),
                tier_run(Tier::Gateway, 1000, 1, 7)
            ),
            ["error_rate"]
        );
    }

    #[test]
    fn differing_machines_warn_without_failing() {
        let baseline = run_of(vec![tier_run(Tier::Gateway, 1000, 1, 0)]);
        let mut current = baseline.clone();
        current.environment.cores = 64;
        current.environment.cpu_model = "a faster CPU".into();
        let comparison = compare(&baseline, &current, &Budgets::default());
        assert!(comparison.regressions().is_empty());
        assert_eq!(comparison.warnings.len(), 1);
        assert!(comparison.warnings[0].contains("cores: 0 vs 64"));
        assert!(comparison
            .text(true)
            .contains("WARNING: the runs' machines differ"));
        assert!(comparison.text(true).ends_with("no regressions\n"));
    }

    #[test]
    fn the_terminal_table_fits_120_columns_and_hides_what_nothing_judged() {
        let mut baseline = fixture::realistic_run();
        // An operation sent five times: too few for any metric.
        for tier in &mut baseline.tiers {
            if let crate::document::TierOutcome::Ran { results } = &mut tier.outcome {
                results
                    .operations
                    .push(fixture::op("prompts/get", 1..=5, 0, 30.0));
            }
        }
        let comparison = compare(&baseline, &baseline.clone(), &Budgets::default());
        let all = comparison.rows.len();
        let judged = comparison
            .rows
            .iter()
            .filter(|r| r.checks.iter().any(MetricCheck::judged))
            .count();
        assert!(
            judged > 0 && judged < all,
            "the fixture has both kinds: {judged}/{all}"
        );
        let short = comparison.text(false);
        let table_lines = |text: &str| {
            text.lines()
                .filter(|l| {
                    ["direct ", "gateway ", "nginx ", "rest "]
                        .iter()
                        .any(|t| l.starts_with(t))
                })
                .count()
        };
        assert_eq!(table_lines(&short), judged, "{short}");
        assert!(short.contains(&format!(
            "{} operations with nothing judged are hidden",
            all - judged
        )));
        assert_eq!(table_lines(&comparison.text(true)), all);
        let widest = short
            .lines()
            .filter(|l| !l.starts_with("WARNING"))
            .map(|l| l.chars().count())
            .max()
            .unwrap();
        assert!(widest <= 120, "{widest} columns:\n{short}");
    }

    #[test]
    fn different_gateway_versions_or_runtimes_are_named_in_a_warning() {
        let baseline = run_of(vec![tier_run(Tier::Gateway, 1000, 1, 0)]);
        let mut current = baseline.clone();
        let crate::Measured::Stack(stack) = &mut current.measured else {
            panic!("the fixture measures a stack")
        };
        stack.gateway_version = "1.1.0".into();
        stack.runtime = stack::Runtime::Docker;
        stack.reused = true;
        let comparison = compare(&baseline, &current, &Budgets::default());
        assert_eq!(
            comparison.warnings,
            [
                "the runs measured different systems (baseline vs current): runtime: local vs \
              docker; gateway version: 1.0.7 vs 1.1.0"
            ]
        );
    }

    #[test]
    fn tiers_and_operations_in_one_run_only_are_listed_not_judged() {
        let baseline = run_of(vec![
            tier_run(Tier::Direct, 1000, 1, 0),
            tier_run(Tier::Nginx, 1000, 1, 0),
        ]);
        let mut current = run_of(vec![
            tier_run(Tier::Direct, 1000, 1, 0),
            fixture::skipped(Tier::Nginx, "nginx is not on PATH"),
            tier_run(Tier::Rest, 100, 1, 0),
        ]);
        let extra = fixture::op("tools/list", 1..=10, 0, 10.0);
        let crate::document::TierOutcome::Ran { results } = &mut current.tiers[0].outcome else {
            panic!()
        };
        results.operations.push(extra);
        let comparison = compare(&baseline, &current, &Budgets::default());
        assert_eq!(
            comparison.only_in_baseline,
            ["tier nginx (skipped in current: nginx is not on PATH)"]
        );
        assert_eq!(
            comparison.only_in_current,
            ["direct / tools/list", "tier rest (not in baseline)"]
        );
        assert_eq!(
            comparison
                .rows
                .iter()
                .map(|r| format!("{} {}", r.tier, r.operation))
                .collect::<Vec<_>>(),
            ["direct tools/call", "direct Aggregated"]
        );
        let md = comparison.markdown(true);
        assert!(md.contains("| tier | operation | req/s | p95 ms | p99 ms | error rate | result |"));
        assert!(
            md.contains("Only in baseline: tier nginx (skipped in current: nginx is not on PATH)")
        );
    }

    #[test]
    fn a_failed_tier_is_listed_with_its_reason_and_warned_about() {
        let baseline = run_of(vec![tier_run(Tier::Gateway, 1000, 1, 0)]);
        let mut current = run_of(vec![fixture::failed(
            Tier::Gateway,
            "the gateway died during the tier",
            None,
        )]);
        current.verdict = crate::verdict(&current.tiers, &[], None);
        let comparison = compare(&baseline, &current, &Budgets::default());
        assert_eq!(
            comparison.only_in_baseline,
            ["tier gateway (FAILED in current: the gateway died during the tier)"]
        );
        assert!(comparison.warnings.iter().any(|w| w.contains("FAILED")));
    }

    #[test]
    fn a_regression_reads_as_one_line_with_its_budget() {
        let comparison = compare(
            &run_of(vec![tier_run(Tier::Gateway, 1000, 1, 0)]),
            &run_of(vec![tier_run(Tier::Gateway, 880, 1, 0)]),
            &Budgets::default(),
        );
        let lines: Vec<String> = comparison
            .regressions()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "gateway tools/call: rps 100.0 → 88.0 (-12.0%), budget -10%",
                "gateway Aggregated: rps 100.0 → 88.0 (-12.0%), budget -10%",
            ]
        );
        assert!(comparison.text(true).contains("REGRESSION: rps"));
    }
}
