//! The seed's kernel settings (its "Host TCP Tuning" tables and its persisted
//! `/etc/sysctl.d/99-mcp-loadtest.conf`), each with how a current value is judged against it and
//! what `tune apply` writes.

/// How a current value is judged. "At least" settings accept anything above the seed's minimum,
/// so a host tuned further is never told to lower it, and `apply` leaves it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    /// A limit or queue: `current >= minimum`.
    AtLeast(u64),
    /// A timeout, probe count or swappiness: `current <= maximum`.
    AtMost(u64),
    /// `ip_local_port_range`: the current range must contain the recommended one (a range as
    /// wide but elsewhere, e.g. starting above 1024, offers fewer of the seed's ports).
    Covers(u64, u64),
    /// `tcp_rmem`/`tcp_wmem` (min, default, max): each at least the seed's.
    EachAtLeast([u64; 3]),
    /// `tcp_tw_reuse`: the kernel's ip-sysctl documentation gives 0 (off), 1 (global) and 2
    /// (loopback traffic only, its default). A TIME_WAIT socket is reused for a new outbound
    /// connection under 1 everywhere, under 2 only when both ends are loopback — which every
    /// connection of the local stack, the tests and the benches is. So 2 is as good as the seed's
    /// 1 for a generator on loopback and is accepted with a note; only 0 must change.
    TwReuse,
}

/// One kernel setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// sysctl name, e.g. `net.core.somaxconn`.
    pub name: &'static str,
    /// What `apply` writes and `--persist` records when the current value is not good enough.
    pub recommended: &'static str,
    pub judge: Judge,
    pub purpose: &'static str,
    /// The comment heading its block in the persisted file (the seed's sections).
    pub section: &'static str,
}

const TCP: &str = "TCP connection handling";
const KEEPALIVE: &str = "TCP keepalive (faster dead connection detection)";
const BUFFERS: &str = "TCP buffer sizes (16MB max)";
const VM: &str = "Memory/VM tuning for database workloads";
const FILES: &str = "File handle limits";

/// Every setting of the seed's tables and its persisted file, in the file's order.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "net.core.somaxconn",
        recommended: "65535",
        judge: Judge::AtLeast(65535),
        purpose: "max listen queue depth",
        section: TCP,
    },
    Setting {
        name: "net.core.netdev_max_backlog",
        recommended: "65535",
        judge: Judge::AtLeast(65535),
        purpose: "max packets queued for processing",
        section: TCP,
    },
    Setting {
        name: "net.ipv4.tcp_max_syn_backlog",
        recommended: "65535",
        judge: Judge::AtLeast(65535),
        purpose: "max SYN requests queued",
        section: TCP,
    },
    Setting {
        name: "net.ipv4.tcp_tw_reuse",
        recommended: "1",
        judge: Judge::TwReuse,
        purpose: "reuse TIME_WAIT sockets (outbound only)",
        section: TCP,
    },
    Setting {
        name: "net.ipv4.tcp_fin_timeout",
        recommended: "15",
        judge: Judge::AtMost(15),
        purpose: "faster TIME_WAIT cleanup",
        section: TCP,
    },
    Setting {
        name: "net.ipv4.ip_local_port_range",
        recommended: "1024 65535",
        judge: Judge::Covers(1024, 65535),
        purpose: "more ephemeral ports",
        section: TCP,
    },
    Setting {
        name: "net.ipv4.tcp_keepalive_time",
        recommended: "60",
        judge: Judge::AtMost(60),
        purpose: "idle seconds before the first keepalive probe",
        section: KEEPALIVE,
    },
    Setting {
        name: "net.ipv4.tcp_keepalive_intvl",
        recommended: "10",
        judge: Judge::AtMost(10),
        purpose: "seconds between keepalive probes",
        section: KEEPALIVE,
    },
    Setting {
        name: "net.ipv4.tcp_keepalive_probes",
        recommended: "6",
        judge: Judge::AtMost(6),
        purpose: "unanswered probes before a connection is dead",
        section: KEEPALIVE,
    },
    Setting {
        name: "net.core.rmem_max",
        recommended: "16777216",
        judge: Judge::AtLeast(16_777_216),
        purpose: "max receive buffer",
        section: BUFFERS,
    },
    Setting {
        name: "net.core.wmem_max",
        recommended: "16777216",
        judge: Judge::AtLeast(16_777_216),
        purpose: "max send buffer",
        section: BUFFERS,
    },
    Setting {
        name: "net.ipv4.tcp_rmem",
        recommended: "4096 87380 16777216",
        judge: Judge::EachAtLeast([4096, 87380, 16_777_216]),
        purpose: "TCP receive buffer min, default, max",
        section: BUFFERS,
    },
    Setting {
        name: "net.ipv4.tcp_wmem",
        recommended: "4096 65536 16777216",
        judge: Judge::EachAtLeast([4096, 65536, 16_777_216]),
        purpose: "TCP send buffer min, default, max",
        section: BUFFERS,
    },
    Setting {
        name: "vm.swappiness",
        recommended: "10",
        judge: Judge::AtMost(10),
        purpose: "keep more data in RAM",
        section: VM,
    },
    Setting {
        // The seed's table asks for 1,000,000+; its persisted file writes 2,097,152.
        name: "fs.file-max",
        recommended: "2097152",
        judge: Judge::AtLeast(1_000_000),
        purpose: "system-wide file descriptor limit",
        section: FILES,
    },
    Setting {
        name: "fs.aio-max-nr",
        recommended: "1048576",
        judge: Judge::AtLeast(1_048_576),
        purpose: "async I/O requests",
        section: FILES,
    },
];

