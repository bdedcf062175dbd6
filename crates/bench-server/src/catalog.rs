//! The catalog each server offers: benchmark tools, resources and prompts, paged by cursor.
//!
//! Nothing is materialised per item: entries are computed from their index when listed, so a
//! catalog of 10,000 tools costs no memory until a client pages through it.

use serde_json::{json, Map, Value};

use crate::mcp::RpcError;
use crate::tools::FIXED_TOOLS;

/// Sizes and counts shared by every server of the fleet.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub tools: u32,
    pub resources: u32,
    pub prompts: u32,
    pub page_size: u32,
    /// Filler text, `max(tool, resource, prompt size)` bytes; payloads are prefixes of it.
    filler: String,
    pub tool_size: usize,
    pub resource_size: usize,
    pub prompt_size: usize,
}

const FILLER_UNIT: &str = "This is benchmark data. ";

impl Catalog {
    pub fn new(config: &crate::Config) -> Self {
        let longest = config
            .tool_size
            .max(config.resource_size)
            .max(config.prompt_size);
        let filler = FILLER_UNIT.repeat(longest / FILLER_UNIT.len() + 1);
        Catalog {
            tools: config.tools,
            resources: config.resources,
            prompts: config.prompts,
            page_size: config.page_size,
            filler,
            tool_size: config.tool_size,
            resource_size: config.resource_size,
            prompt_size: config.prompt_size,
        }
    }

    /// `size` bytes of text starting with `Response from {owner}. ` (ASCII, so any cut is valid UTF-8).
    pub fn payload(&self, owner: &str, size: usize) -> String {
        let mut out = String::with_capacity(size);
        out.push_str("Response from ");
        out.push_str(owner);
        out.push_str(". ");
        out.truncate(size);
        let rest = size - out.len();
        out.push_str(&self.filler[..rest]);
        out
    }

    pub fn total_tools(&self) -> u32 {
        self.tools + FIXED_TOOLS.len() as u32
    }

    pub fn list_tools(&self, cursor: Option<&str>) -> Result<Value, RpcError> {
        self.page(cursor, self.total_tools(), "tools", |i| {
            if i < self.tools {
                benchmark_tool(i)
            } else {
                (FIXED_TOOLS[(i - self.tools) as usize].definition)()
            }
        })
    }

    pub fn list_resources(&self, server: u32, cursor: Option<&str>) -> Result<Value, RpcError> {
        self.page(cursor, self.resources, "resources", |i| {
            json!({
                "uri": resource_uri(server, i),
                "name": format!("benchmark_resource_{i}"),
                "description": format!("Benchmark resource #{i}"),
                "mimeType": "application/json",
            })
        })
    }

    pub fn list_prompts(&self, cursor: Option<&str>) -> Result<Value, RpcError> {
        self.page(cursor, self.prompts, "prompts", |i| {
            json!({
                "name": format!("benchmark_prompt_{i}"),
                "description": format!("Benchmark prompt #{i}"),
                "arguments": [
                    {"name": "arg1", "description": "First argument", "required": false},
                    {"name": "arg2", "description": "Second argument", "required": false},
                ],
            })
        })
    }

    pub fn resource_templates(&self, server: u32) -> Value {
        json!({
            "resourceTemplates": [{
                "uriTemplate": format!("benchmark://server{server}/resource_{{index}}"),
                "name": "benchmark_resource",
                "description": "Benchmark resource by index",
                "mimeType": "application/json",
            }]
        })
    }

    /// The index of `uri` if it names one of this server's resources.
    pub fn resource_index(&self, server: u32, uri: &str) -> Option<u32> {
        let rest = uri.strip_prefix("benchmark://server")?;
        let (id, digits) = rest.split_once("/resource_")?;
        if id.parse::<u32>().ok()? != server {
            return None;
        }
        let index: u32 = digits.parse().ok()?;
        // `resource_07` is not `resource_7`: only the canonical spelling names a resource.
        (index < self.resources && index.to_string() == digits).then_some(index)
    }

    pub fn read_resource(&self, uri: &str, index: u32, now: &str) -> Value {
        let name = format!("benchmark_resource_{index}");
        let body = json!({
            "resource": name,
            "timestamp": now,
            "data": self.payload(&name, self.resource_size),
        });
        json!({
            "contents": [{"uri": uri, "mimeType": "application/json", "text": body.to_string()}]
        })
    }

    /// The index of `name` if it is one of the benchmark prompts.
    pub fn prompt_index(&self, name: &str) -> Option<u32> {
        let i: u32 = name.strip_prefix("benchmark_prompt_")?.parse().ok()?;
        (i < self.prompts && name == format!("benchmark_prompt_{i}")).then_some(i)
    }

