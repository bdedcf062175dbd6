//! The host's TCP sockets through the run — what the seed has users `watch ss -s` for:
//! established, TIME_WAIT and orphaned sockets sampled beside every service's CPU and memory,
//! with the host's own limits, a per-tier summary (the peaks), a chart and the warning when
//! TIME_WAIT or orphans come near a limit the seed's host tuning is about.

use serde::{Deserialize, Serialize};

use crate::document::Tier;
use crate::svg::{Line, LineChart, Stroke, XScale, YScale};
use cli::{Align, Table};

/// The TCP sockets of the host's network namespace at one reading, IPv4 and IPv6 together, as
/// `ss -s` summarises them: states counted from `/proc/net/tcp{,6}`, the rest from
/// `/proc/net/sockstat{,6}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketStates {
    pub established: u64,
    pub syn_sent: u64,
    pub syn_recv: u64,
    /// FIN_WAIT1 and FIN_WAIT2: closed here, waiting for the peer.
    pub fin_wait: u64,
    pub time_wait: u64,
    /// Closed by the peer, not yet by its process (a process slow to close shows here).
    pub close_wait: u64,
    /// LAST_ACK, CLOSING and CLOSE.
    pub closing: u64,
    pub listen: u64,
    /// A state this reader does not know (one a newer kernel added).
    pub other: u64,
    /// Closed by their process, still held by the kernel (`ss -s`'s "orphaned").
    pub orphaned: u64,
    /// TCP sockets allocated (any state).
    pub allocated: u64,
    /// TCP sockets in use (IPv4 and IPv6).
    pub in_use: u64,
    /// Pages of memory TCP buffers hold (sockstat's `mem`, the unit `net.ipv4.tcp_mem` limits).
    pub memory_pages: u64,
}

/// One reading, with the tier running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocketSample {
    /// Seconds since the first tier started.
    pub t: f64,
    pub tier: Tier,
    #[serde(flatten)]
    pub states: SocketStates,
}

/// The host's limits the warnings are judged against, read at the start of the run; None where
/// the setting could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketLimits {
    /// `net.ipv4.tcp_max_tw_buckets`: beyond it the kernel destroys TIME_WAIT sockets at once
    /// ("time wait bucket table overflow").
    pub max_time_wait: Option<u64>,
    /// The size of `net.ipv4.ip_local_port_range`: a TIME_WAIT socket keeps its port, so
    /// without reuse these bound the connections to one destination — the seed's "exhaust
    /// ephemeral ports".
    pub ephemeral_ports: Option<u64>,
    /// `net.ipv4.tcp_max_orphans`: beyond it orphans are reset ("too many orphaned sockets").
    pub max_orphans: Option<u64>,
}

/// One tier's peaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocketSummary {
    pub tier: Tier,
    pub samples: usize,
    pub peak_established: u64,
    pub peak_time_wait: u64,
    pub peak_orphaned: u64,
}

/// The run's socket record in the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSockets {
    pub limits: SocketLimits,
    pub samples: Vec<SocketSample>,
    /// Per tier, in run order.
    pub summary: Vec<SocketSummary>,
}

/// A warning is due at half of a limit: at the limit itself the kernel is already dropping
/// TIME_WAIT sockets or resetting orphans, and a heavier run (more users, a longer ramp) gets
/// there from half way.
const WARN_AT_SHARE_OF_LIMIT: u64 = 2;

impl HostSockets {
    pub fn new(limits: SocketLimits, samples: Vec<SocketSample>) -> HostSockets {
        HostSockets {
            limits,
            summary: summarise(&samples),
            samples,
        }
    }

