//! `k8s\0` + runtime.Unknown: apiVersion/kind from `Unknown.typeMeta`, and name (1),
//! namespace (3), uid (5), creationTimestamp (8) from ObjectMeta, field 1 of `Unknown.raw`.
//!
//! Upstream: `kubernetes/apimachinery:pkg/runtime/serializer/protobuf/protobuf.go` (Decode),
//! `pkg/runtime/generated.proto` (Unknown, TypeMeta), `pkg/apis/meta/v1/generated.proto`
//! (ObjectMeta) and `pkg/apis/meta/v1/time_proto.go` (Time), layout doc §2.1. The messages are
//! declared in `proto/runtime.proto`; prost skips every field not declared there.

use prost::Message as _;

use super::facts::{ObjectFacts, non_empty, rfc3339_from_unix};
use super::wire::describe;
use super::{DecodeError, Encoding};
use crate::pb::runtime::{ObjectHead, Time, Unknown};

/// Facts of the runtime.Unknown that follows the magic.
pub(super) fn decode(body: &[u8]) -> Result<ObjectFacts, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::ProtobufEmptyBody);
    }
    let unknown = Unknown::decode(body).map_err(|_| {
        describe("runtime.Unknown", body, super::object::unknown_descriptor().as_ref())
    })?;
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
    let head = ObjectHead::decode(AsRef::<[u8]>::as_ref(&raw)).map_err(|_| {
        describe("object in Unknown.raw", raw.as_ref(), super::object::head_descriptor().as_ref())
    })?;
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
