//! contextforge: what mcpbench knows about the IBM ContextForge MCP gateway — the JWTs it
//! accepts, its releases, the secrets and settings it requires, its REST API and its Locust workloads — kept
//! in one crate so that nothing else depends on the gateway's conventions.

pub mod api;
pub mod jwt;
pub mod naming;
pub mod release;
pub mod secrets;
pub mod settings;
pub mod source;
pub mod workloads;