    /// One line per limit a peak came within half of; none when the limits were not read.
    pub fn warnings(&self) -> Vec<String> {
        let peak = |value: fn(&SocketStates) -> u64| {
            self.samples
                .iter()
                .max_by_key(|s| value(&s.states))
                .map(|s| (value(&s.states), s.tier))
        };
        let mut out = Vec::new();
        let time_wait_limit = [
            (self.limits.max_time_wait, "net.ipv4.tcp_max_tw_buckets"),
            (
                self.limits.ephemeral_ports,
                "ephemeral ports (net.ipv4.ip_local_port_range)",
            ),
        ]
        .into_iter()
        .filter_map(|(limit, name)| Some((limit?, name)))
        .min();
        if let (Some((count, tier)), Some((limit, name))) = (peak(|s| s.time_wait), time_wait_limit)
        {
            if count * WARN_AT_SHARE_OF_LIMIT >= limit {
                out.push(format!(
                    "TIME_WAIT sockets peaked at {count} in the {tier} tier, half or more of the host's {limit} {name}: new connections may find no port or lose their TIME_WAIT — the seed's host tuning (tcp_tw_reuse, tcp_fin_timeout 15, ports 1024-65535): cargo xtask tune apply"
                ));
            }
        }
        if let (Some((count, tier)), Some(limit)) = (peak(|s| s.orphaned), self.limits.max_orphans)
        {
            if count * WARN_AT_SHARE_OF_LIMIT >= limit {
                out.push(format!(
                    "orphaned TCP sockets peaked at {count} in the {tier} tier, half or more of net.ipv4.tcp_max_orphans ({limit}): beyond it the kernel resets them — closes are outrunning the peers (tcp_fin_timeout 15 shortens their life: cargo xtask tune apply)"
                ));
            }
        }
        out
    }
}

/// Per tier, in run order: its readings' peaks.
fn summarise(samples: &[SocketSample]) -> Vec<SocketSummary> {
    let mut rows: Vec<SocketSummary> = Vec::new();
    for sample in samples {
        let row = match rows.iter_mut().find(|r| r.tier == sample.tier) {
            Some(row) => row,
            None => {
                rows.push(SocketSummary {
                    tier: sample.tier,
                    samples: 0,
                    peak_established: 0,
                    peak_time_wait: 0,
                    peak_orphaned: 0,
                });
                rows.last_mut().expect("just pushed")
            }
        };
        let s = &sample.states;
        row.samples += 1;
        row.peak_established = row.peak_established.max(s.established);
        row.peak_time_wait = row.peak_time_wait.max(s.time_wait);
        row.peak_orphaned = row.peak_orphaned.max(s.orphaned);
    }
    rows
}

/// The summary as a table (the Markdown and HTML views); None when nothing was sampled.
pub fn table(sockets: Option<&HostSockets>) -> Option<Table> {
    use Align::{Left, Right};
    let sockets = sockets?;
    let mut table = Table::new(&[
        ("tier", Left),
        ("samples", Right),
        ("peak established", Right),
        ("peak TIME_WAIT", Right),
        ("peak orphaned", Right),
    ]);
    for row in &sockets.summary {
        table.push(vec![
            row.tier.to_string(),
            row.samples.to_string(),
            row.peak_established.to_string(),
            row.peak_time_wait.to_string(),
            row.peak_orphaned.to_string(),
        ]);
    }
    Some(table)
}

/// The limits the warnings use, in one line for the views.
pub fn limits_line(sockets: Option<&HostSockets>) -> Option<String> {
    let limits = sockets?.limits;
    let show = |v: Option<u64>| v.map_or_else(|| "unreadable".to_string(), |v| v.to_string());
    Some(format!(
        "host limits: tcp_max_tw_buckets {}, ephemeral ports {}, tcp_max_orphans {}",
        show(limits.max_time_wait),
        show(limits.ephemeral_ports),
        show(limits.max_orphans)
    ))
}

