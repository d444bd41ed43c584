//! Self-described CBOR custom resources (`d9 d9 f7`, layout doc §2.3). Kubernetes writes Go
//! strings and map keys as byte strings (major type 2); text strings are accepted too.
//!
//! Upstream: `kubernetes/apimachinery:pkg/runtime/serializer/cbor/cbor.go` and
//! `pkg/runtime/serializer/cbor/internal/modes/{encode,decode}.go`. Only apiVersion, kind and four
//! metadata fields are kept; ciborium skips every other value (recursion limit 256).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

use super::facts::{Head, ObjectFacts};
use super::{DecodeError, Encoding};

/// Facts of one CBOR item (the self-describe tag is skipped by the map reader). Bytes after the
/// item are an error, as in Kubernetes' decoder ("extraneous data").
pub(super) fn decode(data: &[u8]) -> Result<ObjectFacts, DecodeError> {
    let mut rest = data;
    let head: Head<CborString> = ciborium::de::from_reader(&mut rest).map_err(|e| describe(&e))?;
    if !rest.is_empty() {
        return Err(DecodeError::Cbor {
            problem: "trailing bytes after the object",
            offset: data.len().checked_sub(rest.len()),
        });
    }
    head.into_facts(Encoding::Cbor)
}

/// ciborium's semantic messages come from serde and may quote payload strings, so only the
/// error class and offset are kept.
fn describe(e: &ciborium::de::Error<std::io::Error>) -> DecodeError {
    use ciborium::de::Error;
    match e {
        Error::Io(_) => DecodeError::Cbor { problem: "unexpected end of input", offset: None },
        Error::Syntax(at) => DecodeError::Cbor { problem: "syntax error", offset: Some(*at) },
        Error::Semantic(at, _) => {
            DecodeError::Cbor { problem: "not a map with Kubernetes object fields", offset: *at }
        }
        Error::RecursionLimitExceeded => {
            DecodeError::Cbor { problem: "nesting too deep", offset: None }
        }
    }
}

/// A string that may be encoded as a CBOR byte string or text string.
pub(super) struct CborString(String);

impl From<CborString> for String {
    fn from(s: CborString) -> Self {
        s.0
    }
}

impl<'de> Deserialize<'de> for CborString {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CborStringVisitor)
    }
}

struct CborStringVisitor;

impl Visitor<'_> for CborStringVisitor {
    type Value = CborString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte or text string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CborString, E> {
        Ok(CborString(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<CborString, E> {
        Ok(CborString(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<CborString, E> {
        std::str::from_utf8(v)
            .map(|s| CborString(s.to_owned()))
            .map_err(|_| E::custom("byte string is not UTF-8"))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<CborString, E> {
        String::from_utf8(v).map(CborString).map_err(|_| E::custom("byte string is not UTF-8"))
    }
}
