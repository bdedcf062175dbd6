//! The stack a run measures: reused when one is up, else brought up for the run and taken down
//! after it — also after a failure or a stop signal.

use cli::signal::StopReceiver;

use crate::run::{Event, RunFailure};

pub struct StackLease {
    state: stack::StackState,
    /// It was up before the run (so the run leaves it up).
    reused: bool,
    state_dir: std::path::PathBuf,
}

impl StackLease {
    /// Reuses the running stack or brings one up; a stop signal during `up` stops what it
    /// started.
    pub async fn acquire(
        options: &stack::UpOptions,
        stop: &StopReceiver,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<StackLease, RunFailure> {
        let up = stack::up(options, cli::signal::stopped(stop.clone()), |line| {
            eprintln!("load-test: {line}")
        })
        .await
        .map_err(|e| match e {
            stack::StackError::Usage(m) => RunFailure::Usage(m),
            stack::StackError::Missing(m) => RunFailure::Missing(m.to_string()),
            stack::StackError::Infrastructure(m) | stack::StackError::NoEngine(m) => {
                RunFailure::Infrastructure(m)
            }
            stack::StackError::Interrupted(signal) => RunFailure::Stopped(signal),
        })?;
        for note in &up.notes {
            on(Event::Note(note));
        }
        if up.already_up {
            on(Event::Note("reusing the running stack (it stays up)"));
        }
        Ok(StackLease {
            state: up.state,
            reused: up.already_up,
            state_dir: options.state_dir.clone(),
        })
    }

    pub fn state(&self) -> &stack::StackState {
        &self.state
    }

    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Takes down a stack this run brought up, unless asked to keep it. A second signal ends
    /// the process on its own (`cli::signal`), so this waits for nothing else.
    pub async fn release(self, keep: bool, on: &mut dyn FnMut(Event<'_>)) {
        if self.reused || keep {
            return;
        }
        let down = stack::down(&self.state_dir, std::future::pending(), |line| {
            eprintln!("load-test: {line}")
        })
        .await;
        let said = match down {
            Ok(down) => down.to_string(),
            Err(e) => format!("taking the stack down: {e}"),
        };
        on(Event::Note(&said));
    }
}
