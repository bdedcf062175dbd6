//! Host limits checked before any traffic: a run that needs more descriptors than
//! `ulimit -n` allows fails later in confusing ways, so it is refused up front.

/// The soft limit on open file descriptors of this process.
pub fn nofile_soft_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other effects.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    }
}

/// Descriptors a process needs besides its connections (stdio, runtime, files, listeners).
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// Refuses a plan whose `connections` cannot fit under the descriptor limit.
pub fn check_descriptors(connections: u64) -> Result<(), String> {
    let limit = nofile_soft_limit();
    if connections + RESERVED_DESCRIPTORS > limit {
        return Err(format!(
            "{connections} connections need about {} file descriptors but `ulimit -n` is {limit}: raise it (ulimit -n {}) or use fewer users",
            connections + RESERVED_DESCRIPTORS,
            (connections + RESERVED_DESCRIPTORS).next_power_of_two()
        ));
    }
    Ok(())
}

/// CPU seconds (user + system) this process has used.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: rusage is plain integers; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we pass and has no other effects.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_connections_than_descriptors_is_refused_with_the_fix() {
        let limit = nofile_soft_limit();
        let err = check_descriptors(limit).unwrap_err();
        assert!(err.contains("ulimit -n"), "{err}");
        assert!(check_descriptors(1).is_ok());
    }
}
