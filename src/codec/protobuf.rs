//! `k8s\0` + runtime.Unknown: apiVersion/kind from `Unknown.typeMeta`, and name (1),
//! namespace (3), uid (5), creationTimestamp (8) from ObjectMeta, field 1 of `Unknown.raw`.
//!
//! Upstream: `kubernetes/apimachinery:pkg/runtime/serializer/protobuf/protobuf.go` (Decode),
//! `pkg/runtime/generated.proto` (Unknown, TypeMeta), `pkg/apis/meta/v1/generated.proto`
//! (ObjectMeta) and `pkg/apis/meta/v1/time_proto.go` (Time), layout doc §2.1. The messages are
//! declared in `proto/runtime.proto`; prost skips every field not declared there.

use prost::Message as _;

use super::facts::{ObjectFacts, non_empty, rfc3339_from_unix};
use super::{DecodeError, Encoding};
use crate::pb::runtime::{ObjectHead, Time, Unknown};

/// Facts of the runtime.Unknown that follows the magic.
pub(super) fn decode(body: &[u8]) -> Result<ObjectFacts, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::ProtobufEmptyBody);
    }
    let unknown = Unknown::decode(body).map_err(|e| describe("runtime.Unknown", &e))?;
    if unknown.content_encoding.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(DecodeError::UnsupportedContentEncoding);
    }
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = non_empty(type_meta.api_version);
    let kind = non_empty(type_meta.kind);
    if api_version.is_none() || kind.is_none() {
        return Err(DecodeError::MissingTypeMeta { encoding: Encoding::Protobuf });
    }
    // An absent raw is an empty object to Go's proto.Unmarshal as well.
    let raw = unknown.raw.unwrap_or_default();
    let head = ObjectHead::decode(raw).map_err(|e| describe("object in Unknown.raw", &e))?;
    let meta = head.metadata.unwrap_or_default();
    Ok(ObjectFacts {
        api_version,
        kind,
        name: non_empty(meta.name),
        namespace: non_empty(meta.namespace),
        uid: non_empty(meta.uid),
        creation_timestamp: meta.creation_timestamp.and_then(time),
    })
}

/// metav1.Time: an empty message is Go's zero time (JSON null); otherwise only seconds count,
/// nanos are dropped on decode (time_proto.go).
fn time(t: Time) -> Option<String> {
    if t.seconds.is_none() && t.nanos.is_none() {
        return None;
    }
    rfc3339_from_unix(t.seconds.unwrap_or(0))
}

/// prost's error, reworded without the numbers it may quote from the data (an invalid key value
/// is up to 8 payload bytes). prost does not expose the error kind, so this matches its
/// fixed description texts; anything unexpected becomes "malformed".
pub(super) fn describe(what: &'static str, e: &prost::DecodeError) -> DecodeError {
    let text = e.to_string();
    let truncated = |problem| DecodeError::ProtobufTruncated { what, problem };
    let malformed = |problem| DecodeError::ProtobufMalformed { what, problem };
    if text.contains("buffer underflow") {
        truncated("a field runs past the end of the data")
    } else if text.contains("delimited length exceeded") {
        truncated("a field runs past the end of its enclosing message")
    } else if text.contains("invalid varint") {
        malformed("invalid varint")
    } else if text.contains("recursion limit") {
        malformed("nesting too deep")
    } else if text.contains("invalid key value") {
        malformed("invalid field key")
    } else if text.contains("invalid tag value") {
        malformed("field number 0")
    } else if text.contains("invalid wire type") {
        malformed("invalid or unexpected wire type")
    } else if text.contains("UTF-8") {
        malformed("a string field is not UTF-8")
    } else if text.contains("end group") {
        malformed("unexpected end-group tag")
    } else if text.contains("length delimiter exceeds") {
        malformed("length too large")
    } else {
        malformed("not a valid protobuf message")
    }
}
