//! The seed's user limits (its `/etc/security/limits.conf` block): open files, processes,
//! pending signals, locked memory and message queues, read from this process's rlimits and
//! persisted as limits.conf lines (for `*` and, as the seed says, for `root`, whom `*` does not
//! cover).

/// A limit's value: a count, or no limit at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Amount {
    Count(u64),
    Unlimited,
}

impl Amount {
    fn from_rlim(value: libc::rlim_t) -> Amount {
        if value == libc::RLIM_INFINITY {
            Amount::Unlimited
        } else {
            Amount::Count(value)
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Count(n) => write!(f, "{n}"),
            Amount::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// One limits.conf item.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// limits.conf's item name.
    pub item: &'static str,
    /// The `ulimit` flag that shows it in a shell.
    pub ulimit_flag: &'static str,
    resource: Resource,
    /// The least `check` accepts.
    pub minimum: Amount,
    /// What `--persist` writes (the seed's limits.conf block).
    pub recommended: Amount,
    /// The seed's block repeats these for `root`.
    pub for_root_too: bool,
    pub purpose: &'static str,
}

/// The rlimit behind an item (libc's constants differ in type across targets).
#[derive(Debug, Clone, Copy)]
enum Resource {
    Nofile,
    Nproc,
    Sigpending,
    Memlock,
    Msgqueue,
}

/// The seed's limits.conf block, in its order.
pub const LIMITS: &[Limit] = &[
    Limit {
        item: "nofile",
        ulimit_flag: "-n",
        resource: Resource::Nofile,
        // The seed's table: "Soft limit: 65535+"; its limits.conf block writes 65536.
        minimum: Amount::Count(super::RECOMMENDED_NOFILE),
        recommended: Amount::Count(65536),
        for_root_too: true,
        purpose: "open files: each connection needs a descriptor",
    },
    Limit {
        item: "nproc",
        ulimit_flag: "-u",
        resource: Resource::Nproc,
        minimum: Amount::Count(65536),
        recommended: Amount::Count(65536),
        for_root_too: true,
        purpose: "max user processes: worker processes and threads",
    },
    Limit {
        item: "sigpending",
        ulimit_flag: "-i",
        resource: Resource::Sigpending,
        minimum: Amount::Count(65536),
        recommended: Amount::Count(65536),
        for_root_too: false,
        purpose: "max pending signals",
    },
    Limit {
        item: "memlock",
        ulimit_flag: "-l",
        resource: Resource::Memlock,
        minimum: Amount::Unlimited,
        recommended: Amount::Unlimited,
        for_root_too: false,
        purpose: "max locked memory: helps prevent swapping",
    },
    Limit {
        item: "msgqueue",
        ulimit_flag: "-q",
        resource: Resource::Msgqueue,
        minimum: Amount::Count(819_200),
        recommended: Amount::Count(819_200),
        for_root_too: false,
        purpose: "max POSIX message queue bytes",
    },
];

/// A limit's soft and hard values in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    pub soft: Amount,
    pub hard: Amount,
}

impl Limit {
    /// This process's soft and hard values, or None if the kernel will not say.
    pub fn current(&self) -> Option<Current> {
        let resource = match self.resource {
            Resource::Nofile => libc::RLIMIT_NOFILE,
            Resource::Nproc => libc::RLIMIT_NPROC,
            Resource::Sigpending => libc::RLIMIT_SIGPENDING,
            Resource::Memlock => libc::RLIMIT_MEMLOCK,
            Resource::Msgqueue => libc::RLIMIT_MSGQUEUE,
        };
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        (unsafe { libc::getrlimit(resource, &mut limit) } == 0).then(|| Current {
            soft: Amount::from_rlim(limit.rlim_cur),
            hard: Amount::from_rlim(limit.rlim_max),
        })
    }
}

/// The first line of the block `--persist` appends: how a second `--persist` knows it is there.
pub const LIMITS_MARKER: &str =
    "# mcpbench: load testing limits (cargo xtask tune apply --persist)";

/// The block `--persist` appends to limits.conf: the seed's, `*` lines then `root` lines.
pub fn limits_conf_block() -> String {
    let mut text = format!("\n{LIMITS_MARKER}\n");
    for limit in LIMITS {
        text.push_str(&format!("# {}\n", limit.purpose));
        for kind in ["soft", "hard"] {
            text.push_str(&format!(
                "{:<16}{kind:<8}{:<16}{}\n",
                "*", limit.item, limit.recommended
            ));
        }
    }
    text.push_str("# Root user also needs these (limits.conf * doesn't apply to root)\n");
    for limit in LIMITS.iter().filter(|l| l.for_root_too) {
        for kind in ["soft", "hard"] {
            text.push_str(&format!(
                "{:<16}{kind:<8}{:<16}{}\n",
                "root", limit.item, limit.recommended
            ));
        }
    }
    text
}

/// The shell line that raises the soft limits for one session (up to the hard limits).
pub fn ulimit_command() -> String {
    let mut cmd = String::from("ulimit");
    for limit in LIMITS {
        cmd.push_str(&format!(" {} {}", limit.ulimit_flag, limit.recommended));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_persisted_block_has_every_item_for_everyone_and_nofile_nproc_for_root() {
        let block = limits_conf_block();
        for limit in LIMITS {
            for kind in ["soft", "hard"] {
                let line = block
                    .lines()
                    .find(|l| {
                        let words: Vec<&str> = l.split_whitespace().collect();
                        words[..] == ["*", kind, limit.item, &limit.recommended.to_string()]
                    })
                    .map(str::to_string);
                assert!(line.is_some(), "{} {kind}: {block}", limit.item);
            }
        }
        let root: Vec<&str> = block.lines().filter(|l| l.starts_with("root")).collect();
        assert_eq!(root.len(), 4, "{block}");
        assert!(block.contains("memlock         unlimited"), "{block}");
        assert_eq!(
            ulimit_command(),
            "ulimit -n 65536 -u 65536 -i 65536 -l unlimited -q 819200"
        );
    }

    #[test]
    fn this_process_limits_are_readable_and_unlimited_ranks_above_any_count() {
        for limit in LIMITS {
            assert!(limit.current().is_some(), "{}", limit.item);
        }
        assert!(Amount::Unlimited > Amount::Count(u64::MAX - 1));
    }
}
