//! What each service of the stack used through the run — CPU (% of one core) and resident
//! memory, sampled every few seconds on every tier — with its per-tier summary, its two charts
//! (tier starts marked) and its table, for every view.

use serde::{Deserialize, Serialize};

use crate::document::Tier;
use crate::svg::{Line, LineChart, Stroke, XScale, YScale};
use cli::{Align, Table};

/// One service's readings over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceUsage {
    /// `gateway`, `nginx`, `bench-servers`, `postgres`, `redis`.
    pub service: String,
    pub samples: Vec<UsageSample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageSample {
    /// Seconds since the first tier started.
    pub t: f64,
    /// Which tier was running.
    pub tier: Tier,
    /// CPU since the previous reading, % of one core; None at the first (a rate needs two).
    pub cpu_percent: Option<f64>,
    /// Resident memory: the process group's RSS (local), or the container's memory without
    /// its inactive file cache (docker).
    pub rss_mib: f64,
}

/// One service on one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageSummary {
    pub tier: Tier,
    pub service: String,
    /// Readings taken while the tier ran.
    pub samples: usize,
    /// None when no reading of the tier had a CPU figure.
    pub mean_cpu_percent: Option<f64>,
    pub max_cpu_percent: Option<f64>,
    pub max_rss_mib: f64,
}

/// Per tier (in run order) and service (in the stack's order): mean and highest CPU, highest RSS.
pub fn summarise(usage: &[ServiceUsage]) -> Vec<UsageSummary> {
    let mut tiers: Vec<Tier> = Vec::new();
    for sample in usage.iter().flat_map(|u| &u.samples) {
        if !tiers.contains(&sample.tier) {
            tiers.push(sample.tier);
        }
    }
    let mut rows = Vec::new();
    for tier in tiers {
        for service in usage {
            let samples: Vec<&UsageSample> =
                service.samples.iter().filter(|s| s.tier == tier).collect();
            if samples.is_empty() {
                continue;
            }
            let cpu: Vec<f64> = samples.iter().filter_map(|s| s.cpu_percent).collect();
            rows.push(UsageSummary {
                tier,
                service: service.service.clone(),
                samples: samples.len(),
                mean_cpu_percent: (!cpu.is_empty())
                    .then(|| cpu.iter().sum::<f64>() / cpu.len() as f64),
                max_cpu_percent: cpu.iter().copied().reduce(f64::max),
                max_rss_mib: samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max),
            });
        }
    }
    rows
}

/// The summary as a table (the Markdown and HTML views).
pub fn table(usage_summary: &[UsageSummary]) -> Table {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("tier", Left),
        ("service", Left),
        ("samples", Right),
        ("mean CPU %", Right),
        ("max CPU %", Right),
        ("max RSS MiB", Right),
    ]);
    let cpu = |value: Option<f64>| value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}"));
    for row in usage_summary {
        table.push(vec![
            row.tier.to_string(),
            row.service.clone(),
            row.samples.to_string(),
            cpu(row.mean_cpu_percent),
            cpu(row.max_cpu_percent),
            format!("{:.1}", row.max_rss_mib),
        ]);
    }
    table
}

/// A stable colour per service, apart from the tiers' (which these charts do not draw).
fn service_color(index: usize) -> &'static str {
    const COLORS: [&str; 6] = [
        "#d9822b", "#2b7bb9", "#3a9e5f", "#8e5ea2", "#c0392b", "#66727f",
    ];
    COLORS[index % COLORS.len()]
}

/// Where each tier started: the first of `samples` (time, tier) it ran in, in time order — the
/// dashed marks of every chart sampled through the run.
pub(crate) fn tier_starts(samples: impl IntoIterator<Item = (f64, Tier)>) -> Vec<(f64, String)> {
    let mut samples: Vec<(f64, Tier)> = samples.into_iter().collect();
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut starts: Vec<(f64, Tier)> = Vec::new();
    for (t, tier) in samples {
        if starts.last().is_none_or(|(_, last)| *last != tier) {
            starts.push((t, tier));
        }
    }
    starts
        .into_iter()
        .map(|(t, tier)| (t, tier.to_string()))
        .collect()
}

