//! Secret values in inspect output: `<redacted: N bytes, sha256 0123abcd>` — the length and a
//! hash prefix let an operator compare two values without seeing either.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The placeholder for `bytes`.
pub fn placeholder(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("<redacted: {} bytes, sha256 {hex}>", bytes.len())
}

/// Redacts a Secret's `data` (base64 values: the decoded bytes are measured) and `stringData`,
/// and the top-level `extra` fields of any object. Returns whether anything was redacted.
pub fn redact(object: &mut Value, resource: &str, extra: &[String]) -> bool {
    let is_secret =
        resource == "secrets" || object.get("kind").and_then(Value::as_str) == Some("Secret");
    let mut fields: Vec<&str> = extra.iter().map(String::as_str).collect();
    if is_secret {
        fields.extend(["data", "stringData"]);
    }
    let mut any = false;
    let Some(map) = object.as_object_mut() else { return false };
    for field in fields {
        let base64 = is_secret && field == "data";
        if let Some(v) = map.get_mut(field) {
            any |= redact_value(v, base64);
        }
    }
    any
}

fn redact_value(v: &mut Value, base64: bool) -> bool {
    match v {
        Value::Object(entries) => {
            let mut any = false;
            for value in entries.values_mut() {
                any |= redact_value(value, base64);
            }
            any
        }
        Value::Null => false,
        Value::String(s) => {
            let bytes = if base64 {
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .unwrap_or_else(|_| s.clone().into_bytes())
            } else {
                s.clone().into_bytes()
            };
            *v = Value::String(placeholder(&bytes));
            true
        }
        other => {
            let text = other.to_string();
            *other = Value::String(placeholder(text.as_bytes()));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_become_length_and_hash() {
        let mut s = json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}, "stringData": {"x": "plain"}, "type": "Opaque"});
        assert!(redact(&mut s, "secrets", &[]));
        let text = s.to_string();
        assert!(!text.contains("aHVudGVyMg") && !text.contains("plain"), "{text}");
        assert_eq!(s["data"]["password"], placeholder(b"hunter2"));
        assert!(s["data"]["password"].as_str().unwrap().starts_with("<redacted: 7 bytes, sha256 "));
        assert_eq!(s["type"], "Opaque");
        let mut cm = json!({"kind": "ConfigMap", "data": {"k": "v"}});
        assert!(!redact(&mut cm, "configmaps", &[]));
        assert!(redact(&mut cm, "configmaps", &["data".to_owned()]));
        assert_eq!(cm["data"]["k"], placeholder(b"v"));
    }
}
