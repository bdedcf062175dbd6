//! contextforge: what mcpbench knows about the IBM ContextForge MCP gateway — the JWTs it
//! accepts and the secrets it requires — kept in one crate so that nothing else depends on the
//! gateway's conventions.

pub mod api;
pub mod jwt;
pub mod secrets;
pub mod settings;