    pub fn get_prompt(&self, index: u32, arguments: &Map<String, Value>, now: &str) -> Value {
        let name = format!("benchmark_prompt_{index}");
        let text = format!(
            "Prompt: {name}\n\nTimestamp: {now}\n\nArguments: {}\n\n{}",
            Value::Object(arguments.clone()),
            self.payload(&name, self.prompt_size)
        );
        json!({
            "description": format!("Benchmark prompt #{index}"),
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        })
    }

    fn page(
        &self,
        cursor: Option<&str>,
        total: u32,
        key: &str,
        item: impl Fn(u32) -> Value,
    ) -> Result<Value, RpcError> {
        let start = match cursor {
            None => 0,
            Some(c) => c
                .parse::<u32>()
                .ok()
                .filter(|&s| s < total)
                .ok_or_else(|| RpcError::invalid_params(format!("invalid cursor '{c}'")))?,
        };
        let end = start.saturating_add(self.page_size).min(total);
        let mut page = Map::new();
        page.insert(key.into(), (start..end).map(item).collect());
        if end < total {
            page.insert("nextCursor".into(), Value::String(end.to_string()));
        }
        Ok(Value::Object(page))
    }
}

pub fn resource_uri(server: u32, index: u32) -> String {
    format!("benchmark://server{server}/resource_{index}")
}

/// The name of the bench server's tool number `i` (from 0).
pub fn benchmark_tool_name(i: u32) -> String {
    format!("benchmark_tool_{i}")
}

/// Benchmark tool `i` as tools/list lists it.
pub fn benchmark_tool(i: u32) -> Value {
    json!({
        "name": benchmark_tool_name(i),
        "description": format!("Benchmark tool #{i} - returns test data"),
        "inputSchema": {
            "type": "object",
            "properties": {
                "param1": {"type": "string", "description": "First parameter"},
                "param2": {"type": "string", "description": "Second parameter"},
            },
        },
        "annotations": {"readOnlyHint": true},
    })
}

/// The index of `name` if it is one of the catalog's benchmark tools.
pub fn benchmark_tool_index(name: &str, tools: u32) -> Option<u32> {
    let digits = name.strip_prefix("benchmark_tool_")?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse::<u32>().ok().filter(|&i| i < tools)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn catalog(args: &[&str]) -> Catalog {
        let config = crate::Config::parse_from(std::iter::once("t").chain(args.iter().copied()));
        Catalog::new(&config)
    }

    #[test]
    fn ten_thousand_tools_page_through_every_name_once() {
        let c = catalog(&["--tools", "10000", "--page-size", "500"]);
        let mut cursor: Option<String> = None;
        let mut names = std::collections::HashSet::new();
        let mut pages = 0;
        loop {
            let page = c.list_tools(cursor.as_deref()).unwrap();
            pages += 1;
            for t in page["tools"].as_array().unwrap() {
                assert!(names.insert(t["name"].as_str().unwrap().to_string()));
            }
            match page.get("nextCursor") {
                Some(next) => cursor = Some(next.as_str().unwrap().to_string()),
                None => break,
            }
        }
        assert_eq!(names.len(), 10003);
        assert_eq!(pages, 21);
    }

    #[test]
    fn bad_cursor_is_invalid_params() {
        let c = catalog(&[]);
        assert_eq!(c.list_tools(Some("nope")).unwrap_err().code, -32602);
        assert_eq!(c.list_tools(Some("100000")).unwrap_err().code, -32602);
    }

    #[test]
    fn payload_has_the_requested_size() {
        let c = catalog(&["--tool-size", "1000"]);
        for size in [0, 5, 1000] {
            assert_eq!(c.payload("benchmark_tool_3", size).len(), size);
        }
    }

    #[test]
    fn resource_and_tool_names_resolve_only_when_exact() {
        let c = catalog(&["--resources", "20", "--tools", "50"]);
        assert_eq!(
            c.resource_index(2, "benchmark://server2/resource_19"),
            Some(19)
        );
        assert_eq!(c.resource_index(2, "benchmark://server2/resource_20"), None);
        assert_eq!(c.resource_index(2, "benchmark://server3/resource_1"), None);
        assert_eq!(c.resource_index(2, "benchmark://server2/resource_01"), None);
        assert_eq!(benchmark_tool_index("benchmark_tool_49", 50), Some(49));
        assert_eq!(benchmark_tool_index("benchmark_tool_50", 50), None);
        assert_eq!(benchmark_tool_index("benchmark_tool_07", 50), None);
    }
}
