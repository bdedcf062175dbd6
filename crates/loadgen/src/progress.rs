//! Live progress: an indicatif bar on a terminal; plain periodic lines otherwise (CI logs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else plain lines.
    Auto,
    Plain,
    Quiet,
}

/// The once-a-second state shown to the person running the test.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub total: Option<Duration>,
    pub warming_up: bool,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub p95_ms: f64,
    pub active: u64,
    /// Arrivals dropped so far because every in-flight user was busy and the backlog full.
    pub dropped: u64,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    last_line: Option<Instant>,
}

/// Plain lines are this far apart, so a long CI run does not flood its log.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn new(mode: ProgressMode, label: &str) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && tty).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        Progress {
            bar,
            plain: matches!(mode, ProgressMode::Plain) || (mode == ProgressMode::Auto && !tty),
            last_line: None,
        }
    }

    pub fn update(&mut self, s: &Snapshot) {
        let remaining = s.total.map(|t| t.saturating_sub(s.elapsed));
        let line = format!(
            "{}{:>6.0}s{} {:>9} req {:>9.1} req/s  p95 {:>8.2} ms  errors {} ({:.2}%)  active {}{}",
            if s.warming_up { "warm-up " } else { "" },
            s.elapsed.as_secs_f64(),
            remaining
                .map(|r| format!(" ({:.0}s left)", r.as_secs_f64()))
                .unwrap_or_default(),
            s.requests,
            s.rps,
            s.p95_ms,
            s.failures,
            if s.requests == 0 {
                0.0
            } else {
                100.0 * s.failures as f64 / s.requests as f64
            },
            s.active,
            if s.dropped > 0 {
                format!("  dropped {} (target behind)", s.dropped)
            } else {
                String::new()
            },
        );
        if let Some(bar) = &self.bar {
            if let Some(total) = s.total.filter(|t| !t.is_zero()) {
                bar.set_position(
                    (1000.0 * s.elapsed.as_secs_f64() / total.as_secs_f64()).min(1000.0) as u64,
                );
            }
            bar.set_message(line);
        } else if self.plain && self.last_line.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
            eprintln!("{line}");
            self.last_line = Some(Instant::now());
        }
    }

    /// The window has closed; requests in flight may take until `deadline` to finish.
    pub fn draining(&mut self, deadline: Option<Instant>) {
        let line = match deadline {
            Some(d) => format!(
                "window closed: waiting up to {:.0}s for requests in flight",
                d.saturating_duration_since(Instant::now()).as_secs_f64()
            ),
            None => "waiting for requests in flight".to_string(),
        };
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else if self.plain {
            eprintln!("{line}");
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
