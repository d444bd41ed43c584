//! JSON written the way Go writes it, so stored and served bytes look like kube-apiserver's:
//! - `sorted`: a map (`json.Encoder` on `map[string]interface{}`, what custom resources are
//!   stored and served as): keys sorted, compact;
//! - `typed`: a typed object (Secret, ConfigMap, their lists): struct fields in Go declaration
//!   order (TypeMeta, ObjectMeta, then the kind's fields), maps inside sorted.
//!
//! Strings are escaped like `encoding/json` (HTML-safe `<`, `>`, `&`, U+2028/9, control
//! characters as `\u00XX`). Neither adds the trailing newline; callers do.

use serde_json::{Map, Value};

/// Top-level fields of the typed kinds served here (TypeMeta, ObjectMeta, Secret/ConfigMap
/// fields, list fields), in Go struct order.
const OBJECT_ORDER: &[&str] = &[
    "kind",
    "apiVersion",
    "metadata",
    "immutable",
    "data",
    "stringData",
    "type",
    "binaryData",
    "spec",
    "status",
    "items",
];
/// ObjectMeta and ListMeta fields, in Go struct order.
const META_ORDER: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "continue",
    "remainingItemCount",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];
const OWNER_ORDER: &[&str] =
    &["apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"];

#[derive(Clone, Copy)]
enum Shape {
    Object,
    Meta,
    Owner,
    Sorted,
}

pub(crate) fn sorted(v: &Value) -> Vec<u8> {
    let mut out = String::new();
    write(&mut out, v, Shape::Sorted);
    out.into_bytes()
}

pub(crate) fn typed(v: &Value) -> Vec<u8> {
    let mut out = String::new();
    write(&mut out, v, Shape::Object);
    out.into_bytes()
}

fn write(out: &mut String, v: &Value, shape: Shape) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item, shape);
            }
            out.push(']');
        }
        Value::Object(map) => object(out, map, shape),
    }
}

fn object(out: &mut String, map: &Map<String, Value>, shape: Shape) {
    let order: &[&str] = match shape {
        Shape::Object => OBJECT_ORDER,
        Shape::Meta => META_ORDER,
        Shape::Owner => OWNER_ORDER,
        Shape::Sorted => &[],
    };
    // Known fields in struct order, then the rest sorted (serde_json's map is sorted).
    let mut keys: Vec<&String> =
        order.iter().filter_map(|k| map.get_key_value(*k)).map(|kv| kv.0).collect();
    keys.extend(map.keys().filter(|k| !order.contains(&k.as_str())));
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, key);
        out.push(':');
        let child = match (shape, key.as_str()) {
            (Shape::Object, "metadata") => Shape::Meta,
            (Shape::Object, "items") => Shape::Object,
            (Shape::Meta, "ownerReferences") => Shape::Owner,
            _ => Shape::Sorted,
        };
        write(out, &map[key.as_str()], child);
    }
    out.push('}');
}

/// `encoding/json`'s string escaping (HTMLEscape on, the default of json.Marshal/Encoder).
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_escaping_and_orders() {
        let v = json!({"b": "<a&b>\u{2028}\n", "a": 1});
        assert_eq!(
            String::from_utf8(sorted(&v)).unwrap(),
            r#"{"a":1,"b":"\u003ca\u0026b\u003e\u2028\n"}"#
        );
        let secret = json!({"apiVersion": "v1", "data": {"z": "", "a": ""}, "kind": "Secret",
                            "metadata": {"uid": "u", "name": "n"}, "type": "Opaque"});
        assert_eq!(
            String::from_utf8(typed(&secret)).unwrap(),
            r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"n","uid":"u"},"data":{"a":"","z":""},"type":"Opaque"}"#
        );
    }
}
