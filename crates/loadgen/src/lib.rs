//! loadgen: the mcpbench load engine.
//!
//! A [`Plan`] (closed users or open arrivals, stages, limits, warm-up, seed) drives a
//! [`Scenario`] (weighted tasks of HTTP and MCP steps) through [`run`], which returns
//! [`RunResults`]: HDR latency of successful requests corrected for coordinated omission,
//! failures classified and kept apart (a JSON-RPC error inside HTTP 200 is a failure), every
//! intended iteration accounted for, a per-second series, and a verdict on whose lateness it
//! was — the target's (stalled) or the generator's (saturated).
//! The engine never keeps per-request data: memory is fixed per operation and per second.

mod attribution;
mod check;
mod client;
mod collector;
mod command;
mod context;
mod discovery;
mod engine;
mod executor;
mod h1;
pub mod hey;
mod limits;
mod live;
pub mod load_cli;
pub mod locust;
mod merge;
mod phases;
mod plan;
mod progress;
mod recorder;
mod request_log;
mod results;
mod scenario;
mod schedule;
mod schema;
mod stateless;
pub mod stream;
mod summary;
mod template;
pub mod threshold;
mod vu;

pub use attribution::{Attributed, Attribution, BackendSummary, CallSpan};
pub use bench_server::stamp::Stamp;
pub use check::{excerpt, judge_http, judge_jsonrpc};
pub use client::{parse_url, HttpOptions, Origin, Trust};
pub use command::WriteViews;
pub use engine::{
    announced_era, run, runtime, runtime_with_workers, RunError, RunSpec, HALT_GRACE,
};
pub use limits::{check_descriptors, nofile_soft_limit};
pub use live::{Live, LiveOperation, LiveTick};
pub use phases::{PhaseSummary, PhasesSummary};
pub use plan::{
    parse_duration, parse_rate, parse_stages, parse_wait, Arrival, Model, Plan, PlanError, Stage,
    Wait,
};
pub use progress::ProgressMode;
pub use recorder::{new_histogram, ErrorClass, ErrorTally, OpStats};
pub use request_log::{RequestLog, HEY_CSV_HEADER};
pub use results::{
    decode_histogram, encode_histogram, Environment, LatencySummary, LoadModel, LocustSecond,
    OperationResult, RunResults, SeriesOp, SeriesPoint, TargetDown, AGGREGATED, SCHEMA,
};
pub use scenario::{
    Era, Expect, Header, HttpStep, McpCall, McpEndpoint, McpTransport, Protocol, Scenario,
    SessionMode, Step, Task, ToolPick, UserClass, CAPTURED_PLACEHOLDER, DEFAULT_PROTOCOL_VERSION,
    SESSION_DELETE_OP, SESSION_SETUP_OP, STATELESS_PROTOCOL_VERSION,
};
pub use schedule::{
    Accounting, Dropped, Lateness, ScheduleReport, ScheduleVerdict, LATE_SHARE, LATE_START,
};
pub use schema::synthesize_arguments;
pub use summary::summary;
pub use template::{Template, TemplateError};