/// A current value judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Good enough, with why (e.g. `tcp_tw_reuse = 2`).
    OkBecause(&'static str),
    Change,
    /// Not readable here (absent from this kernel, or hidden in a container).
    Unreadable,
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok | Verdict::OkBecause(_))
    }
}

fn numbers(value: &str) -> Option<Vec<u64>> {
    value.split_whitespace().map(|p| p.parse().ok()).collect()
}

impl Setting {
    /// The current value (whitespace normalised) against the recommendation.
    pub fn judge(&self, current: Option<&str>) -> Verdict {
        let Some(values) = current.and_then(numbers) else {
            return Verdict::Unreadable;
        };
        let ok = match (self.judge, &values[..]) {
            (Judge::AtLeast(min), &[c]) => c >= min,
            (Judge::AtMost(max), &[c]) => c <= max,
            (Judge::Covers(low, high), &[cl, ch]) => cl <= low && ch >= high,
            (Judge::EachAtLeast(min), &[a, b, c]) => a >= min[0] && b >= min[1] && c >= min[2],
            (Judge::TwReuse, &[1]) => true,
            (Judge::TwReuse, &[2]) => {
                return Verdict::OkBecause(
                    "2 = loopback only (kernel default): enough for loopback targets; set 1 when the gateway is on another host",
                )
            }
            _ => false,
        };
        if ok {
            Verdict::Ok
        } else {
            Verdict::Change
        }
    }

    /// What `apply` writes given the current value: the recommendation, except for buffer
    /// triples, where each part keeps the larger of the two (the seed raises max to 16 MiB; a
    /// kernel that defaults higher keeps its higher value).
    pub fn value_to_write(&self, current: Option<&str>) -> String {
        match (self.judge, current.and_then(numbers).as_deref()) {
            (Judge::EachAtLeast(min), Some(&[a, b, c])) => {
                format!("{} {} {}", a.max(min[0]), b.max(min[1]), c.max(min[2]))
            }
            _ => self.recommended.to_string(),
        }
    }
}

/// The value a setting is left with by `apply` (and so recorded by `--persist`): the current
/// one when it is already good enough — a host tuned beyond the seed keeps its values after a
/// reboot too — else what `apply` writes.
pub fn kept_or_written(setting: &Setting, current: Option<&str>) -> String {
    match (setting.judge(current).is_ok(), current) {
        (true, Some(value)) => value.to_string(),
        _ => setting.value_to_write(current),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str) -> &'static Setting {
        SETTINGS.iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn each_kind_of_setting_is_judged_in_its_own_direction() {
        let somaxconn = setting("net.core.somaxconn");
        assert_eq!(somaxconn.judge(Some("4096")), Verdict::Change);
        assert_eq!(somaxconn.judge(Some("65535")), Verdict::Ok);
        assert_eq!(somaxconn.judge(Some("262144")), Verdict::Ok);
        assert_eq!(somaxconn.judge(None), Verdict::Unreadable);
        let file_max = setting("fs.file-max");
        assert_eq!(file_max.judge(Some("1000000")), Verdict::Ok, "1,000,000+");
        assert_eq!(file_max.judge(Some("999999")), Verdict::Change);
        let fin = setting("net.ipv4.tcp_fin_timeout");
        assert_eq!(fin.judge(Some("60")), Verdict::Change);
        assert_eq!(fin.judge(Some("10")), Verdict::Ok);
        let probes = setting("net.ipv4.tcp_keepalive_probes");
        assert_eq!(probes.judge(Some("9")), Verdict::Change);
        assert_eq!(setting("vm.swappiness").judge(Some("60")), Verdict::Change);
    }

    #[test]
    fn tw_reuse_2_is_loopback_reuse_and_good_enough_but_0_is_not() {
        let tw = setting("net.ipv4.tcp_tw_reuse");
        assert_eq!(tw.judge(Some("1")), Verdict::Ok);
        assert!(matches!(tw.judge(Some("2")), Verdict::OkBecause(why) if why.contains("loopback")));
        assert_eq!(tw.judge(Some("0")), Verdict::Change);
        assert_eq!(kept_or_written(tw, Some("2")), "2");
        assert_eq!(kept_or_written(tw, Some("0")), "1");
    }

    #[test]
    fn the_port_range_is_compared_as_a_range() {
        let range = setting("net.ipv4.ip_local_port_range");
        assert_eq!(range.judge(Some("32768 60999")), Verdict::Change);
        assert_eq!(range.judge(Some("1024 65535")), Verdict::Ok);
        assert_eq!(range.judge(Some("1000 65535")), Verdict::Ok);
        // As many ports as the seed's, but not the seed's: it misses 1024-1999.
        assert_eq!(range.judge(Some("2000 66511")), Verdict::Change);
        assert_eq!(range.judge(Some("1024")), Verdict::Change);
    }

    #[test]
    fn buffer_triples_are_judged_and_raised_part_by_part() {
        let rmem = setting("net.ipv4.tcp_rmem");
        assert_eq!(rmem.judge(Some("4096 131072 33554432")), Verdict::Ok);
        assert_eq!(rmem.judge(Some("4096 131072 6291456")), Verdict::Change);
        assert_eq!(
            rmem.value_to_write(Some("4096 131072 6291456")),
            "4096 131072 16777216"
        );
        assert_eq!(rmem.value_to_write(None), "4096 87380 16777216");
    }
}