fn chart(
    usage: &[ServiceUsage],
    id: &str,
    title: &str,
    y_label: &str,
    value: fn(&UsageSample) -> f64,
) -> Option<String> {
    if usage.is_empty() {
        return None;
    }
    let lines = usage
        .iter()
        .enumerate()
        .map(|(i, u)| Line {
            label: u.service.clone(),
            color: service_color(i),
            stroke: Stroke::Solid,
            points: u.samples.iter().map(|s| (s.t, value(s))).collect(),
        })
        .collect();
    Some(
        LineChart {
            id: id.into(),
            title: title.into(),
            x_label: "seconds since the first tier started (dashes: a tier starts)".into(),
            y_label: y_label.into(),
            x_scale: XScale::Linear,
            y_scale: YScale::Linear,
            lines,
            markers: tier_starts(
                usage
                    .iter()
                    .flat_map(|u| u.samples.iter().map(|s| (s.t, s.tier))),
            ),
        }
        .render(),
    )
}

/// CPU per service over the run; None when nothing was sampled.
pub fn cpu_chart(usage: &[ServiceUsage]) -> Option<String> {
    chart(
        usage,
        "chart-service-cpu",
        "CPU per service (% of one core)",
        "CPU %",
        |s| s.cpu_percent.unwrap_or(f64::NAN),
    )
}

/// Resident memory per service over the run; None when nothing was sampled.
pub fn rss_chart(usage: &[ServiceUsage]) -> Option<String> {
    chart(
        usage,
        "chart-service-rss",
        "Resident memory per service",
        "MiB",
        |s| s.rss_mib,
    )
}

/// The gateway's memory over the run, as the soak profile's leak check reads it.
pub fn gateway_rss(usage: &[ServiceUsage]) -> Vec<(f64, f64)> {
    usage
        .iter()
        .filter(|u| u.service == stack::GATEWAY)
        .flat_map(|u| u.samples.iter().map(|s| (s.t, s.rss_mib)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(t: f64, tier: Tier, cpu: Option<f64>, rss_mib: f64) -> UsageSample {
        UsageSample {
            t,
            tier,
            cpu_percent: cpu,
            rss_mib,
        }
    }

    #[test]
    fn each_tier_and_service_is_summarised_from_its_own_samples() {
        let usage = vec![
            ServiceUsage {
                service: "gateway".into(),
                samples: vec![
                    sample(0.0, Tier::Direct, None, 200.0),
                    sample(2.0, Tier::Direct, Some(1.0), 201.0),
                    sample(4.0, Tier::Gateway, Some(80.0), 230.0),
                    sample(6.0, Tier::Gateway, Some(100.0), 240.0),
                ],
            },
            ServiceUsage {
                service: "nginx".into(),
                samples: vec![sample(4.0, Tier::Gateway, Some(2.0), 10.0)],
            },
        ];
        let rows = summarise(&usage);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].tier, rows[0].service.as_str()),
            (Tier::Direct, "gateway")
        );
        assert_eq!(
            rows[0].mean_cpu_percent,
            Some(1.0),
            "the first reading has no CPU"
        );
        assert_eq!(rows[0].samples, 2);
        assert_eq!(rows[1].mean_cpu_percent, Some(90.0));
        assert_eq!(rows[1].max_cpu_percent, Some(100.0));
        assert_eq!(rows[1].max_rss_mib, 240.0);
        assert_eq!(rows[2].service, "nginx");
        assert_eq!(
            tier_starts(
                usage
                    .iter()
                    .flat_map(|u| u.samples.iter().map(|s| (s.t, s.tier)))
            ),
            vec![(0.0, "direct".to_string()), (4.0, "gateway".to_string())]
        );
        assert_eq!(gateway_rss(&usage)[3], (6.0, 240.0));
    }
}
