//! loadgen: the mcpbench load engine.
//!
//! A [`Plan`] (closed users or open arrivals, stages, limits, warm-up, seed) drives a
//! [`Scenario`] (weighted tasks of HTTP and MCP steps) through [`run`], which returns
//! [`RunResults`]: HDR latency corrected for coordinated omission, errors classified (a JSON-RPC
//! error inside HTTP 200 is a failure), a per-second series and a saturation verdict.
//! The engine never keeps per-request data: memory is fixed per operation and per second.

mod check;
mod client;
mod engine;
mod h1;
pub mod hey;
mod limits;
pub mod load_cli;
mod plan;
mod progress;
mod recorder;
mod results;
mod scenario;
mod schema;
mod template;
pub mod threshold;
mod vu;

pub use check::{excerpt, judge_http, judge_jsonrpc};
pub use client::{parse_url, HttpOptions, Origin};
pub use engine::{run, runtime, RunError, RunSpec, LATE_SHARE_SATURATED, LATE_START};
pub use limits::{check_descriptors, nofile_soft_limit};
pub use plan::{
    parse_duration, parse_rate, parse_stages, parse_wait, Arrival, Model, Plan, PlanError, Stage,
    Wait,
};
pub use progress::ProgressMode;
pub use recorder::{new_histogram, ErrorClass, ErrorTally, OpStats};
pub use results::{
    decode_histogram, encode_histogram, Environment, LatencySummary, OperationResult, RunResults,
    Saturation, SeriesOp, SeriesPoint, SCHEMA,
};
pub use scenario::{
    is_secret_header, redact_line, Expect, Header, HttpStep, McpCall, McpEndpoint, McpTransport,
    Scenario, SessionMode, Step, Task, ToolPick, UserClass, CAPTURED_PLACEHOLDER,
    SESSION_DELETE_OP, SESSION_SETUP_OP,
};
pub use schema::synthesize_arguments;
pub use template::{Template, TemplateError};
