//! cli: what every mcpbench command line shares (after ripgrep's `grep-cli`) — one exit-status
//! type with one meaning per code across commands ([`Exit`]), the stop signals a long command
//! honours ([`signal`]), one-line argument errors ([`args`]), secret redaction for anything a
//! command records or prints ([`redact`]), output locations checked before any work
//! ([`paths`]) and the table printer ([`Table`]).

pub mod args;
mod exit;
pub mod paths;
pub mod redact;
pub mod signal;
mod table;

pub use exit::{Exit, EXIT_STATUS_HELP};
pub use signal::Signal;
pub use table::{markdown_cell, Align, Table};
