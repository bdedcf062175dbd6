//! The one interface both runtimes implement. `lib.rs` drives every command through it — the
//! order of `up`, what is recorded and when, health gates, registration, what a failure or a
//! signal undoes — and a runtime only knows how to start, inspect and stop a service its way:
//! `local::Processes` as marked process groups, `docker::Containers` as labelled containers.

use cli::Signal;

use crate::services::ServiceSpec;
use crate::state::{Runtime, StackState, Started};
use crate::{LogRequest, ServiceStatus, StackError, UpOptions};

/// A runtime of the stack in one state directory.
pub(crate) trait Backend {
    /// What the state file records for a stack on this runtime.
    const RUNTIME: Runtime;

    /// Readies what starting needs (the gateway's venv; the images, pulled or built if missing)
    /// and checks what can be checked before anything starts; what it noticed goes to `notes`.
    /// Returns the ContextForge code the gateway will run.
    async fn prepare(
        &mut self,
        options: &UpOptions,
        notes: &mut Vec<String>,
    ) -> Result<crate::state::GatewayRun, StackError>;

    /// Whether nginx runs in front of the gateway.
    fn runs_nginx(&self) -> bool;

    /// Starts `service` of the stack `state` describes (its secrets, its ports), carrying the
    /// stack's label or mark, and says what to record.
    async fn start(
        &self,
        service: &ServiceSpec,
        options: &UpOptions,
        state: &StackState,
    ) -> Result<Started, StackError>;

    /// Whether the recorded `service` has stopped running (waiting for its health is then
    /// pointless).
    async fn has_exited(&self, state: &StackState, service: &str) -> bool;

    /// The last `lines` lines the recorded `service` wrote.
    async fn last_lines(&self, state: &StackState, service: &str, lines: usize) -> String;

    /// Whether every service `state` records is running.
    async fn all_running(&self, state: &StackState) -> bool;

    /// Stops every service of the stack — all carrying its label or mark, plus what `recorded`
    /// names — and returns how many there were.
    async fn stop_all(&self, recorded: Option<&StackState>) -> Result<usize, StackError>;

    /// How many services carrying the stack's label or mark are still there.
    async fn still_there(&self) -> Result<usize, StackError>;

    /// One row per service: those `recorded`, or without a record those found by label or mark.
    async fn status(&self, recorded: Option<&StackState>)
        -> Result<Vec<ServiceStatus>, StackError>;

    /// The services' last lines to `line` (service, text); with `follow`, then what they write
    /// until `stop` resolves, which ends it with [`StackError::Interrupted`].
    async fn logs(
        &self,
        request: LogRequest<'_>,
        line: impl FnMut(&str, &str),
        stop: impl std::future::Future<Output = Signal>,
    ) -> Result<(), StackError>;
}
