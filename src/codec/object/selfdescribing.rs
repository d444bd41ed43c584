//! The self-describing encodings as whole JSON values: JSON, YAML and CBOR.

use base64::Engine as _;
use ciborium::value::Value as Cbor;
use serde_json::{Map, Number, Value};

use crate::codec::DecodeError;

/// A JSON payload, whole. serde_json's message may quote the payload, so only its category and
/// position are kept.
pub(super) fn json(data: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(data).map_err(|e| {
        use serde_json::error::Category;
        let problem = match e.classify() {
            Category::Io => "read error",
            Category::Syntax => "syntax error",
            Category::Data => "a value that cannot be represented",
            Category::Eof => "unexpected end of input",
        };
        DecodeError::Json { problem, line: e.line(), column: e.column() }
    })
}

/// A YAML payload (one document), with serde-saphyr's default budget and without error
/// snippets, which would quote the payload.
pub(super) fn yaml(data: &[u8]) -> Result<Value, DecodeError> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    serde_saphyr::from_slice_with_options(data, options).map_err(|e| {
        let at = e.location().filter(|l| l.line() > 0);
        DecodeError::Yaml { line: at.map(|l| l.line()), column: at.map(|l| l.column()) }
    })
}

/// One self-described CBOR item as JSON. Kubernetes writes Go strings and map keys as byte
/// strings and `[]byte` in tag 22 (`kubernetes/apimachinery:pkg/runtime/serializer/cbor/internal/
/// modes/encode.go`): byte strings become JSON strings, tag-22 bytes base64. Bytes after the item
/// are an error, as in Kubernetes' decoder.
pub(super) fn cbor(data: &[u8]) -> Result<Value, DecodeError> {
    let mut rest = data;
    let item: Cbor = ciborium::de::from_reader(&mut rest).map_err(|e| {
        use ciborium::de::Error;
        let (problem, offset) = match e {
            Error::Io(_) => ("unexpected end of input", None),
            Error::Syntax(at) => ("syntax error", Some(at)),
            Error::Semantic(at, _) => ("invalid item", at),
            Error::RecursionLimitExceeded => ("nesting too deep", None),
        };
        DecodeError::Cbor { problem, offset }
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::Cbor {
            problem: "trailing bytes after the object",
            offset: data.len().checked_sub(rest.len()),
        });
    }
    cbor_json(item, false)
}

/// `base64`: inside tag 22 (expected conversion to base64), where a byte string is Go `[]byte`.
fn cbor_json(item: Cbor, base64: bool) -> Result<Value, DecodeError> {
    let bad = |problem| DecodeError::Cbor { problem, offset: None };
    Ok(match item {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            if let Ok(n) = i64::try_from(i) {
                Value::from(n)
            } else if let Ok(n) = u64::try_from(i) {
                Value::from(n)
            } else {
                return Err(bad("integer out of range"));
            }
        }
        Cbor::Float(x) => {
            Number::from_f64(x).map(Value::Number).ok_or(bad("NaN or infinite float"))?
        }
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) if base64 => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Cbor::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        Cbor::Array(items) => {
            Value::Array(items.into_iter().map(|v| cbor_json(v, base64)).collect::<Result<_, _>>()?)
        }
        Cbor::Map(entries) => {
            let mut out = Map::new();
            for (k, v) in entries {
                let key = match k {
                    Cbor::Text(s) => s,
                    Cbor::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                    _ => return Err(bad("a map key that is not a string")),
                };
                out.insert(key, cbor_json(v, base64)?);
            }
            Value::Object(out)
        }
        // 22: expected conversion to base64 (Go []byte); 55799 self-describe; other tags (e.g.
        // 0/1 time) wrap their content unchanged.
        Cbor::Tag(tag, inner) => cbor_json(*inner, base64 || tag == 22)?,
        _ => return Err(bad("an unsupported CBOR item")),
    })
}
