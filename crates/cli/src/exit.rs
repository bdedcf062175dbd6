//! The exit status of every mcpbench command: one code, one meaning, whichever command returns
//! it (k6's CI contract). `--help` of each command ends with [`EXIT_STATUS_HELP`].

use std::process::ExitCode;

use crate::Signal;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// Done as asked; every threshold passed.
    Ok,
    /// The run was judged and failed: a threshold, a regression against the baseline, or a
    /// host setting to change (`tune check`).
    Failed,
    /// Bad flags, values or input files: one line on stderr, nothing was started or sent.
    Usage,
    /// The target or the stack failed: unreachable, down mid-run, a tier that failed (ERROR), a
    /// service that would not start, no container engine, results that could not be written.
    Infrastructure,
    /// The load generator could not keep its schedule: the latencies are not trustworthy, so no
    /// threshold was judged.
    Saturated,
    /// A system piece (nginx, Python's venv, Chromium, ...) is absent and was not installed:
    /// the line names what to install.
    Missing,
    /// Stopped by a signal; what was measured until then is written.
    Stopped(Signal),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Infrastructure => 3,
            Exit::Saturated => 4,
            Exit::Missing => 5,
            Exit::Stopped(signal) => 128 + signal.number(),
        }
    }

    /// Prints `<command>: <message>` as one line on stderr and returns this status.
    pub fn fail(self, command: &str, message: &str) -> ExitCode {
        let first = message.lines().next().unwrap_or_default();
        eprintln!("{command}: {first}");
        self.into()
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// The exit-status table, as every command's `--help` ends.
pub const EXIT_STATUS_HELP: &str = "\
Exit status (the same for every mcpbench command):
  0    done; every threshold passed
  1    judged and failed: a threshold, a regression, a setting to change
  2    bad flags, values or input; nothing was started or sent
  3    the target or the stack failed (unreachable, down mid-run, a failed tier, no engine)
  4    the generator saturated: latencies not trustworthy, thresholds not judged
  5    a system package is missing and was not installed (the line names it)
  129  stopped by SIGHUP, 130 by Ctrl-C (SIGINT), 143 by SIGTERM; results so far are written";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_has_its_own_code_and_the_help_lists_every_one() {
        let all = [
            Exit::Ok,
            Exit::Failed,
            Exit::Usage,
            Exit::Infrastructure,
            Exit::Saturated,
            Exit::Missing,
            Exit::Stopped(Signal::Hangup),
            Exit::Stopped(Signal::Interrupt),
            Exit::Stopped(Signal::Terminate),
        ];
        let mut codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 129, 130, 143]);
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for code in codes {
            assert!(
                EXIT_STATUS_HELP.contains(&format!("{code} ")),
                "help lacks {code}"
            );
        }
    }
}
