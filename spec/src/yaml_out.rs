//! A small YAML writer for pocket-dock's own output (status files, `--output yaml`): block
//! mappings and lists, strings quoted whenever plain style could change their meaning.

use serde_json::Value;

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, 0, &mut out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_plain_safe(s) => s.clone(),
        // A JSON string is a valid YAML double-quoted scalar.
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

fn is_plain_safe(s: &str) -> bool {
    let reserved = [
        "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n",
    ];
    !reserved.contains(&s.to_ascii_lowercase().as_str())
        && s.parse::<f64>().is_err()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./@+".contains(c))
        && !s.starts_with(['-', '.', '@'])
}

fn is_nested(value: &Value) -> bool {
    matches!(value, Value::Object(m) if !m.is_empty())
        || matches!(value, Value::Array(a) if !a.is_empty())
}

fn write_value(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = scalar(&Value::String(k.clone()));
                if is_nested(v) {
                    out.push_str(&format!("{pad}{key}:\n"));
                    let child = if matches!(v, Value::Array(_)) {
                        indent
                    } else {
                        indent + 2
                    };
                    write_value(v, child, out);
                } else {
                    out.push_str(&format!("{pad}{key}: {}\n", scalar(v)));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                if is_nested(item) {
                    let mut nested = String::new();
                    write_value(item, indent + 2, &mut nested);
                    // Put the first line of the item after the dash.
                    let body = nested.trim_start_matches(' ');
                    out.push_str(&format!("{pad}- {body}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_block_yaml_that_reads_back_the_same() {
        let value = json!({
            "kind": "Sandbox",
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "message": "it's: fine"},
                {"type": "Degraded", "status": "False"}
            ],
            "count": 3,
            "flag": "yes",
            "empty": [],
            "nested": {"a": {"b": "c"}}
        });
        let text = to_yaml(&value);
        let parsed = crate::yaml::parse(&text, Default::default()).unwrap();
        assert_eq!(parsed[0].root.to_json(), value, "{text}");
        assert!(text.contains("flag: \"yes\""));
        assert!(text.contains("- message: \"it's: fine\"\n"), "{text}");
    }
}
