//! `--cpus` and `--memory`: the resource limits the docker runtime puts on each of its containers
//! (the seed gives every benchmark container 2 CPUs and 1 GB), passed to the engine as the
//! container's `HostConfig.NanoCpus` and `HostConfig.Memory`. The local runtime has no
//! container to limit and refuses them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A CPU share in billionths of a CPU, as the engine takes it (`docker run --cpus 1.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpus(u64);

const NANO: u64 = 1_000_000_000;

impl Cpus {
    pub fn nano_cpus(self) -> u64 {
        self.0
    }
}

impl FromStr for Cpus {
    type Err = String;

    /// A positive decimal with at most two places, at least 0.01 (the engine's least), at most
    /// 1,024.
    fn from_str(s: &str) -> Result<Cpus, String> {
        let bad = || format!("'{s}' is not a CPU count: a number from 0.01 to 1024, e.g. 2 or 1.5");
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() && fraction.is_empty()
            || fraction.len() > 2
            || !whole
                .chars()
                .chain(fraction.chars())
                .all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let hundredths: u64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
        let nano = whole
            .checked_mul(NANO)
            .and_then(|n| n.checked_add(hundredths * (NANO / 100)))
            .ok_or_else(bad)?;
        if !(NANO / 100..=1024 * NANO).contains(&nano) {
            return Err(bad());
        }
        Ok(Cpus(nano))
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hundredths = self.0 % NANO / (NANO / 100);
        match hundredths {
            0 => write!(f, "{}", self.0 / NANO),
            h if h % 10 == 0 => write!(f, "{}.{}", self.0 / NANO, h / 10),
            h => write!(f, "{}.{h:02}", self.0 / NANO),
        }
    }
}

/// A memory limit in bytes. Suffixes are binary, as `docker run --memory` reads them: `b`, `k`,
/// `m`, `g` (also `kb`, `mb`, `gb`, `KiB`, `MiB`, `GiB`), any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySize(u64);

/// The engine refuses less (Docker's minimum is 6 MiB).
const LEAST_MEMORY: u64 = 6 << 20;

impl MemorySize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for MemorySize {
    type Err = String;

    fn from_str(s: &str) -> Result<MemorySize, String> {
        let bad = || {
            format!("'{s}' is not a memory size: a whole number with b, k, m or g (binary units), at least 6m, e.g. 1g or 512m")
        };
        let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let shift = match s[digits.len()..].to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => return Err(bad()),
        };
        let number: u64 = digits.parse().map_err(|_| bad())?;
        let bytes = number.checked_mul(1 << shift).ok_or_else(bad)?;
        // The engine takes an i64.
        if bytes < LEAST_MEMORY || bytes > i64::MAX as u64 {
            return Err(bad());
        }
        Ok(MemorySize(bytes))
    }
}

impl fmt::Display for MemorySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if self.0.is_multiple_of(1 << shift) {
                return write!(f, "{} {unit}", self.0 >> shift);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

/// The limits asked for; none by default (a container may use the whole host).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemorySize>,
}

impl ContainerLimits {
    pub fn is_unlimited(&self) -> bool {
        self.cpus.is_none() && self.memory.is_none()
    }

    /// Sets them on a container's host configuration.
    pub fn apply_to(&self, host: &mut bollard::models::HostConfig) {
        host.nano_cpus = self.cpus.map(|c| c.nano_cpus() as i64);
        host.memory = self.memory.map(|m| m.bytes() as i64);
    }
}

impl fmt::Display for ContainerLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            self.cpus.map(|c| format!("{c} CPUs")),
            self.memory.map(|m| format!("{m} of memory")),
        ]
        .into_iter()
        .flatten()
        .collect();
        match parts.is_empty() {
            true => f.write_str("no limits"),
            false => f.write_str(&parts.join(" and ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_counts_parse_to_the_engines_nano_cpus_and_print_back() {
        for (text, nano, shown) in [
            ("2", 2 * NANO, "2"),
            ("1.5", 1_500_000_000, "1.5"),
            (".25", 250_000_000, "0.25"),
            ("0.01", 10_000_000, "0.01"),
        ] {
            let cpus: Cpus = text.parse().unwrap();
            assert_eq!(cpus.nano_cpus(), nano, "{text}");
            assert_eq!(cpus.to_string(), shown);
        }
        for bad in [
            "",
            ".",
            "0",
            "0.001",
            "-1",
            "1e3",
            "two",
            "2 ",
            "1025",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<Cpus>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn memory_sizes_take_dockers_binary_suffixes() {
        for (text, bytes, shown) in [
            ("1g", 1 << 30, "1 GiB"),
            ("1GB", 1 << 30, "1 GiB"),
            ("512m", 512 << 20, "512 MiB"),
            ("1536MiB", 1536 << 20, "1536 MiB"),
            ("7000000", 7_000_000, "7000000 bytes"),
        ] {
            let size: MemorySize = text.parse().unwrap();
            assert_eq!(size.bytes(), bytes, "{text}");
            assert_eq!(size.to_string(), shown);
        }
        for bad in ["", "g", "1t", "1.5g", "-1g", "5m", "1 g", "99999999999g"] {
            assert!(bad.parse::<MemorySize>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_reach_the_containers_host_config() {
        let limits = ContainerLimits {
            cpus: Some("2".parse().unwrap()),
            memory: Some("1g".parse().unwrap()),
        };
        let mut host = bollard::models::HostConfig::default();
        limits.apply_to(&mut host);
        assert_eq!(host.nano_cpus, Some(2_000_000_000));
        assert_eq!(host.memory, Some(1 << 30));
        assert_eq!(limits.to_string(), "2 CPUs and 1 GiB of memory");
        assert!(ContainerLimits::default().is_unlimited());
    }
}
