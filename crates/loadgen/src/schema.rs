//! Tool arguments synthesised from a tool's JSON Schema `inputSchema`, so a load test calls
//! every tool with arguments it accepts instead of guessing (ContextForge's own MCP benchmark
//! reported 31% failures that were its harness sending wrong arguments).
//!
//! Preference order for each property: `const`, `default`, the first of `examples`, the first of
//! `enum`, then a value of the declared type that honours `format`, `minimum`, `minLength`.

use serde_json::{json, Map, Value};

/// Arguments for a tool whose `inputSchema` is `schema`: every property, required or not, gets
/// a valid value (optional ones too, so the tool's full path is exercised).
pub fn synthesize_arguments(schema: &Value) -> Map<String, Value> {
    match synthesize(schema, 0) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn synthesize(schema: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null; // a recursive schema: stop rather than loop
    }
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(v) = schema.get("default") {
        return v.clone();
    }
    if let Some(v) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return v.clone();
    }
    if let Some(v) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return v.clone();
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema
            .get(combinator)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return synthesize(first, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // ["string", "null"]: the first non-null type.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    out.insert(name.clone(), synthesize(prop, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = schema
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1);
            let item = schema
                .get("items")
                .map_or(json!("value"), |i| synthesize(i, depth + 1));
            Value::Array(vec![item; min as usize])
        }
        "integer" => json!(number_in_range(schema, 1.0).round() as i64),
        "number" => json!(number_in_range(schema, 1.0)),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => Value::String(string_value(schema)),
    }
}

fn number_in_range(schema: &Value, preferred: f64) -> f64 {
    let min = schema.get("minimum").and_then(Value::as_f64).or_else(|| {
        schema
            .get("exclusiveMinimum")
            .and_then(Value::as_f64)
            .map(|m| m + 1.0)
    });
    let max = schema.get("maximum").and_then(Value::as_f64).or_else(|| {
        schema
            .get("exclusiveMaximum")
            .and_then(Value::as_f64)
            .map(|m| m - 1.0)
    });
    let mut v = preferred;
    if let Some(min) = min {
        v = v.max(min);
    }
    if let Some(max) = max {
        v = v.min(max);
    }
    v
}

fn string_value(schema: &Value) -> String {
    let mut s = match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Some("date") => chrono::Utc::now().format("%Y-%m-%d").to_string(),
        Some("time") => "12:00:00Z".into(),
        Some("email") => "load-test@example.com".into(),
        Some("uri" | "url") => "https://example.com/".into(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".into(),
        _ => "mcpbench".into(),
    };
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        while (s.len() as u64) < min {
            s.push('x');
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        s.truncate(max as usize);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_gets_a_value_of_its_type() {
        let schema = json!({"type": "object", "properties": {
            "param1": {"type": "string"},
            "count": {"type": "integer", "minimum": 5},
            "ratio": {"type": "number", "maximum": 0.5},
            "flag": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "nested": {"type": "object", "properties": {"zone": {"type": "string", "examples": ["UTC"]}}},
            "when": {"type": "string", "format": "date-time"},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "maybe": {"type": ["null", "string"]},
        }, "required": ["param1"]});
        let args = synthesize_arguments(&schema);
        assert_eq!(args["param1"], "mcpbench");
        assert_eq!(args["count"], 5);
        assert_eq!(args["ratio"], 0.5);
        assert_eq!(args["flag"], true);
        assert_eq!(args["tags"], json!(["mcpbench"]));
        assert_eq!(args["nested"]["zone"], "UTC");
        assert!(chrono::DateTime::parse_from_rfc3339(args["when"].as_str().unwrap()).is_ok());
        assert_eq!(args["mode"], "fast");
        assert_eq!(args["maybe"], "mcpbench");
    }

    #[test]
    fn an_empty_or_missing_schema_gives_no_arguments() {
        assert!(synthesize_arguments(&json!({"type": "object"})).is_empty());
        assert!(synthesize_arguments(&Value::Null).is_empty());
    }
}