/// Established, TIME_WAIT and orphaned sockets over the run; None when nothing was sampled.
pub fn chart(sockets: Option<&HostSockets>) -> Option<String> {
    let sockets = sockets.filter(|s| !s.samples.is_empty())?;
    let line = |label: &str, color, value: fn(&SocketStates) -> u64| Line {
        label: label.into(),
        color,
        stroke: Stroke::Solid,
        points: sockets
            .samples
            .iter()
            .map(|s| (s.t, value(&s.states) as f64))
            .collect(),
    };
    Some(
        LineChart {
            id: "chart-sockets".into(),
            title: "TCP sockets on the host by state (ss -s)".into(),
            x_label: "seconds since the first tier started (dashes: a tier starts)".into(),
            y_label: "sockets".into(),
            x_scale: XScale::Linear,
            y_scale: YScale::Linear,
            lines: vec![
                line("established", "#2b7bb9", |s| s.established),
                line("TIME_WAIT", "#d9822b", |s| s.time_wait),
                line("orphaned", "#c0392b", |s| s.orphaned),
            ],
            markers: crate::usage::tier_starts(sockets.samples.iter().map(|s| (s.t, s.tier))),
        }
        .render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OverheadRun;

    fn sample(t: f64, tier: Tier, established: u64, time_wait: u64, orphaned: u64) -> SocketSample {
        SocketSample {
            t,
            tier,
            states: SocketStates {
                established,
                time_wait,
                orphaned,
                ..SocketStates::default()
            },
        }
    }

    fn limits() -> SocketLimits {
        SocketLimits {
            max_time_wait: Some(131_072),
            ephemeral_ports: Some(28_232),
            max_orphans: Some(131_072),
        }
    }

    #[test]
    fn each_tier_keeps_its_own_peaks_in_run_order() {
        let sockets = HostSockets::new(
            limits(),
            vec![
                sample(0.0, Tier::Direct, 10, 0, 0),
                sample(5.0, Tier::Direct, 12, 40, 1),
                sample(10.0, Tier::Gateway, 30, 5, 0),
                sample(15.0, Tier::Gateway, 20, 90, 3),
            ],
        );
        let peaks: Vec<_> = sockets
            .summary
            .iter()
            .map(|r| {
                (
                    r.tier,
                    r.samples,
                    r.peak_established,
                    r.peak_time_wait,
                    r.peak_orphaned,
                )
            })
            .collect();
        assert_eq!(
            peaks,
            vec![(Tier::Direct, 2, 12, 40, 1), (Tier::Gateway, 2, 30, 90, 3)]
        );
        assert!(sockets.warnings().is_empty());
    }

    #[test]
    fn time_wait_is_warned_at_half_the_smaller_limit_and_orphans_at_half_theirs() {
        let below = HostSockets::new(
            limits(),
            vec![sample(0.0, Tier::Gateway, 5, 14_115, 65_535)],
        );
        assert!(below.warnings().is_empty(), "{:?}", below.warnings());
        let at = HostSockets::new(limits(), vec![sample(0.0, Tier::Nginx, 5, 14_116, 65_536)]);
        let warnings = at.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("TIME_WAIT sockets peaked at 14116 in the nginx tier")
                && warnings[0].contains("28232 ephemeral ports"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].contains("tcp_max_orphans (131072)"),
            "{}",
            warnings[1]
        );
        // A host with fewer TIME_WAIT buckets than ports is judged against the buckets.
        let buckets = SocketLimits {
            max_time_wait: Some(1_000),
            ..limits()
        };
        let warned = HostSockets::new(buckets, vec![sample(0.0, Tier::Direct, 0, 500, 0)]);
        assert!(warned.warnings()[0].contains("1000 net.ipv4.tcp_max_tw_buckets"));
        // Limits that could not be read judge nothing.
        let unread = HostSockets::new(
            SocketLimits::default(),
            vec![sample(0.0, Tier::Direct, 0, 1_000_000, 1_000_000)],
        );
        assert!(unread.warnings().is_empty());
    }

    #[test]
    fn html_and_markdown_show_the_peaks_the_limits_and_the_chart() {
        let run = crate::fixture::realistic_run();
        let html = crate::render_html(&run).unwrap();
        assert!(html.contains("id=\"chart-sockets\""), "chart");
        assert_eq!(
            chart(run.sockets.as_ref())
                .unwrap()
                .matches("class=\"line\"")
                .count(),
            3,
            "established, TIME_WAIT, orphaned"
        );
        assert!(html.contains("id=\"table-sockets\""), "table");
        assert!(html.contains("tcp_max_tw_buckets 131072, ephemeral ports 28232"));
        let md = crate::render_markdown(&run);
        assert!(
            md.contains(
                "### TCP sockets on the host (ss -s; host limits: tcp_max_tw_buckets 131072"
            ),
            "{md}"
        );
        // The gateway tier's peaks: 46 established, 40 + 20 × 12 TIME_WAIT, 1 orphaned.
        assert!(md.contains("| gateway | 14 | 46 | 280 | 1 |"), "{md}");
    }

    #[test]
    fn a_sample_is_flat_in_json_and_a_document_without_sockets_still_reads() {
        let json = serde_json::to_value(sample(1.5, Tier::Gateway, 7, 2, 0)).unwrap();
        assert_eq!(json["tier"], "gateway");
        assert_eq!(json["established"], 7);
        assert_eq!(json["time_wait"], 2);
        let mut run = serde_json::to_value(crate::fixture::run()).unwrap();
        run.as_object_mut().unwrap().remove("sockets");
        let read: OverheadRun = serde_json::from_value(run).unwrap();
        assert_eq!(read.sockets, None);
        assert!(table(read.sockets.as_ref()).is_none() && chart(read.sockets.as_ref()).is_none());
    }
}
