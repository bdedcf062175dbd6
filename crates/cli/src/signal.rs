//! The signals a long command stops on — SIGINT (Ctrl-C), SIGTERM (a CI timeout, a cancelled
//! job) and SIGHUP (a closed terminal) — all handled alike: stop the schedule, write what was
//! measured, take down what the command started, exit 128 + the signal's number. A second
//! signal exits at once.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Hangup,
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn number(self) -> u8 {
        match self {
            Signal::Hangup => 1,
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }

    /// `SIGINT (Ctrl-C)`, as messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Hangup => "SIGHUP",
            Signal::Interrupt => "SIGINT (Ctrl-C)",
            Signal::Terminate => "SIGTERM",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Receives the first stop signal; cloned by everything that must notice it.
pub type StopReceiver = tokio::sync::watch::Receiver<Option<Signal>>;

/// Installs the handlers (inside a Tokio runtime) and returns the receiver of the first stop
/// signal. `command` names the process in what it prints. After the first signal the command
/// stops gracefully; a second one exits at once with the first one's status.
pub fn install(command: &'static str) -> std::io::Result<StopReceiver> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut kinds = [
        (signal(SignalKind::interrupt())?, Signal::Interrupt),
        (signal(SignalKind::terminate())?, Signal::Terminate),
        (signal(SignalKind::hangup())?, Signal::Hangup),
    ];
    let (tx, rx) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        let first = next(&mut kinds).await;
        eprintln!("{command}: {first}: stopping; results so far are written (again to exit now)");
        let _ = tx.send(Some(first));
        let second = next(&mut kinds).await;
        eprintln!("{command}: {second} again: exiting now; `cargo xtask benchmark-down` stops what is left");
        std::process::exit(i32::from(crate::Exit::Stopped(first).code()));
    });
    Ok(rx)
}

async fn next(kinds: &mut [(tokio::signal::unix::Signal, Signal); 3]) -> Signal {
    let [(int, i), (term, t), (hup, h)] = kinds;
    tokio::select! {
        _ = int.recv() => *i,
        _ = term.recv() => *t,
        _ = hup.recv() => *h,
    }
}

/// Resolves with the stop signal once one has arrived (never, if the sender is gone without
/// one).
pub async fn stopped(mut rx: StopReceiver) -> Signal {
    loop {
        if let Some(signal) = *rx.borrow_and_update() {
            return signal;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
